"""The forecast maths, free of I/O: daily peaks, Holt-Winters, exhaustion date, MAPE.

Demand is forecast on daily peaks (the highest hourly value of each UTC day): capacity runs out
at the peak, not on average. Holt-Winters (statsmodels `ExponentialSmoothing`) with an additive
trend and an additive weekly season (7 daily points) handles growth and the weekday/weekend
rhythm of batch platforms; with less than two weeks of history there is no season to learn,
so the trend alone is fitted (Holt's linear method).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

DAY = 86400.0
SEASON_DAYS = 7
#: statsmodels' heuristic initialisation needs 10 + 2 * (season // 2) points.
MIN_SEASONAL_POINTS = 10 + 2 * (SEASON_DAYS // 2)
#: Below this a trend is not worth fitting.
MIN_POINTS = 4


class ForecastError(ValueError):
    """The history cannot be forecast (too short, not finite); the message says why."""


@dataclass(frozen=True, slots=True)
class Fit:
    """A forecast of daily values: `values[i]` is day `first_day + i` (unix days)."""

    first_day: int
    values: tuple[float, ...]
    method: str  # "holt-winters" | "holt"

    def at_day(self, days_ahead: int) -> float:
        """The value `days_ahead` days after the last observed day (1 = tomorrow)."""
        return self.values[days_ahead - 1]


def daily_peaks(points: Sequence[tuple[float, float]]) -> list[tuple[int, float]]:
    """(unix time, value) samples -> (unix day, highest value that UTC day), days in order.
    Days with no sample are filled from the day before (a scrape gap is not zero demand)."""
    peaks: dict[int, float] = {}
    for t, v in points:
        if math.isfinite(v):
            day = int(t // DAY)
            peaks[day] = max(v, peaks.get(day, -math.inf))
    if not peaks:
        return []
    days = sorted(peaks)
    out: list[tuple[int, float]] = []
    for day in range(days[0], days[-1] + 1):
        out.append((day, peaks.get(day, out[-1][1] if out else 0.0)))
    return out


def holt_winters(values: Sequence[float], horizon_days: int) -> tuple[list[float], str]:
    """Forecast `horizon_days` daily values after `values` (one a day, oldest first)."""
    if horizon_days < 1:
        raise ForecastError(f"horizon must be at least one day, got {horizon_days}")
    if len(values) < MIN_POINTS:
        raise ForecastError(
            f"{len(values)} days of history; at least {MIN_POINTS} are needed "
            f"({MIN_SEASONAL_POINTS} for the weekly season)"
        )
    # Imported here: numpy and statsmodels are heavy and only the forecast needs them.
    import numpy as np
    from statsmodels.tsa.holtwinters import ExponentialSmoothing  # type: ignore[import-untyped]

    y = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(y)):
        raise ForecastError("history holds values that are not finite")
    if np.ptp(y) == 0:  # a flat line: nothing to fit (the optimiser would divide by zero)
        return [float(y[-1])] * horizon_days, "flat"
    seasonal = len(y) >= MIN_SEASONAL_POINTS
    model = ExponentialSmoothing(
        y,
        trend="add",
        seasonal="add" if seasonal else None,
        seasonal_periods=SEASON_DAYS if seasonal else None,
        initialization_method="heuristic" if seasonal else "estimated",
    )
    with warnings.catch_warnings():  # convergence chatter is not the user's business
        warnings.simplefilter("ignore")
        result = model.fit()
        forecast = result.forecast(horizon_days)
    return [max(0.0, float(v)) for v in forecast], "holt-winters" if seasonal else "holt"


def fit_daily(days: Sequence[tuple[int, float]], horizon_days: int) -> Fit:
    values, method = holt_winters([v for _, v in days], horizon_days)
    return Fit(days[-1][0] + 1, tuple(values), method)


def exhaustion_time(
    last_day: int, last_value: float, forecast: Sequence[float], capacity: float
) -> float | None:
    """Unix time at which daily-peak demand reaches `capacity`: the start of `last_day + 1`
    when the last observed day already reached it, else interpolated linearly between the
    forecast days (day d's peak is placed at noon). None if not within the forecast."""
    if capacity <= 0:
        return None
    if last_value >= capacity:
        return (last_day + 1) * DAY
    prev_t, prev_v = (last_day + 0.5) * DAY, last_value
    for i, value in enumerate(forecast):
        t = (last_day + 1 + i + 0.5) * DAY
        if value >= capacity:
            share = (capacity - prev_v) / (value - prev_v) if value != prev_v else 1.0
            return prev_t + share * (t - prev_t)
        prev_t, prev_v = t, value
    return None


def mape(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Mean absolute percentage error, in 0..inf (0.05 = 5%); zero actuals are skipped."""
    pairs = [(a, p) for a, p in zip(actual, predicted, strict=True) if a != 0]
    if not pairs:
        raise ForecastError("MAPE needs at least one non-zero actual value")
    return sum(abs(a - p) / abs(a) for a, p in pairs) / len(pairs)
