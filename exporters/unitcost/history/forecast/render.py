"""What a forecast looks like: a rich table, a PNG (matplotlib, Agg) and metric families."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from unitcost.history.forecast.history import PoolForecast
from unitcost.history.forecast.model import DAY
from unitcost.metrics.catalogue import (
    CAPACITY_EXHAUSTION,
    FORECAST_PENDING,
    FORECAST_REQUESTED,
    FORECAST_TIMESTAMP,
    FORECAST_USED,
)
from unitcost.metrics.family import MetricFamily

GIB = 2.0**30


def _amount(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value / GIB:,.0f} GiB"
    return f"{value:,.1f}" if unit == "cores" else f"{value:,.0f}"


def _date(t: float | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d")


def forecast_table(pools: Sequence[PoolForecast], horizon_days: int, title: str) -> Table:
    """One row per pool; a `cluster` column first when the history names clusters (a
    forecaster reading a fleet's global tier, where pool names repeat across clusters)."""
    table = Table(title=title)
    with_cluster = any(p.key.cluster for p in pools)
    if with_cluster:
        table.add_column("cluster", justify="left")
    for name, justify in (
        ("provider", "left"),
        ("node pool", "left"),
        ("GPU model", "left"),
        ("resource", "left"),
        ("capacity", "right"),
        ("demand now", "right"),
        (f"demand in {horizon_days}d", "right"),
        (f"used in {horizon_days}d", "right"),
        ("runs out", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for pool in pools:
        k = pool.key
        cells = [*([k.cluster] if with_cluster else []), k.provider, k.node_pool]
        cells += [k.gpu_model or "-", k.resource]
        if pool.error:
            table.add_row(*cells, _amount(pool.capacity, k.unit), "-", "-", "-", pool.error)
            continue
        used = pool.fits.get("used")
        exhaustion = pool.exhaustion()
        table.add_row(
            *cells,
            _amount(pool.capacity, k.unit),
            _amount(pool.demand_now(), k.unit),
            _amount(pool.demand_forecast()[horizon_days - 1], k.unit),
            _amount(used.at_day(horizon_days), k.unit) if used else "-",
            _date(exhaustion) if exhaustion is not None else f"not in {horizon_days}d",
        )
    return table


def plot(pools: Sequence[PoolForecast], horizon_days: int, path: Path) -> int:
    """One panel per forecast pool: history, forecast and capacity. Returns the panel count."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt

    shown = [p for p in pools if not p.error]
    if not shown:
        raise ValueError("no pool has enough history to plot")
    fig, axes = plt.subplots(
        len(shown), 1, figsize=(10, 2.8 * len(shown)), squeeze=False, sharex=True
    )
    for ax, pool in zip(axes[:, 0], shown, strict=True):
        k = pool.key
        scale = GIB if k.unit == "bytes" else 1.0
        unit = "GiB" if k.unit == "bytes" else k.unit

        def days(first: int, n: int) -> list[dt.datetime]:
            return [dt.datetime.fromtimestamp((first + i) * DAY, tz=dt.UTC) for i in range(n)]

        for kind, style in (("requested", "-"), ("used", ":"), ("pending", "--")):
            hist = pool.history.get(kind)
            fit = pool.fits.get(kind)
            if not hist or fit is None:
                continue
            line = ax.plot(
                days(hist[0][0], len(hist)),
                [v / scale for _, v in hist],
                style,
                label=f"{kind} (daily peak)",
            )[0]
            ax.plot(
                days(fit.first_day, horizon_days),
                [v / scale for v in fit.values[:horizon_days]],
                style,
                color=line.get_color(),
                alpha=0.5,
            )
        ax.axhline(pool.capacity / scale, color="black", linewidth=1, label="capacity")
        exhaustion = pool.exhaustion()
        if exhaustion is not None:
            ax.axvline(dt.datetime.fromtimestamp(exhaustion, tz=dt.UTC), color="red", alpha=0.6)
        ax.set_title(
            f"{k.provider} {k.node_pool} {k.gpu_model} {k.resource}: runs out "
            f"{_date(exhaustion) if exhaustion else f'not in {horizon_days}d'}",
            fontsize=9,
        )
        ax.set_ylabel(unit)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return len(shown)


def forecast_families(
    pools: Sequence[PoolForecast], horizons: Sequence[int], generated_at: float
) -> list[MetricFamily]:
    """Forecast values at each horizon, and the exhaustion time (within the longest one).
    `cluster` is written only when the history had one (a forecaster reading a fleet-wide
    Thanos/Mimir); scrape it with honor_labels then."""
    with_cluster = any(p.key.cluster for p in pools)
    extra = ("cluster",) if with_cluster else ()
    families = {
        "requested": FORECAST_REQUESTED.family(extra),
        "used": FORECAST_USED.family(extra),
        "pending": FORECAST_PENDING.family(extra),
    }
    exhaustion = CAPACITY_EXHAUSTION.family(extra)
    last = FORECAST_TIMESTAMP.family()
    last.add((), generated_at)
    for pool in pools:
        if pool.error:
            continue
        k = pool.key
        pool_labels = (k.provider, k.node_pool, k.gpu_model, k.resource, k.unit)
        cluster = (k.cluster,) if with_cluster else ()
        for kind, fit in pool.fits.items():
            for h in horizons:
                families[kind].add((*pool_labels, f"{h}d", *cluster), fit.at_day(h))
        when = pool.exhaustion()
        if when is not None:
            exhaustion.add((*pool_labels, *cluster), when)
    return [*families.values(), exhaustion, last]
