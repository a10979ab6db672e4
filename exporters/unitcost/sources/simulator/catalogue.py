"""What the simulated platform is made of, as data: node pools, teams, the kinds of work they
run, and their queues. No logic beyond a few derived views (namespaces, flavors)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from unitcost.data.model import CapacityType, Flavor, Namespace, Provider

GIB = 2.0**30
NODE_POOL_LABEL = "node-pool"
POOL_CLASS_LABEL = "unitcost.dev/pool-class"


class WorkloadKind(enum.Enum):
    """The kinds of work teams run; each has one factory in workloads.py."""

    SPARK = "spark"
    SERVICE = "service"
    RAY = "ray"
    #: LLM batch inference: a Job on one node's GPUs, serving simulated vLLM counters.
    INFERENCE = "inference"

    @property
    def runs_on_gpus(self) -> bool:
        return self in _GPU_KINDS


_GPU_KINDS = frozenset({WorkloadKind.RAY, WorkloadKind.INFERENCE})


@dataclass(frozen=True, slots=True)
class PoolSpec:
    name: str
    provider: Provider
    instance_type: str
    region: str
    zones: tuple[str, ...]
    capacity_type: CapacityType
    cpu: float
    memory_gib: float
    disk_gib: float
    gpus: int = 0
    gpu_model: str = ""
    #: Share of the cluster's nodes in this pool.
    weight: float = 1.0
    #: Which work the pool takes: general (services), batch-cpu (Spark), gpu.
    pool_class: str = "general"


POOLS: tuple[PoolSpec, ...] = (
    PoolSpec(
        name="onprem-cpu",
        provider=Provider.ONPREM,
        instance_type="cpu-2s-64c",
        region="dc-fra1",
        zones=("fra1-a", "fra1-b"),
        capacity_type=CapacityType.ON_DEMAND,
        cpu=64,
        memory_gib=512,
        disk_gib=1800,
        weight=0.14,
        pool_class="batch-cpu",
    ),
    PoolSpec(
        name="onprem-dgx",
        provider=Provider.ONPREM,
        instance_type="dgx-a100-80g",
        region="dc-fra1",
        zones=("fra1-a",),
        capacity_type=CapacityType.ON_DEMAND,
        cpu=128,
        memory_gib=1024,
        disk_gib=15000,
        gpus=8,
        gpu_model="NVIDIA A100-SXM4-80GB",
        weight=0.04,
        pool_class="gpu",
    ),
    PoolSpec(
        name="aws-general",
        provider=Provider.AWS,
        instance_type="m5.4xlarge",
        region="us-east-1",
        zones=("us-east-1a", "us-east-1b", "us-east-1c"),
        capacity_type=CapacityType.ON_DEMAND,
        cpu=16,
        memory_gib=64,
        disk_gib=200,
        weight=0.2,
    ),
    PoolSpec(
        name="aws-spot",
        provider=Provider.AWS,
        instance_type="m5.8xlarge",
        region="us-east-1",
        zones=("us-east-1a", "us-east-1b"),
        capacity_type=CapacityType.SPOT,
        cpu=32,
        memory_gib=128,
        disk_gib=200,
        weight=0.16,
        pool_class="batch-cpu",
    ),
    PoolSpec(
        name="aws-p4d",
        provider=Provider.AWS,
        instance_type="p4d.24xlarge",
        region="us-east-1",
        zones=("us-east-1a",),
        capacity_type=CapacityType.COMMITTED,
        cpu=96,
        memory_gib=1152,
        disk_gib=8000,
        gpus=8,
        gpu_model="NVIDIA A100-SXM4-40GB",
        weight=0.03,
        pool_class="gpu",
    ),
    PoolSpec(
        name="aws-g5",
        provider=Provider.AWS,
        instance_type="g5.12xlarge",
        region="us-east-1",
        zones=("us-east-1b",),
        capacity_type=CapacityType.ON_DEMAND,
        cpu=48,
        memory_gib=192,
        disk_gib=3800,
        gpus=4,
        gpu_model="NVIDIA A10G",
        weight=0.04,
        pool_class="gpu",
    ),
    PoolSpec(
        name="gcp-general",
        provider=Provider.GCP,
        instance_type="n2-standard-16",
        region="us-central1",
        zones=("us-central1-a", "us-central1-b"),
        capacity_type=CapacityType.COMMITTED,
        cpu=16,
        memory_gib=64,
        disk_gib=100,
        weight=0.18,
    ),
    PoolSpec(
        name="gcp-spot",
        provider=Provider.GCP,
        instance_type="n2-highmem-16",
        region="us-central1",
        zones=("us-central1-c",),
        capacity_type=CapacityType.SPOT,
        cpu=16,
        memory_gib=128,
        disk_gib=100,
        weight=0.16,
        pool_class="batch-cpu",
    ),
    PoolSpec(
        name="gcp-a3",
        provider=Provider.GCP,
        instance_type="a3-highgpu-8g",
        region="us-central1",
        zones=("us-central1-a",),
        capacity_type=CapacityType.ON_DEMAND,
        cpu=208,
        memory_gib=1872,
        disk_gib=6000,
        gpus=8,
        gpu_model="NVIDIA H100 80GB HBM3",
        weight=0.03,
        pool_class="gpu",
    ),
)


@dataclass(frozen=True, slots=True)
class TeamSpec:
    team: str
    org: str
    cost_center: str
    namespace: str
    workload: WorkloadKind
    #: Kueue LocalQueue name or YuniKorn queue path; "" for none.
    queue: str = ""
    #: Relative share of the CPU workload pods.
    weight: float = 1.0


TEAMS: tuple[TeamSpec, ...] = (
    TeamSpec("llm-training", "research", "cc-1001", "llm-training", WorkloadKind.RAY, "training"),
    TeamSpec("vision", "research", "cc-1002", "vision", WorkloadKind.RAY, "vision"),
    TeamSpec(
        "batch-inference", "product", "cc-2001", "batch-inference", WorkloadKind.INFERENCE, "batch"
    ),
    TeamSpec("etl", "data", "cc-3001", "spark-etl", WorkloadKind.SPARK, "root.data.etl", 3.0),
    TeamSpec(
        "analytics", "data", "cc-3002", "analytics", WorkloadKind.SPARK, "root.data.analytics", 2.0
    ),
    TeamSpec("recsys", "product", "cc-2002", "recsys", WorkloadKind.SERVICE, "", 1.5),
    TeamSpec("search", "product", "cc-2003", "search", WorkloadKind.SERVICE, "", 1.5),
)
#: Cluster queues and which teams' LocalQueues point at them.
CLUSTER_QUEUES: dict[str, tuple[str, ...]] = {
    "research-gpu": ("llm-training", "vision"),
    "inference-gpu": ("batch-inference",),
}
SHARED_NAMESPACES = ("kube-system", "monitoring")
SANDBOX_NAMESPACE = "sandbox"


def namespaces() -> tuple[Namespace, ...]:
    """The teams' namespaces (labelled with team, org and cost centre), then the shared ones
    and the unlabelled sandbox."""
    out = [
        Namespace(t.namespace, {"team": t.team, "org": t.org, "cost-center": t.cost_center})
        for t in TEAMS
    ]
    out += [Namespace(ns, {}) for ns in SHARED_NAMESPACES]
    out.append(Namespace(SANDBOX_NAMESPACE, {}))
    return tuple(out)


def flavors() -> tuple[Flavor, ...]:
    """Kueue ResourceFlavors: one per GPU pool, one for all batch-CPU pools."""
    out = [Flavor(p.name, {NODE_POOL_LABEL: p.name}) for p in POOLS if p.gpus]
    out.append(Flavor("batch-cpu", {POOL_CLASS_LABEL: "batch-cpu"}))
    return tuple(out)
