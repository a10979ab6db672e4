"""The collect loop: read the source, run the cost model, render once, serve the cached result.

A failing source keeps serving its last good data (its age visible in
unitcost_source_last_success_timestamp_seconds) until `policy.source_stale_seconds`, then its
cost series go; health and policy series are always served.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from unitcost.config.file import Config
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.attribution import AttributionCache
from unitcost.costmodel.capacity import capacity_amounts
from unitcost.costmodel.distinct import without_duplicates
from unitcost.costmodel.gpu_activity import dcgm_idle, join_activity
from unitcost.costmodel.gpu_idle import IdleTracker
from unitcost.costmodel.outcomes import workload_endings
from unitcost.costmodel.pending import admissions
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.activity import DcgmReading
from unitcost.data.frame import CostFrame
from unitcost.data.model import Snapshot
from unitcost.data.records import CollectStats, SourceHealth
from unitcost.metrics.family import MetricFamily
from unitcost.pricing import PriceBook
from unitcost.runtime.collected import Collected, collect_every
from unitcost.runtime.outcomes import OutcomeLedger, held_collects, workload_rates
from unitcost.runtime.shared_services import SharedServiceAllocator
from unitcost.sinks.cap import cap_series, dropped_family
from unitcost.sinks.capacity import capacity_families
from unitcost.sinks.exposition import render
from unitcost.sinks.metrics import (
    cloud_families,
    cost_families,
    health_families,
    policy_families,
    simulated_families,
    teams_in,
)
from unitcost.sources.base import Source, extra_health
from unitcost.sources.dcgm import FB_USED, GPU_UTIL, POWER, PROF_ACTIVE, readings_from
from unitcost.sources.poller import Poller
from unitcost.sources.simulator.dcgm_exporter import samples, simulated_dcgm

if TYPE_CHECKING:  # the CLI imports it only when a cloud part is configured (boto3)
    from unitcost.sources.cloud.services import CloudServices

log = logging.getLogger(__name__)


class Collector:
    def __init__(
        self,
        source: Source,
        pricebook: PriceBook,
        config: Config,
        *,
        cloud: CloudServices | None = None,
        extra_families: Sequence[Callable[[], list[MetricFamily]]] = (),
        gpu_activity: Poller[list[DcgmReading]] | None = None,
        clock: Callable[[], float] = time.time,
        shared_services: SharedServiceAllocator | None = None,
    ) -> None:
        """`cloud`: live cloud prices, the bill and reconciliation (sources/cloud), when
        configured; `extra_families`: more families each collect adds (e.g. the reloader's
        unitcost_config_reload_*); `shared_services`: services split by usage
        (docs/shared-services.md)."""
        self.source = source
        self.pricebook = pricebook
        self.config = config
        self._clock = clock
        self._policy = allocation_policy(config)
        #: Attributions kept between collects (emptied by the cache itself when rules change).
        self._attribution = AttributionCache()
        self._snapshot: Snapshot | None = None
        self._last_success = 0.0
        self._up = False
        self._lock = threading.Lock()
        self._current: Collected | None = None
        #: Series the cap left out, since start and in the last collect.
        self._dropped_total = 0
        self._dropped_last = 0
        self.cloud = cloud
        self._extra_families = tuple(extra_families)
        self.shared_services = shared_services
        #: dcgm-exporter's readings (gpu_activity.source: dcgm), joined to the GPU ledger.
        self.gpu_activity = gpu_activity
        #: The idle rule over DCGM readings, when DCGM is the idle producer (docs/gpu.md).
        self._dcgm_idle = _idle_tracker(config)
        #: Each workload run's dollars until it ends (runtime/outcomes.py).
        self.outcomes = OutcomeLedger(
            max_gap_seconds=config.policy.source_stale_seconds,
            hold_collects=held_collects(config.collect_interval_seconds),
        )

    @property
    def current(self) -> Collected | None:
        return self._current

    def reconfigure(self, config: Config, pricebook: PriceBook) -> None:
        """New settings from a hot reload, used from the next collect on (runtime/reload.py)."""
        with self._lock:
            self.pricebook = pricebook
            self._policy = allocation_policy(config)
            if config.gpu_idle != self.config.gpu_idle:
                self._dcgm_idle = _idle_tracker(config)
            self.config = config

    def collect_once(self) -> Collected:
        # A collect allocates millions of short-lived objects with no reference cycles among
        # them; the cyclic GC would walk the whole heap several times meanwhile (a third of
        # a 150k-pod collect). It resumes after.
        with _gc_paused():
            return self._collect()

    def _collect(self) -> Collected:
        started = time.perf_counter()
        try:
            self._snapshot, duplicates = without_duplicates(self.source.snapshot())
            if duplicates:  # bad source data: logged each collect, the last one kept
                log.warning("source %s: %d duplicate objects dropped", self.source.name, duplicates)
            self._last_success = self._clock()
            if not self._up:
                log.info("source %s is up", self.source.name)
            self._up = True
        except Exception as exc:  # any source failure degrades, never kills the exporter
            if self._up or self._last_success == 0.0:
                log.error("source %s failed: %s", self.source.name, exc)
            self._up = False
        snapshot = self._snapshot
        age = self._clock() - self._last_success
        if snapshot is not None and age > self.config.policy.source_stale_seconds:
            log.warning("source %s stale for %.0fs: dropping its series", self.source.name, age)
            snapshot = self._snapshot = None
        book = self.pricebook if self.cloud is None else self.cloud.pricebook(self.pricebook)
        frame = allocate(snapshot, book, self._policy, self._attribution) if snapshot else None
        if self.cloud is not None:
            self.cloud.observe(frame, book)  # estimates for reconciliation, types to price
        readings = self.gpu_activity.value if self.gpu_activity is not None else None
        if readings is None and snapshot is not None and snapshot.simulated:
            # The demo's GPUs through the DCGM path: the series its dcgm-exporter endpoint
            # serves, read as the DCGM reader reads Prometheus' answer.
            series = samples(simulated_dcgm(snapshot))
            readings = readings_from(*(series[n] for n in (PROF_ACTIVE, GPU_UTIL, FB_USED, POWER)))
        producer = self.config.gpu_idle_producer
        if frame is not None and producer != "simulator":
            frame.gpus = []  # one producer of idle dollars per device: not this one
        if frame is not None and readings is not None:
            activity = self.config.gpu_activity
            frame.gpu_uses = join_activity(
                frame.gpu_devices,
                readings,
                threshold=self.config.gpu_idle.threshold_ratio,
                warm_memory_bytes=activity.warm_memory_bytes,
                power_veto_watts=activity.power_veto_watts,
            )
            if producer == "dcgm" and snapshot is not None:
                frame.gpus = dcgm_idle(
                    frame.gpu_devices, frame.gpu_uses, self._dcgm_idle, snapshot.timestamp
                )
        families: list[MetricFamily] = []
        if frame is not None and snapshot is not None:
            costs = cost_families(frame, self.config.detail)
            families += costs
            self._observe_outcomes(snapshot, frame)
            # The capacity forecast's history.
            families += capacity_families(capacity_amounts(snapshot, frame))
            if self.shared_services is not None:
                families += self.shared_services.families(frame, self._clock())
        families += self.outcomes.families()
        families += policy_families(self.config, teams_in(frame) if frame else ())
        # Duration covers reading and allocating; rendering is measured into the next one.
        duration = time.perf_counter() - started
        stats = CollectStats(
            duration,
            (
                SourceHealth(self.source.name, self._up, self._last_success),
                *extra_health(self.source),  # e.g. "metrics" beside "kubernetes"
                *(self.cloud.health() if self.cloud is not None else ()),
                *(self.shared_services.health() if self.shared_services is not None else ()),
                *((self.gpu_activity.health(),) if self.gpu_activity is not None else ()),
            ),
        )
        families += health_families(stats)
        simulated = snapshot is not None and snapshot.simulated
        families += simulated_families(simulated)
        if self.cloud is not None:
            families += cloud_families(self.cloud.latest_billing())
        for extra in self._extra_families:
            families += extra()
        limit = self.config.limits.max_series
        if limit is not None:
            dropped = cap_series(families, frame, limit)
            if dropped and not self._dropped_last:
                log.warning("series cap %d: dropping the cheapest pods' series", limit)
            self._dropped_last = dropped
            self._dropped_total += dropped
        families.append(dropped_family(self._dropped_total))
        collected = Collected(
            frame, stats, render(families), families=tuple(families), simulated=simulated
        )
        collected.gzipped()  # compress here, not in the scrape that first asks (Prometheus does)
        with self._lock:
            self._current = collected
        return collected

    def _observe_outcomes(self, snapshot: Snapshot, frame: CostFrame) -> None:
        """Feed the outcome ledger: each workload's $/hour (before the cap), how workloads
        ended, and Kueue admissions."""
        running = workload_rates(frame)
        endings = workload_endings(snapshot, {OutcomeLedger.ident(k) for k in running})
        waits = admissions(snapshot, self._policy.attribution) if snapshot.jobs else ()
        self.outcomes.observe(snapshot.timestamp, running, endings, waits)

    def run(
        self, stop: threading.Event, on_collect: Callable[[Collected], None] | None = None
    ) -> None:
        """Collect every interval until `stop` is set."""
        collect_every(self.config.collect_interval_seconds, self.collect_once, stop, on_collect)


def _idle_tracker(config: Config) -> IdleTracker:
    return IdleTracker(config.gpu_idle.threshold_ratio, config.gpu_idle.window_seconds)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
