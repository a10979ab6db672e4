"""The GPU agent's collect: read NVML, map processes to pods, run the idle rule, price, render.

The result is served by unitcost.runtime.server exactly like the cluster exporter's (cached bytes,
swapped in whole per collect).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from unitcost.costmodel.gpu_idle import IdleTracker
from unitcost.costmodel.gpu_shares import device_shares
from unitcost.data.gpu import DeviceReading, DeviceState, PodRef, Process
from unitcost.data.records import CollectStats, SourceHealth
from unitcost.pricing.gpu import GpuPricer
from unitcost.runtime.collected import Collected, collect_every
from unitcost.runtime.network import NetworkCollector
from unitcost.sinks.exposition import render
from unitcost.sinks.gpu import agent_families
from unitcost.sinks.metrics import health_families
from unitcost.sources.gpu.cgroup import pod_uid_of_pid
from unitcost.sources.gpu.nvml import NvmlReader
from unitcost.sources.gpu.pods import PodDirectory, PodsUnavailable

log = logging.getLogger(__name__)


class GpuAgent:
    """Collects on demand (`collect_once`) or every `interval` seconds (`run`)."""

    def __init__(
        self,
        reader: NvmlReader | None,
        pricer: GpuPricer,
        node: str,
        *,
        pods: PodDirectory | None = None,
        proc_root: Path = Path("/proc"),
        tracker: IdleTracker | None = None,
        interval: float = 15.0,
        clock: Callable[[], float] = time.time,
        network: NetworkCollector | None = None,
        idle_dollars: bool = True,
    ) -> None:
        """`idle_dollars`: write unitcost_gpu_idle_cost_dollars_per_hour (False when the
        config names another producer, gpu_idle.producer; docs/gpu.md)."""
        self.idle_dollars = idle_dollars
        #: None: the GPU collector is off (`--no-collector.gpu`), e.g. on CPU nodes.
        self.reader = reader
        self.network = network
        self.pricer = pricer
        self.node = node
        self.pods = pods
        self.proc_root = proc_root
        self.tracker = tracker or IdleTracker()
        self.interval = interval
        self._clock = clock
        # the `source` label; also what the landing page shows
        self.name = "nvml" if reader is not None else "conntrack"
        self._assigned: dict[str, PodRef] = {}  # device uuid -> pod last seen on it
        self._last_memory: dict[str, float] = {}
        self._last_success = {"nvml": 0.0, "pods": 0.0}
        self._pods_up = False
        self._current: Collected | None = None
        self.states: list[DeviceState] = []

    # The server reads `collector.source.name` and `collector.current`.
    @property
    def source(self) -> GpuAgent:
        return self

    @property
    def current(self) -> Collected | None:
        return self._current

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self.network is not None:
            self.network.close()

    # -- mapping -----------------------------------------------------------------------------
    def _refresh_pods(self, now: float) -> None:
        if self.pods is None:
            return
        try:
            self.pods.refresh()
        except PodsUnavailable as exc:
            if self._pods_up or self._last_success["pods"] == 0.0:
                log.error("pod list: %s (keeping the last good list)", exc)
            self._pods_up = False
            return
        self._pods_up = True
        self._last_success["pods"] = now

    def _resolve(self, uid: str) -> PodRef:
        if self.pods is None:  # no pod list: the UID is all we know; its process proves it runs
            return PodRef("", uid, uid, "Running")
        found = self.pods.lookup(uid)
        # Not in the list yet (started after the last refresh): known, but not provably running.
        return found if found is not None else PodRef("", uid, uid, "Unknown")

    def _pod_processes(self, reading: DeviceReading) -> dict[PodRef, list[Process]]:
        by_pod: dict[PodRef, list[Process]] = {}
        for proc in reading.processes:
            uid = pod_uid_of_pid(proc.pid, self.proc_root)
            if uid is None:
                continue  # a host process (or one that just exited): not a pod's
            by_pod.setdefault(self._resolve(uid), []).append(proc)
        return by_pod

    @staticmethod
    def _shares(
        reading: DeviceReading, by_pod: dict[PodRef, list[Process]]
    ) -> dict[str, dict[PodRef, float]]:
        """Each seen pod's share of the device: by framebuffer (evenly where NVML cannot say
        a process's memory), and by SM time where NVML gives per-process utilisation."""
        if not by_pod:
            return {}
        memory: dict[PodRef, float | None] = {}
        for ref, procs in by_pod.items():
            used = [p.memory_bytes for p in procs]
            memory[ref] = None if None in used else sum(u or 0.0 for u in used)
        shares = {"memory": device_shares(memory)}
        if reading.process_sm is not None:
            sm_of = dict(reading.process_sm)
            sm: dict[PodRef, float | None] = {
                ref: sum(sm_of.get(p.pid, 0.0) for p in procs) for ref, procs in by_pod.items()
            }
            shares["sm"] = device_shares(sm)
        return shares

    def _holder(self, reading: DeviceReading, by_pod: dict[PodRef, float]) -> PodRef | None:
        if by_pod:
            # One owner per device (recording rules take max by (node, gpu)): the pod holding
            # the most memory; ties go to the lowest UID so the choice is stable.
            holder = min(by_pod, key=lambda ref: (-by_pod[ref], ref.uid))
            self._assigned[reading.uuid] = holder
            return holder
        # No process now: the device plugin's allocation lasts as long as the pod, so a pod
        # seen on the device keeps it while the pod list says it is still running here.
        previous = self._assigned.get(reading.uuid)
        if previous is not None and self.pods is not None:
            current = self.pods.lookup(previous.uid)
            if current is not None and current.running:
                return current
        self._assigned.pop(reading.uuid, None)
        return None

    def _activity(self, reading: DeviceReading) -> float:
        """Utilisation where NVML has it; for MIG slices (and devices without it) 1 when a
        compute process runs or memory use moved by at least the threshold, else 0."""
        if reading.utilization is not None:
            return reading.utilization
        used = reading.memory_used_bytes
        previous = self._last_memory.get(reading.uuid)
        if used is not None:
            self._last_memory[reading.uuid] = used
        if reading.processes:
            return 1.0
        total = reading.memory_total_bytes or 0.0
        if used is not None and previous is not None and total > 0:
            return 1.0 if abs(used - previous) >= self.tracker.threshold * total else 0.0
        return 0.0

    # -- collect -----------------------------------------------------------------------------
    def evaluate(self, readings: list[DeviceReading], now: float) -> list[DeviceState]:
        states = []
        tracked = []
        for reading in readings:
            if not reading.up or reading.mig_parent:
                states.append(DeviceState(reading))  # a MIG parent's slices are the GPUs
                continue
            processes = self._pod_processes(reading)
            by_pod = {
                ref: sum(p.memory_bytes or 0.0 for p in procs) for ref, procs in processes.items()
            }
            shares = self._shares(reading, processes)
            holder = self._holder(reading, by_pod)
            activity = self._activity(reading)
            hourly = self.pricer.hourly(reading.model, reading.share)
            if holder is None or not holder.running:
                states.append(DeviceState(reading, holder, by_pod, shares, activity, None, hourly))
                continue
            key = (reading.uuid, holder.uid)
            tracked.append(key)
            since = self.tracker.observe(key, activity, now)
            idle = self.tracker.is_idle(key, now)
            states.append(
                DeviceState(reading, holder, by_pod, shares, activity, since, hourly, idle)
            )
        self.tracker.retain(tracked)
        return states

    def collect_once(self) -> Collected:
        started = time.perf_counter()
        now = self._clock()
        self._refresh_pods(now)
        health = []
        families = []
        if self.reader is not None:
            self.states = self.evaluate(self.reader.read(), now)
            self._last_success["nvml"] = now
            health.append(SourceHealth("nvml", True, now))
            families += agent_families(self.node, self.states, now, idle_dollars=self.idle_dollars)
        if self.pods is not None:
            health.append(SourceHealth("pods", self._pods_up, self._last_success["pods"]))
        if self.network is not None:
            network_families, network_health = self.network.collect(now)
            families += network_families
            health.append(network_health)
        stats = CollectStats(time.perf_counter() - started, tuple(health))
        families += health_families(stats)
        collected = Collected(None, stats, render(families))
        self._current = collected
        return collected

    def run(
        self, stop: threading.Event, on_collect: Callable[[Collected], None] | None = None
    ) -> None:
        collect_every(self.interval, self.collect_once, stop, on_collect)
