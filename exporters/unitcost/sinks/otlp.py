"""Push the /metrics families over OTLP with the OpenTelemetry SDK (docs/otlp.md).

One observable gauge (or counter) per metric family, with the same name and labels as
/metrics; its callback reads the collector's latest collect, so OTLP and /metrics always show
the same numbers. A PeriodicExportingMetricReader exports on an interval through the OTLP
gRPC or HTTP/protobuf exporter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from unitcost import __version__
from unitcost.config.otlp import OtlpSettings
from unitcost.metrics.catalogue import BY_NAME
from unitcost.metrics.family import MetricFamily

log = logging.getLogger(__name__)


def unit_for(name: str) -> str:
    """The OTLP unit of a family: its catalogue unit (UCUM), "1" for a name not in it."""
    spec = BY_NAME.get(name)
    return spec.unit if spec is not None else "1"


#: The families to push: the latest collect's (empty before the first one).
Current = Callable[[], Sequence[MetricFamily]]


class OtlpPublisher:
    """Publishes the latest Collected over OTLP until `shutdown()`."""

    def __init__(
        self,
        settings: OtlpSettings,
        current: Current,
        *,
        exporter: MetricExporter | None = None,
    ) -> None:
        self.settings = settings
        self._current = current
        self._lock = threading.Lock()
        self._registered: set[str] = set()
        #: The families last indexed (kept, so `is` cannot match a reused id) and their index.
        self._index: tuple[Sequence[MetricFamily], dict[str, MetricFamily]] = ((), {})
        attributes: dict[str, Any] = {
            "service.name": settings.service_name,
            "service.version": __version__,
        }
        if settings.cluster_name:
            attributes["k8s.cluster.name"] = settings.cluster_name
        self.reader = _RegisteringReader(
            exporter or make_exporter(settings),
            self.register,
            export_interval_millis=settings.interval_seconds * 1000,
            export_timeout_millis=settings.timeout_seconds * 1000,
        )
        self.provider = MeterProvider(
            resource=Resource.create(attributes), metric_readers=[self.reader]
        )
        self.meter = self.provider.get_meter("unitcost", __version__)
        self.register()

    def register(self) -> None:
        """Create an instrument for every family not seen before (families can appear later,
        e.g. cost series after a source's first success)."""
        families = self._families()
        with self._lock:
            for name, family in families.items():
                if name in self._registered:
                    continue
                self._registered.add(name)
                create = (
                    self.meter.create_observable_counter
                    if family.kind == "counter"
                    else self.meter.create_observable_gauge
                )
                create(
                    name,
                    callbacks=[self._callback(name)],
                    unit=unit_for(name),
                    description=family.help,
                )

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        return bool(self.provider.force_flush(int(timeout_s * 1000)))

    def shutdown(self) -> None:
        """Export once more, then stop (the last collect is not lost on SIGTERM)."""
        try:
            self.provider.shutdown()
        except Exception as exc:  # a collector gone at exit must not hide the real exit
            log.warning("OTLP shutdown: %s", exc)

    def _families(self) -> dict[str, MetricFamily]:
        families = self._current()
        indexed, index = self._index
        if families is not indexed:
            index = {f.name: f for f in families}
            self._index = (families, index)
        return index

    def _callback(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            family = self._families().get(name)
            if family is None:  # e.g. cost series dropped while the source is stale
                return []
            labels = family.labels
            return [
                Observation(value, dict(zip(labels, values, strict=True)))
                for values, value in family.samples
            ]

        return observe


class _RegisteringReader(PeriodicExportingMetricReader):
    """Registers new families before each collection: instruments cannot be created from
    inside the SDK's collection (callbacks run under its lock)."""

    def __init__(self, exporter: MetricExporter, before: Callable[[], None], **kwargs: Any):
        self._before = before
        super().__init__(exporter, **kwargs)

    def collect(self, timeout_millis: float = 10_000) -> None:  # type: ignore[misc]
        try:
            self._before()
        except Exception:  # never lose an export over a registration problem
            log.exception("OTLP: registering instruments failed")
        super().collect(timeout_millis=timeout_millis)


def make_exporter(settings: OtlpSettings) -> MetricExporter:
    headers = dict(settings.headers)
    if settings.protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpExporter,
        )

        url = settings.endpoint
        if urlsplit(url).path in ("", "/"):
            url = url.rstrip("/") + "/v1/metrics"
        return HttpExporter(endpoint=url, headers=headers, timeout=settings.timeout_seconds)
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
        OTLPMetricExporter as GrpcExporter,
    )

    return GrpcExporter(
        endpoint=settings.endpoint,
        insecure=settings.endpoint.startswith("http://"),
        headers=headers,
        timeout=settings.timeout_seconds,
    )


def start_otlp(settings: OtlpSettings, current: Current) -> OtlpPublisher | None:
    """A running publisher when an endpoint is configured, else None."""
    if not settings.endpoint:
        return None
    publisher = OtlpPublisher(settings, current)
    log.info(
        "pushing OTLP (%s) to %s every %gs",
        settings.protocol,
        settings.endpoint,
        settings.interval_seconds,
    )
    return publisher
