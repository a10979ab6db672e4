"""Batch objects (the JSON the apiserver sends) -> data/batch.py records: Kueue ClusterQueue
usage, Cohorts and Workloads (v1beta1 and v1beta2 shapes), batch/v1 Jobs, and the endings
their conditions report (docs/batch-economics.md).

Only the fields the cost model reads are kept. A malformed quantity or timestamp raises a
ConversionError naming the object, the field and the value; the reflector logs and skips it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from unitcost.data.batch import BatchJob, Cohort, Ending, Outcome, QueueUsage
from unitcost.data.resources import ResourceName, Resources
from unitcost.sources.kubernetes.convert import (
    GPU_RESOURCES,
    KUEUE_RESOURCES,
    ConversionError,
    Obj,
    _conditions,
    _describe,
    _filtered,
    _intern,
    _meta,
    _quantity,
    controller_owner,
    pod_requests,
    to_cluster_queue,
)

#: Kueue's Evicted reasons that mean preemption; the Preempted condition's reason (Kueue
#: 0.9+: InClusterQueue, InCohortReclamation, InCohortFairSharing,
#: InCohortReclaimWhileBorrowing) names its cause.
PREEMPTION_REASONS = frozenset({"Preempted", "InClusterQueue", "InCohortReclamation"})
#: DisruptionTarget reasons (pod conditions) that mean preemption rather than eviction.
POD_PREEMPTION_REASONS = frozenset({"PreemptionByScheduler", "PreemptionByKubeScheduler"})


def timestamp(obj: Obj, field: str, value: Any) -> float:
    """An RFC 3339 time (`2025-05-01T10:00:00Z`) -> Unix seconds; 0 when absent."""
    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ConversionError(
            f"{_describe(obj)}: {field}: not an RFC 3339 time: {value!r}"
        ) from exc


def _resource_name(name: str) -> ResourceName | None:
    if name in GPU_RESOURCES:
        return "gpu"
    found = KUEUE_RESOURCES.get(name)
    return found  # type: ignore[return-value]


def _amounts(obj: Obj, field: str, entries: list[Obj], key: str) -> Resources:
    values: dict[str, float] = {"cpu": 0.0, "memory": 0.0, "gpu": 0.0, "storage": 0.0}
    for i, entry in enumerate(entries):
        r = _resource_name(str(entry.get("name", "")))
        if r is not None:
            values[r] += _quantity(obj, f"{field}[{i}].{key}", entry.get(key, 0))
    return Resources(**values)


def cluster_queue_usage(obj: Obj) -> tuple[QueueUsage, ...]:
    """status.flavorsUsage[{name, resources[{name, total, borrowed}]}] -> one QueueUsage per
    flavor (Kueue reports borrowed; it does not report lent: kubernetes-sigs/kueue#4039)."""
    name = str(_meta(obj).get("name") or "")
    out = []
    usage = (obj.get("status") or {}).get("flavorsUsage") or []
    for f, flavor in enumerate(usage):
        resources = list(flavor.get("resources") or [])
        field = f"status.flavorsUsage[{f}].resources"
        out.append(
            QueueUsage(
                name,
                _intern(str(flavor.get("name") or "")),
                _amounts(obj, field, resources, "total"),
                _amounts(obj, field, resources, "borrowed"),
            )
        )
    return tuple(out)


def to_cluster_queue_with_usage(obj: Obj) -> tuple[Any, tuple[QueueUsage, ...]]:
    """The reflector's item for a ClusterQueue: its quota (convert.to_cluster_queue) and the
    usage its status reports."""
    return to_cluster_queue(obj), cluster_queue_usage(obj)


def to_cohort(obj: Obj) -> Cohort:
    """A Kueue Cohort: its parent (v1beta2 spec.parentName; v1alpha1 spec.parent) and its own
    nominal quota (spec.resourceGroups, as a ClusterQueue's)."""
    spec = obj.get("spec") or {}
    parent = spec.get("parentName") or spec.get("parent") or ""
    quota = to_cluster_queue(obj).quota if spec.get("resourceGroups") else {}
    return Cohort(_intern(str(_meta(obj).get("name") or "")), _intern(str(parent)), quota)


def _when(obj: Obj, condition: Obj) -> float:
    return timestamp(
        obj,
        f"status.conditions[{condition.get('type')}].lastTransitionTime",
        condition.get("lastTransitionTime"),
    )


def workload_ending(obj: Obj, conditions: Mapping[str, Obj]) -> Ending | None:
    """A Kueue Workload's ending: Finished (reason Succeeded or Failed), else an active
    eviction (Evicted: Preempted -> preempted, with the Preempted condition's reason as cause;
    PodsReadyTimeout, InactiveWorkload, ... -> evicted), else None."""
    finished = conditions.get("Finished")
    if finished is not None:
        reason = str(finished.get("reason") or "")
        # Kueue before 0.8 said "JobFinished" either way; its message tells.
        failed = reason == "Failed" or (
            reason == "JobFinished" and "fail" in str(finished.get("message") or "").lower()
        )
        outcome = Outcome.FAILED if failed else Outcome.SUCCEEDED
        return Ending(outcome, _intern(reason), _when(obj, finished))
    evicted = conditions.get("Evicted")
    preempted = conditions.get("Preempted")
    if evicted is not None:
        reason = str(evicted.get("reason") or "")
        if reason in PREEMPTION_REASONS or preempted is not None:
            cause = str((preempted or evicted).get("reason") or reason)
            return Ending(Outcome.PREEMPTED, _intern(cause), _when(obj, evicted))
        return Ending(Outcome.EVICTED, _intern(reason), _when(obj, evicted))
    if preempted is not None:
        cause = str(preempted.get("reason") or "Preempted")
        return Ending(Outcome.PREEMPTED, _intern(cause), _when(obj, preempted))
    return None


def _podset_requests(obj: Obj, spec: Obj) -> Resources:
    total = Resources()
    for i, podset in enumerate(spec.get("podSets") or []):
        template = podset.get("template") or {}
        try:
            count = int(podset.get("count", 1))
        except (TypeError, ValueError) as exc:
            raise ConversionError(
                f"{_describe(obj)}: spec.podSets[{i}].count: not an integer: "
                f"{podset.get('count')!r}"
            ) from exc
        one = pod_requests({"kind": obj.get("kind"), "metadata": _meta(obj), **template})
        total = Resources(
            total.cpu + one.cpu * count,
            total.memory + one.memory * count,
            total.gpu + one.gpu * count,
            total.storage + one.storage * count,
        )
    return total


def _assigned_flavors(status: Obj) -> dict[ResourceName, str]:
    out: dict[ResourceName, str] = {}
    admission = status.get("admission") or {}
    for assignment in admission.get("podSetAssignments") or []:
        for name, flavor in (assignment.get("flavors") or {}).items():
            r = _resource_name(str(name))
            if r is not None and r not in out:
                out[r] = _intern(str(flavor))
    return out


def to_workload(obj: Obj, label_keys: Collection[str]) -> BatchJob | None:
    """A Kueue Workload -> the job it stands for (its owner), its queue, requests, admission
    and ending. None for a Workload with no owner (nothing to attribute it to)."""
    owner = controller_owner(obj)
    if owner is None:
        return None
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    conditions = _conditions(obj)
    admitted_at = conditions.get("QuotaReserved") or conditions.get("Admitted")
    ending = workload_ending(obj, conditions)
    admitted = _when(obj, admitted_at) if admitted_at is not None else None
    if (
        ending is not None
        and ending.outcome in (Outcome.PREEMPTED, Outcome.EVICTED)
        and admitted is not None
        and admitted > ending.at
    ):
        ending = None  # evicted, then admitted again: that run is over, a new one runs
    admission = status.get("admission") or {}
    return BatchJob(
        namespace=_intern(str(meta.get("namespace") or "")),
        kind=owner.kind,
        name=owner.name,
        queue=_intern(str(admission.get("clusterQueue") or "")),
        local_queue=_intern(str(spec.get("queueName") or "")),
        labels=_filtered(meta.get("labels"), label_keys),
        pending=admitted_at is None and "Finished" not in conditions,
        requests=_podset_requests(obj, spec),
        flavors=_assigned_flavors(status),
        created=timestamp(obj, "metadata.creationTimestamp", meta.get("creationTimestamp")),
        admitted=admitted,
        ending=ending,
    )


def job_ending(obj: Obj) -> Ending | None:
    """A batch/v1 Job's (or a JobSet's) ending: condition Failed (cause: its reason, e.g.
    BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy) or Complete/Completed."""
    conditions = _conditions(obj)
    failed = conditions.get("Failed")
    if failed is not None:
        reason = str(failed.get("reason") or "Failed")
        return Ending(Outcome.FAILED, _intern(reason), _when(obj, failed))
    done = conditions.get("Complete") or conditions.get("Completed")
    if done is not None:
        return Ending(Outcome.SUCCEEDED, _intern(str(done.get("reason") or "")), _when(obj, done))
    return None


def to_job(obj: Obj, kind: str = "Job") -> BatchJob | None:
    """A Job (or JobSet) with an ending -> its record; running ones are not kept (their pods
    already say they exist)."""
    ending = job_ending(obj)
    if ending is None:
        return None
    meta = _meta(obj)
    return BatchJob(
        namespace=_intern(str(meta.get("namespace") or "")),
        kind=kind,
        name=_intern(str(meta.get("name") or "")),
        ending=ending,
    )
