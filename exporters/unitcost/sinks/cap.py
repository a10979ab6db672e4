"""The series cap (`limits.max_series`): cardinality is a budget (docs/design.md).

When a collect's families hold more series than the cap, whole pods are dropped, cheapest
first (allocated + shared $/h, ties by namespace and name so the choice is stable), with every
per-pod series of theirs (total, cost, unused, shared, info, GPU holdings): a pod is never
half exported, with either `detail`. The
per-workload sums keep a dropped pod's dollars with its team; only when every pod is gone and
the cap is still exceeded (bare pods are each their own workload) do whole workloads go too,
cheapest first. Node, namespace, queue, policy and health series are never dropped. What was
dropped is counted in `unitcost_series_dropped_total`.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import TypeVar

from unitcost.data.frame import CostFrame
from unitcost.metrics.catalogue import (
    CATALOGUE,
    SERIES_DROPPED,
    WORKLOAD,
    WORKLOAD_RESOURCE_COST,
    WORKLOAD_SHARED_COST,
    Cap,
)
from unitcost.metrics.family import MetricFamily

#: The families keyed by pod: their first two labels are (namespace, pod).
POD_FAMILIES = frozenset(spec.name for spec in CATALOGUE if spec.cap is Cap.POD)
#: The per-workload sums (sinks/workloads.py): their first seven labels are the workload's key
#: (the per-resource breakdown adds `resource` after them).
WORKLOAD_FAMILIES = frozenset(spec.name for spec in CATALOGUE if spec.cap is Cap.WORKLOAD)
#: Families whose values add up to the money a workload costs (ranks workloads for the cap).
_WORKLOAD_COST = frozenset({WORKLOAD_RESOURCE_COST.name, WORKLOAD_SHARED_COST.name})

_POD_KEY = itemgetter(0, 1)
_WORKLOAD_KEY = itemgetter(*range(len(WORKLOAD)))
Key = TypeVar("Key", bound=tuple[str, ...])


def cap_series(families: list[MetricFamily], frame: CostFrame | None, max_series: int) -> int:
    """Drop the cheapest pods' series from `families` (in place) until at most `max_series`
    remain, then, if no pod is left and the cap is still exceeded, the cheapest workloads';
    returns how many series were dropped."""
    excess = sum(len(f.samples) for f in families) - max_series
    if excess <= 0 or frame is None:
        return 0
    pod_families = [f for f in families if f.name in POD_FAMILIES and f.samples]
    per_pod: Counter[tuple[str, str]] = Counter()
    for family in pod_families:
        per_pod.update(map(_POD_KEY, map(itemgetter(0), family.samples)))
    cost: dict[tuple[str, str], float] = {}
    for pod in frame.pods:  # a key seen twice (bad source data) sums both
        key = (pod.namespace, pod.name)
        cost[key] = cost.get(key, 0.0) + sum(pod.allocated.values()) + sum(pod.shared.values())
    drop, dropped = _cheapest(per_pod, cost, excess)
    for family in pod_families:
        family.samples = [s for s in family.samples if _POD_KEY(s[0]) not in drop]
    if dropped < excess:
        dropped += _drop_cheapest_workloads(families, excess - dropped)
    return dropped


def _drop_cheapest_workloads(families: list[MetricFamily], excess: int) -> int:
    """Drop whole workloads (all their series), cheapest first, until `excess` series went."""
    workload_families = [f for f in families if f.name in WORKLOAD_FAMILIES and f.samples]
    series: Counter[tuple[str, ...]] = Counter()
    cost: dict[tuple[str, ...], float] = {}
    for family in workload_families:
        for values, value in family.samples:
            key = _WORKLOAD_KEY(values)
            series[key] += 1
            if family.name in _WORKLOAD_COST:
                cost[key] = cost.get(key, 0.0) + value
    drop, dropped = _cheapest(series, cost, excess)
    for family in workload_families:
        family.samples = [s for s in family.samples if _WORKLOAD_KEY(s[0]) not in drop]
    return dropped


def _cheapest(series: Counter[Key], cost: dict[Key, float], excess: int) -> tuple[set[Key], int]:
    """The cheapest keys (ties by key, so the choice is stable) whose series add up to at least
    `excess`, and how many series that is. NaN costs sort as the cheapest: they are the least
    trustworthy series to keep."""
    drop: set[Key] = set()
    dropped = 0
    for key in sorted(series, key=lambda k: (_sortable(cost.get(k, 0.0)), k)):
        if dropped >= excess:
            break
        drop.add(key)
        dropped += series[key]
    return drop, dropped


def _sortable(value: float) -> float:
    return value if value == value else float("-inf")


def dropped_family(total: int) -> MetricFamily:
    family = SERIES_DROPPED.family()
    family.add((), float(total))
    return family
