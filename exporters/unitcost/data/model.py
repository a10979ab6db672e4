"""The domain model: plain, typed data that every source produces and the cost model reads.

Nothing here does I/O. Units are base units: cores, bytes, devices, seconds, dollars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from unitcost.data.batch import BatchJob, Cohort, QueueUsage
from unitcost.data.devices import GpuClaim, GpuDevice
from unitcost.data.resources import RESOURCES, ZERO, ResourceName, Resources

__all__ = ["RESOURCES", "ZERO", "ResourceName", "Resources"]  # their home is data/resources.py


class Provider(StrEnum):
    ONPREM = "onprem"
    AWS = "aws"
    GCP = "gcp"


class CapacityType(StrEnum):
    ON_DEMAND = "on-demand"
    SPOT = "spot"
    COMMITTED = "committed"


class PodPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    provider: Provider
    instance_type: str
    region: str
    zone: str
    capacity_type: CapacityType
    node_pool: str
    capacity: Resources
    allocatable: Resources
    gpu_model: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Owner:
    """The pod's controlling owner, already resolved to the top of the chain where the source
    can (a ReplicaSet to its Deployment, a Job to its CronJob)."""

    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    uid: str
    node: str  # "" when not scheduled
    phase: PodPhase
    requests: Resources
    #: Measured usage; None when no usage source reports this pod (costs fall back to requests).
    usage: Resources | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    owner: Owner | None = None
    #: Names of the PersistentVolumeClaims the pod mounts (in its namespace).
    claims: tuple[str, ...] = ()
    #: The reason of a true DisruptionTarget condition (PreemptionByScheduler,
    #: EvictionByEvictionAPI, DeletionByTaintManager, TerminationByKubelet, ...); "" if none.
    disruption: str = ""
    #: GPU extended resources other than whole devices, (resource name, amount) in request
    #: order: MIG slices (nvidia.com/mig-3g.40gb), HAMi's nvidia.com/gpumem(-percentage) and
    #: nvidia.com/gpucores. Whole devices are `requests.gpu`.
    gpu_requests: tuple[tuple[str, float], ...] = ()
    #: Names of the DRA ResourceClaims the pod uses (in its namespace), from
    #: status.resourceClaimStatuses or spec.resourceClaims[].resourceClaimName.
    resource_claims: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Volume:
    """A PersistentVolume, with the claim bound to it if any."""

    name: str
    storage_class: str
    size_bytes: float
    provider: Provider
    claim_namespace: str = ""
    claim_name: str = ""


@dataclass(frozen=True, slots=True)
class Flavor:
    """A Kueue ResourceFlavor (or the node set behind a YuniKorn queue): the nodes it selects."""

    name: str
    node_labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class Queue:
    """A quota-holding queue: a Kueue ClusterQueue or a YuniKorn queue (full dotted path)."""

    name: str
    scheduler: Literal["kueue", "yunikorn"]
    #: Nominal (Kueue) or guaranteed (YuniKorn) quota per flavor.
    quota: dict[str, Resources]
    parent: str = ""
    cohort: str = ""


@dataclass(frozen=True, slots=True)
class LocalQueue:
    """A Kueue LocalQueue: a namespace's handle on a ClusterQueue."""

    namespace: str
    name: str
    cluster_queue: str


@dataclass(frozen=True, slots=True)
class Gpu:
    """One GPU, or one MIG slice, on a node."""

    node: str
    gpu: str  # the device index, or "<index>/<gpu instance id>" for a MIG slice
    uuid: str
    model: str
    #: Fraction of the physical device this entry is (1 for a whole GPU).
    share: float = 1.0
    mig_profile: str = ""
    #: The pod the device is allocated to, if any.
    pod_namespace: str = ""
    pod_name: str = ""
    #: Latest activity (0..1); None when the device gives no utilisation (MIG).
    utilization: float | None = None
    #: Since when activity has stayed below the idle threshold; None while active.
    low_activity_since: float | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the cost model needs at one instant. `timestamp` is Unix seconds."""

    timestamp: float
    nodes: tuple[Node, ...] = ()
    pods: tuple[Pod, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    volumes: tuple[Volume, ...] = ()
    flavors: tuple[Flavor, ...] = ()
    queues: tuple[Queue, ...] = ()
    local_queues: tuple[LocalQueue, ...] = ()
    gpus: tuple[Gpu, ...] = ()
    #: Made up by the simulator, not read from a cluster: what is served from it says so.
    simulated: bool = False
    #: Batch economics (data/batch.py): cohorts, what queues admitted and borrowed, and the
    #: job-like objects with their pending demand and endings.
    cohorts: tuple[Cohort, ...] = ()
    queue_usage: tuple[QueueUsage, ...] = ()
    jobs: tuple[BatchJob, ...] = ()
    #: DRA: the GPUs ResourceSlices publish, and the allocated claims on them (data/devices.py).
    gpu_devices: tuple[GpuDevice, ...] = ()
    gpu_claims: tuple[GpuClaim, ...] = ()
