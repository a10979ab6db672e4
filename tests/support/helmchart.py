"""Render the unitcost chart with the real Helm engine (helm-python-sdk, Helm's Go SDK) and
hand back the manifests as parsed objects, for tests/chart/."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import helm_python
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "unitcost"
CI_VALUES = sorted((CHART_DIR / "ci").glob("*.yaml"))
RELEASE = "uc"
NAMESPACE = "finops"


@dataclass(frozen=True)
class Manifest:
    template: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def ci_values(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    assert isinstance(data, dict), f"{path}: values must be a mapping"
    return data


def render_raw(
    values: dict[str, Any] | None = None,
    chart_dir: Path = CHART_DIR,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would produce."""
    chart = helm_python.Chart.load(str(chart_dir))
    return chart.render(values or {}, name=release, namespace=namespace)


def render(
    values: dict[str, Any] | None = None,
    chart_dir: Path = CHART_DIR,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[Manifest]:
    """Every rendered object (NOTES.txt left out). Cached per arguments, as many tests render
    the same values: treat the result as read-only."""
    key = json.dumps(values or {}, sort_keys=True)
    return list(_render_cached(key, chart_dir, release, namespace))


@lru_cache(maxsize=64)
def _render_cached(
    values_json: str, chart_dir: Path, release: str, namespace: str
) -> tuple[Manifest, ...]:
    out: list[Manifest] = []
    raw = render_raw(json.loads(values_json), chart_dir, release, namespace)
    for template, text in sorted(raw.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.load_all(text, Loader=_LOADER):
            if doc:
                out.append(Manifest(template, doc))
    return tuple(out)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def of_kind(manifests: list[Manifest], kind: str) -> list[dict[str, Any]]:
    return [m.obj for m in manifests if m.kind == kind]


def pod_specs(manifests: list[Manifest]) -> list[tuple[str, dict[str, Any]]]:
    """(workload name, pod spec) for every Deployment and DaemonSet."""
    return [
        (m.name, m.obj["spec"]["template"]["spec"])
        for m in manifests
        if m.kind in ("Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob")
    ]


def everything_on() -> dict[str, Any]:
    """The values that render the most objects (for policy checks over all of them)."""
    return {
        "gpuAgent": {"enabled": True},
        "networkAgent": {"enabled": True},
        "serviceMonitor": {"enabled": True},
        "rulesConfigMap": {"enabled": True},
        "networkPolicy": {"enabled": True},
        "alertmanagerConfig": {"enabled": True},
        "pricebook": {"fallback": {"gpu_hour": 3.0}},
        "cloudCredentials": {"existingSecret": "cloud", "gcpKeyFile": "key.json"},
    }


def _rule_file_source(chart_file: str) -> str:
    """The repository path a chart rule file was copied from (its generated header)."""
    header = (CHART_DIR / "files" / "rules" / chart_file).read_text("utf-8").splitlines()[0]
    match = re.search(r"from (\S+):", header)
    assert match, f"{chart_file}: no generated header"
    return match.group(1)


def rendered_rules(values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Source path (e.g. recording-rules/attribution.yml) -> the groups of its PrometheusRule,
    as the chart renders them with `values`."""
    return {
        _rule_file_source(r["metadata"]["annotations"]["unitcost.io/rule-file"]): r["spec"][
            "groups"
        ]
        for r in of_kind(render(values), "PrometheusRule")
    }


def write_rendered_rules(values: dict[str, Any], folder: Path) -> dict[str, Path]:
    """Each rendered rule file as a plain Prometheus rule file in `folder`; source -> file."""
    written = {}
    for source, groups in rendered_rules(values).items():
        path = folder / source.replace("/", "-")
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), "utf-8")
        written[source] = path
    return written


def rendered_dashboards(values: dict[str, Any]) -> dict[str, str]:
    """Dashboard file name -> the JSON text its ConfigMap carries."""
    return {
        key: text
        for cm in of_kind(render(values), "ConfigMap")
        for key, text in cm.get("data", {}).items()
        if key.endswith(".json")
    }
