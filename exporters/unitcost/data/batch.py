"""Batch economics as plain data: cohorts and what their queues borrow, the job-like objects
a queue admits (and how they ended), and the cost model's figures over them
(docs/batch-economics.md).

Nothing here does I/O. Amounts are in base units (cores, bytes, devices); money in $/hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from unitcost.data.resources import ZERO, ResourceName, Resources


@dataclass(frozen=True, slots=True)
class Cohort:
    """A Kueue Cohort (v1beta2; v1alpha1 before) or a YuniKorn parent queue: queues under it
    lend one another their unused quota; `parent` makes the tree hierarchical."""

    name: str
    parent: str = ""
    #: A cohort's own nominal quota per flavor (v1beta2 Cohort.spec.resourceGroups), lendable
    #: to the queues under it.
    quota: dict[str, Resources] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueUsage:
    """What a queue has admitted on one flavor, as its scheduler reports it: Kueue's
    ClusterQueue status.flavorsUsage[].resources[] (`total`, `borrowed`), or YuniKorn's
    allocated resources (borrowed: above guaranteed)."""

    queue: str
    flavor: str
    used: Resources
    #: The part of `used` above the queue's nominal (guaranteed) quota.
    borrowed: Resources


class Outcome(StrEnum):
    """How a workload's run ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PREEMPTED = "preempted"
    EVICTED = "evicted"
    #: Gone with no terminal status seen (deleted while running, or its status unread).
    DELETED = "deleted"


#: Outcomes whose dollars produced nothing (docs/batch-economics.md; `deleted` is unknown).
UNPRODUCTIVE = (Outcome.FAILED, Outcome.PREEMPTED, Outcome.EVICTED)


@dataclass(frozen=True, slots=True)
class Ending:
    """A terminal status: the outcome, its cause (the condition's reason) and when it was
    reached (the condition's lastTransitionTime; 0 when the object does not say), so the same
    ending is never counted twice."""

    outcome: Outcome
    cause: str = ""
    at: float = 0.0


#: A workload as attribution names it: (namespace, workload_kind, app).
WorkloadId = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A job-like object as its controller reports it: a Kueue Workload, a Job, a RayJob.
    `kind` and `name` are what its pods' attribution calls `workload_kind` and `app`."""

    namespace: str
    kind: str
    name: str
    #: The ClusterQueue (or YuniKorn queue) it is queued in or admitted to; "" when unknown.
    queue: str = ""
    #: The Kueue LocalQueue it was submitted to (resolved to `queue` when that is empty).
    local_queue: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    #: Waiting for quota (not QuotaReserved/Admitted, not finished).
    pending: bool = False
    #: Requests of all its pods (pod sets' count x requests).
    requests: Resources = ZERO
    #: The flavor assigned per resource once admitted (status.admission.podSetAssignments).
    flavors: dict[ResourceName, str] = field(default_factory=dict)
    #: Unix seconds: created (queued since) and admitted (None while waiting).
    created: float = 0.0
    admitted: float | None = None
    ending: Ending | None = None

    @property
    def ident(self) -> WorkloadId:
        return (self.namespace, self.kind, self.name)


@dataclass(frozen=True, slots=True)
class Admission:
    """A Kueue workload's wait for quota: queued (`admitted` None) or admitted."""

    ident: WorkloadId
    queue: str
    team: str
    created: float
    admitted: float | None


@dataclass(frozen=True, slots=True)
class CohortCost:
    """One queue's (or a cohort's own quota's) line in its cohort's ledger, per flavor and
    resource, in $/hour at the flavor's price: admitted use, the part of it borrowed (charged
    to this queue) and the quota lent to others (credited to it). Over a cohort tree, borrowed
    == lent."""

    cohort: str
    #: "" for a line of the cohort's own quota (a lender only).
    queue: str
    flavor: str
    resource: ResourceName
    admitted_hourly: float
    borrowed_hourly: float
    lent_hourly: float


@dataclass(frozen=True, slots=True)
class PendingCost:
    """Demand waiting in a queue: requests of pending workloads priced at the flavor they
    would be admitted to, with the count and the longest wait."""

    queue: str
    flavor: str
    team: str
    hourly: float
    workloads: int
    #: Seconds the longest-waiting of them has waited (0 when unknown).
    oldest_wait: float
