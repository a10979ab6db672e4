"""The recommender's metric families (`unitcost recommend --serve`, `unitcost controller`)."""

from __future__ import annotations

from collections.abc import Iterable

from unitcost.history.recommend.maths import Recommendation
from unitcost.metrics.family import MetricFamily

RECOMMENDATION_LABELS = ("kind", "namespace", "workload_kind", "workload", "resource")


WORKLOAD_LABELS = ("namespace", "workload_kind", "workload")


def recommendation_families(recs: Iterable[Recommendation]) -> list[MetricFamily]:
    """`unitcost recommend --serve` and `unitcost controller` (docs/recommendations.md)."""
    savings = MetricFamily(
        "unitcost_recommendation_savings_dollars_per_month",
        "Dollars per month the recommendation saves (negative: an under-sized request costs).",
        RECOMMENDATION_LABELS,
    )
    cpu = MetricFamily(
        "unitcost_recommendation_cpu_request_cores",
        "Right-sizing: the workload's current (mean) and recommended CPU request per pod.",
        (*WORKLOAD_LABELS, "state"),
    )
    memory = MetricFamily(
        "unitcost_recommendation_memory_request_bytes",
        "Right-sizing: the workload's current (mean) and recommended memory request per pod.",
        (*WORKLOAD_LABELS, "state"),
    )
    idle = MetricFamily(
        "unitcost_recommendation_idle_seconds",
        "How long an idle-GPU or abandoned workload has been idle.",
        ("kind", *WORKLOAD_LABELS),
    )
    quota = MetricFamily(
        "unitcost_recommendation_queue_quota_ratio",
        "Idle quota: the share of the queue's current quota worth keeping (peak use + headroom).",
        ("queue", "flavor", "resource"),
    )
    # Queue recommendations are per flavor; the savings series sums them per (queue, resource).
    totals: dict[tuple[str, ...], float] = {}
    for r in recs:
        w = r.workload
        key: tuple[str, ...] = (r.kind, w.namespace, w.kind, w.name, r.resource)
        totals[key] = totals.get(key, 0.0) + r.savings_dollars_per_month
        if r.kind == "rightsize":
            family = cpu if r.resource == "cpu" else memory
            family.add((w.namespace, w.kind, w.name, "current"), r.current)
            family.add((w.namespace, w.kind, w.name, "recommended"), r.recommended)
        elif r.kind == "idle-quota":
            quota.add((w.name, r.flavor, r.resource), r.recommended)
        else:
            idle.add((r.kind, w.namespace, w.kind, w.name), r.idle_seconds)
    for key, value in totals.items():
        savings.add(key, value)
    return [savings, cpu, memory, idle, quota]


def run_families(finished: float, duration: float) -> list[MetricFamily]:
    """When the recommendations were last computed, and how long that took."""
    last = MetricFamily(
        "unitcost_recommendation_last_run_timestamp_seconds",
        "Unix time the recommendations were last computed successfully.",
        (),
    )
    last.add((), finished)
    took = MetricFamily(
        "unitcost_recommendation_run_duration_seconds",
        "Wall time of the last recommendation run (Prometheus queries and maths).",
        (),
    )
    took.add((), duration)
    return [last, took]
