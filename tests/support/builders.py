"""Small builders for model objects in tests: only the fields a test cares about."""

from __future__ import annotations

from unitcost.data.model import CapacityType, Node, Pod, PodPhase, Provider, Resources

GIB = 2.0**30


def res(
    cpu: float = 0.0, memory_gib: float = 0.0, gpu: float = 0.0, storage_gib: float = 0.0
) -> Resources:
    return Resources(cpu, memory_gib * GIB, gpu, storage_gib * GIB)


def node(
    name: str,
    capacity: Resources,
    *,
    allocatable: Resources | None = None,
    provider: Provider = Provider.AWS,
    instance_type: str = "m5.xlarge",
    capacity_type: CapacityType = CapacityType.ON_DEMAND,
    gpu_model: str = "",
    labels: dict[str, str] | None = None,
) -> Node:
    return Node(
        name,
        provider,
        instance_type,
        "region-1",
        "zone-a",
        capacity_type,
        "pool-a",
        capacity,
        allocatable or capacity,
        gpu_model,
        labels or {},
    )


def pod(
    name: str,
    node_name: str,
    requests: Resources,
    usage: Resources | None = None,
    *,
    namespace: str = "team-a",
    phase: PodPhase = PodPhase.RUNNING,
    labels: dict[str, str] | None = None,
) -> Pod:
    return Pod(
        namespace,
        name,
        f"uid-{namespace}-{name}",
        node_name,
        phase,
        requests,
        usage,
        labels or {},
    )
