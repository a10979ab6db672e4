"""Compute recommendations every interval and serve them as metrics.

Its own process (`unitcost recommend --serve`, or `unitcost controller`), not a job inside
`unitcost serve`: the cluster exporter must never depend on the Prometheus that scrapes it (an
outage there would then take cost export down too), the week-long subqueries run hourly
rather than every 30 s, and in a fleet one recommender can read Thanos/Mimir while each
cluster keeps its own exporter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from unitcost.config.recommend import RecommendSettings
from unitcost.data.records import CollectStats, SourceHealth
from unitcost.history.recommend.maths import Recommendation, recommend
from unitcost.history.recommend.metrics import recommendation_families, run_families
from unitcost.history.recommend.reads import read_inputs
from unitcost.metrics.family import MetricFamily
from unitcost.runtime.collected import Collected
from unitcost.sinks.exposition import render
from unitcost.sinks.metrics import health_families
from unitcost.sources.promapi import PrometheusAPI, PrometheusError

log = logging.getLogger(__name__)

#: Called after each run with its recommendations and whether they are fresh (the read worked);
#: returns extra families to serve (the controller acts on fresh ones and serves its counters).
AfterRun = Callable[[list[Recommendation], bool], list[MetricFamily]]


@dataclass(frozen=True, slots=True)
class _Source:
    name: str


class RecommendService:
    """The `Serving` the HTTP server reads (runtime/server.py): the latest run's exposition."""

    def __init__(
        self,
        api: PrometheusAPI,
        settings: RecommendSettings,
        *,
        after: AfterRun | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.settings = settings
        self.after = after
        self.clock = clock
        self.source = _Source("prometheus")
        self.recommendations: list[Recommendation] = []
        self._current: Collected | None = None
        self._last_success = 0.0
        self._last_duration = 0.0

    @property
    def current(self) -> Collected | None:
        return self._current

    def run_once(self) -> Collected:
        """Read, compute, render. A failed read keeps the last recommendations (their age is
        unitcost_recommendation_last_run_timestamp_seconds) and reports the source down."""
        started = time.perf_counter()
        up = True
        try:
            inputs = read_inputs(self.api, self.settings, self.clock())
            self.recommendations = recommend(inputs, self.settings)
            self._last_success = self.clock()
        except PrometheusError as exc:
            log.error("recommendations not updated: %s", exc)
            up = False
        families = recommendation_families(self.recommendations)
        if up:
            self._last_duration = time.perf_counter() - started
        if self._last_success:
            families += run_families(self._last_success, self._last_duration)
        if self.after is not None:
            families += self.after(self.recommendations, up)
        stats = CollectStats(
            time.perf_counter() - started,
            (SourceHealth(self.source.name, up, self._last_success),),
        )
        families += health_families(stats)
        self._current = Collected(None, stats, render(families))
        return self._current
