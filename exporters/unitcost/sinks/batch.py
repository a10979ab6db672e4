"""Batch economics families (docs/batch-economics.md): the cohort ledger and queued demand from
the CostFrame, and the ended-workload and admission counters the collector's ledger keeps
(runtime/outcomes.py), handed here as plain totals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from unitcost.data.batch import CohortCost, PendingCost
from unitcost.metrics.catalogue import (
    COHORT_INFO,
    ENDED_WORKLOAD_COST,
    QUEUE_ADMISSION_WAIT,
    QUEUE_ADMISSIONS,
    QUEUE_ADMITTED_COST,
    QUEUE_BORROWED_COST,
    QUEUE_LENT_COST,
    QUEUE_PENDING_COST,
    QUEUE_PENDING_WAIT,
    QUEUE_PENDING_WORKLOADS,
    WORKLOAD_ENDED,
    WORKLOAD_ENDED_COST,
)
from unitcost.metrics.family import MetricFamily

#: (team, queue, outcome, cause)
EndedKey = tuple[str, str, str, str]
#: (namespace, team, queue, app, workload_kind, outcome, cause)
RecentKey = tuple[str, str, str, str, str, str, str]


def cohort_families(
    ledger: Iterable[CohortCost], paths: Mapping[str, tuple[str, ...]]
) -> list[MetricFamily]:
    """The cohort ledger, and the cohort tree (`paths`: cohort -> (root, ..., cohort))."""
    admitted = QUEUE_ADMITTED_COST.family()
    borrowed = QUEUE_BORROWED_COST.family()
    lent = QUEUE_LENT_COST.family()
    for x in ledger:
        key = (x.queue, x.cohort, x.flavor, x.resource)
        if x.queue:  # a cohort's own line only lends
            admitted.add(key, x.admitted_hourly)
            borrowed.add(key, x.borrowed_hourly)
        if x.cohort:
            lent.add(key, x.lent_hourly)
    info = COHORT_INFO.family()
    for cohort, path in sorted(paths.items()):
        info.add((cohort, path[-2] if len(path) > 1 else "", path[0]), 1.0)
    return [admitted, borrowed, lent, info]


def pending_families(pending: Iterable[PendingCost]) -> list[MetricFamily]:
    cost = QUEUE_PENDING_COST.family()
    workloads = QUEUE_PENDING_WORKLOADS.family()
    wait = QUEUE_PENDING_WAIT.family()
    for p in pending:
        key = (p.queue, p.flavor, p.team)
        cost.add(key, p.hourly)
        workloads.add(key, float(p.workloads))
        wait.add(key, p.oldest_wait)
    return [cost, workloads, wait]


def ended_families(
    dollars: Mapping[EndedKey, float],
    runs: Mapping[EndedKey, float],
    recent: Mapping[RecentKey, float],
    waits: Mapping[tuple[str, str], tuple[float, float]],
) -> list[MetricFamily]:
    """The ledger's counters: dollars and runs ended per (team, queue, outcome, cause), the
    recent unproductive runs, and admission waits (sum, count) per (queue, team)."""
    cost = WORKLOAD_ENDED_COST.family()
    for key, value in sorted(dollars.items()):
        cost.add(key, value)
    count = WORKLOAD_ENDED.family()
    for key, value in sorted(runs.items()):
        count.add(key, value)
    latest = ENDED_WORKLOAD_COST.family()
    for rkey, value in sorted(recent.items()):
        latest.add(rkey, value)
    wait_sum = QUEUE_ADMISSION_WAIT.family()
    admissions = QUEUE_ADMISSIONS.family()
    for wkey, (total, n) in sorted(waits.items()):
        wait_sum.add(wkey, total)
        admissions.add(wkey, n)
    return [cost, count, latest, wait_sum, admissions]
