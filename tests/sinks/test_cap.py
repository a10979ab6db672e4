"""The series cap: cheapest pods go first, whole, counted; everything else stays."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.builders import node, res
from unitcost.base.errors import InputError
from unitcost.config.file import Detail, demo_config, parse_config
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.frame import Attribution, CostFrame, NodeCost, PodCost
from unitcost.data.model import RESOURCES
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.sinks.cap import POD_FAMILIES, WORKLOAD_FAMILIES, cap_series
from unitcost.sinks.metrics import cost_families
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource


def pods_of(families: list) -> dict[str, set[tuple[str, str]]]:  # type: ignore[type-arg]
    return {f.name: {s[0][:2] for s in f.samples} for f in families if f.name in POD_FAMILIES}


TOTAL = "unitcost_pod_total_cost_dollars_per_hour"
DETAILS = pytest.mark.parametrize("detail", ["workload", "pod"])


@DETAILS
def test_cheapest_pods_are_dropped_whole_and_the_rest_stays(detail: Detail) -> None:
    cluster = SimulatedCluster(seed=5, nodes=20, pods=600)
    frame = allocate(cluster.snapshot(), PriceBook.load(), allocation_policy(demo_config()))
    families = cost_families(frame, detail)
    total = sum(len(f.samples) for f in families)
    others = {f.name: list(f.samples) for f in families if f.name not in POD_FAMILIES}
    before = pods_of(families)[TOTAL]
    assert bool(pods_of(families)["unitcost_pod_info"]) == (detail == "pod")

    dropped = cap_series(families, frame, total - 500)

    assert dropped >= 500
    assert sum(len(f.samples) for f in families) == total - dropped <= total - 500
    kept = pods_of(families)
    gone = before - kept[TOTAL]
    assert gone and all(pods <= kept[TOTAL] for pods in kept.values())
    cost = {(p.namespace, p.name): sum(p.allocated.values()) for p in frame.pods}
    assert max(cost[k] for k in gone) <= min(cost[k] for k in kept[TOTAL])
    assert {f.name: f.samples for f in families if f.name not in POD_FAMILIES} == others


def test_no_cap_needed_drops_nothing() -> None:
    cluster = SimulatedCluster(seed=5, nodes=5, pods=100)
    frame = allocate(cluster.snapshot(), PriceBook.load(), allocation_policy(demo_config()))
    families = cost_families(frame)
    total = sum(len(f.samples) for f in families)
    assert cap_series(families, frame, total) == 0
    assert sum(len(f.samples) for f in families) == total


def test_a_cap_below_the_fixed_series_drops_every_pod_and_workload() -> None:
    cluster = SimulatedCluster(seed=5, nodes=5, pods=100)
    frame = allocate(cluster.snapshot(), PriceBook.load(), allocation_policy(demo_config()))
    families = cost_families(frame)
    droppable = POD_FAMILIES | WORKLOAD_FAMILIES
    series = sum(len(f.samples) for f in families if f.name in droppable)
    fixed = {f.name: list(f.samples) for f in families if f.name not in droppable}
    assert cap_series(families, frame, 1) == series
    assert all(not f.samples for f in families if f.name in droppable)
    assert {f.name: f.samples for f in families if f.name not in droppable} == fixed


@DETAILS
def test_100k_distinct_label_values_are_capped_in_one_pass(detail: Detail) -> None:
    # Each pod carries a distinct allowlisted label value (the cardinality attack of issue 9).
    owner = Attribution("t", "o", "c")
    pods = [
        PodCost(
            "ns",
            f"p{i}",
            "n0",
            Attribution("t", "o", "c", labels=(("run", f"v-{i:06d}"),)),
            {"cpu": (i % 977) * 1e-6},
            {},
        )
        for i in range(100_000)
    ]
    n0 = node("n0", res(4, 16))
    zero = {r: 0.0 for r in RESOURCES}
    nc = NodeCost(n0, PriceBook.load().node_price(n0), dict(zero), dict(zero))
    frame = CostFrame(0.0, [nc], pods, namespaces={"ns": owner})
    families = cost_families(frame, detail)
    before = sum(len(f.samples) for f in families)
    dropped = cap_series(families, frame, 50_000)
    after = sum(len(f.samples) for f in families)
    assert after <= 50_000 and dropped == before - after
    info = next(f for f in families if f.name == TOTAL)
    kept = {s[0][1] for s in info.samples}
    assert min((int(p[1:]) % 977) for p in kept) >= max(
        (i % 977) for i in range(100_000) if f"p{i}" not in kept
    )


def series(exposition: bytes, name: str) -> list[float]:
    families = text_string_to_metric_families(exposition.decode())
    return [s.value for f in families for s in f.samples if s.name == name]


def test_collector_counts_drops_across_collects() -> None:
    config = parse_config({"limits": {"max_series": 400}}, "test.yaml", Path("."))
    source = SimulatorSource(SimulatedCluster(seed=2, nodes=10, pods=300))
    collector = Collector(source, PriceBook.load(), config)
    first = series(collector.collect_once().exposition, "unitcost_series_dropped_total")
    second = collector.collect_once().exposition
    assert first[0] > 0
    assert series(second, "unitcost_series_dropped_total")[0] > first[0]
    assert len([line for line in second.splitlines() if not line.startswith(b"#")]) <= 401


def test_bad_cap_names_the_field() -> None:
    with pytest.raises(InputError, match=r"limits\.max_series"):
        parse_config({"limits": {"max_series": 0}}, "bad.yaml", Path("."))


@DETAILS
def test_workloads_go_only_when_no_pod_is_left_cheapest_first(detail: Detail) -> None:
    cluster = SimulatedCluster(seed=5, nodes=20, pods=600)
    frame = allocate(cluster.snapshot(), PriceBook.load(), allocation_policy(demo_config()))
    families = cost_families(frame, detail)
    total = sum(len(f.samples) for f in families)
    workload_series = sum(len(f.samples) for f in families if f.name in WORKLOAD_FAMILIES)
    pod_series = sum(len(f.samples) for f in families if f.name in POD_FAMILIES)
    cost: dict[tuple[str, ...], float] = {}
    for f in families:
        if f.name == "unitcost_workload_resource_cost_dollars_per_hour":
            for values, value in f.samples:  # a workload's cost is its resources' sum
                cost[values[:7]] = cost.get(values[:7], 0.0) + value
    cap = total - pod_series - workload_series // 2

    dropped = cap_series(families, frame, cap)

    assert sum(len(f.samples) for f in families) == total - dropped <= cap
    assert not any(f.samples for f in families if f.name in POD_FAMILIES)
    kept = {
        values[:7]
        for f in families
        if f.name == "unitcost_workload_resource_cost_dollars_per_hour"
        for values, _ in f.samples
    }
    gone = cost.keys() - kept
    assert gone and kept
    assert max(cost[k] for k in gone) <= min(cost[k] for k in kept)
    # A dropped workload leaves no unused, shared or per-resource series behind.
    for f in families:
        if f.name in WORKLOAD_FAMILIES:
            assert not {values[:7] for values, _ in f.samples} & gone
