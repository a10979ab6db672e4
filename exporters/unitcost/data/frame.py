"""The cost model's output: plain data that every sink renders. All money in $/hour."""

from __future__ import annotations

from dataclasses import dataclass, field

from unitcost.data.activity import HoldingUse
from unitcost.data.batch import CohortCost, PendingCost
from unitcost.data.devices import DeviceLedger
from unitcost.data.model import Node, ResourceName

PerResource = dict[ResourceName, float]
#: (namespace, team, org, cost_center, queue, app, workload_kind): a workload, as the
#: per-workload series name it (a namespace's pods with the same owners).
WorkloadKey = tuple[str, str, str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class NodePrice:
    """A node's cost in dollars per hour, split by resource."""

    dollars_per_hour: dict[ResourceName, float]
    #: False when no instance price or node class matched and fallback rates were used.
    priced: bool
    #: How the price was found: "instance-type", "node-class" or "fallback".
    method: str

    @property
    def total(self) -> float:
        return sum(self.dollars_per_hour.values())


@dataclass(frozen=True, slots=True)
class Attribution:
    team: str
    org: str
    cost_center: str
    queue: str = ""
    app: str = ""
    workload_kind: str = ""
    #: The allowlisted pod labels, (key, value) in allowlist order ("" when the pod lacks one).
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class NodeCost:
    node: Node
    price: NodePrice
    allocated: PerResource
    idle: PerResource


@dataclass(slots=True)
class PodCost:
    namespace: str
    name: str
    node: str
    owner: Attribution
    #: price x max(request, usage), scaled so the node is never over-allocated.
    allocated: PerResource
    #: Requested but unused (the waste), at the same price and scale; part of `allocated`.
    unused: PerResource
    #: Shared/system cost redistributed onto this pod by the shared-cost policy.
    shared: PerResource = field(default_factory=dict)

    @property
    def workload(self) -> WorkloadKey:
        o = self.owner
        return (self.namespace, o.team, o.org, o.cost_center, o.queue, o.app, o.workload_kind)


@dataclass(frozen=True, slots=True)
class GpuCost:
    node: str
    gpu: str
    model: str
    mig_profile: str
    namespace: str
    pod: str
    hourly: float
    idle: bool

    @property
    def idle_hourly(self) -> float:
        return self.hourly if self.idle else 0.0


@dataclass(frozen=True, slots=True)
class QueueCost:
    queue: str
    scheduler: str
    flavor: str
    resource: ResourceName
    quota_hourly: float
    used_hourly: float


@dataclass(frozen=True, slots=True)
class VolumeCost:
    volume: str
    storage_class: str
    namespace: str
    claim: str
    hourly: float


@dataclass(slots=True)
class CostFrame:
    timestamp: float
    nodes: list[NodeCost] = field(default_factory=list)
    pods: list[PodCost] = field(default_factory=list)
    gpus: list[GpuCost] = field(default_factory=list)
    #: One ledger per physical GPU: holders' shares and the unheld rest (costmodel/gpu_ledger.py).
    gpu_devices: list[DeviceLedger] = field(default_factory=list)
    #: Running pods whose HAMi allocation annotation could not be read (priced by request).
    gpu_malformed_annotations: int = 0
    #: Each holding with its measured activity and state (gpu_activity.source: dcgm).
    gpu_uses: list[HoldingUse] = field(default_factory=list)
    queues: list[QueueCost] = field(default_factory=list)
    volumes: list[VolumeCost] = field(default_factory=list)
    #: Cohort ledgers and queued demand (data/batch.py; docs/batch-economics.md).
    cohorts: list[CohortCost] = field(default_factory=list)
    pending: list[PendingCost] = field(default_factory=list)
    #: cohort -> its path from the root cohort, (root, ..., cohort).
    cohort_paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Ownership of every namespace seen (for costs owned by a namespace, such as volumes).
    namespaces: dict[str, Attribution] = field(default_factory=dict)

    @property
    def unpriced_nodes(self) -> int:
        return sum(1 for n in self.nodes if not n.price.priced)
