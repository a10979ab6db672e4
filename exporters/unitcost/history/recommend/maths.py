"""Recommendation maths: plain per-pod / per-queue aggregates in, recommendations out.

No I/O and no clock (history/recommend/reads.py turns Prometheus answers into these inputs), so
every formula in docs/recommendations.md is checked here on hand-computed cases.
"""

from __future__ import annotations

import fnmatch
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from unitcost.config.recommend import HOURS_PER_MONTH, RecommendSettings
from unitcost.costmodel.gpu_rightsize import MigFit, mig_fit

Kind = Literal["rightsize", "idle-gpu", "gpu-rightsize", "abandoned", "idle-quota"]
KINDS: tuple[Kind, ...] = ("rightsize", "idle-gpu", "gpu-rightsize", "abandoned", "idle-quota")
MIB = 2.0**20


@dataclass(frozen=True, slots=True, order=True)
class Workload:
    """What a recommendation is about: the pods' top-level owner (from the pod total's
    workload_kind and app), a bare pod, or a queue (namespace empty). `cluster` is the series'
    `cluster` label when the history is a fleet's global tier (Thanos, Mimir, a remote-write
    receiver), empty on a single cluster's Prometheus: names repeat across clusters."""

    namespace: str
    kind: str
    name: str
    cluster: str = ""


@dataclass(frozen=True, slots=True)
class Recommendation:
    kind: Kind
    workload: Workload
    #: cpu, memory, gpu, all (a whole workload) or the queue's resource.
    resource: str
    #: Current and recommended values, in `unit`.
    current: float
    recommended: float
    unit: str
    #: Positive: the change saves money; negative: it costs (an under-sized request).
    savings_dollars_per_month: float
    #: For idle-gpu and abandoned: how long the workload has been idle.
    idle_seconds: float = 0.0
    pods: tuple[str, ...] = ()
    flavor: str = ""
    reason: str = ""

    @property
    def cluster(self) -> str:
        return self.workload.cluster


# -- right-sizing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PodUsage:
    """One pod over the window: a percentile of its CPU usage, its peak memory, its requests
    (None when unknown), how long it was seen, and its node's prices."""

    namespace: str
    pod: str
    workload: Workload
    cpu_percentile_cores: float | None
    memory_peak_bytes: float | None
    cpu_request_cores: float | None
    memory_request_bytes: float | None
    present_seconds: float
    cpu_dollars_per_core_hour: float
    memory_dollars_per_byte_hour: float


def ceil_to(value: float, quantum: float) -> float:
    """Round up to a multiple of `quantum` (millicores, MiB), tolerant of float noise."""
    # A millionth of a quantum of slack: Prometheus' rate() of an exact 0.5 may be 0.5 + 1e-12.
    return math.ceil(value / quantum - 1e-6) * quantum


def rightsize(
    pods: Iterable[PodUsage], window_seconds: float, settings: RecommendSettings
) -> list[Recommendation]:
    """Per workload: CPU request = the busiest pod's usage percentile, memory request = the
    peak working set x (1 + headroom); saving = sum over pods of (request - recommended) x
    price x the pod's share of the window x 730 h."""
    s = settings.rightsize
    out: list[Recommendation] = []
    for workload, group in _by_workload(pods).items():
        if sum(p.present_seconds for p in group) < s.min_pod_hours * 3600:
            continue  # too little history to judge
        names = tuple(sorted(p.pod for p in group))
        cpu = [p for p in group if p.cpu_percentile_cores is not None and p.cpu_request_cores]
        if cpu:
            busiest = max(p.cpu_percentile_cores or 0.0 for p in cpu)
            target = ceil_to(max(s.min_cpu_cores, busiest), 0.001)
            out.append(
                _resize(
                    workload, "cpu", "cores", cpu, target, window_seconds, names, s.cpu_percentile
                )
            )
        mem = [p for p in group if p.memory_peak_bytes is not None and p.memory_request_bytes]
        if mem:
            peak = max(p.memory_peak_bytes or 0.0 for p in mem)
            target = ceil_to(max(s.min_memory_bytes, peak * (1 + s.memory_headroom_ratio)), MIB)
            out.append(
                _resize(workload, "memory", "bytes", mem, target, window_seconds, names, 100.0)
            )
    return out


def _resize(
    workload: Workload,
    resource: str,
    unit: str,
    pods: Sequence[PodUsage],
    target: float,
    window_seconds: float,
    names: tuple[str, ...],
    percentile: float,
) -> Recommendation:
    def request(p: PodUsage) -> float:
        return (p.cpu_request_cores if resource == "cpu" else p.memory_request_bytes) or 0.0

    def price(p: PodUsage) -> float:
        return p.cpu_dollars_per_core_hour if resource == "cpu" else p.memory_dollars_per_byte_hour

    hourly = sum(
        (request(p) - target) * price(p) * p.present_seconds / window_seconds for p in pods
    )
    seen = sum(p.present_seconds for p in pods)
    current = sum(request(p) * p.present_seconds for p in pods) / seen if seen else 0.0
    what = f"p{percentile:g} usage" if resource == "cpu" else "peak + headroom"
    return Recommendation(
        "rightsize",
        workload,
        resource,
        current,
        target,
        unit,
        hourly * HOURS_PER_MONTH,
        pods=names,
        reason=f"{resource} request {current:.4g} -> {target:.4g} {unit} ({what})",
    )


# -- idle GPUs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GpuIdleHistory:
    """unitcost_gpu_idle_cost_dollars_per_hour of one GPU and pod: (unix time, $/h) points."""

    node: str
    gpu: str
    namespace: str
    pod: str
    workload: Workload
    points: tuple[tuple[float, float], ...]
    #: What the pod holds there, from the GPU ledger: DRA claims ("namespace/name") and MIG
    #: slices (profiles), so the advice names what to release.
    claims: tuple[str, ...] = ()
    slices: tuple[str, ...] = ()


def idle_streak(points: Sequence[tuple[float, float]], end: float, step: float) -> float:
    """Seconds the series has been > 0 without a break, up to `end`: the trailing run of
    positive samples, where a gap over two steps (a missing scrape is one) breaks the run and
    a run that stopped more than two steps before `end` is over (0)."""
    run_start = run_end = None
    for t, v in points:
        if v > 0 and run_end is not None and t - run_end <= 2 * step:
            run_end = t
        elif v > 0:
            run_start = run_end = t
        else:
            run_start = run_end = None
    if run_start is None or run_end is None or end - run_end > 2 * step:
        return 0.0
    return run_end - run_start


def idle_gpus(
    histories: Iterable[GpuIdleHistory], end: float, step: float, settings: RecommendSettings
) -> list[Recommendation]:
    """Per workload: every GPU idle (by the GPU idle rule) for the policy window or longer;
    saving = the GPUs' current idle $/h x 730 h."""
    window = settings.gpu_idle.policy_window_seconds
    grouped: dict[Workload, list[tuple[GpuIdleHistory, float]]] = defaultdict(list)
    for h in histories:
        streak = idle_streak(h.points, end, step)
        if streak >= window and h.points:
            grouped[h.workload].append((h, streak))
    out = []
    for workload, gpus in sorted(grouped.items()):
        hourly = sum(h.points[-1][1] for h, _ in gpus)
        idle_for = min(streak for _, streak in gpus)
        claims = sorted({c for h, _ in gpus for c in h.claims})
        slices = sorted({p for h, _ in gpus for p in h.slices})
        held = "".join(
            [
                f"; claims {', '.join(claims)}" if claims else "",
                f"; MIG slices {', '.join(slices)}" if slices else "",
            ]
        )
        out.append(
            Recommendation(
                "idle-gpu",
                workload,
                "gpu",
                float(len(gpus)),
                0.0,
                "gpus",
                hourly * HOURS_PER_MONTH,
                idle_seconds=idle_for,
                pods=tuple(sorted({h.pod for h, _ in gpus})),
                reason=f"{len(gpus)} GPU(s) idle for {idle_for / 3600:.1f} h{held}",
            )
        )
    return out


# -- GPU right-sizing -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GpuPeak:
    """A pod holding whole GPUs, over the window: their $/h now, the model, and the peak
    framebuffer and engine activity dcgm-exporter saw for the pod."""

    namespace: str
    pod: str
    workload: Workload
    model: str
    gpus: float
    hourly: float
    peak_memory_bytes: float
    peak_activity: float


def gpu_rightsize(peaks: Iterable[GpuPeak], settings: RecommendSettings) -> list[Recommendation]:
    """Per workload: pods holding whole GPUs whose peak fits a MIG slice; saving = their
    GPU $/h x (1 - the slice's share) x 730 h (docs/recommendations.md)."""
    grouped: dict[tuple[Workload, str], list[tuple[GpuPeak, MigFit]]] = defaultdict(list)
    for peak in peaks:
        fit = mig_fit(peak.model, peak.peak_memory_bytes, peak.peak_activity)
        if fit is not None and peak.gpus > 0:
            grouped[(peak.workload, fit.profile)].append((peak, fit))
    out = []
    for (workload, profile), found in sorted(grouped.items()):
        gpus = sum(p.gpus for p, _ in found)
        share = found[0][1].share
        hourly = sum(p.hourly for p, _ in found)
        memory = max(p.peak_memory_bytes for p, _ in found) / 2.0**30
        activity = max(p.peak_activity for p, _ in found)
        model = found[0][0].model
        out.append(
            Recommendation(
                "gpu-rightsize",
                workload,
                "gpu",
                gpus,
                gpus * share,
                "gpus",
                hourly * (1 - share) * HOURS_PER_MONTH,
                pods=tuple(sorted({p.pod for p, _ in found})),
                reason=f"holds full {model} GPUs and never uses more than a {profile} slice "
                f"(peak {memory:.1f} GiB, {activity:.0%} engine active)",
            )
        )
    return out


# -- abandoned workloads ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PodActivity:
    """One pod over the abandoned window: peak CPU and network rates (None: no data), how long
    it was seen, and its cost now (None: the pod is gone)."""

    namespace: str
    pod: str
    workload: Workload
    cpu_max_cores: float | None
    network_max_bytes_per_second: float | None
    present_seconds: float
    cost_dollars_per_hour: float | None


def abandoned(
    pods: Iterable[PodActivity], step: float, settings: RecommendSettings
) -> list[Recommendation]:
    """Per workload that still runs: abandoned when every pod stayed at or below the CPU and
    network thresholds for the whole window (one pod seen throughout; no network data is no
    evidence, so it never counts as quiet). Saving = the running pods' cost x 730 h."""
    a = settings.abandoned
    out = []
    for workload, group in _by_workload(pods).items():
        running = [p for p in group if p.cost_dollars_per_hour is not None]
        if not running or max(p.present_seconds for p in group) < a.window_seconds - 2 * step:
            continue
        quiet = all(
            p.cpu_max_cores is not None
            and p.cpu_max_cores <= a.cpu_cores_threshold
            and p.network_max_bytes_per_second is not None
            and p.network_max_bytes_per_second <= a.network_bytes_per_second_threshold
            for p in group
        )
        if not quiet:
            continue
        hourly = sum(p.cost_dollars_per_hour or 0.0 for p in running)
        out.append(
            Recommendation(
                "abandoned",
                workload,
                "all",
                float(len(running)),
                0.0,
                "pods",
                hourly * HOURS_PER_MONTH,
                idle_seconds=a.window_seconds,
                pods=tuple(sorted(p.pod for p in running)),
                reason=f"no CPU or network activity for {a.window_seconds / 86400:.1f} days",
            )
        )
    return out


# -- idle queue quota -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueQuota:
    """A queue's quota on one flavor and resource: its cost now, the peak used cost over the
    window, and how long the quota was seen (in `cluster`, empty without one)."""

    queue: str
    flavor: str
    resource: str
    scheduler: str
    quota_dollars_per_hour: float
    peak_used_dollars_per_hour: float
    observed_seconds: float
    cluster: str = ""


def idle_quota(
    queues: Iterable[QueueQuota], window_seconds: float, step: float, settings: RecommendSettings
) -> list[Recommendation]:
    """Keep = min(quota, peak used x (1 + headroom)); the rest is idle: lend it (Kueue
    cohorts) or shrink the nominal quota. Saving = (quota - keep) x 730 h; the recommended
    value is keep / quota, the share of today's quota to keep."""
    headroom = settings.idle_quota.headroom_ratio
    out = []
    for q in queues:
        if q.quota_dollars_per_hour <= 0 or q.observed_seconds < window_seconds - 2 * step:
            continue
        keep = min(q.quota_dollars_per_hour, q.peak_used_dollars_per_hour * (1 + headroom))
        ratio = keep / q.quota_dollars_per_hour
        kind = "ClusterQueue" if q.scheduler == "kueue" else "YuniKornQueue"
        out.append(
            Recommendation(
                "idle-quota",
                Workload("", kind, q.queue, q.cluster),
                q.resource,
                1.0,
                ratio,
                "ratio",
                (q.quota_dollars_per_hour - keep) * HOURS_PER_MONTH,
                flavor=q.flavor,
                reason=f"peak use {q.peak_used_dollars_per_hour / q.quota_dollars_per_hour:.0%} "
                f"of quota on flavor {q.flavor}",
            )
        )
    return out


# -- all together -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything the recommendations are computed from, as read at `end`."""

    end: float
    window_seconds: float
    step_seconds: float
    usage: tuple[PodUsage, ...] = ()
    gpus: tuple[GpuIdleHistory, ...] = ()
    activity: tuple[PodActivity, ...] = ()
    queues: tuple[QueueQuota, ...] = ()
    notes: tuple[str, ...] = field(default=())
    gpu_peaks: tuple[GpuPeak, ...] = ()


def recommend(inputs: Inputs, settings: RecommendSettings) -> list[Recommendation]:
    """Every kind, excluded namespaces and small savings dropped, biggest saving first."""
    recs = [
        *rightsize(inputs.usage, inputs.window_seconds, settings),
        *idle_gpus(inputs.gpus, inputs.end, inputs.step_seconds, settings),
        *gpu_rightsize(inputs.gpu_peaks, settings),
        *abandoned(inputs.activity, inputs.step_seconds, settings),
        *idle_quota(inputs.queues, inputs.window_seconds, inputs.step_seconds, settings),
    ]
    kept = [
        r
        for r in recs
        if abs(r.savings_dollars_per_month) >= settings.min_savings_dollars_per_month
        and not any(
            fnmatch.fnmatchcase(r.workload.namespace, g) for g in settings.exclude_namespaces
        )
    ]
    return sorted(kept, key=lambda r: (-r.savings_dollars_per_month, r.kind, r.workload))


_P = TypeVar("_P", PodUsage, PodActivity)


def _by_workload(pods: Iterable[_P]) -> dict[Workload, list[_P]]:
    grouped: dict[Workload, list[_P]] = defaultdict(list)
    for p in pods:
        grouped[p.workload].append(p)
    return dict(sorted(grouped.items()))
