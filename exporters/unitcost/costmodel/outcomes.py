"""How workloads ended, from one snapshot (docs/batch-economics.md): the endings the job-like
objects report, else what their pods say once none of them runs any more.

Precedence: of a workload's objects (its Kueue Workload, its Job), the latest ending wins (a
Workload's Finished after an earlier eviction); a workload with no object ending ended when all
its pods are terminal: `failed` if one failed (a DisruptionTarget reason makes it `preempted`
or `evicted`), else `succeeded`. An ending read from pods is provisional: a Job's controller
writes its verdict (`BackoffLimitExceeded`, ...) just after its last pod fails, or starts a
retry pod, so the ledger closes it only when a second collect still sees it. Pure: the
stateful part (dollars until the end) is the collector's (runtime/outcomes.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from unitcost.costmodel.attribution import pod_workload
from unitcost.data.batch import Ending, Outcome, WorkloadId
from unitcost.data.model import Pod, PodPhase, Snapshot

#: DisruptionTarget reasons that are preemption; every other one is an eviction.
POD_PREEMPTION_REASONS = frozenset({"PreemptionByScheduler", "PreemptionByKubeScheduler"})
_TERMINAL = (PodPhase.SUCCEEDED, PodPhase.FAILED)


@dataclass(frozen=True, slots=True)
class Endings:
    """Workloads that ended (and how), and every workload the snapshot still holds an object
    of (a workload gone from it without an ending was deleted)."""

    ended: dict[WorkloadId, Ending] = field(default_factory=dict)
    present: set[WorkloadId] = field(default_factory=set)
    #: Endings read from pods alone, which a controller's verdict may still replace.
    provisional: set[WorkloadId] = field(default_factory=set)


def pod_ending(pods: Collection[Pod]) -> Ending:
    """The ending of a workload whose pods are all terminal."""
    failed = [p for p in pods if p.phase is PodPhase.FAILED]
    if not failed:
        return Ending(Outcome.SUCCEEDED)
    disrupted = next((p.disruption for p in failed if p.disruption), "")
    if disrupted in POD_PREEMPTION_REASONS:
        return Ending(Outcome.PREEMPTED, disrupted)
    if disrupted:
        return Ending(Outcome.EVICTED, disrupted)
    return Ending(Outcome.FAILED, "PodFailed")


def workload_endings(snapshot: Snapshot, running: Collection[WorkloadId]) -> Endings:
    """`running`: the workloads with running pods (the frame's, already attributed), so only
    the few pods not running are looked at here."""
    out = Endings(present=set(running))
    for job in snapshot.jobs:
        out.present.add(job.ident)
        if job.ending is None:
            continue
        known = out.ended.get(job.ident)
        if known is None or job.ending.at > known.at:
            out.ended[job.ident] = job.ending
    terminal: dict[WorkloadId, list[Pod]] = {}
    waiting: set[WorkloadId] = set()
    for pod in snapshot.pods:
        if pod.phase is PodPhase.RUNNING:
            continue
        app, kind = pod_workload(pod)
        ident = (pod.namespace, kind, app)
        out.present.add(ident)
        if pod.phase in _TERMINAL:
            terminal.setdefault(ident, []).append(pod)
        else:
            waiting.add(ident)
    for ident, pods in terminal.items():
        if ident not in out.ended and ident not in waiting and ident not in running:
            out.ended[ident] = pod_ending(pods)
            out.provisional.add(ident)
    return out
