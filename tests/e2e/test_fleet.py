"""A fleet of three clusters in one view, on real software (tests/support/fleet.py,
docs/fleet.md): per-cluster Prometheus 3.5 agents remote-writing into a Prometheus 3.5
receiver (tier A) and into VictoriaMetrics with vmalert (tier B), both evaluating the bundle's
rule files (alert `for:` cut to 1s in a generated copy).

Exporters collect once and then hold their figures, so the global tiers and each cluster's own
Prometheus see the same values and must agree to the cent.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from support.dashboard_queries import (
    exprs,
    generated_dashboards,
    history_expressions,
    substitute,
    variable_choices,
)
from support.fleet import CLUSTERS, HISTORY_POOL, Fleet, Store, fleet
from support.prometheus import PrometheusError, http_get, unitcost_command, wait_until
from support.rulefiles import fast_rules, rule_files

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("fleet")]

NAMES = {spec.name for spec in CLUSTERS}
TEAM_RATE = "team:unitcost_cost_dollars_per_hour:sum"
MONTH_TO_DATE = next(
    rule["expr"]
    for group in yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "recording-rules" / "budget.yml").read_text()
    )["groups"]
    for rule in group["rules"]
    if rule.get("record") == "team:unitcost_cost_dollars:month_to_date"
)
#: Records compared between each cluster's own Prometheus and the global tiers.
TOTALS = (
    TEAM_RATE,
    "cluster:unitcost_node_cost_dollars_per_hour:sum",
    "team:unitcost_workload_unused_cost_dollars_per_hour:sum",
    "queue:unitcost_queue_quota_cost_dollars_per_hour:sum",
)


@pytest.fixture(scope="module")
def the_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    rules = fast_rules(tmp_path_factory.mktemp("rules"))
    with fleet(CLUSTERS, rules, history_days=35) as f:
        # The deepest chain of records (workload -> team -> hourly average -> burn rate) of
        # every team of every cluster, on both tiers. The agents' first remote-write batches
        # take seconds; on VictoriaMetrics a series that vmalert just created becomes
        # searchable some tens of seconds later (docs/fleet.md), once per link of the chain.
        teams = sum(
            int(wait_until(lambda c=c: c.local.query(f"count({TEAM_RATE})") or None, timeout=60,
                           what=f"{c.spec.name}'s own records")[0]["value"][1])
            for c in f.clusters
        )  # fmt: skip
        for tier in f.tiers:
            wait_until(
                lambda tier=tier: (
                    (
                        tier.query("count(team:unitcost_budget_burn_rate:avg1h)")
                        and int(
                            tier.query("count(team:unitcost_budget_burn_rate:avg1h)")[0]["value"][1]
                        )
                        == teams
                    )
                    or None
                ),
                timeout=240,
                what=f"every team's burn rate on {tier.name}",
            )
        yield f


def _cents(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in values.items()}


@pytest.mark.parametrize("record", TOTALS)
@pytest.mark.parametrize("tier", ["A", "B"])
def test_per_cluster_totals_equal_each_clusters_own_prometheus(
    the_fleet: Fleet, record: str, tier: str
) -> None:
    store = the_fleet.tier_a if tier == "A" else the_fleet.tier_b
    own = {c.spec.name: c.local.by(f"sum({record})", "cluster")[""] for c in the_fleet.clusters}
    assert all(v > 0 for v in own.values()), own

    def agreed() -> dict[str, float] | None:
        seen = store.by(f"sum by (cluster) ({record})", "cluster")
        agree = set(seen) == set(own) and all(abs(seen[k] - own[k]) < 0.005 for k in own)
        return seen if agree else None

    try:
        wait_until(agreed, timeout=30, what=f"{record} on {store.name}")
    except TimeoutError:
        seen = store.by(f"sum by (cluster) ({record})", "cluster")
        pytest.fail(f"{record} on {store.name}: {_cents(seen)} != own {_cents(own)}")
    fleet_total = float(store.query(f"sum({record})")[0]["value"][1])
    assert abs(fleet_total - sum(own.values())) < 0.005


@pytest.mark.parametrize("tier", ["A", "B"])
def test_budget_alerts_fire_once_per_team_per_cluster(the_fleet: Fleet, tier: str) -> None:
    """Budgets are per team and cluster (every rule keeps `cluster`): a team over budget in
    three clusters pages three times, once for each cluster's budget."""
    store = the_fleet.tier_a if tier == "A" else the_fleet.tier_b
    burning = {
        (r["metric"]["cluster"], r["metric"]["team"])
        for r in store.query("team:unitcost_budget_burn_rate:avg1h > 14.4")
    }
    assert {cluster for cluster, _ in burning} == NAMES

    def firing() -> list[tuple[str, str]] | None:
        alerts = [
            (r["metric"]["cluster"], r["metric"]["team"])
            for r in store.query('ALERTS{alertname="UnitcostBudgetBurnFast", alertstate="firing"}')
        ]
        return alerts if set(alerts) >= burning else None

    alerts = wait_until(firing, timeout=60, what=f"budget alerts on {store.name}")
    assert len(alerts) == len(set(alerts)), "an alert fired twice for one team and cluster"
    assert set(alerts) == burning


def _unitcost(*args: str) -> str:
    result = subprocess.run(
        [*unitcost_command(), *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("tier", ["A", "B"])
def test_chargeback_reports_each_cluster_and_the_fleet(the_fleet: Fleet, tier: str) -> None:
    store = the_fleet.tier_a if tier == "A" else the_fleet.tier_b
    at = time.time() - 5
    period = time.strftime("%Y-%m", time.gmtime(at))
    out = _unitcost(
        "chargeback", "--prometheus", store.url, "--period", period, "--format", "focus-csv",
        "--at", str(int(at)),
    )  # fmt: skip
    per_cluster: dict[str, float] = defaultdict(float)
    for row in csv.DictReader(io.StringIO(out)):
        # The teams' rows (the cluster's own idle and unattributed rows are not month to date).
        if row["x_CostComponent"] not in ("idle", "unattributed"):
            per_cluster[row["x_Cluster"]] += float(row["BilledCost"])
    assert set(per_cluster) == NAMES
    assert all(v > 0 for v in per_cluster.values()), per_cluster
    # Each cluster's charges are its teams' month to date at that time, as the global tier
    # computes the rule (its expression evaluated at `at`), to the cent.
    month_to_date = {
        r["metric"]["cluster"]: float(r["value"][1])
        for r in store.query(f"sum by (cluster) ({MONTH_TO_DATE})", at=at)
    }
    assert set(month_to_date) == NAMES
    # VictoriaMetrics only: a cluster's first, partial hour (the fleet may have started in the
    # previous hour) is in the chargeback's hourly read of the avg1h record but not in the
    # rule's [31d:1h] subquery, whose lookback MetricsQL sizes differently (docs/fleet.md). The
    # difference is then at most that hour at the cluster's rate, and never negative.
    rates = store.by(f"sum by (cluster) ({TEAM_RATE})", "cluster")
    for name in NAMES:
        gap = per_cluster[name] - month_to_date[name]
        first_hour = rates[name] if tier == "B" else 0.0  # one hour at $/h
        assert -0.005 < gap < first_hour + 0.005, (name, per_cluster, month_to_date)


@pytest.mark.parametrize("tier", ["A", "B"])
def test_recommend_reports_each_cluster(the_fleet: Fleet, tier: str, tmp_path: Path) -> None:
    """The clusters reuse namespaces, workload and node names: each recommendation names its
    cluster. With minutes of history the idle-GPU ones show (right-sizing needs cAdvisor usage,
    which the simulated clusters do not serve): one per cluster holding idle GPUs."""
    store = the_fleet.tier_a if tier == "A" else the_fleet.tier_b
    # Minutes of history, so the judging windows are minutes too (defaults: hours and days).
    config = tmp_path / "recommend.yaml"
    settings = {"step_seconds": 10, "gpu_idle": {"policy_window_seconds": 60}}
    config.write_text(yaml.safe_dump({"recommend": settings}))
    out = json.loads(
        _unitcost("recommend", "--prometheus", store.url, "--config", str(config),
                  "--window", "2m", "--format", "json")
    )  # fmt: skip
    idle = {
        r["metric"]["cluster"]
        for r in store.query("max by (cluster) (unitcost_gpu_idle_cost_dollars_per_hour) > 0")
    }
    assert len(idle) >= 2, idle  # clusters apart, not merged into one
    recommended = {item["cluster"] for item in out if item["kind"] == "idle-gpu"}
    assert recommended == idle, out


@pytest.mark.parametrize("tier", ["A", "B"])
def test_forecast_reports_each_clusters_pool(the_fleet: Fleet, tier: str) -> None:
    """35 days of each cluster's capacity history on the tier: the forecast has one row per
    cluster for the same pool name, each running out on its own date."""
    store = the_fleet.tier_a if tier == "A" else the_fleet.tier_b
    out = _unitcost("forecast", "--prometheus", store.url, "--horizon", "90d")
    rows = {
        line.split()[1]: line
        for line in out.splitlines()
        if HISTORY_POOL["node_pool"] in line and line.split()[1] in NAMES
    }
    assert set(rows) == NAMES, out
    dates = {name: [w for w in row.split() if w.startswith("20") and w.count("-") == 2]
             for name, row in rows.items()}  # fmt: skip
    assert all(len(d) == 1 for d in dates.values()), out
    assert len({d[0] for d in dates.values()}) == 3, dates


@pytest.mark.parametrize("tier", ["A", "B"])
@pytest.mark.parametrize(
    "uid",
    ["unitcost-leadership", "unitcost-team", "unitcost-queues", "unitcost-gpu", "unitcost-health"],
)
def test_dashboards_show_the_fleet(the_fleet: Fleet, tier: str, uid: str) -> None:
    """The `cluster` variable lists the three clusters, and every live panel has data for
    some choice of the other variables (All clusters)."""
    store: Store = the_fleet.tier_a if tier == "A" else the_fleet.tier_b
    dash = generated_dashboards()[uid]
    [cluster_var] = [v for v in dash["templating"]["list"] if v["name"] == "cluster"]
    listed = {
        r["metric"]["cluster"]
        for r in store.query(
            substitute(cluster_var["query"]["query"], {}).split("(", 1)[1].rsplit(",", 1)[0]
        )
    }
    assert listed == NAMES
    history = history_expressions()
    live = [(title, expr) for title, expr in exprs(dash) if expr not in history]
    choices = variable_choices(store, dash)

    def empty(values: dict[str, str]) -> list[str]:
        missing = []
        for title, expr in live:
            try:
                if not store.query(substitute(expr, values)):
                    missing.append(title)
            except PrometheusError as exc:
                missing.append(f"{title} (error: {exc})")
        return missing

    best = min((empty(values) for values in choices), key=len)
    assert not best, f"{uid} on {store.name}: panels without data: {best}"


def test_vmalert_loaded_every_rule_without_error(the_fleet: Fleet) -> None:
    """MetricsQL accepts every rule file as written (docs/fleet.md lists what differs): vmalert
    holds as many rules as the files declare, none with an error."""
    body = json.loads(http_get(f"{the_fleet.vmalert.url}/api/v1/rules"))
    loaded = [r for g in body["data"]["groups"] for r in g["rules"]]
    declared = [
        rule
        for path in rule_files()
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]
        for rule in group["rules"]
    ]
    assert len(loaded) == len(declared) > 50
    errors = {r["name"]: r["lastError"] for r in loaded if r.get("lastError")}
    assert not errors, errors
