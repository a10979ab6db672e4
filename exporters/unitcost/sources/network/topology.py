"""Where addresses are, for one node's network collector (docs/network.md): this node's pods by
IP (from the pod list the agent already reads), the cluster's nodes (their addresses and pod
CIDRs, zone and region from the well-known labels), configured zone subnets and on-prem sites,
and the clouds' published IP ranges (cloud_ranges.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unitcost.base.errors import InputError
from unitcost.config.network import NetworkSettings
from unitcost.costmodel.network import Network, Topology
from unitcost.data.gpu import PodRef
from unitcost.data.network import Place

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


def provider_of(provider_id: str) -> str:
    """The provider of a node from its spec.providerID (aws:///..., gce://...)."""
    if provider_id.startswith("aws://"):
        return "aws"
    if provider_id.startswith("gce://"):
        return "gcp"
    return "onprem"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    place: Place
    addresses: tuple[str, ...]
    pod_cidrs: tuple[str, ...]


def parse_node_list(data: Any, source: str) -> list[NodeInfo]:
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise InputError(f"{source}: not a NodeList (no items list)")
    nodes = []
    for item in data["items"]:
        meta = item.get("metadata") or {}
        spec = item.get("spec") or {}
        labels = meta.get("labels") or {}
        name = str(meta.get("name", ""))
        place = Place(
            provider_of(str(spec.get("providerID", ""))),
            str(labels.get(REGION_LABEL, "")),
            str(labels.get(ZONE_LABEL, "")),
            name,
        )
        addresses = tuple(
            str(a.get("address"))
            for a in (item.get("status") or {}).get("addresses") or []
            if a.get("type") in ("InternalIP", "ExternalIP") and a.get("address")
        )
        cidrs = tuple(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
        nodes.append(NodeInfo(name, place, addresses, cidrs))
    return nodes


def pods_by_ip(items: Iterable[Any]) -> dict[str, PodRef]:
    """Running pods' IPs; hostNetwork pods are left out (their IP is the node's: its bucket)."""
    found: dict[str, PodRef] = {}
    for item in items:
        spec = item.get("spec") or {}
        status = item.get("status") or {}
        meta = item.get("metadata") or {}
        if spec.get("hostNetwork") or status.get("phase") != "Running":
            continue
        ref = PodRef(
            str(meta.get("namespace", "")),
            str(meta.get("name", "")),
            str(meta.get("uid", "")),
            "Running",
        )
        ips = [p.get("ip") for p in status.get("podIPs") or []] or [status.get("podIP")]
        for ip in ips:
            if ip:
                found[str(ipaddress.ip_address(ip))] = ref
    return found


def build_topology(
    node: str,
    nodes: Sequence[NodeInfo],
    pods: Mapping[str, PodRef],
    settings: NetworkSettings,
    ranges: Sequence[tuple[Network, Place]] = (),
    here: Place | None = None,
) -> Topology:
    """One node's view. `here` overrides what the node list says of this node."""
    me = next((n for n in nodes if n.name == node), None)
    if here is None:
        here = me.place if me is not None else Place("onprem", "", "", node)
    places: dict[str, Place] = {}
    networks: list[tuple[Network, Place]] = list(ranges)
    for info in nodes:
        for address in info.addresses:
            places[str(ipaddress.ip_address(address))] = info.place
        for cidr in info.pod_cidrs:
            networks.append((ipaddress.ip_network(cidr, strict=False), info.place))
    for zone, subnets in settings.zones.items():
        place = Place(subnets.provider or here.provider, subnets.region or here.region, zone)
        networks.extend((ipaddress.ip_network(c, strict=False), place) for c in subnets.cidrs)
    for site, site_ranges in settings.onprem_sites.items():
        place = Place("onprem", site)
        networks.extend((ipaddress.ip_network(c, strict=False), place) for c in site_ranges.cidrs)
    return Topology(
        here=here,
        pods=dict(pods),
        node_addresses=frozenset(me.addresses if me else ()),
        places=places,
        networks=tuple(networks),
        nat=settings.nat_gateway,
        nat_bypass=tuple(ipaddress.ip_network(c, strict=False) for c in settings.nat_bypass),
    )
