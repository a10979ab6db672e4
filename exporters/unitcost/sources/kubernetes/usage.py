"""Usage from the metrics API (metrics.k8s.io/v1beta1 PodMetrics), polled on an interval.

Its health is its own source status (`unitcost_source_up{source="metrics"}`). Without a
metrics API, usage is empty, costs fall back to requests, and one line says so: no crash loop,
no log line per poll (the generic poller, unitcost.sources.poller).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from unitcost.costmodel.quantity import QuantityError, parse_quantity
from unitcost.sources.poller import Poller

log = logging.getLogger(__name__)

METRICS_GROUP = "metrics.k8s.io"
METRICS_VERSION = "v1beta1"
SOURCE_NAME = "metrics"

#: (namespace, pod) -> (cpu cores, memory bytes), summed over the pod's containers.
PodUsage = dict[tuple[str, str], tuple[float, float]]


def parse_pod_metrics(body: dict[str, Any]) -> PodUsage:
    """A PodMetricsList body -> usage per pod; a bad quantity skips that pod with a warning."""
    out: PodUsage = {}
    for item in body.get("items") or []:
        meta = item.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        cpu = memory = 0.0
        try:
            for container in item.get("containers") or []:
                usage = container.get("usage") or {}
                cpu += parse_quantity(usage.get("cpu", 0))
                memory += parse_quantity(usage.get("memory", 0))
        except QuantityError as exc:
            log.warning("PodMetrics %s/%s: usage skipped: %s", *key, exc)
            continue
        out[key] = (cpu, memory)
    return out


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        if exc.status == 404:
            return (
                f"metrics API ({METRICS_GROUP}/{METRICS_VERSION}) is not served: "
                "costs fall back to requests (install metrics-server to measure usage)"
            )
        return f"metrics API poll failed: HTTP {exc.status} {exc.reason}"
    return f"metrics API poll failed: {type(exc).__name__}: {exc}"  # network or bad body


class UsagePoller(Poller[PodUsage]):
    """Polls PodMetrics every `interval`; `usage()` is empty once the data is `stale_after` old."""

    def __init__(
        self,
        list_pod_metrics: Callable[..., Any],
        interval: float,
        stale_after: float,
        timeout: tuple[float, float],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            SOURCE_NAME,
            self._fetch,
            interval,
            retry_interval=interval,
            describe=describe_error,
            summary=lambda usage: f"{len(usage)} pods with usage",
            clock=clock,
        )
        self._list = list_pod_metrics
        self._stale_after = stale_after
        self._timeout = timeout

    def usage(self) -> PodUsage:
        if self._clock() - self.last_success > self._stale_after:
            return {}
        return self.value or {}

    def _fetch(self) -> PodUsage:
        response = self._list(
            METRICS_GROUP,
            METRICS_VERSION,
            "pods",
            _preload_content=False,
            _request_timeout=self._timeout,
        )
        try:
            body = json.loads(response.data)
        finally:
            response.release_conn()
        return parse_pod_metrics(body)
