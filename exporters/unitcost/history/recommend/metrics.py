"""The recommender's metric families (`unitcost recommend --serve`, `unitcost controller`)."""

from __future__ import annotations

from collections.abc import Iterable

from unitcost.history.recommend.maths import Recommendation
from unitcost.metrics.catalogue import (
    RECOMMENDATION_CPU,
    RECOMMENDATION_IDLE,
    RECOMMENDATION_LAST_RUN,
    RECOMMENDATION_MEMORY,
    RECOMMENDATION_QUEUE_QUOTA,
    RECOMMENDATION_RUN_DURATION,
    RECOMMENDATION_SAVINGS,
)
from unitcost.metrics.family import MetricFamily


def recommendation_families(recs: Iterable[Recommendation]) -> list[MetricFamily]:
    """`unitcost recommend --serve` and `unitcost controller` (docs/recommendations.md).
    `cluster` is written, last, only when the history had one (a recommender reading a
    fleet's global tier); scrape it with honor_labels then."""
    recs = list(recs)
    with_cluster = any(r.cluster for r in recs)
    extra = ("cluster",) if with_cluster else ()
    savings = RECOMMENDATION_SAVINGS.family(extra)
    cpu = RECOMMENDATION_CPU.family(extra)
    memory = RECOMMENDATION_MEMORY.family(extra)
    idle = RECOMMENDATION_IDLE.family(extra)
    quota = RECOMMENDATION_QUEUE_QUOTA.family(extra)
    # Queue recommendations are per flavor; the savings series sums them per (queue, resource).
    totals: dict[tuple[str, ...], float] = {}
    for r in recs:
        w = r.workload
        cluster = (w.cluster,) if with_cluster else ()
        key: tuple[str, ...] = (r.kind, w.namespace, w.kind, w.name, r.resource, *cluster)
        totals[key] = totals.get(key, 0.0) + r.savings_dollars_per_month
        if r.kind == "rightsize":
            family = cpu if r.resource == "cpu" else memory
            family.add((w.namespace, w.kind, w.name, "current", *cluster), r.current)
            family.add((w.namespace, w.kind, w.name, "recommended", *cluster), r.recommended)
        elif r.kind == "idle-quota":
            quota.add((w.name, r.flavor, r.resource, *cluster), r.recommended)
        else:
            idle.add((r.kind, w.namespace, w.kind, w.name, *cluster), r.idle_seconds)
    for key, value in totals.items():
        savings.add(key, value)
    return [savings, cpu, memory, idle, quota]


def run_families(finished: float, duration: float) -> list[MetricFamily]:
    """When the recommendations were last computed, and how long that took."""
    last = RECOMMENDATION_LAST_RUN.family()
    last.add((), finished)
    took = RECOMMENDATION_RUN_DURATION.family()
    took.add((), duration)
    return [last, took]
