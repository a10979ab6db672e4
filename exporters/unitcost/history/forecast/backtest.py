"""Backtest the forecast on simulated history with a known trend and weekly season.

`python -m unitcost.history.forecast.backtest` prints the MAPE per horizon and the exhaustion-date
error over many seeded series; docs/forecast.md reports its output.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

from unitcost.history.forecast.model import DAY, exhaustion_time, fit_daily, mape


@dataclass(frozen=True, slots=True)
class Scenario:
    """Daily peak demand = base + slope x day + season x sin(2 pi day / 7) + N(0, noise)."""

    base: float
    slope: float
    season: float
    noise: float

    def truth(self, day: float) -> float:
        return self.base + self.slope * day + self.season * math.sin(2 * math.pi * day / 7)


def run(seeds: int = 50, history_days: int = 56) -> dict[str, float]:
    errors: dict[str, list[float]] = {"mape_30d": [], "mape_90d": [], "exhaustion_days": []}
    for seed in range(seeds):
        rng = random.Random(seed)
        s = Scenario(
            base=rng.uniform(20, 60),
            slope=rng.uniform(0.1, 1.0),
            season=rng.uniform(2, 8),
            noise=rng.uniform(0.5, 2.0),
        )
        days = [(d, s.truth(d) + rng.gauss(0, s.noise)) for d in range(history_days)]
        fit = fit_daily(days, 90)
        for horizon in (30, 90):
            actual = [s.truth(d) for d in range(history_days, history_days + horizon)]
            errors[f"mape_{horizon}d"].append(mape(actual, fit.values[:horizon]))
        # Capacity that the truth reaches 30-60 days out.
        capacity = s.truth(history_days + rng.uniform(30, 60))
        true_day = next(d for d in range(history_days, 400) if s.truth(d) >= capacity)
        when = exhaustion_time(days[-1][0], days[-1][1], fit.values, capacity)
        if when is not None:
            errors["exhaustion_days"].append(abs(when / DAY - true_day))
        else:
            errors["exhaustion_days"].append(math.inf)
    out = {}
    for name, values in errors.items():
        finite = [v for v in values if math.isfinite(v)]
        out[f"{name}_median"] = statistics.median(finite)
        out[f"{name}_p90"] = statistics.quantiles(finite, n=10)[-1]
    out["exhaustion_missed"] = float(sum(1 for v in errors["exhaustion_days"] if math.isinf(v)))
    return out


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value:.4f}")
