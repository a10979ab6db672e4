"""The forecast maths on synthetic demand with a known trend and weekly season: backtest
error (MAPE), exhaustion date within a stated error, and the edge cases."""

from __future__ import annotations

import math
import random

import pytest

from unitcost.history.forecast.model import (
    DAY,
    ForecastError,
    daily_peaks,
    exhaustion_time,
    fit_daily,
    holt_winters,
    mape,
)

#: Exhaustion dates must be this close to the truth on the synthetic case (docs/forecast.md).
EXHAUSTION_ERROR_DAYS = 3.0


def demand(day: float, *, base: float = 40.0, slope: float = 0.5, season: float = 6.0) -> float:
    """Known truth: linear growth plus a weekly rhythm (weekends quieter)."""
    return base + slope * day + season * math.sin(2 * math.pi * day / 7)


def noisy(days: range, sigma: float, seed: int = 1, **kw: float) -> list[float]:
    rng = random.Random(seed)
    return [demand(d, **kw) + rng.gauss(0, sigma) for d in days]


@pytest.mark.parametrize(("horizon", "limit"), [(30, 0.05), (90, 0.08)])
def test_backtest_mape_on_trend_and_weekly_season(horizon: int, limit: float) -> None:
    history = noisy(range(56), sigma=1.0)
    forecast, method = holt_winters(history, horizon)
    actual = [demand(d) for d in range(56, 56 + horizon)]
    assert method == "holt-winters"
    assert mape(actual, forecast) < limit


def test_the_season_matters() -> None:
    """Holt's trend alone (too little history for a season) errs more than Holt-Winters."""
    history = noisy(range(56), sigma=1.0)
    actual = [demand(d) for d in range(56, 86)]
    seasonal, _ = holt_winters(history, 30)
    trend_only, method = holt_winters(history[-12:], 30)
    assert method == "holt"
    assert mape(actual, seasonal) < mape(actual, trend_only)


def test_exhaustion_date_within_stated_error() -> None:
    capacity = 80.0
    history = [(d, v) for d, v in zip(range(20_000, 20_056), noisy(range(56), 1.0), strict=True)]
    fit = fit_daily(history, 90)
    when = exhaustion_time(history[-1][0], history[-1][1], fit.values, capacity)
    assert when is not None
    # The truth: the first day whose true peak reaches capacity (days counted from 20_000).
    true_day = next(d for d in range(56, 200) if demand(d) >= capacity)
    predicted_day = when / DAY - 20_000
    assert abs(predicted_day - true_day) <= EXHAUSTION_ERROR_DAYS, (predicted_day, true_day)


def test_exhaustion_edges() -> None:
    assert exhaustion_time(10, 5.0, [6.0, 7.0], capacity=0.0) is None
    assert exhaustion_time(10, 9.0, [6.0, 7.0], capacity=8.0) == 11 * DAY  # already out
    assert exhaustion_time(10, 5.0, [6.0, 7.0], capacity=100.0) is None  # not in horizon
    # Halfway between day 11's peak (6, at noon) and day 12's (8, at noon): midnight.
    assert exhaustion_time(10, 5.0, [6.0, 8.0], capacity=7.0) == pytest.approx(12 * DAY)


def test_daily_peaks_fill_gaps_from_the_day_before() -> None:
    points = [(0.0, 1.0), (3600.0, 3.0), (2 * DAY + 10, 2.0), (2 * DAY + 20, float("nan"))]
    assert daily_peaks(points) == [(0, 3.0), (1, 3.0), (2, 2.0)]
    assert daily_peaks([]) == []


def test_flat_and_short_histories() -> None:
    assert holt_winters([4.0] * 20, 3) == ([4.0, 4.0, 4.0], "flat")
    with pytest.raises(ForecastError, match="3 days of history; at least 4"):
        holt_winters([1.0, 2.0, 3.0], 30)
    with pytest.raises(ForecastError, match="horizon"):
        holt_winters([1.0, 2.0, 3.0, 4.0], 0)
    with pytest.raises(ForecastError, match="not finite"):
        holt_winters([1.0, 2.0, float("inf"), 4.0], 3)
    with pytest.raises(ForecastError, match="non-zero"):
        mape([0.0], [1.0])
