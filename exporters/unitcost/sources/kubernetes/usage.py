"""Usage from the metrics API (metrics.k8s.io/v1beta1 PodMetrics), polled on an interval.

Its health is its own source status (`unitcost_source_up{source="metrics"}`). Without a
metrics API, usage is empty, costs fall back to requests, and one line says so: no crash loop,
no log line per poll.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from unitcost.costmodel.quantity import QuantityError, parse_quantity

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


class UsagePoller:
    """Polls PodMetrics every `interval`; `usage()` is empty once the data is `stale_after` old."""

    name = SOURCE_NAME

    def __init__(
        self,
        list_pod_metrics: Callable[..., Any],
        interval: float,
        stale_after: float,
        timeout: tuple[float, float],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._list = list_pod_metrics
        self._interval = interval
        self._stale_after = stale_after
        self._timeout = timeout
        self._clock = clock
        self._usage: PodUsage = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set after the first poll, whatever its outcome.
        self.polled = threading.Event()
        self.up = False
        self.last_success = 0.0
        self._last_problem = ""

    def usage(self) -> PodUsage:
        if self._clock() - self.last_success > self._stale_after:
            return {}
        return self._usage

    def poll_once(self) -> None:
        try:
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
            self._usage = parse_pod_metrics(body)
        except ApiException as exc:
            if exc.status == 404:
                self._down(
                    f"metrics API ({METRICS_GROUP}/{METRICS_VERSION}) is not served: "
                    "costs fall back to requests (install metrics-server to measure usage)"
                )
            else:
                self._down(f"metrics API poll failed: HTTP {exc.status} {exc.reason}")
        except Exception as exc:  # network or bad body: the next poll retries
            self._down(f"metrics API poll failed: {type(exc).__name__}: {exc}")
        else:
            if not self.up:
                log.info("metrics API is up: %d pods with usage", len(self._usage))
            self.up = True
            self._last_problem = ""
            self.last_success = self._clock()
        finally:
            self.polled.set()

    def _down(self, problem: str) -> None:
        if problem != self._last_problem:  # one line per change of state, not per poll
            log.warning("%s", problem)
        self._last_problem = problem
        self.up = False

    def run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self._interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="metrics-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
