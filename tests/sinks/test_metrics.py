"""The metric contract: what the demo frame exposes, documented, parsable, promtool-clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.invariant import assert_scraped_invariant
from support.prometheus import Promtool
from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.records import CollectStats, SourceHealth
from unitcost.pricing import PriceBook
from unitcost.sinks.exposition import render
from unitcost.sinks.metrics import cost_families, health_families, policy_families, teams_in
from unitcost.sources.simulator.cluster import SimulatedCluster

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

CONTRACT = {
    "unitcost_node_cost_dollars_per_hour": {"node", "resource"},
    "unitcost_node_info": {
        "node",
        "provider",
        "region",
        "zone",
        "instance_type",
        "capacity_type",
        "node_pool",
    },
    "unitcost_pod_cost_dollars_per_hour": {"namespace", "pod", "node", "resource"},
    "unitcost_pod_unused_cost_dollars_per_hour": {"namespace", "pod", "node", "resource"},
    "unitcost_pod_info": {
        "namespace",
        "pod",
        "team",
        "org",
        "cost_center",
        "queue",
        "app",
        "workload_kind",
        "holds_gpu",
    },
    "unitcost_workload_cost_dollars_per_hour": {
        "namespace",
        "team",
        "org",
        "cost_center",
        "queue",
        "app",
        "workload_kind",
    },
    "unitcost_node_idle_cost_dollars_per_hour": {"node", "resource"},
    "unitcost_gpu_idle_cost_dollars_per_hour": {"node", "gpu", "namespace", "pod"},
    "unitcost_queue_quota_cost_dollars_per_hour": {"queue", "flavor", "resource"},
    "unitcost_queue_used_cost_dollars_per_hour": {"queue", "flavor", "resource"},
    "unitcost_budget_dollars": {"team", "period"},
    "unitcost_source_up": {"source"},
    "unitcost_source_last_success_timestamp_seconds": {"source"},
    "unitcost_collect_duration_seconds": set(),
    "unitcost_unpriced_nodes": set(),
}


@pytest.fixture(scope="module")
def exposition() -> str:
    config = demo_config()
    frame = allocate(
        SimulatedCluster(seed=7, nodes=40, pods=800).snapshot(),
        PriceBook.load(),
        allocation_policy(config),
    )
    stats = CollectStats(0.01, (SourceHealth("simulator", True, 1.7e9),))
    families = (
        cost_families(frame) + policy_families(config, teams_in(frame)) + health_families(stats)
    )
    return render(families).decode()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples
    ]


def test_every_contract_metric_is_present_with_its_labels(exposition: str) -> None:
    seen: dict[str, set[str]] = {}
    for name, labels, _ in samples(exposition):
        seen.setdefault(name, set(labels))
    for name, labels in CONTRACT.items():
        assert name in seen, name
        assert seen[name] == labels, name


def test_team_is_never_empty_and_resources_are_known(exposition: str) -> None:
    for name, labels, value in samples(exposition):
        if "team" in labels:
            assert labels["team"], (name, labels)
        if "resource" in labels:
            assert labels["resource"] in {"cpu", "memory", "gpu", "storage"}
        assert value == value, name  # no NaN anywhere


def test_invariant_holds_on_the_exposition(exposition: str) -> None:
    assert assert_scraped_invariant(samples(exposition)) > 40


def test_no_zero_series_for_things_a_pod_cannot_have(exposition: str) -> None:
    for name, labels, value in samples(exposition):
        if name in (
            "unitcost_pod_cost_dollars_per_hour",
            "unitcost_pod_unused_cost_dollars_per_hour",
        ):
            assert value > 0, labels


def test_every_exported_metric_is_documented(exposition: str) -> None:
    documented = set(re.findall(r"`(unitcost_[a-z_]+)", DOCS.read_text()))
    exported = {f.name for f in text_string_to_metric_families(exposition)}
    assert exported - documented == set()


def test_promtool_check_metrics_is_clean(exposition: str, promtool: Promtool) -> None:
    result = promtool(exposition)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[:2000]
