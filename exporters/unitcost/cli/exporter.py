"""The cluster exporter's commands: `unitcost serve | demo | report | validate`, and the
wiring of source, clouds, reload and OTLP into its collector, and of the simulator's vLLM
counters into an HTTP endpoint of their own."""

from __future__ import annotations

import csv
import io
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

import click
from rich.console import Console
from rich.live import Live

from unitcost.base.errors import InputError
from unitcost.cli.options import (
    duration_option,
    fail,
    otlp_options,
    otlp_settings,
    pricebook_option,
    require_extra,
    start_otlp_for,
)
from unitcost.config.file import Config, demo_config, load_config
from unitcost.config.kubernetes import with_flags
from unitcost.costmodel.policy import attribution_rules
from unitcost.metrics.family import MetricFamily
from unitcost.pricing import PriceBook
from unitcost.runtime.collected import Collected
from unitcost.runtime.collector import Collector
from unitcost.runtime.reload import Reloader
from unitcost.runtime.server import (
    Endpoint,
    ExporterServer,
    parse_listen,
    serving_until_stopped,
)
from unitcost.runtime.shared_services import SharedServiceAllocator
from unitcost.runtime.webconfig import WebConfig, load_web_config
from unitcost.sinks.exposition import render
from unitcost.sinks.network import traffic_families
from unitcost.sinks.showback import TeamRow, team_rows
from unitcost.sinks.table import showback_table
from unitcost.sources.base import Source
from unitcost.sources.promapi import PrometheusAPI
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource
from unitcost.sources.simulator.dcgm_exporter import render as render_dcgm
from unitcost.sources.simulator.dcgm_exporter import simulated_dcgm
from unitcost.sources.simulator.network import SimulatedTraffic
from unitcost.sources.simulator.shared_services import rows as simulated_rows
from unitcost.sources.simulator.shared_services import usage as simulated_usage

log = logging.getLogger("unitcost")

#: Where the simulator's vLLM token counters are served: beside /metrics, never on it, so
#: /metrics holds only unitcost_* series (docs/unit-economics.md "In the demo").
SIMULATED_VLLM_PATH = "/simulated/vllm/metrics"
#: The simulated cluster's GPUs as dcgm-exporter would serve them (docs/gpu.md).
SIMULATED_DCGM_PATH = "/simulated/dcgm-exporter/metrics"


EXPORTER_CONFIG_HELP = (
    "Config file (docs/config.md). Default: every field's default, reading the cluster found "
    "as --kubeconfig says; the simulated cluster only with `unitcost demo` or "
    "`source.kind: simulator`."
)

kubeconfig_option = click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="kubeconfig file; overrides source.kubernetes.kubeconfig. Default: in a pod, its "
    "service account; else $KUBECONFIG (files merged as kubectl merges them), else "
    "~/.kube/config.",
)
context_option = click.option(
    "--context",
    help="kubeconfig context; overrides source.kubernetes.context. Default: the kubeconfig's "
    "current context.",
)


def _build_source(config: Config) -> Source:
    if config.source.kind == "kubernetes":
        # Imported here so the simulator never loads the kubernetes client.
        from unitcost.sources.kubernetes.client import client_for, find_cluster
        from unitcost.sources.kubernetes.source import KubernetesSource

        target = find_cluster(config.source.kubernetes, config.base_dir)
        log.info("reading the cluster at %s", target.describe())
        rules = attribution_rules(config)
        return KubernetesSource(
            config.source.kubernetes, rules, config.base_dir, api=client_for(target)
        )
    sim = config.source.simulator
    cluster = SimulatedCluster(
        seed=sim.seed,
        nodes=sim.nodes,
        pods=sim.pods,
        start=time.time(),
        gpu_idle_share=sim.gpu_idle_share,
        shared_services=sim.shared_services,
    )
    holders = round(sim.pods * sim.gpu_holder_share)
    return SimulatorSource(cluster, speed=sim.speed, gpu_pools=sim.gpu_pools, gpu_holders=holders)


def shared_services(config: Config, source: Source | None = None) -> SharedServiceAllocator | None:
    """The shared-service allocator when services and a Prometheus to ask are configured; for
    the simulated cluster with `source.simulator.shared_services` and no Prometheus, the
    simulated services' usage as their usage queries would return it (made up)."""
    settings = config.shared_services
    if not settings.services:
        return None
    if not settings.prometheus_url:
        if not isinstance(source, SimulatorSource) or not source.cluster.shared_services:
            return None
        cluster = source.cluster
        by_query = {
            s.usage_query: (name, s.consumer_label) for name, s in settings.services.items()
        }

        def simulated(promql: str) -> list[tuple[Mapping[str, str], float]]:
            name, label = by_query[promql]
            usage_now = simulated_usage(cluster.iter_pods(), cluster.now)
            return list(simulated_rows(usage_now, name, label))

        return SharedServiceAllocator(settings, simulated)
    api = PrometheusAPI(settings.prometheus_url, timeout_s=10.0, retries=0)

    def query(promql: str) -> list[tuple[Mapping[str, str], float]]:
        return [(sample.labels, sample.value) for sample in api.query(promql)]

    return SharedServiceAllocator(settings, query)


def simulated_extras(
    source: Source, book: PriceBook, config: Config
) -> list[Callable[[], list[MetricFamily]]]:
    """For the simulated cluster only, when `source.simulator.network_traffic` asks: the
    network counters its node agents would serve (made up, docs/network.md); nothing for a
    real cluster, whose agents serve their own."""
    if not isinstance(source, SimulatorSource) or not config.source.simulator.network_traffic:
        return []
    traffic = source.traffic = SimulatedTraffic(book)
    return [lambda: traffic_families(traffic.bytes, traffic.dollars)]


def source_endpoints(source: Source) -> dict[str, Endpoint]:
    """The extra endpoints a source's workloads need: the simulator's vLLM counters (real
    vLLM pods serve their own) and its GPUs' dcgm-exporter series (real GPU nodes run
    dcgm-exporter); none for a real cluster."""
    if isinstance(source, SimulatorSource):
        vllm = source.vllm
        simulator = source

        def dcgm() -> bytes:
            last = simulator.last
            return render_dcgm(simulated_dcgm(last) if last is not None else []).encode()

        return {SIMULATED_VLLM_PATH: lambda: render(vllm.families()), SIMULATED_DCGM_PATH: dcgm}
    return {}


def _load_config(config_path: Path | None, kubeconfig: Path | None, context: str | None) -> Config:
    """The config file (without one: the defaults, a real cluster as the source) with
    --kubeconfig / --context laid over its `source.kubernetes` block."""
    config = load_config(config_path)
    if kubeconfig is None and context is None:
        return config
    if config.source.kind != "kubernetes":
        raise InputError(
            f"{config_path}: source.kind: {config.source.kind}: --kubeconfig and --context "
            "name a real cluster; set source.kind: kubernetes or leave the flags out"
        )
    kube = with_flags(config.source.kubernetes, kubeconfig, context)
    source = config.source.model_copy(update={"kubernetes": kube})
    return config.model_copy(update={"source": source})


def _load(
    config_path: Path | None,
    pricebooks: Sequence[Path],
    kubeconfig: Path | None = None,
    context: str | None = None,
) -> tuple[Config, PriceBook]:
    config = _load_config(config_path, kubeconfig, context)
    book = PriceBook.load([*config.pricebook_paths(), *pricebooks])
    return config, book


def _listen_address(listen: str) -> tuple[str, int]:
    try:
        return parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from exc


def _run_exporter(
    collector: Collector,
    listen: str,
    duration: float,
    on_collect: object = None,
    *,
    web: WebConfig | None = None,
    reloader: Reloader | None = None,
    endpoints: Mapping[str, Endpoint] | None = None,
) -> None:
    address = _listen_address(listen)
    collector.collect_once()  # serve real data from the first scrape
    try:
        server = ExporterServer(address, collector, web, endpoints)
    except OSError as exc:
        fail(f"cannot listen on {listen}: {exc.strerror or exc}")
    if reloader is not None:
        signal.signal(signal.SIGHUP, lambda _signum, _frame: reloader.request())
        reloader.start(collector.reconfigure)
    host, port = server.server_address[:2]
    scheme = "https" if web is not None and web.tls is not None else "http"
    try:
        with serving_until_stopped(server, duration) as stop:
            log.info(
                "serving %s://%s:%s/metrics (source %s)", scheme, host, port, collector.source.name
            )
            for path in server.endpoints:
                log.info("also serving %s://%s:%s%s", scheme, host, port, path)
            collector.run(stop, on_collect)  # type: ignore[arg-type]
    finally:
        if reloader is not None:
            reloader.stop()
        if collector.cloud is not None:
            collector.cloud.close()
        collector.source.close()
        log.info("stopped")


@click.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=EXPORTER_CONFIG_HELP)
@kubeconfig_option
@context_option
@pricebook_option
@click.option("--listen", default="0.0.0.0:9810", show_default=True, help="HOST:PORT to serve on.")
@click.option(
    "--web.config.file",
    "web_config_file",
    type=click.Path(path_type=Path),
    help="TLS and basic auth for /metrics: a Prometheus exporter-toolkit web config file "
    "(docs/operations.md).",
)
@click.option(
    "--reload-check-seconds",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="How often the config file and price books are checked for changes (0: only on "
    "SIGHUP). Needs --config.",
)
@duration_option
@otlp_options
def serve(
    config_path: Path | None,
    kubeconfig: Path | None,
    context: str | None,
    pricebooks: tuple[Path, ...],
    listen: str,
    web_config_file: Path | None,
    reload_check_seconds: float,
    duration: float,
    otlp_endpoint: str | None,
    otlp_protocol: str | None,
) -> None:
    """Serve /metrics for the configured source until SIGTERM; SIGHUP reloads the config.

    Without --config, the cluster is found as kubectl finds it (docs/kubernetes.md); the
    simulated cluster only with `unitcost demo` or `source.kind: simulator`."""
    try:
        config, book = _load(config_path, pricebooks, kubeconfig, context)
        # Missing extras exit before anything starts.
        otlp = otlp_settings(config.otlp, otlp_endpoint, otlp_protocol)
        if config.clouds.any_enabled:
            require_extra("cloud")
        web = load_web_config(web_config_file) if web_config_file else None
        source = _build_source(config)  # a bad kubeconfig is an InputError too
    except InputError as exc:
        fail(str(exc))
    reloader = None
    if config_path is not None:
        poll = reload_check_seconds if reload_check_seconds > 0 else 365 * 86400.0
        reloader = Reloader(
            config_path,
            config,
            pricebooks,
            poll_seconds=poll,
            # A reloaded file gets the same flags, so they are not taken for a source change.
            load=lambda path: _load_config(path, kubeconfig, context),
        )
    endpoints = source_endpoints(source)  # before exporter_collector may wrap the source
    collector = exporter_collector(config, book, source, reloader=reloader)
    start_otlp_for(otlp, lambda: collector.current)
    _run_exporter(collector, listen, duration, web=web, reloader=reloader, endpoints=endpoints)


@click.command()
@click.option(
    "--listen", default="127.0.0.1:9810", show_default=True, help="HOST:PORT to serve on."
)
@click.option("--seed", type=int, help="Simulator seed (default from the demo config: 42).")
@click.option("--nodes", type=click.IntRange(1, 20000), help="Simulated nodes (default 60).")
@click.option("--pods", type=click.IntRange(0, 500000), help="Simulated pods (default 1500).")
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    help="Simulated seconds per real second (default 60).",
)
@click.option(
    "--interval", type=click.FloatRange(min=0.1), help="Seconds between collects (default 5)."
)
@click.option(
    "--table/--no-table",
    default=True,
    show_default=True,
    help="Show the live showback table (only on a terminal; otherwise one line a collect).",
)
@duration_option
@otlp_options
def demo(
    listen: str,
    seed: int | None,
    nodes: int | None,
    pods: int | None,
    speed: float | None,
    interval: float | None,
    table: bool,
    duration: float,
    otlp_endpoint: str | None,
    otlp_protocol: str | None,
) -> None:
    """Run the exporter on the simulated cluster and show a live showback table."""
    config = demo_config()
    book = PriceBook.load(config.pricebook_paths())
    sim_overrides = {
        k: v
        for k, v in {"seed": seed, "nodes": nodes, "pods": pods, "speed": speed}.items()
        if v is not None
    }
    simulator = config.source.simulator.model_copy(update=sim_overrides)
    updates: dict[str, object] = {
        "source": config.source.model_copy(update={"simulator": simulator})
    }
    if interval is not None:
        updates["collect_interval_seconds"] = interval
    config = config.model_copy(update=updates)
    otlp = otlp_settings(config.otlp, otlp_endpoint, otlp_protocol)
    source = _build_source(config)
    endpoints = source_endpoints(source)
    collector = Collector(
        source,
        book,
        config,
        extra_families=simulated_extras(source, book, config),
        shared_services=shared_services(config, source),
    )
    start_otlp_for(otlp, lambda: collector.current)
    console = Console(stderr=False)
    host, port = _listen_address(listen)
    title = f"unitcost demo: http://{host}:{port}/metrics  (Ctrl-C to stop)"

    if table and console.is_terminal:
        with Live(console=console, auto_refresh=False) as live:

            def refresh(collected: Collected) -> None:
                if collected.frame is not None:
                    rows = team_rows(collected.frame, config.budgets)
                    live.update(
                        showback_table(rows, title, collected.frame.timestamp), refresh=True
                    )

            _run_exporter(collector, listen, duration, refresh, endpoints=endpoints)
    else:

        def summary(collected: Collected) -> None:
            if collected.frame is not None:
                rows = team_rows(collected.frame, config.budgets)
                total = sum(r.cost_per_hour for r in rows)
                idle = sum(r.gpu_idle_per_hour for r in rows)
                log.info(
                    "collected: %d pods, $%.2f/h, GPU idle $%.2f/h",
                    len(collected.frame.pods),
                    total,
                    idle,
                )

        click.echo(title)
        _run_exporter(collector, listen, duration, summary, endpoints=endpoints)


def _write_rows(rows: list[TeamRow], fmt: str, out: TextIO, timestamp: float) -> None:
    if fmt == "json":
        json.dump([r.as_dict() for r in rows], out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        buffer = io.StringIO()
        fields = list(rows[0].as_dict()) if rows else ["team"]
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row.as_dict())
        out.write(buffer.getvalue())
    else:
        Console(file=out, width=120).print(showback_table(rows, "unitcost report", timestamp))


@click.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=EXPORTER_CONFIG_HELP)
@kubeconfig_option
@context_option
@pricebook_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output format.",
)
def report(
    config_path: Path | None,
    kubeconfig: Path | None,
    context: str | None,
    pricebooks: tuple[Path, ...],
    fmt: str,
) -> None:
    """Read the source once and print cost per team (showback)."""
    try:
        config, book = _load(config_path, pricebooks, kubeconfig, context)
        source = _build_source(config)
    except InputError as exc:
        fail(str(exc))
    collected = Collector(source, book, config).collect_once()
    source.close()
    if collected.frame is None:
        fail(f"source {source.name} gave no data")
    _write_rows(
        team_rows(collected.frame, config.budgets), fmt, sys.stdout, collected.frame.timestamp
    )


@click.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=EXPORTER_CONFIG_HELP)
@kubeconfig_option
@context_option
@pricebook_option
def validate(
    config_path: Path | None,
    kubeconfig: Path | None,
    context: str | None,
    pricebooks: tuple[Path, ...],
) -> None:
    """Check a config and price books and say which cluster `serve` would read, without
    connecting; print what they hold, exit non-zero on any error."""
    try:
        config, book = _load(config_path, pricebooks, kubeconfig, context)
        cluster = _cluster_line(config)
    except InputError as exc:
        fail(str(exc))
    providers = {name: len(p.instance_types) for name, p in book.book.providers.items()}
    click.echo(
        f"config ok: source {config.source.kind}, "
        f"{len(config.budgets.teams)} team budgets, shared cost {config.shared_cost.strategy}"
    )
    click.echo(
        f"price book ok ({' + '.join(book.sources)}): instance types {providers}, "
        f"{len(book.book.onprem.node_classes)} on-prem node classes"
    )
    click.echo(cluster)


def _cluster_line(config: Config) -> str:
    """Which cluster the source reads, found as `serve` finds it, without connecting."""
    if config.source.kind == "simulator":
        return "cluster: the simulator (made-up costs, marked unitcost_simulated_data)"
    from unitcost.sources.kubernetes.client import find_cluster

    return f"cluster: {find_cluster(config.source.kubernetes, config.base_dir).describe()}"


def exporter_collector(
    config: Config,
    book: PriceBook,
    source: Source,
    *,
    reloader: Reloader | None = None,
    cloud_wait_seconds: float = 10.0,
) -> Collector:
    """The cluster exporter's collector, with the configured cloud parts (their pollers
    started, waiting up to `cloud_wait_seconds` for first answers so the first collect can use
    them) and the reloader's status series wired in."""
    cloud = None
    if config.clouds.any_enabled:  # boto3 and google-cloud load only when configured
        from unitcost.sources.cloud.services import with_clouds

        source, cloud = with_clouds(
            config.clouds,
            source,
            collect_interval=config.collect_interval_seconds,
            # GKE usage older than a few polls is not the usage now.
            stale_after=3 * config.clouds.gcp.monitoring.poll_interval_seconds,
        )
    extra: list[Callable[[], list[MetricFamily]]] = []
    if reloader is not None:
        extra.append(reloader.families)
    extra += simulated_extras(source, book, config)
    activity = None
    if config.gpu_activity.source == "dcgm":  # dcgm-exporter through Prometheus (docs/gpu.md)
        from unitcost.sources.dcgm import dcgm_poller

        activity = dcgm_poller(config.gpu_activity)
        activity.start()
    collector = Collector(
        source,
        book,
        config,
        cloud=cloud,
        extra_families=extra,
        shared_services=shared_services(config, source),
        gpu_activity=activity,
    )
    if cloud is not None:
        cloud.start(cloud_wait_seconds)
    return collector
