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

from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.attribution import AttributionCache
from unitcost.costmodel.policy import allocation_policy
from unitcost.pricing import PriceBook
from unitcost.sinks.exposition import render
from unitcost.sinks.metrics import cost_families
from unitcost.sources.simulator import SimulatedCluster
from unitcost.sources.simulator.gpu_holders import with_gpu_holders

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
