"""Reading capacity history from Prometheus (unitcost.sources.promapi) and forecasting each pool.

The exporter's `unitcost_capacity_*` series (sinks/capacity.py) are read hourly over the
lookback, turned into daily peaks and forecast by forecast.model; nothing here does maths
beyond arranging series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from unitcost.history.forecast.model import (
    DAY,
    MIN_POINTS,
    Fit,
    ForecastError,
    daily_peaks,
    exhaustion_time,
    fit_daily,
)
from unitcost.sources.promapi import PrometheusAPI

KEY_LABELS = ("cluster", "provider", "node_pool", "gpu_model", "resource", "unit")
DEMANDS = ("requested", "used", "pending")
STEP_S = 3600.0


@dataclass(frozen=True, slots=True, order=True)
class Key:
    cluster: str
    provider: str
    node_pool: str
    gpu_model: str
    resource: str
    unit: str

    @classmethod
    def of(cls, labels: Mapping[str, str]) -> Key:
        return cls(*(labels.get(name, "") for name in KEY_LABELS))

    def labels(self) -> dict[str, str]:
        return {n: getattr(self, n) for n in KEY_LABELS}


@dataclass(slots=True)
class PoolForecast:
    key: Key
    capacity: float
    #: kind -> observed daily peaks [(unix day, value)]
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    #: kind -> forecast of daily peaks after the last observed day
    fits: dict[str, Fit] = field(default_factory=dict)
    #: Why this pool could not be forecast, if it could not.
    error: str = ""

    def demand_forecast(self) -> list[float]:
        """Requested + pending (what the pool must hold), per forecast day."""
        requested = self.fits["requested"].values
        pending = self.fits.get("pending")
        return [r + (pending.values[i] if pending else 0.0) for i, r in enumerate(requested)]

    def demand_now(self) -> float:
        requested = self.history["requested"][-1][1]
        pending = self.history.get("pending")
        return requested + (pending[-1][1] if pending else 0.0)

    def exhaustion(self) -> float | None:
        if self.error or "requested" not in self.fits:
            return None
        last_day = self.history["requested"][-1][0]
        return exhaustion_time(last_day, self.demand_now(), self.demand_forecast(), self.capacity)


def _grouped(metric: str, resources: Iterable[str]) -> str:
    """The hourly peak per pool: max_over_time over each 1h step sees every sample (a plain
    selector sees only the last 5 minutes), and `max by` makes two exporter replicas scraped
    at once one pool, not two."""
    selector = f'{metric}{{resource=~"{"|".join(resources)}"}}'
    return f"max by ({', '.join(KEY_LABELS)}) (max_over_time({selector}[1h]))"


def read_history(
    api: PrometheusAPI, *, now: float, lookback_days: int, resources: Iterable[str]
) -> dict[Key, PoolForecast]:
    """The pools with capacity now, each with the daily peaks of its demand series."""
    resources = tuple(resources)
    start = now - lookback_days * DAY
    pools: dict[Key, PoolForecast] = {}
    for series in api.query_range(
        _grouped("unitcost_capacity_allocatable", resources), start=start, end=now, step_s=STEP_S
    ):
        if series.points:
            value = series.points[-1][1]
            if math.isfinite(value) and value > 0:
                key = Key.of(series.labels)
                pools[key] = PoolForecast(key, value)
    for kind in DEMANDS:
        for series in api.query_range(
            _grouped(f"unitcost_capacity_{kind}", resources), start=start, end=now, step_s=STEP_S
        ):
            pool = pools.get(Key.of(series.labels))
            if pool is not None:
                pool.history[kind] = daily_peaks(series.points)
    return pools


def forecast_pools(pools: Mapping[Key, PoolForecast], horizon_days: int) -> list[PoolForecast]:
    """Fit every demand series of every pool; a pool that cannot be fitted says why."""
    out = []
    for key in sorted(pools):
        pool = pools[key]
        if len(pool.history.get("requested", ())) < MIN_POINTS:
            days = len(pool.history.get("requested", ()))
            pool.error = f"{days} days of history (at least {MIN_POINTS} needed)"
        else:
            try:
                for kind, days_ in pool.history.items():
                    if len(days_) >= MIN_POINTS:  # a short used/pending series is left out
                        pool.fits[kind] = fit_daily(days_, horizon_days)
            except ForecastError as exc:
                pool.error = str(exc)
        out.append(pool)
    return out
