"""Per-workload series: exactly the per-pod series summed per (namespace, owners); the
allocated cost per resource only (its total is the rules' record, not a scraped series)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace

import pytest

from unitcost.config.file import Detail, demo_config
from unitcost.costmodel.allocation import SharedStrategy, allocate
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.frame import CostFrame
from unitcost.metrics.catalogue import WORKLOAD
from unitcost.metrics.family import MetricFamily
from unitcost.pricing import PriceBook
from unitcost.sinks.cap import POD_FAMILIES, cap_series
from unitcost.sinks.metrics import cost_families
from unitcost.sinks.workloads import workload_families
from unitcost.sources.simulator import SimulatedCluster

POD_TO_WORKLOAD = {
    "unitcost_pod_unused_cost_dollars_per_hour": "unitcost_workload_unused_cost_dollars_per_hour",
    "unitcost_pod_shared_cost_dollars_per_hour": "unitcost_workload_shared_cost_dollars_per_hour",
}


RESOURCE_COST = "unitcost_workload_resource_cost_dollars_per_hour"


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
    for values, value in named["unitcost_pod_cost_dollars_per_hour"].samples:
        out[RESOURCE_COST][(*owners[values[:2]], values[3])].append(value)
    return {name: {k: math.fsum(v) for k, v in groups.items()} for name, groups in out.items()}


@pytest.mark.parametrize("strategy", ["keep", "proportional"])
def test_workload_series_are_the_pod_series_summed_per_owner(strategy: SharedStrategy) -> None:
    frame = frame_for(strategy)
    families = cost_families(frame, "pod")
    named = by_name(families)
    expected = summed_from_pods(families)
    for name in (*POD_TO_WORKLOAD.values(), RESOURCE_COST):
        family = named[name]
        labels = (*WORKLOAD, "resource") if name == RESOURCE_COST else WORKLOAD
        assert family.labels == labels
        got = dict(family.samples)
        assert len(got) == len(family.samples), f"{name}: duplicate series"
        assert got.keys() == expected.get(name, {}).keys(), name
        for key, value in got.items():
            assert value == pytest.approx(expected[name][key], rel=1e-12), (name, key)
    cost = {values[:7] for values, _ in named[RESOURCE_COST].samples}
    pods = len(named["unitcost_pod_info"].samples)
    # Workloads group pods: fewer series than pods, and each one names a team.
    assert 0 < len(cost) < pods
    assert all(key[1] for key in cost)
    if strategy == "keep":
        assert not named["unitcost_workload_shared_cost_dollars_per_hour"].samples
    else:
        assert named["unitcost_workload_shared_cost_dollars_per_hour"].samples
    # No scraped series repeats a workload's total (the record sums the resources).
    assert "unitcost_workload_cost_dollars_per_hour" not in named
    # The default detail serves the same workload series, and one series per pod.
    default = by_name(cost_families(frame, "workload"))
    for name in (*POD_TO_WORKLOAD.values(), RESOURCE_COST):
        assert default[name].samples == named[name].samples, name


@pytest.mark.parametrize("strategy", ["keep", "proportional"])
def test_detail_workload_serves_one_series_per_pod(strategy: SharedStrategy) -> None:
    frame = frame_for(strategy)
    pod = by_name(cost_families(frame, "pod"))
    default = by_name(cost_families(frame, "workload"))
    per_pod = {
        name
        for name, family in default.items()
        if family.samples and family.labels[:2] == ("namespace", "pod")
    }
    # GPU holdings are served for the few pods holding GPUs, in both modes.
    assert per_pod - {"unitcost_gpu_holding_cost_dollars_per_hour"} == {
        "unitcost_pod_total_cost_dollars_per_hour"
    }
    totals = default["unitcost_pod_total_cost_dollars_per_hour"]
    assert totals.samples == pod["unitcost_pod_total_cost_dollars_per_hour"].samples
    assert len(totals.samples) == len(frame.pods)
    # Its value is the pod's per-resource series summed; its owners are the info series'.
    summed: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for values, value in pod["unitcost_pod_cost_dollars_per_hour"].samples:
        summed[values[:3]].append(value)
    info = {values[:2]: values[2:] for values, _ in pod["unitcost_pod_info"].samples}
    for values, value in totals.samples:
        assert value == pytest.approx(math.fsum(summed[values[:3]]), rel=1e-12)
        assert values[3:] == info[values[:2]]
    assert sum(len(f.samples) for f in default.values()) < 0.5 * sum(
        len(f.samples) for f in pod.values()
    )


@pytest.mark.parametrize("detail", ["workload", "pod"])
def test_the_series_cap_keeps_every_dollar_in_the_workload_series(detail: Detail) -> None:
    frame = frame_for()
    families = cost_families(frame, detail)
    before = by_name(workload_families(frame))
    total = sum(len(f.samples) for f in families)
    pod_series = sum(len(f.samples) for f in families if f.name in POD_FAMILIES)
    assert cap_series(families, frame, total - pod_series // 2) > 0
    after = by_name(families)
    for name, family in before.items():
        assert after[name].samples == family.samples
    all_pods = math.fsum(v for p in frame.pods for v in p.allocated.values())
    workloads = math.fsum(v for _, v in after[RESOURCE_COST].samples)
    assert workloads == pytest.approx(all_pods, rel=1e-12)
