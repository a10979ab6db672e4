"""`unitcost recommend`: list recommendations from Prometheus history, or serve them."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click
from rich.console import Console
from rich.table import Table

from unitcost.base.errors import InputError
from unitcost.cli.options import CONFIG_HELP, duration_option, fail, serve_periodically
from unitcost.config.file import Config, load_config
from unitcost.config.recommend import RecommendSettings, parse_duration
from unitcost.history.recommend.maths import Recommendation
from unitcost.history.recommend.service import RecommendService
from unitcost.sources.promapi import PrometheusAPI, PrometheusError

log = logging.getLogger("unitcost")
DEFAULT_LISTEN = "0.0.0.0:9812"


def _window(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


prometheus_option = click.option(
    "--prometheus",
    "prometheus_url",
    help="Prometheus / Thanos Query / Mimir base URL (default: recommend.prometheus_url).",
)
window_option = click.option(
    "--window",
    callback=_window,
    help="History to judge right-sizing and idle quota by, e.g. 7d, 36h "
    "(default: recommend.window_seconds, 7d).",
)


def load_settings(
    config_path: Path | None, prometheus_url: str | None, window: float | None
) -> tuple[Config, RecommendSettings, PrometheusAPI]:
    """The config, its recommend: block with the flags applied, and a client. InputError or
    PrometheusError name what is wrong."""
    config = load_config(config_path)
    settings = config.recommend
    url = prometheus_url or settings.prometheus_url
    if not url:
        raise InputError("no Prometheus URL: pass --prometheus URL or set recommend.prometheus_url")
    updates: dict[str, Any] = {"prometheus_url": url}
    if window is not None:
        updates["window_seconds"] = window
    settings = settings.model_copy(update=updates)
    return config, settings, PrometheusAPI(url)


@click.command()
@prometheus_option
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=CONFIG_HELP)
@window_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format (without --serve).",
)
@click.option(
    "--serve", is_flag=True, help="Recompute every recommend.interval_seconds and serve /metrics."
)
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, help="HOST:PORT (--serve).")
@duration_option
def recommend(
    prometheus_url: str | None,
    config_path: Path | None,
    window: float | None,
    fmt: str,
    serve: bool,
    listen: str,
    duration: float,
) -> None:
    """Right-sizing, idle GPUs, abandoned workloads and idle queue quota, with dollar savings
    per month, from Prometheus history (docs/recommendations.md)."""
    try:
        _config, settings, api = load_settings(config_path, prometheus_url, window)
    except (InputError, PrometheusError) as exc:
        fail(str(exc))
    service = RecommendService(api, settings)
    if serve:
        serve_service(service, listen, duration, settings.interval_seconds)
        return
    collected = service.run_once()
    if not collected.stats.sources[0].up:
        fail(f"could not read {api.base_url} (see the log above)")
    write_recommendations(service.recommendations, fmt, sys.stdout)


def serve_service(
    service: RecommendService,
    listen: str,
    duration: float,
    interval: float,
    on_stop: Callable[[], None] | None = None,
) -> None:
    """Run `service` every `interval` seconds, serving its latest exposition, until SIGTERM."""

    def close() -> None:
        service.api.close()
        if on_stop:
            on_stop()

    serve_periodically(
        service,
        listen,
        interval=interval,
        duration=duration,
        param_hint="--listen",
        on_stop=close,
    )


def as_dict(r: Recommendation) -> dict[str, Any]:
    return {
        "kind": r.kind,
        "cluster": r.cluster,
        "namespace": r.workload.namespace,
        "workload_kind": r.workload.kind,
        "workload": r.workload.name,
        "resource": r.resource,
        "flavor": r.flavor,
        "current": r.current,
        "recommended": r.recommended,
        "unit": r.unit,
        "savings_dollars_per_month": round(r.savings_dollars_per_month, 2),
        "idle_seconds": r.idle_seconds,
        "pods": list(r.pods),
        "reason": r.reason,
    }


def _amount(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value / 2**20:,.0f}Mi"
    if unit == "cores":
        return f"{value * 1000:,.0f}m"
    if unit == "ratio":
        return f"{value:.0%}"
    return f"{value:g} {unit}"


def write_recommendations(recs: list[Recommendation], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump([as_dict(r) for r in recs], out, indent=2)
        out.write("\n")
        return
    total = sum(r.savings_dollars_per_month for r in recs)
    table = Table(title=f"unitcost recommendations: ${total:,.2f}/month in total")
    # A `cluster` column first when the history names clusters (a fleet's global tier).
    with_cluster = any(r.cluster for r in recs)
    if with_cluster:
        table.add_column("cluster", justify="left")
    for name, justify in (
        ("kind", "left"),
        ("namespace", "left"),
        ("workload", "left"),
        ("resource", "left"),
        ("current", "right"),
        ("recommended", "right"),
        ("$/month", "right"),
        ("why", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in recs:
        w = r.workload
        table.add_row(
            *([r.cluster] if with_cluster else []),
            r.kind,
            w.namespace or "-",
            f"{w.kind}/{w.name}",
            f"{r.resource}{'@' + r.flavor if r.flavor else ''}",
            _amount(r.current, r.unit),
            _amount(r.recommended, r.unit),
            f"{r.savings_dollars_per_month:,.2f}",
            r.reason,
        )
    Console(file=out, width=160).print(table)
