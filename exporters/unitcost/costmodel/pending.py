"""The cost of waiting: demand queued and not served, in $/hour (docs/batch-economics.md).

Pending demand is the requests of the workloads waiting for quota: Kueue Workloads not yet
admitted (their pods do not exist while Kueue holds the job suspended) and pending, unplaced
pods of a quota queue that no such Workload stands for (YuniKorn, or a queue read from pod
labels only). Each resource is priced at the flavor it would be admitted to: the one the
admission names, else the queue's first flavor with quota for it (Kueue tries flavors in
order), else the price book's fallback rate.

Pure: plain records in, plain records out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from unitcost.costmodel.attribution import (
    AttributionRules,
    attribute_pod,
    local_queue_index,
    pod_queue,
    pod_workload,
)
from unitcost.data.batch import Admission, BatchJob, PendingCost
from unitcost.data.model import Owner, Pod, PodPhase, Queue, Snapshot
from unitcost.data.resources import RESOURCES, ResourceName, Resources

UnitPrices = Mapping[str, Mapping[ResourceName, float]]


@dataclass(slots=True)
class _Waiting:
    hourly: float = 0.0
    workloads: int = 0
    oldest_wait: float = 0.0


def admission_flavor(queue: Queue | None, job: BatchJob | None, r: ResourceName) -> str:
    """The flavor the resource is (or would be) admitted to: the admission's, else the
    queue's first flavor with quota for it, else its first flavor, else ""."""
    if job is not None and job.flavors.get(r):
        return job.flavors[r]
    if queue is None or not queue.quota:
        return ""
    return next((f for f, q in queue.quota.items() if q.get(r) > 0), next(iter(queue.quota)))


def job_as_pod(job: BatchJob) -> Pod:
    """The job as attribution reads a pod: its labels and namespace name the owners."""
    return Pod(
        job.namespace,
        job.name,
        "",
        "",
        PodPhase.PENDING,
        job.requests,
        labels=job.labels,
        owner=Owner(job.kind, job.name),
    )


def pending_costs(
    snapshot: Snapshot,
    prices: UnitPrices,
    fallback: Mapping[ResourceName, float],
    rules: AttributionRules,
) -> list[PendingCost]:
    """Per queue, flavor and team: the $/hour of the demand waiting there."""
    namespaces = {ns.name: ns for ns in snapshot.namespaces}
    local_queues = local_queue_index(snapshot)
    queues = {q.name: q for q in snapshot.queues}
    now = snapshot.timestamp
    waiting: dict[tuple[str, str, str], _Waiting] = {}

    def add(queue: str, team: str, job: BatchJob | None, amounts: Resources) -> set[str]:
        flavors: set[str] = set()
        for r in RESOURCES:
            amount = amounts.get(r)
            if amount <= 0:
                continue
            flavor = admission_flavor(queues.get(queue), job, r)
            entry = waiting.setdefault((queue, flavor, team), _Waiting())
            entry.hourly += amount * prices.get(flavor, fallback)[r]
            flavors.add(flavor)
            if job is not None and job.created > 0:
                entry.oldest_wait = max(entry.oldest_wait, now - job.created)
        return flavors

    def count(queue: str, team: str, flavors: set[str]) -> None:
        for flavor in flavors:
            waiting[(queue, flavor, team)].workloads += 1

    jobs = {job.ident for job in snapshot.jobs}
    for job in snapshot.jobs:
        if not job.pending or job.ending is not None:
            continue
        owner = attribute_pod(job_as_pod(job), namespaces.get(job.namespace), rules, local_queues)
        queue = job.queue or owner.queue
        count(queue, owner.team, add(queue, owner.team, job, job.requests))
    seen: dict[tuple[str, str, str], set[str]] = {}
    for pod in snapshot.pods:
        if pod.phase is not PodPhase.PENDING or pod.node:
            continue
        queue = pod_queue(pod, local_queues)
        if not queue:
            continue
        app, kind = pod_workload(pod)
        if (pod.namespace, kind, app) in jobs:  # its Workload counts it above
            continue
        owner = attribute_pod(pod, namespaces.get(pod.namespace), rules, local_queues)
        flavors = add(queue, owner.team, None, pod.requests)
        seen.setdefault((pod.namespace, kind, app), set()).update(
            f"{queue}\x00{owner.team}\x00{f}" for f in flavors
        )
    for keys in seen.values():  # a workload of several pending pods counts once
        for key in keys:
            queue, team, flavor = key.split("\x00")
            waiting[(queue, flavor, team)].workloads += 1
    return [
        PendingCost(queue, flavor, team, w.hourly, w.workloads, w.oldest_wait)
        for (queue, flavor, team), w in sorted(waiting.items())
    ]


def admissions(snapshot: Snapshot, rules: AttributionRules) -> list[Admission]:
    """Every Kueue workload's wait: queued, or admitted (with when), per queue and team."""
    namespaces = {ns.name: ns for ns in snapshot.namespaces}
    local_queues = local_queue_index(snapshot)
    out = []
    for job in snapshot.jobs:
        if job.ending is not None or job.created <= 0:
            continue
        owner = attribute_pod(job_as_pod(job), namespaces.get(job.namespace), rules, local_queues)
        queue = job.queue or owner.queue
        out.append(Admission(job.ident, queue, owner.team, job.created, job.admitted))
    return out
