"""`unitcost forecast`: capacity demand per node pool over 30 or 90 days, as a table, a PNG,
or served as metrics (docs/forecast.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from rich.console import Console

from unitcost.cli.options import duration_option, fail, require_extra, serve_periodically
from unitcost.history.forecast.render import forecast_table, plot
from unitcost.history.forecast.service import HORIZONS, ForecastService
from unitcost.sources.promapi import PrometheusAPI, PrometheusError

log = logging.getLogger("unitcost")
DEFAULT_LISTEN = "0.0.0.0:9813"


def _horizon(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    return int(value.removesuffix("d"))


@click.command()
@click.option(
    "--prometheus",
    "prometheus_url",
    required=True,
    help="Prometheus / Thanos Query / Mimir base URL holding unitcost_capacity_* history.",
)
@click.option(
    "--horizon",
    type=click.Choice([f"{h}d" for h in HORIZONS]),
    default="30d",
    show_default=True,
    callback=_horizon,
    help="How far ahead the table and plot look.",
)
@click.option(
    "--lookback-days",
    type=click.IntRange(4, 730),
    default=56,
    show_default=True,
    help="Days of history to fit (two weeks or more to learn the weekly season).",
)
@click.option(
    "--resource",
    "resources",
    multiple=True,
    type=click.Choice(["cpu", "memory", "gpu"]),
    help="Resources to forecast (repeatable; default cpu and gpu).",
)
@click.option(
    "--plot", "plot_path", type=click.Path(path_type=Path), help="Also write a PNG chart here."
)
@click.option(
    "--serve", "listen", help="Forecast every --interval and serve /metrics on HOST:PORT."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Seconds between forecasts with --serve.",
)
@duration_option
def forecast(
    prometheus_url: str,
    horizon: int,
    lookback_days: int,
    resources: tuple[str, ...],
    plot_path: Path | None,
    listen: str | None,
    interval: float,
    duration: float,
) -> None:
    """Forecast requested, used and queued demand per provider, node pool and GPU model, and
    the date each pool's capacity runs out (Holt-Winters on daily peaks)."""
    require_extra("forecast", "statsmodels", *(("matplotlib",) if plot_path else ()))
    try:
        api = PrometheusAPI(prometheus_url)
    except PrometheusError as exc:
        fail(str(exc))
    service = ForecastService(
        api, lookback_days=lookback_days, resources=resources or ("cpu", "gpu")
    )
    if listen is not None:
        serve_periodically(
            service,
            listen,
            interval=interval,
            duration=duration,
            param_hint="--serve",
            on_stop=service.api.close,
        )
        return
    try:
        pools = service.forecast()
    except PrometheusError as exc:
        fail(str(exc))
    finally:
        api.close()
    if not pools:
        fail(f"{prometheus_url} has no unitcost_capacity_allocatable series (is unitcost scraped?)")
    title = f"unitcost capacity forecast: {horizon} days, from {lookback_days} days of history"
    Console(width=160).print(forecast_table(pools, horizon, title))
    if plot_path is not None:
        try:
            panels = plot(pools, horizon, plot_path)
        except (OSError, ValueError) as exc:
            fail(f"cannot write plot {plot_path}: {exc}")
        click.echo(f"wrote {plot_path} ({panels} pools)")
