"""GPU holders at scale for the benchmarks (`source.simulator.gpu_holder_share`): the given
number of extra running pods holding GPUs, a third through DRA claims (on DRA nodes whose
eight H100s are ResourceSlice devices, one claim per device) and the rest, node by node,
through MIG 3g.40gb slices, time-slicing replicas (4 per GPU) or HAMi memory fractions (25%).
Deterministic; `make bench --gpu-mix` and benchmarks/gpu_ledger.py use it (docs/gpu.md).
"""

from __future__ import annotations

from dataclasses import replace

from unitcost.data.devices import DeviceRef, GpuClaim, GpuDevice
from unitcost.data.model import Node, Pod, PodPhase, Resources, Snapshot
from unitcost.sources.simulator.gpu_pools import gpu_node

GIB = 2.0**30


def _pod(name: str, node_name: str, gpus: float = 0.0, **extra: object) -> Pod:
    base = Pod(
        "gpu-bench",
        name,
        f"uid-{name}",
        node_name,
        PodPhase.RUNNING,
        Resources(4.0, 32 * GIB, gpus),
        None,
        {"team": "bench"},
    )
    return replace(base, **extra)  # type: ignore[arg-type]


def with_gpu_holders(snapshot: Snapshot, holders: int) -> Snapshot:
    """`holders` more GPU pods: a third on DRA claims, the rest MIG, replicas, fractions."""
    nodes: list[Node] = []
    pods: list[Pod] = []
    devices: list[GpuDevice] = []
    claims: list[GpuClaim] = []
    dra = holders // 3
    for n in range((dra + 7) // 8):  # DRA nodes: 8 devices, one claim per device
        name = f"bench-dra-{n}"
        nodes.append(gpu_node(name, "p5.48xlarge", 192, 2048, 0, "H100", "gpu-bench", {}))
        for i in range(8):
            devices.append(GpuDevice(name, f"gpu-{i}", "gpu.nvidia.com", name))
            k = n * 8 + i
            if k < dra:
                claim = f"c-{k}"
                claims.append(
                    GpuClaim(
                        "gpu-bench",
                        claim,
                        (DeviceRef(name, "gpu.nvidia.com", name, f"gpu-{i}"),),
                        (f"dra-{k}",),
                    )
                )
                pods.append(_pod(f"dra-{k}", name, resource_claims=(claim,)))
    rest = holders - dra
    per_node = 28  # 8 GPUs: 14 x 3g.40gb MIG, or 32 replicas, or fractions
    for n in range((rest + per_node - 1) // per_node):
        name = f"bench-shared-{n}"
        kind = n % 3
        labels = {"nvidia.com/gpu.replicas": "4"} if kind == 1 else {}
        nodes.append(gpu_node(name, "p5.48xlarge", 192, 2048, 8, "H100", "gpu-bench", labels))
        for i in range(min(per_node, rest - n * per_node)):
            pname = f"shared-{n}-{i}"
            if kind == 0:
                pods.append(_pod(pname, name, gpu_requests=(("nvidia.com/mig-3g.40gb", 1.0),)))
            elif kind == 1:
                pods.append(_pod(pname, name, 1.0))
            else:
                fraction = (("nvidia.com/gpumem-percentage", 25.0),)
                pods.append(_pod(pname, name, 1.0, gpu_requests=fraction))
    return replace(
        snapshot,
        nodes=snapshot.nodes + tuple(nodes),
        pods=snapshot.pods + tuple(pods),
        gpu_devices=snapshot.gpu_devices + tuple(devices),
        gpu_claims=snapshot.gpu_claims + tuple(claims),
    )
