"""The metric contract: what the demo frame exposes, documented, parsable, promtool-clean."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.catalogue import assert_conforms
from support.invariant import assert_scraped_invariant
from support.prometheus import Promtool
from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.records import CollectStats, SourceHealth
from unitcost.metrics.catalogue import (
    CATALOGUE,
    NODES,
    PODS,
    QUEUES,
    WORKLOAD_SHARED_COST,
    WORKLOADS,
    Binary,
)
from unitcost.pricing import PriceBook
from unitcost.sinks.exposition import render
from unitcost.sinks.metrics import cost_families, health_families, policy_families, teams_in
from unitcost.sources.simulator import SimulatedCluster


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


def test_the_exposition_keeps_the_catalogue_contract(exposition: str) -> None:
    """Every family served is declared in the catalogue for the exporter, with its type, HELP
    and labels; and the demo cluster shows every cost family the attribution rules read."""
    seen = assert_conforms(exposition, Binary.EXPORTER)
    expected = {
        spec.name
        for spec in CATALOGUE
        if Binary.EXPORTER in spec.producers and spec.section in (NODES, PODS, WORKLOADS, QUEUES)
    }
    # Shared cost is redistributed only under the even/proportional strategies.
    expected -= {"unitcost_pod_shared_cost_dollars_per_hour", WORKLOAD_SHARED_COST.name}
    assert expected - seen == set()


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


def test_promtool_check_metrics_is_clean(exposition: str, promtool: Promtool) -> None:
    result = promtool(exposition)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[:2000]
