"""Forecast every pool from Prometheus history, and keep the result ready to serve.

`unitcost forecast --serve` runs this in its own process rather than inside `unitcost serve`:
the cluster exporter must not depend on the Prometheus that scrapes it, a forecast changes
daily (hourly runs are plenty), and one forecaster can read a fleet-wide Thanos/Mimir.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from unitcost.data.records import CollectStats, SourceHealth
from unitcost.history.forecast.history import PoolForecast, forecast_pools, read_history
from unitcost.history.forecast.render import forecast_families
from unitcost.runtime.collected import Collected
from unitcost.sinks.exposition import render
from unitcost.sinks.metrics import health_families
from unitcost.sources.promapi import PrometheusAPI, PrometheusError

log = logging.getLogger(__name__)

HORIZONS = (30, 90)


@dataclass(frozen=True, slots=True)
class _Source:
    name: str


class ForecastService:
    """The `Serving` the HTTP server reads (runtime/server.py): the latest forecast's exposition."""

    def __init__(
        self,
        api: PrometheusAPI,
        *,
        lookback_days: int,
        resources: Sequence[str],
        horizons: Sequence[int] = HORIZONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.lookback_days = lookback_days
        self.resources = tuple(resources)
        self.horizons = tuple(horizons)
        self.clock = clock
        self.source = _Source("prometheus")
        self.pools: list[PoolForecast] = []
        self._current: Collected | None = None
        self._last_success = 0.0

    @property
    def current(self) -> Collected | None:
        return self._current

    def forecast(self) -> list[PoolForecast]:
        """Read and fit once; raises PrometheusError when the history cannot be read."""
        history = read_history(
            self.api,
            now=self.clock(),
            lookback_days=self.lookback_days,
            resources=self.resources,
        )
        return forecast_pools(history, max(self.horizons))

    def run_once(self) -> Collected:
        """Forecast and render. A failed read keeps the last forecast (its age is
        unitcost_capacity_forecast_timestamp_seconds) and reports the source down."""
        started = time.perf_counter()
        up = True
        try:
            self.pools = self.forecast()
            self._last_success = self.clock()
        except PrometheusError as exc:
            log.error("forecast not updated: %s", exc)
            up = False
        families = forecast_families(self.pools, self.horizons, self._last_success)
        stats = CollectStats(
            time.perf_counter() - started,
            (SourceHealth(self.source.name, up, self._last_success),),
        )
        families += health_families(stats)
        collected = Collected(None, stats, render(families), families=tuple(families))
        self._current = collected
        return collected
