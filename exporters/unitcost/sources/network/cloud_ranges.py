"""The clouds' published IP ranges: where an address outside the cluster is (docs/network.md).

Two inputs, one result (prefix -> provider, region):

- the providers' own files, as published: AWS `ip-ranges.json` (`prefixes[].ip_prefix`,
  `ipv6_prefixes[].ipv6_prefix`, `region`, dated by `createDate`) and Google Cloud's
  `cloud.json` (`prefixes[].ipv4Prefix|ipv6Prefix`, `scope`, dated by `creationTime`);
- the compact form unitcost bundles (`cloud-ranges.json` beside this module): per provider the
  snapshot's own date and where it came from, and per region the prefixes, each region's
  prefixes merged where they are adjacent. `compact()` makes it from the published files:

      python -m unitcost.sources.network.cloud_ranges ip-ranges.json cloud.json \\
          --origin "where the files came from" -o cloud-ranges.json

Region "GLOBAL"/"global" (anycast, CloudFront) is kept as no region: another region's, for
pricing. A file named in `network.cloud_ranges` replaces the bundled snapshot of each provider it
carries; the rest of the bundle stays.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from unitcost.base.errors import InputError
from unitcost.costmodel.network import Network
from unitcost.data.network import Place

FORMAT = "unitcost.cloud-ranges/1"
BUNDLED = "cloud-ranges.json"
AWS_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"
GCP_URL = "https://www.gstatic.com/ipranges/cloud.json"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One provider's ranges: the date the provider gave them, and where they came from."""

    provider: str
    created: str
    source: str
    prefixes: int


@dataclass(frozen=True)
class CloudRanges:
    ranges: tuple[tuple[Network, Place], ...]
    snapshots: tuple[Snapshot, ...]

    def providers(self) -> frozenset[str]:
        return frozenset(s.provider for s in self.snapshots)


def _region(value: object) -> str:
    text = str(value)
    return "" if text.lower() == "global" else text


def _network(path: str, where: str, value: object) -> Network:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise InputError(f"{path}: {where}: not a CIDR (got {value!r})") from None


def parse_published(data: Any, path: str) -> CloudRanges:
    """A provider's file as published (AWS ip-ranges.json or Google cloud.json)."""
    if not isinstance(data, dict) or not isinstance(data.get("prefixes"), list):
        raise InputError(f"{path}: prefixes: missing (not AWS ip-ranges.json or Google cloud.json)")
    aws = "createDate" in data
    if not aws and "creationTime" not in data:
        raise InputError(
            f"{path}: neither createDate (AWS ip-ranges.json) nor creationTime (Google"
            " cloud.json): the snapshot's date is needed"
        )
    provider = "aws" if aws else "gcp"
    out: list[tuple[Network, Place]] = []
    lists: list[tuple[str, object]] = [("prefixes", data["prefixes"])]
    if aws:
        lists.append(("ipv6_prefixes", data.get("ipv6_prefixes") or []))
    for name, entries in lists:
        if not isinstance(entries, list):
            raise InputError(f"{path}: {name}: not a list (got {type(entries).__name__})")
        for index, entry in enumerate(entries):
            where = f"{name}[{index}]"
            if not isinstance(entry, dict):
                raise InputError(f"{path}: {where}: not a mapping (got {entry!r})")
            if aws:
                cidr = entry.get("ip_prefix") or entry.get("ipv6_prefix")
                region = entry.get("region")
                field = "region"
            else:
                cidr = entry.get("ipv4Prefix") or entry.get("ipv6Prefix")
                region = entry.get("scope")
                field = "scope"
            if cidr is None:
                raise InputError(f"{path}: {where}: no prefix (got {entry!r})")
            if not isinstance(region, str):
                raise InputError(f"{path}: {where}.{field}: missing (got {entry!r})")
            out.append((_network(path, where, cidr), Place(provider, _region(region))))
    created = str(data["createDate"] if aws else data["creationTime"])
    snapshot = Snapshot(provider, created, path, len(out))
    return CloudRanges(tuple(out), (snapshot,))


def parse_compact(data: Any, path: str) -> CloudRanges:
    """unitcost's compact form (see the module's docstring)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"{path}: format: expected {FORMAT!r} (got {got!r})")
    providers = data.get("providers")
    if not isinstance(providers, dict) or not providers:
        raise InputError(f"{path}: providers: missing or empty")
    out: list[tuple[Network, Place]] = []
    snapshots = []
    for provider, body in providers.items():
        base = f"providers.{provider}"
        if not isinstance(body, dict):
            raise InputError(f"{path}: {base}: not a mapping")
        for key in ("created", "source"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise InputError(f"{path}: {base}.{key}: missing")
        regions = body.get("regions")
        if not isinstance(regions, dict):
            raise InputError(f"{path}: {base}.regions: not a mapping")
        count = 0
        for region, prefixes in regions.items():
            if not isinstance(prefixes, str):
                raise InputError(f"{path}: {base}.regions.{region}: not a string of prefixes")
            place = Place(str(provider), _region(region))
            for cidr in prefixes.split():
                out.append((_network(path, f"{base}.regions.{region}", cidr), place))
                count += 1
        snapshots.append(Snapshot(str(provider), body["created"], body["source"], count))
    return CloudRanges(tuple(out), tuple(snapshots))


def read(path: Path) -> CloudRanges:
    """A published file or a compact one, told apart by their fields."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from exc
    if isinstance(data, dict) and "format" in data:
        return parse_compact(data, str(path))
    return parse_published(data, str(path))


def bundled() -> CloudRanges:
    """The snapshot shipped with unitcost (its dates: `snapshots`; docs/network.md)."""
    text = resources.files(__package__).joinpath(BUNDLED).read_text()
    return parse_compact(json.loads(text), f"{__package__}/{BUNDLED}")


def load(paths: Sequence[Path], use_bundled: bool = True) -> CloudRanges:
    """The bundled snapshot (when asked), each provider in `paths` replacing its bundled one."""
    files = [read(path) for path in paths]
    replaced = frozenset().union(*(f.providers() for f in files))
    parts = list(files)
    if use_bundled:
        base = bundled()
        parts.insert(
            0,
            CloudRanges(
                tuple(r for r in base.ranges if r[1].provider not in replaced),
                tuple(s for s in base.snapshots if s.provider not in replaced),
            ),
        )
    return CloudRanges(
        tuple(r for part in parts for r in part.ranges),
        tuple(s for part in parts for s in part.snapshots),
    )


def compact(published: Iterable[tuple[CloudRanges, str]]) -> dict[str, Any]:
    """The compact form of published files: (ranges, where they came from) each."""
    providers: dict[str, Any] = {}
    for ranges, origin in published:
        (snapshot,) = ranges.snapshots
        by_region: dict[str, list[Network]] = {}
        for network, place in ranges.ranges:
            by_region.setdefault(place.region or "GLOBAL", []).append(network)
        regions = {}
        for region in sorted(by_region):
            merged: list[Network] = []
            for version in (4, 6):
                same = [n for n in by_region[region] if n.version == version]
                merged.extend(ipaddress.collapse_addresses(same))  # type: ignore[type-var]
            regions[region] = " ".join(str(n) for n in merged)
        providers[snapshot.provider] = {
            "created": snapshot.created,
            "source": origin,
            "regions": regions,
        }
    return {"format": FORMAT, "providers": providers}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m unitcost.sources.network.cloud_ranges",
        description="Make unitcost's compact cloud-ranges file from the providers' published"
        f" files (AWS {AWS_URL}, Google {GCP_URL}).",
    )
    parser.add_argument("files", nargs="+", type=Path, help="ip-ranges.json and/or cloud.json")
    parser.add_argument(
        "--origin", default="", help="where the files came from (kept beside each date)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    published = []
    try:
        for path in args.files:
            ranges = parse_published(json.loads(path.read_text()), str(path))
            url = AWS_URL if ranges.snapshots[0].provider == "aws" else GCP_URL
            published.append((ranges, f"{url} ({args.origin or path})"))
    except (OSError, ValueError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.output.write_text(json.dumps(compact(published), indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
