"""`unitcost controller`: recommendations plus the opt-in actions policy, served as metrics."""

from __future__ import annotations

from pathlib import Path

import click

from unitcost.base.errors import InputError
from unitcost.cli.options import CONFIG_HELP, duration_option, fail
from unitcost.cli.recommend import (
    load_settings,
    prometheus_option,
    serve_service,
    window_option,
)
from unitcost.history.actions.audit import AuditLog
from unitcost.history.actions.controller import Controller
from unitcost.history.actions.kube import Kube
from unitcost.history.actions.metrics import action_families
from unitcost.history.recommend.maths import Recommendation
from unitcost.history.recommend.service import RecommendService
from unitcost.metrics.family import MetricFamily
from unitcost.sources.kubernetes.client import api_client
from unitcost.sources.promapi import PrometheusError


@click.command()
@prometheus_option
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=CONFIG_HELP)
@window_option
@click.option("--listen", default="0.0.0.0:9813", show_default=True, help="HOST:PORT to serve on.")
@click.option("--once", is_flag=True, help="One pass (recommend, act, audit), then exit.")
@duration_option
def controller(
    prometheus_url: str | None,
    config_path: Path | None,
    window: float | None,
    listen: str,
    once: bool,
    duration: float,
) -> None:
    """Act on recommendations by the config's `actions:` policy: annotate or label workloads,
    deactivate idle Kueue Workloads, scale idle Deployments to zero. Only in namespaces that
    opt in by label, dry-run unless actions.dry_run is false, rate-limited, every decision
    audited (docs/recommendations.md)."""
    try:
        config, settings, api = load_settings(config_path, prometheus_url, window)
        actions = config.actions
        kube = Kube(api_client(config.source.kubernetes, config.base_dir), actions.kueue_version)
        audit = AuditLog(actions.audit_log, config.base_dir)
    except (InputError, PrometheusError) as exc:
        fail(str(exc))
    policy = Controller(kube, actions, audit)

    def act(recs: list[Recommendation], fresh: bool) -> list[MetricFamily]:
        if fresh:  # never act on stale recommendations
            policy.apply(recs)
        return action_families(audit.counts.items())

    service = RecommendService(api, settings, after=act)
    try:
        if once:
            collected = service.run_once()
            if not collected.stats.sources[0].up:
                fail(f"could not read {api.base_url}: no actions taken")
            return
        serve_service(service, listen, duration, settings.interval_seconds)
    finally:
        audit.close()
