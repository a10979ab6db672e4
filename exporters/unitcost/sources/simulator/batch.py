"""The simulated cluster's batch economics: what its queues admitted and borrowed, its cohort
tree, its Kueue workloads (pending ones waiting for quota) and how finished work ended, so
every batch-economics panel of the demo shows data.

Outcomes are drawn from a hash of the workload's name, not from the cluster's generator, so
adding them changed no other draw (the seed's promise of identical snapshots holds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from unitcost.data.batch import BatchJob, Cohort, Ending, Outcome, QueueUsage
from unitcost.data.model import Queue, Resources
from unitcost.sources.simulator.catalogue import (
    CLUSTER_QUEUES,
    NODE_POOL_LABEL,
    WorkloadKind,
)
from unitcost.sources.simulator.objects import SimNode, Workload

#: What a finished run's outcome is, by share (the rest succeed).
OUTCOME_SHARES = (
    (0.12, Outcome.FAILED, "BackoffLimitExceeded"),
    (0.06, Outcome.PREEMPTED, "InCohortReclamation"),
    (0.03, Outcome.EVICTED, "PodsReadyTimeout"),
)
#: Ended runs stay visible (as their Job or Workload would) this long, in simulated seconds.
ENDED_KEPT_SECONDS = 3600.0
#: The GPU cohort hangs under a platform-wide one (a hierarchical cohort).
COHORTS = (Cohort("platform"), Cohort("ai", "platform"))
#: Workload kinds as attribution names them (pod_workload's workload_kind).
KIND_NAMES = {
    WorkloadKind.SPARK: "SparkApplication",
    WorkloadKind.RAY: "RayCluster",
    WorkloadKind.INFERENCE: "Job",
}
_QUEUE_OF_TEAM = {team: cq for cq, teams in CLUSTER_QUEUES.items() for team in teams}


def _fraction(name: str) -> float:
    digest = hashlib.sha1(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def ending_of(workload: Workload, at: float) -> Ending:
    draw = _fraction(workload.name)
    for share, outcome, cause in OUTCOME_SHARES:
        if draw < share:
            return Ending(outcome, cause, at)
        draw -= share
    return Ending(Outcome.SUCCEEDED, "Succeeded", at)


def job_of(workload: Workload, ending: Ending | None = None) -> BatchJob | None:
    """The workload's job record: its Kueue Workload for GPU work, its end for any team's."""
    kind = workload.kind
    if workload.team is None or kind not in KIND_NAMES:
        return None
    team = workload.team
    cluster_queue = _QUEUE_OF_TEAM.get(team.team, "")
    placed = all(p.node for p in workload.pods)
    requests = Resources(
        sum(p.requests.cpu for p in workload.pods),
        sum(p.requests.memory for p in workload.pods),
        sum(p.requests.gpu for p in workload.pods),
        0.0,
    )
    return BatchJob(
        team.namespace,
        KIND_NAMES[kind],
        workload.name,
        queue=cluster_queue if placed else "",
        local_queue=team.queue if cluster_queue else "",
        labels=dict(workload.pods[0].labels) if workload.pods else {},
        pending=bool(cluster_queue) and not placed and ending is None,
        requests=requests,
        created=workload.started,
        admitted=workload.started if placed and cluster_queue else None,
        ending=ending,
    )


def queue_usage(
    queues: Iterable[Queue], workloads: Iterable[Workload], nodes: Mapping[str, SimNode]
) -> list[QueueUsage]:
    """Each Kueue queue's admitted requests per flavor (a GPU pool), the part above its
    nominal quota as borrowed."""
    used: dict[tuple[str, str], list[float]] = {}
    for workload in workloads:
        queue = _QUEUE_OF_TEAM.get(workload.team.team, "") if workload.team else ""
        if not queue:
            continue
        for pod in workload.pods:
            if pod.node:
                flavor = nodes[pod.node].node.labels[NODE_POOL_LABEL]
                amounts = used.setdefault((queue, flavor), [0.0, 0.0, 0.0])
                amounts[0] += pod.requests.cpu
                amounts[1] += pod.requests.memory
                amounts[2] += pod.requests.gpu
    out = []
    for q in queues:
        if q.scheduler != "kueue":
            continue
        for flavor, nominal in q.quota.items():
            cpu, memory, gpu = used.get((q.name, flavor), (0.0, 0.0, 0.0))
            total = Resources(cpu, memory, gpu, 0.0)
            borrowed = Resources(
                max(0.0, cpu - nominal.cpu),
                max(0.0, memory - nominal.memory),
                max(0.0, gpu - nominal.gpu),
                0.0,
            )
            out.append(QueueUsage(q.name, flavor, total, borrowed))
    return out
