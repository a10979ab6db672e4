"""The per-device GPU ledger at scale: allocate() and render() on the 150k-pod simulated
cluster, as it is (its whole-GPU pods), and with 5% of pods holding GPUs, a third of those
through DRA claims (on DRA nodes whose GPUs are ResourceSlice devices) and the rest through
MIG slices, time-slicing replicas and HAMi fractions.

    python benchmarks/gpu_ledger.py [--pods 150000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.attribution import AttributionCache
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.devices import DeviceRef, GpuClaim, GpuDevice
from unitcost.data.model import CapacityType, Node, Pod, PodPhase, Provider, Resources, Snapshot
from unitcost.pricing import PriceBook
from unitcost.sinks.exposition import render
from unitcost.sinks.metrics import cost_families
from unitcost.sources.simulator import SimulatedCluster

GIB = 2.0**30


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        gc.disable()
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
        gc.enable()
    return statistics.median(runs)


def node(name: str, instance: str, gpus: float, labels: dict[str, str]) -> Node:
    capacity = Resources(192.0, 2048 * GIB, gpus, 500 * GIB)
    return Node(
        name,
        Provider.AWS,
        instance,
        "us-east-1",
        "us-east-1a",
        CapacityType.ON_DEMAND,
        "gpu-bench",
        capacity,
        capacity,
        "H100",
        labels,
    )


def pod(name: str, node_name: str, gpus: float = 0.0, **extra: object) -> Pod:
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
        nodes.append(node(name, "p5.48xlarge", 0.0, {}))
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
                pods.append(pod(f"dra-{k}", name, resource_claims=(claim,)))
    rest = holders - dra
    per_node = 28  # 8 GPUs: 14 x 3g.40gb MIG, or 32 replicas, or fractions
    for n in range((rest + per_node - 1) // per_node):
        name = f"bench-shared-{n}"
        kind = n % 3
        labels = {"nvidia.com/gpu.replicas": "4"} if kind == 1 else {}
        nodes.append(node(name, "p5.48xlarge", 8.0, labels))
        for i in range(min(per_node, rest - n * per_node)):
            pname = f"shared-{n}-{i}"
            if kind == 0:
                pods.append(pod(pname, name, gpu_requests=(("nvidia.com/mig-3g.40gb", 1.0),)))
            elif kind == 1:
                pods.append(pod(pname, name, 1.0))
            else:
                fraction = (("nvidia.com/gpumem-percentage", 25.0),)
                pods.append(pod(pname, name, 1.0, gpu_requests=fraction))
    return replace(
        snapshot,
        nodes=snapshot.nodes + tuple(nodes),
        pods=snapshot.pods + tuple(pods),
        gpu_devices=tuple(devices),
        gpu_claims=tuple(claims),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    prices, policy = PriceBook.load(), allocation_policy(demo_config())
    plain = SimulatedCluster(seed=1, nodes=5000, pods=args.pods).snapshot()
    shared = with_gpu_holders(plain, args.pods * 5 // 100)
    for label, snapshot in (("simulator as is", plain), ("5% GPU holders, 1/3 DRA", shared)):
        cache = AttributionCache()
        frame = allocate(snapshot, prices, policy, cache)
        warm = timed(lambda s=snapshot, c=cache: allocate(s, prices, policy, c), args.repeat)
        families = cost_families(frame)
        rendered = timed(lambda f=frame: render(cost_families(f)), args.repeat)
        series = sum(len(f.samples) for f in families)
        holders = sum(len(x.holdings) for x in frame.gpu_devices)
        print(
            f"{label}: {len(snapshot.pods)} pods, {len(frame.gpu_devices)} devices, "
            f"{holders} holdings; allocate warm {warm:.2f} s, families+render "
            f"{rendered:.2f} s, {series} series"
        )


if __name__ == "__main__":
    main()
