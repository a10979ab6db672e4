"""End to end: `unitcost serve` on the simulator -> the real Prometheus with every recording
rule and alert -> the real Alertmanager -> a webhook receiver inside this test.

The simulator is configured into trouble: team llm-training has a $1 monthly budget (budget
overrun), every GPU workload is idle, and the GPU-idle threshold is a cent an hour except for
team vision, whose override (and huge budget) keeps it quiet. Alert `for:` durations are cut
to 1s in a generated copy of the rules; the source files are untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.loopback import loopback_server
from support.prometheus import (
    Prometheus,
    PrometheusError,
    alertmanager,
    exporter,
    prometheus,
    wait_until,
)
from support.rulefiles import fast_rules

ROOT = Path(__file__).resolve().parents[2]

CONFIG = {
    "source": {
        "kind": "simulator",
        "simulator": {
            "seed": 7,
            "nodes": 24,
            "pods": 300,
            "speed": 60,
            "gpu_idle_share": 1.0,
            "network_traffic": True,
        },
    },
    # One collect at start: the data stays still while Prometheus evaluates, so sums recorded
    # by different rule groups describe the same cost frame.
    "collect_interval_seconds": 3600,
    "shared_cost": {"namespaces": ["kube-system", "monitoring"], "strategy": "proportional"},
    "gpu_idle": {"threshold_ratio": 0.01, "window_seconds": 60},
    "budgets": {"period": "month", "teams": {"llm-training": 1, "vision": 100_000_000}},
    "policy": {
        "waste_ratio_threshold": {"default": 1.0},
        "gpu_idle_dollars_per_hour_threshold": {"default": 0.01, "teams": {"vision": 1_000_000}},
        "unattributed_cost_ratio_threshold": 1.0,
    },
}

#: Cost per unit of work done: none is done here (every GPU idles, one collect, and token
#: rates count only pods serving for 5 minutes, longer than this test runs), so these are
#: rightly empty; tests/rules/unit-economics.test.yml computes each of them.
WORK_DONE_RATIOS = {
    "team_model:unitcost_dollars_per_used_gpu_hour:ratio",
    "model:unitcost_dollars_per_used_gpu_hour:ratio",
    "namespace_pod:unitcost_llm_tokens:rate5m",
    "namespace_app:unitcost_llm_tokens:rate5m",
    "team_app:unitcost_llm_tokens:rate5m",
    "team_app:unitcost_llm_cost_dollars_per_hour:sum",
    "team_app:unitcost_llm_cost_dollars_per_million_tokens:ratio",
    "cluster:unitcost_llm_cost_dollars_per_million_tokens:ratio",
    # the usage basis of the same app figures (needs GPU activity joined to serving pods)
    "team_app:unitcost_llm_gpu_unused_cost_dollars_per_hour:sum",
    "team_app:unitcost_llm_used_cost_dollars_per_million_tokens:ratio",
}
#: Batch economics that need work to end, wait or be admitted: one collect ends no run (a run
#: is counted when a later collect sees it ended), and this small cluster fits all its work,
#: so nothing waits. tests/rules/batch.test.yml computes each; the demo's dashboards show them
#: (tests/dashboards), and tests/e2e/test_batch_outcomes.py counts a failed run end to end.
NEEDS_ENDED_OR_WAITING_WORK = {
    "queue_team:unitcost_queue_pending_cost_dollars_per_hour:sum",
    "team:unitcost_queue_pending_cost_dollars_per_hour:sum",
    "queue:unitcost_queue_pending_workloads:sum",
    "queue:unitcost_queue_pending_wait_seconds:max",
    "queue:unitcost_queue_admission_wait_seconds:mean1h",
    "team_queue_outcome_cause:unitcost_workload_ended_cost_dollars:increase1h",
    "team:unitcost_workload_ended_cost_dollars:unproductive_increase1h",
    "team:unitcost_workload_ended_cost_dollars:increase1h",
    "team:unitcost_workload_ended_cost_dollars:unproductive_ratio6h",
    "team:unitcost_workload_ended_cost_dollars:per_succeeded_run1d",
}
#: Shared services split by usage need `shared_services:` and a Prometheus to run the usage
#: queries against, which this exporter is not given; tests/rules/shared-services.test.yml
#: computes each, tests/runtime/test_shared_services.py checks the exporter's series.
NEEDS_SHARED_SERVICES = {
    "service_team:unitcost_shared_service_allocated_cost_dollars_per_hour:max",
    "team:unitcost_shared_service_allocated_cost_dollars_per_hour:sum",
    "team:unitcost_shared_service_cost_dollars_per_hour:sum",
    "service_team:unitcost_shared_service_cost_dollars_per_hour:max",
}

#: The agent's view of time-sliced and MPS devices needs the GPU agent's share series (no
#: agent runs here) and pods holding replicas (this simulated cluster has none);
#: tests/rules/gpu-ledger.test.yml computes each, tests/runtime/test_gpu_agent.py checks the
#: agent's series. Without them the refined records fall back to the ledger's (checked here).
NEEDS_GPU_AGENT = {
    "node_namespace_pod:unitcost_gpu_shared_holding_cost_dollars_per_hour:sum",
    "node_gpu_namespace_pod_measure:unitcost_gpu_pod_share:ratio",
    "node_gpu:unitcost_gpu_shared_pool_cost_dollars_per_hour:sum",
    "node_gpu:unitcost_gpu_shared_pool_used_cost_dollars_per_hour:sum",
}

#: Network dollars against the bill's data-transfer lines need yesterday's (UTC) midnight in
#: Prometheus's data and an AWS bill (`clouds.aws.billing`), which this test has neither;
#: tests/rules/network-bill.test.yml computes each, tests/sources/cloud/test_aws_billing.py
#: checks the exporter's billed series.
NEEDS_A_BILLED_DAY = {
    "cluster_destination:unitcost_network_transfer_cost_dollars:yesterday",
    "cluster_destination:unitcost_cloud_billed_data_transfer_cost_dollars:yesterday",
    "cluster_destination:unitcost_network_transfer_reconciliation_ratio:yesterday",
}


class _Webhook(BaseHTTPRequestHandler):
    """Alertmanager's webhook: POST /<receiver> with a JSON notification."""

    received: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path.strip("/"), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def webhook_server() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    received: list[tuple[str, dict[str, Any]]] = []
    handler = type("Handler", (_Webhook,), {"received": received})
    with loopback_server(handler) as address:
        yield f"http://{address}", received


def alertmanager_config(webhook: str) -> dict[str, Any]:
    def receiver(name: str) -> dict[str, Any]:
        return {"name": name, "webhook_configs": [{"url": f"{webhook}/{name}"}]}

    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "team"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [
                {"matchers": ['team="llm-training"'], "receiver": "llm-training"},
                {"matchers": ['team="vision"'], "receiver": "vision"},
            ],
        },
        "receivers": [receiver("default"), receiver("llm-training"), receiver("vision")],
    }


def _one(prom: Prometheus, expr: str) -> float:
    result = prom.query(expr)
    assert len(result) == 1, f"{expr}: {result}"
    return float(result[0]["value"][1])


@pytest.mark.xdist_group("e2e-alerting")
def test_budget_overrun_and_idle_gpus_reach_the_team_receivers(tmp_path: Path) -> None:
    config = tmp_path / "unitcost.yaml"
    config.write_text(yaml.safe_dump(CONFIG), "utf-8")
    rules = fast_rules(tmp_path)
    with (
        webhook_server() as (webhook, received),
        alertmanager(alertmanager_config(webhook)) as am,
        exporter(config) as target,
        prometheus(
            [target.address], rules, alertmanagers=[am.address], simulated_vllm=[target.address]
        ) as prom,
    ):
        # Every rule loads and evaluates without error.
        wait_until(
            lambda: prom.query("team:unitcost_budget_burn_rate:avg6h") or None,
            timeout=30,
            what="the budget rules' first results",
        )
        bad = [r for r in prom.rule_health() if r[1] == "err"]
        assert not bad, bad
        # ... and every recording rule yields series on the exporter's real output (a label
        # the exporter does not have would make a rule valid but silently empty).
        records = [
            r["record"]
            for f in rules
            for g in yaml.safe_load(f.read_text())["groups"]
            for r in g["rules"]
            if "record" in r
            and r["record"]
            not in WORK_DONE_RATIOS
            | NEEDS_ENDED_OR_WAITING_WORK
            | NEEDS_SHARED_SERVICES
            | NEEDS_GPU_AGENT
            | NEEDS_A_BILLED_DAY
        ]

        def empty() -> list[str]:
            return [n for n in records if not prom.query(f"count({{__name__={n!r}}})")]

        # Rule groups run on their own timers: give every group a few evaluations.
        try:
            wait_until(lambda: not empty(), timeout=10, what="every recorded series")
        except TimeoutError:
            pytest.fail(f"recording rules with no series: {empty()}")
        with pytest.raises(PrometheusError, match="parse error"):
            prom.query("sum(")

        # Recorded series exist with sane values.
        team_cost = prom.values("team:unitcost_cost_dollars_per_hour:sum")
        teams = {dict(k)["team"]: v for k, v in team_cost.items()}
        assert {"llm-training", "vision", "shared"} <= set(teams)
        assert all(v > 0 for v in teams.values()), teams
        cluster_cost = _one(prom, "cluster:unitcost_cost_dollars_per_hour:sum")
        balance = _one(
            prom,
            "sum(team:unitcost_cost_dollars_per_hour:sum)"
            " - cluster:unitcost_shared_cost_dollars_per_hour:sum"
            " + cluster:unitcost_node_idle_cost_dollars_per_hour:sum"
            " + cluster:unitcost_volume_unbound_cost_dollars_per_hour:sum",
        )
        assert balance == pytest.approx(cluster_cost, rel=1e-9)
        assert _one(prom, "cluster:unitcost_shared_cost_dollars_per_hour:sum") > 0
        assert 0.9 < _one(prom, "cluster:unitcost_attribution_coverage:ratio") <= 1
        assert _one(prom, 'team:unitcost_budget_burn_rate:avg1h{team="llm-training"}') > 14.4
        assert _one(prom, 'team:unitcost_budget_burn_rate:avg1h{team="vision"}') < 1
        assert _one(prom, 'team:unitcost_cost_dollars:month_to_date{team="llm-training"}') > 0
        assert _one(prom, 'team:unitcost_budget_forecast:ratio{team="llm-training"}') > 1
        gpu_idle = prom.values("team:unitcost_gpu_idle_cost_dollars_per_hour:sum")
        assert {dict(k)["team"] for k, v in gpu_idle.items() if v > 0} >= {"llm-training"}
        # no GPU agent: every refined GPU record is the ledger's split
        views = prom.values(
            "count by (view) (node_gpu_namespace_pod_view:unitcost_gpu_holding_cost_dollars_per_hour:sum)"
        )
        assert {dict(k)["view"] for k in views} == {"ledger"}, views
        assert 0 <= _one(prom, 'source:unitcost_source_age_seconds:min{source="simulator"}') < 120
        assert _one(prom, "job:unitcost_exporter_up:avg") == 1

        # The webhook receives the expected alerts, routed by team.
        expected = {
            ("llm-training", "UnitcostBudgetBurnFast", "llm-training"),
            ("llm-training", "UnitcostBudgetForecastOverrun", "llm-training"),
            ("llm-training", "UnitcostGpuIdleSpend", "llm-training"),
            # The simulator's dollars are flagged as such in a real Prometheus.
            ("default", "UnitcostSimulatedData", "platform"),
        }

        def delivered() -> set[tuple[str, str, str]] | None:
            got = {
                (receiver, a["labels"]["alertname"], a["labels"].get("team", ""))
                for receiver, note in list(received)
                for a in note["alerts"]
                if a["status"] == "firing"
            }
            return got if expected <= got else None

        got = wait_until(delivered, timeout=40, what=f"webhook notifications {expected}")

    # vision has a huge budget and a high GPU-idle override: nothing about it fires.
    assert not {g for g in got if g[2] == "vision"}, got
    # Every notification went to its team's receiver; teams without a route to the default.
    routed = {"llm-training", "vision"}
    assert all(r == (team if team in routed else "default") for r, _, team in got), got
    # Annotations survive the trip, rendered.
    notes = [a for _, n in received for a in n["alerts"]]
    fast = next(a for a in notes if a["labels"]["alertname"] == "UnitcostBudgetBurnFast")
    assert fast["labels"]["severity"] == "critical"
    assert fast["annotations"]["dashboard_url"] == "/d/unitcost-team?var-team=llm-training"
    assert fast["annotations"]["runbook_url"].endswith("runbooks.md#unitcostbudgetburnfast")
    assert fast["annotations"]["description"].startswith("Team llm-training spent ")
