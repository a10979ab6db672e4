"""Per-workload series: exactly the per-pod series summed per (namespace, owners)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace

import pytest

from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import SharedStrategy, allocate
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.frame import CostFrame
from unitcost.metrics.catalogue import WORKLOAD_COST
from unitcost.metrics.family import MetricFamily
from unitcost.pricing import PriceBook
from unitcost.sinks.cap import cap_series
from unitcost.sinks.metrics import cost_families
from unitcost.sinks.workloads import workload_families
from unitcost.sources.simulator import SimulatedCluster

POD_TO_WORKLOAD = {
    "unitcost_pod_cost_dollars_per_hour": "unitcost_workload_cost_dollars_per_hour",
    "unitcost_pod_unused_cost_dollars_per_hour": "unitcost_workload_unused_cost_dollars_per_hour",
    "unitcost_pod_shared_cost_dollars_per_hour": "unitcost_workload_shared_cost_dollars_per_hour",
}


def frame_for(strategy: SharedStrategy = "keep") -> CostFrame:
    policy = replace(allocation_policy(demo_config()), shared_strategy=strategy)
    snapshot = SimulatedCluster(seed=11, nodes=30, pods=900).snapshot()
    return allocate(snapshot, PriceBook.load(), policy)


def by_name(families: list[MetricFamily]) -> dict[str, MetricFamily]:
    return {f.name: f for f in families}


def summed_from_pods(families: list[MetricFamily]) -> dict[str, dict[tuple[str, ...], float]]:
    """The workload series recomputed from the exposition's own per-pod families: each pod's
    series grouped by the owner labels on its unitcost_pod_info."""
    named = by_name(families)
    owners = {
        values[:2]: (values[0], *values[2:8]) for values, _ in named["unitcost_pod_info"].samples
    }
    out: dict[str, dict[tuple[str, ...], list[float]]] = defaultdict(lambda: defaultdict(list))
    for pod_name, workload_name in POD_TO_WORKLOAD.items():
        for values, value in named[pod_name].samples:
            out[workload_name][owners[values[:2]]].append(value)
    return {name: {k: math.fsum(v) for k, v in groups.items()} for name, groups in out.items()}


@pytest.mark.parametrize("strategy", ["keep", "proportional"])
def test_workload_series_are_the_pod_series_summed_per_owner(strategy: SharedStrategy) -> None:
    families = cost_families(frame_for(strategy))
    named = by_name(families)
    expected = summed_from_pods(families)
    for name in POD_TO_WORKLOAD.values():
        family = named[name]
        assert family.labels == WORKLOAD_COST.labels
        got = dict(family.samples)
        assert len(got) == len(family.samples), f"{name}: duplicate series"
        assert got.keys() == expected.get(name, {}).keys(), name
        for key, value in got.items():
            assert value == pytest.approx(expected[name][key], rel=1e-12), (name, key)
    cost = dict(named["unitcost_workload_cost_dollars_per_hour"].samples)
    pods = len(named["unitcost_pod_info"].samples)
    # Workloads group pods: fewer series than pods, and each one names a team.
    assert 0 < len(cost) < pods
    assert all(key[1] for key in cost)
    if strategy == "keep":
        assert not named["unitcost_workload_shared_cost_dollars_per_hour"].samples
    else:
        assert named["unitcost_workload_shared_cost_dollars_per_hour"].samples


def test_the_series_cap_keeps_every_dollar_in_the_workload_series() -> None:
    frame = frame_for()
    families = cost_families(frame)
    before = by_name(workload_families(frame))
    total = sum(len(f.samples) for f in families)
    assert cap_series(families, frame, total // 2) > 0
    after = by_name(families)
    for name, family in before.items():
        assert after[name].samples == family.samples
    all_pods = math.fsum(v for p in frame.pods for v in p.allocated.values())
    workloads = math.fsum(v for _, v in after["unitcost_workload_cost_dollars_per_hour"].samples)
    assert workloads == pytest.approx(all_pods, rel=1e-12)
