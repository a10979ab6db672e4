"""Shared-GPU pools laid beside the simulated cluster (`source.simulator.gpu_pools`), so the
demo shows every way a GPU is held (docs/gpu.md): a DRA pool of p5.48xlarge whose H100s are
ResourceSlice devices held by claims (one shared by two routers), an H100 pool partitioned
into MIG slices (GPU Operator "mixed" strategy), a time-sliced A10G inference pool (4
replicas per GPU) and a fractional-GPU notebook pool (HAMi memory shares). Deterministic: the
same pools every collect, their activity a fixed mix of busy and idle GPUs.
"""

from __future__ import annotations

from dataclasses import replace

from unitcost.data.devices import DeviceRef, GpuClaim, GpuDevice
from unitcost.data.model import (
    CapacityType,
    Gpu,
    Namespace,
    Node,
    Owner,
    Pod,
    PodPhase,
    Provider,
    Resources,
    Snapshot,
)

GIB = 2.0**30
DRIVER = "gpu.nvidia.com"
H100_MIB = "81559"
A10G_MIB = "23028"
NAMESPACES = (
    Namespace("gpu-serving", {"team": "inference", "org": "ai", "cost-center": "cc-2001"}),
    Namespace("gpu-research", {"team": "research", "org": "ai", "cost-center": "cc-2002"}),
    Namespace("notebooks", {"team": "data-science", "org": "ai", "cost-center": "cc-2003"}),
)


def gpu_node(
    name: str,
    instance: str,
    cpu: float,
    memory_gib: float,
    gpus: float,
    model: str,
    pool: str,
    labels: dict[str, str],
) -> Node:
    """An on-demand AWS GPU node in us-east-1a with its instance-type and pool labels (the
    demo's pools and the benchmarks' holders, sources/simulator/gpu_holders.py)."""
    capacity = Resources(cpu, memory_gib * GIB, gpus, 500 * GIB)
    return Node(
        name,
        Provider.AWS,
        instance,
        "us-east-1",
        "us-east-1a",
        CapacityType.ON_DEMAND,
        pool,
        capacity,
        capacity,
        model,
        {"node.kubernetes.io/instance-type": instance, "unitcost.dev/node-pool": pool, **labels},
    )


def _pod(
    namespace: str,
    name: str,
    node: str,
    gpus: float = 0.0,
    app: str = "",
    extended: tuple[tuple[str, float], ...] = (),
    claims: tuple[str, ...] = (),
) -> Pod:
    return Pod(
        namespace,
        name,
        f"sim-{namespace}-{name}",
        node,
        PodPhase.RUNNING,
        Resources(4.0, 32 * GIB, gpus),
        None,
        {"app": app or name.rsplit("-", 1)[0]},
        {},
        Owner("Deployment", app or name.rsplit("-", 1)[0]),
        gpu_requests=extended,
        resource_claims=claims,
    )


def _gpu(node: str, gpu: str, model: str, pod: Pod | None, busy: bool, now: float) -> Gpu:
    return Gpu(
        node,
        gpu,
        f"GPU-{node}-{gpu}",
        model,
        pod_namespace=pod.namespace if pod else "",
        pod_name=pod.name if pod else "",
        utilization=0.82 if busy else 0.0,
        low_activity_since=None if busy else now - 7200.0,
    )


def gpu_pools(now: float) -> Snapshot:
    """The pools alone, as a snapshot to lay beside the cluster's."""
    nodes: list[Node] = []
    pods: list[Pod] = []
    gpus: list[Gpu] = []
    devices: list[GpuDevice] = []
    claims: list[GpuClaim] = []
    # DRA: 2 x p5.48xlarge, 8 H100 each; 6 training claims, one claim shared by 2 routers,
    # one device free.
    for n in range(2):
        name = f"sim-dra-p5-{n}"
        nodes.append(gpu_node(name, "p5.48xlarge", 192, 2048, 0, "H100", "dra-h100", {}))
        for i in range(8):
            devices.append(
                GpuDevice(
                    name,
                    f"gpu-{i}",
                    DRIVER,
                    name,
                    f"GPU-{name}-gpu-{i}",
                    "NVIDIA H100 80GB HBM3",
                    80 * GIB,
                )
            )
        for i in range(6):
            claim = f"train-{n}-{i}-gpu"
            pod = _pod("gpu-research", f"train-{n}-{i}", name, app="llm-train", claims=(claim,))
            pods.append(pod)
            claims.append(
                GpuClaim(
                    "gpu-research", claim, (DeviceRef(name, DRIVER, name, f"gpu-{i}"),), (pod.name,)
                )
            )
            gpus.append(_gpu(name, f"gpu-{i}", "H100", pod, busy=i != 5, now=now))
        routers = [
            _pod("gpu-serving", f"router-{n}-{s}", name, app="router", claims=(f"router-{n}-gpu",))
            for s in "ab"
        ]
        pods += routers
        claims.append(
            GpuClaim(
                "gpu-serving",
                f"router-{n}-gpu",
                (DeviceRef(name, DRIVER, name, "gpu-6"),),
                tuple(p.name for p in routers),
            )
        )
        gpus.append(_gpu(name, "gpu-6", "H100", routers[0], busy=True, now=now))
    # MIG: one H100 node (8 GPUs) in mixed strategy: 10 x 3g.40gb and 12 x 1g.10gb.
    mig_labels = {"nvidia.com/gpu.count": "8", "nvidia.com/gpu.memory": H100_MIB}
    nodes.append(
        gpu_node("sim-mig-h100-0", "p5.48xlarge", 192, 2048, 8, "H100", "mig-h100", mig_labels)
    )
    for i in range(10):
        pods.append(
            _pod(
                "gpu-research",
                f"eval-{i}",
                "sim-mig-h100-0",
                app="eval",
                extended=(("nvidia.com/mig-3g.40gb", 1.0),),
            )
        )
    for i in range(12):
        pods.append(
            _pod(
                "gpu-serving",
                f"embed-{i}",
                "sim-mig-h100-0",
                app="embed",
                extended=(("nvidia.com/mig-1g.10gb", 1.0),),
            )
        )
    # Time-sliced: 2 x g5.12xlarge (4 A10G, 4 replicas each): 13 inference pods per node.
    for n in range(2):
        name = f"sim-ts-a10g-{n}"
        labels = {
            "nvidia.com/gpu.replicas": "4",
            "nvidia.com/gpu.sharing-strategy": "time-slicing",
            "nvidia.com/gpu.memory": A10G_MIB,
        }
        nodes.append(gpu_node(name, "g5.12xlarge", 48, 192, 4, "A10G", "timesliced-a10g", labels))
        for i in range(13):
            pods.append(_pod("gpu-serving", f"infer-{n}-{i}", name, 1.0, app="small-llm"))
        for g in range(4):  # one engine per GPU, shared: dcgm-exporter names no pod
            gpus.append(_gpu(name, str(g), "A10G", None, busy=g != 3, now=now))
    # Fractional notebooks: 1 x g5.12xlarge, HAMi memory shares of its 4 A10G.
    name = "sim-frac-a10g-0"
    nodes.append(
        gpu_node(
            name,
            "g5.12xlarge",
            48,
            192,
            4,
            "A10G",
            "notebooks-a10g",
            {"nvidia.com/gpu.memory": A10G_MIB},
        )
    )
    for i, percent in enumerate((30, 20, 25, 50, 10, 40, 30, 60)):
        pods.append(
            _pod(
                "notebooks",
                f"notebook-{i}",
                name,
                1.0,
                app="jupyter",
                extended=(("nvidia.com/gpumem-percentage", float(percent)),),
            )
        )
    return Snapshot(
        now,
        nodes=tuple(nodes),
        pods=tuple(pods),
        namespaces=NAMESPACES,
        gpus=tuple(gpus),
        gpu_devices=tuple(devices),
        gpu_claims=tuple(claims),
    )


def with_gpu_pools(snapshot: Snapshot) -> Snapshot:
    pools = gpu_pools(snapshot.timestamp)
    return replace(
        snapshot,
        nodes=snapshot.nodes + pools.nodes,
        pods=snapshot.pods + pools.pods,
        namespaces=snapshot.namespaces + pools.namespaces,
        gpus=snapshot.gpus + pools.gpus,
        gpu_devices=snapshot.gpu_devices + pools.gpu_devices,
        gpu_claims=snapshot.gpu_claims + pools.gpu_claims,
    )
