"""Every panel and variable query names only series that unitcost produces.

The catalog is built from the real code and files, not a copied list: the exporter's metric
families (one collect of the demo simulator through the real Collector), the `record:` names in
recording-rules/*.yml, and the series Prometheus adds to every scrape. A renamed metric or rule
therefore breaks this test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.promql import metric_names
from unitcost.cli.exporter import _build_source
from unitcost.config.file import demo_config
from unitcost.history.forecast.render import forecast_families
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector

RULES_DIR = Path(__file__).resolve().parents[2] / "recording-rules"
#: Series Prometheus itself writes for every scrape target.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
#: Other projects' series a panel reads when Prometheus scrapes them (Kueue's wait histogram).
THIRD_PARTY_SERIES = {"kueue_admission_wait_time_seconds_bucket"}


@pytest.fixture(scope="module")
def exporter_metrics() -> set[str]:
    config = demo_config()
    book = PriceBook.load(config.pricebook_paths())
    source = _build_source(config)
    try:
        body = Collector(source, book, config).collect_once().exposition.decode()
    finally:
        source.close()
    # ... and those of the capacity forecaster (`unitcost forecast --serve`).
    forecaster = {f.name for f in forecast_families([], (30, 90), 0.0)}
    return set(re.findall(r"^# TYPE (\S+) ", body, re.MULTILINE)) | forecaster


@pytest.fixture(scope="module")
def rule_names() -> set[str]:
    names = set()
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            names |= {r["record"] for r in group.get("rules", []) if "record" in r}
    return names


def _variable_queries(dashboards: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    out = []
    for uid, dash in sorted(dashboards.items()):
        for v in dash["templating"]["list"]:
            if v["type"] == "query":
                inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", v["query"]["query"])
                assert inner, f"{uid}: variable {v['name']} is not label_values(series, label)"
                out.append((uid, f"variable {v['name']}", inner.group(1)))
    return out


def test_catalog_sources_are_real(exporter_metrics: set[str], rule_names: set[str]) -> None:
    assert "unitcost_pod_total_cost_dollars_per_hour" in exporter_metrics
    assert "team:unitcost_cost_dollars_per_hour:sum" in rule_names


def test_every_query_names_only_known_series(
    all_targets: list[tuple[str, str, dict[str, Any]]],
    dashboards: dict[str, dict[str, Any]],
    exporter_metrics: set[str],
    rule_names: set[str],
) -> None:
    catalog = exporter_metrics | rule_names | SCRAPE_SERIES | THIRD_PARTY_SERIES
    queries = [(uid, f"panel {title!r}", t["expr"]) for uid, title, t in all_targets]
    queries += _variable_queries(dashboards)
    unknown = [
        f"{uid}: {where}: {sorted(names - catalog)}"
        for uid, where, expr in queries
        if (names := metric_names(expr)) - catalog
    ]
    assert not unknown, "queries name series nobody produces:\n" + "\n".join(unknown)
    assert all(metric_names(expr) for _, _, expr in queries), "a query selects no series"


def test_panels_prefer_recording_rules(
    all_targets: list[tuple[str, str, dict[str, Any]]], exporter_metrics: set[str]
) -> None:
    """Raw per-pod series are never read by a panel: the roll-ups exist for that. The one
    exception is the team dashboard's drill-down from a workload to its pods, which selects
    one workload's pod totals by team and app (an index lookup, not a read of every pod)."""
    per_pod = {m for m in exporter_metrics if m.startswith("unitcost_pod_")} | {
        "unitcost_pod_cost_dollars_per_hour",
        "unitcost_pod_unused_cost_dollars_per_hour",
        "unitcost_pod_shared_cost_dollars_per_hour",
    }
    per_pod -= {"unitcost_pod_info"}
    drill_down = re.compile(
        r'unitcost_pod_total_cost_dollars_per_hour\{[^}]*team=~"\$team"[^}]*app=~"\$workload"'
    )
    offenders = [
        f"{uid}: {title!r}"
        for uid, title, t in all_targets
        if metric_names(t["expr"]) & per_pod
        and not (uid == "unitcost-team" and drill_down.search(t["expr"]))
    ]
    assert not offenders, offenders
    drilled = [t for uid, _, t in all_targets if drill_down.search(t["expr"])]
    assert len(drilled) == 1, drilled


def test_a_renamed_metric_is_caught(exporter_metrics: set[str], rule_names: set[str]) -> None:
    expr = 'sum(team:unitcost_cost_dollars_per_hour:summ{cluster=~"$cluster"})'
    assert metric_names(expr) - (exporter_metrics | rule_names) == {
        "team:unitcost_cost_dollars_per_hour:summ"
    }


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (team) (a:b:c{x="y"}) / on (team) group_left (org) d_e', {"a:b:c", "d_e"}),
        ("rate(f_total[5m] offset 1d) > 1e3 and bool 2", {"f_total"}),
        ('max_over_time(g[1h:5m]) unless h{l=~"$v|${w}"}', {"g", "h"}),
        ('label_replace(i, "a", "$1", "b", "(.*)")', {"i"}),
        ("time() - j", {"j"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
