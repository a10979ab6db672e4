"""The `recommend:` config block (docs/recommendations.md). Pure schema, no I/O."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

HOURS_PER_MONTH = 730.0  # 8760 h / 12: the month every "per month" figure uses
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(gt=0, le=400 * 86400, allow_inf_nan=False)]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """A Prometheus-style duration ("7d", "1h30m", "90s") or plain seconds, in seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text or total <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 7d, 12h, 90m or seconds)")
    return total


def promql_duration(seconds: float) -> str:
    """Seconds as a PromQL range ("604800s"); whole seconds keep subqueries aligned."""
    return f"{max(1, round(seconds))}s"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RightsizeSettings(_Strict):
    #: CPU request = this percentile (0-100) of each pod's CPU usage over the window.
    cpu_percentile: Annotated[float, Field(gt=0, le=100)] = 95.0
    #: Memory request = the peak working set over the window x (1 + headroom).
    memory_headroom_ratio: Annotated[float, Field(ge=0, le=10)] = 0.15
    #: Floors: never recommend less than this.
    min_cpu_cores: NonNegative = 0.01
    min_memory_bytes: NonNegative = 64 * 2**20
    #: A workload needs this many pod-hours of samples in the window before it is judged
    #: (a daily one-hour batch job has 7 in a week).
    min_pod_hours: NonNegative = 6.0


class GpuIdleSettings(_Strict):
    #: A GPU idle by the GPU idle rule (unitcost_gpu_idle_cost_dollars_per_hour > 0) for at
    #: least this long is a reclaim candidate.
    policy_window_seconds: Seconds = 4 * 3600.0


class AbandonedSettings(_Strict):
    #: A workload whose every pod stayed below both thresholds this long is abandoned.
    window_seconds: Seconds = 3 * 86400.0
    cpu_cores_threshold: NonNegative = 0.005
    network_bytes_per_second_threshold: NonNegative = 1024.0


class IdleQuotaSettings(_Strict):
    #: Keep the peak used quota over the window plus this headroom; the rest is idle.
    headroom_ratio: Annotated[float, Field(ge=0, le=10)] = 0.2


class Queries(_Strict):
    """Per-pod PromQL (each must return one series per cluster, namespace, pod; `cluster` is
    absent on a single cluster's Prometheus, and a query that drops it merges a fleet's
    clusters). The defaults read cAdvisor (kubelet) and kube-state-metrics, as
    kube-prometheus-stack scrapes them."""

    cpu_usage_cores: str = (
        'sum by (cluster, namespace, pod) (rate(container_cpu_usage_seconds_total{container!="", '
        'container!="POD"}[5m]))'
    )
    memory_usage_bytes: str = (
        'sum by (cluster, namespace, pod) (container_memory_working_set_bytes{container!="", '
        'container!="POD"})'
    )
    network_bytes_per_second: str = (
        "sum by (cluster, namespace, pod) (rate(container_network_receive_bytes_total[5m]))"
        " + sum by (cluster, namespace, pod) (rate(container_network_transmit_bytes_total[5m]))"
    )
    cpu_request_cores: str = (
        'sum by (cluster, namespace, pod) (kube_pod_container_resource_requests{resource="cpu"})'
    )
    memory_request_bytes: str = (
        'sum by (cluster, namespace, pod) (kube_pod_container_resource_requests{resource="memory"})'
    )


class RecommendSettings(_Strict):
    #: Prometheus (or Thanos Query, Mimir) base URL; `--prometheus` overrides it.
    prometheus_url: str | None = None
    #: History the right-sizing and idle-quota recommendations look at.
    window_seconds: Seconds = 7 * 86400.0
    #: Resolution of the subqueries over the window.
    step_seconds: Annotated[float, Field(ge=10, le=3600)] = 300.0
    #: How often `recommend --serve` and `controller` recompute.
    interval_seconds: Annotated[float, Field(ge=10, le=86400)] = 3600.0
    #: Recommendations saving less than this (absolute, dollars per month) are dropped.
    min_savings_dollars_per_month: NonNegative = 1.0
    #: Namespaces (globs) never recommended on: system daemons are not "abandoned".
    exclude_namespaces: list[str] = Field(default_factory=lambda: ["kube-system"])
    rightsize: RightsizeSettings = Field(default_factory=RightsizeSettings)
    gpu_idle: GpuIdleSettings = Field(default_factory=GpuIdleSettings)
    abandoned: AbandonedSettings = Field(default_factory=AbandonedSettings)
    idle_quota: IdleQuotaSettings = Field(default_factory=IdleQuotaSettings)
    queries: Queries = Field(default_factory=Queries)
