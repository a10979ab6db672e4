"""GKE usage from Cloud Monitoring, for clusters where no in-cluster usage agent runs.

GKE writes system metrics for every container to Cloud Monitoring each minute; this source
reads the latest point per container and sums them per pod onto the Snapshot another source
(the Kubernetes API) produced. Credentials: Application Default Credentials (Workload
Identity in-cluster; the Google service account needs roles/monitoring.viewer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from unitcost.config.clouds import GcpMonitoringSettings
from unitcost.data.model import Pod, Resources, Snapshot
from unitcost.data.records import SourceHealth
from unitcost.sources.base import Source, extra_health
from unitcost.sources.poller import Poller

SOURCE_NAME = "gcp-monitoring"
CPU = "kubernetes.io/container/cpu/core_usage_time"
MEMORY = "kubernetes.io/container/memory/used_bytes"
DUTY_CYCLE = "kubernetes.io/container/accelerator/duty_cycle"


@dataclass(slots=True)
class PodUsage:
    cpu: float = 0.0
    memory: float = 0.0
    #: Busy GPUs: the sum of the pod's accelerators' duty cycles / 100; None if none reported.
    gpu: float | None = None


GkeUsage = dict[tuple[str, str], PodUsage]


def describe_error(exc: BaseException) -> str:
    """google-api-core errors carry a gRPC status; name the fix for the common ones."""
    code = getattr(exc, "code", None)
    name = getattr(code, "name", "") or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    if type(exc).__name__ == "DefaultCredentialsError":
        return (
            f"no Application Default Credentials ({message}): on GKE enable Workload Identity "
            "and annotate the service account with iam.gke.io/gcp-service-account"
        )
    if name in {"PERMISSION_DENIED", "Forbidden"} or type(exc).__name__ == "PermissionDenied":
        return f"Cloud Monitoring denied ({message}): grant roles/monitoring.viewer"
    return f"Cloud Monitoring ListTimeSeries failed ({name}): {message}"


def _value(point: Any) -> float:
    value = point.value
    kind = value._pb.WhichOneof("value")
    if kind == "double_value":
        return float(value.double_value)
    if kind == "int64_value":
        return float(value.int64_value)
    raise ValueError(f"unexpected point value type {kind!r}")


def add_series(usage: GkeUsage, series: Iterable[Any], metric: str) -> None:
    """Each series is one container's (for GPUs: one accelerator's); its first point is the
    latest (Cloud Monitoring returns points newest first)."""
    for ts in series:
        if not ts.points:
            continue
        labels = ts.resource.labels
        key = (labels.get("namespace_name", ""), labels.get("pod_name", ""))
        if not all(key):
            continue
        pod = usage.setdefault(key, PodUsage())
        value = _value(ts.points[0])
        if metric == CPU:
            pod.cpu += value
        elif metric == MEMORY:
            pod.memory += value
        else:
            pod.gpu = (pod.gpu or 0.0) + value / 100.0


class GkeUsageReader:
    def __init__(
        self,
        settings: GcpMonitoringSettings,
        client: Any = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._client = client
        self.clock = clock
        self.poller: Poller[GkeUsage] = Poller(
            SOURCE_NAME,
            self.fetch,
            settings.poll_interval_seconds,
            describe=describe_error,
            clock=clock,
        )

    def client(self) -> Any:
        if self._client is None:  # ADC are looked up here, so a failure is a source error
            from google.cloud import monitoring_v3

            self._client = monitoring_v3.MetricServiceClient()
        return self._client

    def _filter(self, metric: str) -> str:
        s = self.settings
        parts = [
            f'metric.type = "{metric}"',
            'resource.type = "k8s_container"',
            f'resource.labels.cluster_name = "{s.cluster_name}"',
        ]
        if s.location:
            parts.append(f'resource.labels.location = "{s.location}"')
        if metric == MEMORY and s.memory_type != "all":
            parts.append(f'metric.labels.memory_type = "{s.memory_type}"')
        return " AND ".join(parts)

    def fetch(self) -> GkeUsage:
        from google.cloud import monitoring_v3

        s = self.settings
        now = self.clock()
        interval = monitoring_v3.TimeInterval(
            end_time={"seconds": int(now)},
            start_time={"seconds": int(now - s.window_seconds)},
        )
        metrics = [CPU, MEMORY] + ([DUTY_CYCLE] if s.gpu_usage == "duty_cycle" else [])
        usage: GkeUsage = {}
        for metric in metrics:
            request: dict[str, Any] = {
                "name": f"projects/{s.project}",
                "filter": self._filter(metric),
                "interval": interval,
                "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            }
            if metric == CPU:  # a cumulative counter of core-seconds: its rate is cores
                request["aggregation"] = monitoring_v3.Aggregation(
                    alignment_period={"seconds": 60},
                    per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_RATE,
                )
            # The pager fetches every page.
            pages = self.client().list_time_series(request=request, timeout=s.timeout_seconds)
            add_series(usage, pages, metric)
        return usage


def with_usage(pod: Pod, measured: PodUsage) -> Pod:
    gpu = pod.requests.gpu
    if measured.gpu is not None:
        gpu = min(pod.requests.gpu, measured.gpu) if pod.requests.gpu > 0 else 0.0
    return replace(pod, usage=Resources(measured.cpu, measured.memory, gpu, pod.requests.storage))


class GkeUsageSource:
    """Wraps the cluster source: its snapshot, with usage from Cloud Monitoring."""

    def __init__(self, inner: Source, reader: GkeUsageReader, *, stale_after: float) -> None:
        self.inner = inner
        self.reader = reader
        self.name = inner.name
        self._stale_after = stale_after

    def usage(self) -> GkeUsage:
        poller = self.reader.poller
        if poller.value is None or self.reader.clock() - poller.last_success > self._stale_after:
            return {}  # too old to be the usage now: costs fall back to what the inner source has
        return poller.value

    def snapshot(self) -> Snapshot:
        snapshot = self.inner.snapshot()
        usage = self.usage()
        if not usage:
            return snapshot
        pods = tuple(with_usage(p, usage[p.key]) if p.key in usage else p for p in snapshot.pods)
        return replace(snapshot, pods=pods)

    def health(self) -> list[SourceHealth]:
        return [*extra_health(self.inner), self.reader.poller.health()]

    def start(self) -> None:
        self.reader.poller.start()

    def close(self) -> None:
        self.reader.poller.stop()
        self.inner.close()
