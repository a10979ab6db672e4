"""The simulated cluster as a live source (the Source protocol, sources/base.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from unitcost.data.model import Snapshot
from unitcost.sources.simulator.clock import SimulationClock
from unitcost.sources.simulator.cluster import SimulatedCluster
from unitcost.sources.simulator.gpu_holders import with_gpu_holders
from unitcost.sources.simulator.gpu_pools import with_gpu_pools
from unitcost.sources.simulator.network import SimulatedTraffic
from unitcost.sources.simulator.vllm import SimulatedVllm


class SimulatorSource:
    """Each read advances the cluster by the wall time since the previous read, times
    `speed`. Its LLM inference pods' token counters (`vllm`) advance by the wall time itself
    (vllm.py); they are not part of the snapshot, and the exporter serves them on an endpoint
    of their own (cli/exporter.py)."""

    name = "simulator"

    def __init__(
        self,
        cluster: SimulatedCluster,
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        gpu_pools: bool = False,
        gpu_holders: int = 0,
    ) -> None:
        self.cluster = cluster
        #: Extra GPU-holding pods (benchmarks: gpu_holders.py).
        self.gpu_holders = gpu_holders
        #: Lay the shared-GPU pools (DRA, MIG, time-sliced, fractional) beside the cluster.
        self.gpu_pools = gpu_pools
        self._clock = SimulationClock(speed, clock)
        self.vllm = SimulatedVllm()
        #: Network counters as the node agents would count them (set by the exporter's
        #: wiring, which has the price book; None: no simulated traffic).
        self.traffic: SimulatedTraffic | None = None
        #: The latest snapshot: what its dcgm-exporter endpoint reports (dcgm_exporter.py).
        self.last: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        wall_seconds, simulated_seconds = self._clock.tick()
        self.cluster.advance(simulated_seconds)
        self.vllm.advance(self.cluster.serving(), wall_seconds)
        snapshot = self.cluster.snapshot()
        if self.gpu_pools:
            snapshot = with_gpu_pools(snapshot)
        if self.gpu_holders:
            snapshot = with_gpu_holders(snapshot, self.gpu_holders)
        if self.traffic is not None:
            self.traffic.advance(snapshot)
        self.last = snapshot
        return snapshot

    def close(self) -> None:
        self.cluster.close()
