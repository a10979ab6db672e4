"""`unitcost gpu-agent`: the per-node GPU exporter (a DaemonSet on GPU nodes), port 9811."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from unitcost.base.errors import InputError
from unitcost.cli.options import duration_option, fail, pricebook_option, require_extra
from unitcost.config.file import load_config
from unitcost.costmodel.gpu_idle import IdleTracker
from unitcost.data.model import CapacityType, Provider
from unitcost.pricing import PriceBook
from unitcost.pricing.gpu import GpuPricer, host_node
from unitcost.runtime.gpu_agent import GpuAgent
from unitcost.runtime.server import ExporterServer, parse_listen, serving_until_stopped
from unitcost.sources.gpu.nvml import NvmlReader, NvmlUnavailable
from unitcost.sources.gpu.pods import PodDirectory, in_cluster_pods_url

log = logging.getLogger("unitcost.gpu_agent")
DEFAULT_LISTEN = "0.0.0.0:9811"


@dataclass(frozen=True, slots=True)
class AgentOptions:
    node: str
    listen: str = DEFAULT_LISTEN
    config_path: Path | None = None
    pricebooks: tuple[Path, ...] = ()
    idle_threshold: float | None = None
    idle_window: float | None = None
    interval: float = 15.0
    pods_url: str | None = None  # None: in-cluster API server if any; "none": no pod list
    kubelet_insecure: bool = False
    proc_root: Path = Path("/proc")
    provider: str | None = None
    instance_type: str | None = None
    capacity_type: str = CapacityType.ON_DEMAND.value
    nvml_timeout: float = 5.0
    duration: float = 0.0


def _fail(message: str) -> None:
    fail(message, prog="unitcost gpu-agent")


def build_agent(options: AgentOptions, nvml: Any = None) -> GpuAgent:
    """Everything but serving. Raises InputError / NvmlUnavailable with a message to show."""
    config = load_config(options.config_path)
    book = PriceBook.load([*config.pricebook_paths(), *options.pricebooks])
    tracker = IdleTracker(
        options.idle_threshold
        if options.idle_threshold is not None
        else config.gpu_idle.threshold_ratio,
        options.idle_window if options.idle_window is not None else config.gpu_idle.window_seconds,
    )
    reader = NvmlReader(nvml, timeout=options.nvml_timeout)
    count = reader.start()
    try:
        node = None
        if options.instance_type:
            if options.provider is None:
                raise InputError("--instance-type needs --provider (onprem, aws or gcp)")
            first = reader.read()
            model = next((r.model for r in first if r.model), "")
            node = host_node(
                options.node,
                Provider(options.provider),
                options.instance_type,
                CapacityType(options.capacity_type),
                count,
                model,
            )
        url = options.pods_url or in_cluster_pods_url(options.node)
        pods = None
        if url and url != "none":
            pods = PodDirectory.in_cluster(url, insecure=options.kubelet_insecure)
        elif url is None:
            log.warning("no pod list (not in a cluster, no --pods-url): pods are named by UID")
    except Exception:
        reader.close()
        raise
    return GpuAgent(
        reader,
        GpuPricer(book, node),
        options.node,
        pods=pods,
        proc_root=options.proc_root,
        tracker=tracker,
        interval=options.interval,
    )


def run_agent(options: AgentOptions, nvml: Any = None) -> None:
    try:
        address = parse_listen(options.listen)
    except ValueError as exc:
        _fail(str(exc))
        return
    try:
        agent = build_agent(options, nvml)
    except (InputError, NvmlUnavailable) as exc:
        _fail(str(exc))
        return
    try:
        agent.collect_once()  # real data from the first scrape
        try:
            server = ExporterServer(address, agent)
        except OSError as exc:
            _fail(f"cannot listen on {options.listen}: {exc.strerror or exc}")
            return
        host, port = server.server_address[:2]
        with serving_until_stopped(server, options.duration) as stop:
            log.info("GPU agent for node %s on http://%s:%s/metrics", options.node, host, port)
            agent.run(stop)
    finally:
        agent.close()


@click.command("gpu-agent")
@click.option(
    "--node-name",
    envvar="NODE_NAME",
    required=True,
    help="This node's name (env NODE_NAME, from the downward API spec.nodeName).",
)
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, help="HOST:PORT to serve on.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Config file: gpu_idle threshold/window and price books (docs/config.md).",
)
@pricebook_option
@click.option(
    "--idle-threshold",
    type=click.FloatRange(0, 1),
    help="Activity below this ratio counts as idle (default: config gpu_idle, 0.01).",
)
@click.option(
    "--idle-window",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds below the threshold before a GPU is idle (default: config, 1800).",
)
@click.option(
    "--interval",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between NVML reads.",
)
@click.option(
    "--pods-url",
    envvar="UNITCOST_PODS_URL",
    help="PodList URL to resolve pod UIDs: the kubelet (https://$NODE_IP:10250/pods) or the "
    "API server. Default: the API server when in a cluster. 'none': no lookups.",
)
@click.option(
    "--kubelet-insecure",
    is_flag=True,
    help="Do not verify the kubelet's serving certificate (it is often self-signed).",
)
@click.option(
    "--proc-root",
    default="/proc",
    show_default=True,
    envvar="UNITCOST_PROC_ROOT",
    type=click.Path(path_type=Path, file_okay=False),
    help="The host's /proc (hostPID: /proc; otherwise mount it, e.g. /host/proc).",
)
@click.option(
    "--provider",
    type=click.Choice([p.value for p in Provider]),
    envvar="UNITCOST_PROVIDER",
    help="With --instance-type: price GPUs at the node's price (as the cluster exporter does).",
)
@click.option(
    "--instance-type",
    envvar="UNITCOST_INSTANCE_TYPE",
    help="Instance type or on-prem node class (default: price per GPU model).",
)
@click.option(
    "--capacity-type",
    type=click.Choice([c.value for c in CapacityType]),
    default=CapacityType.ON_DEMAND.value,
    show_default=True,
    help="With --instance-type: how the node is bought (spot and committed are discounted).",
)
@click.option(
    "--nvml-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Seconds an NVML read may take before the GPU is reported down.",
)
@duration_option
def gpu_agent(
    node_name: str,
    listen: str,
    config_path: Path | None,
    pricebooks: tuple[Path, ...],
    idle_threshold: float | None,
    idle_window: float | None,
    interval: float,
    pods_url: str | None,
    kubelet_insecure: bool,
    proc_root: Path,
    provider: str | None,
    instance_type: str | None,
    capacity_type: str,
    nvml_timeout: float,
    duration: float,
) -> None:
    """Per-node GPU exporter: NVML telemetry, pod mapping, MIG, idle GPU dollars."""
    if not node_name.strip():
        raise click.BadParameter("must not be empty", param_hint="--node-name / NODE_NAME")
    require_extra("gpu")
    run_agent(
        AgentOptions(
            node=node_name,
            listen=listen,
            config_path=config_path,
            pricebooks=pricebooks,
            idle_threshold=idle_threshold,
            idle_window=idle_window,
            interval=interval,
            pods_url=pods_url,
            kubelet_insecure=kubelet_insecure,
            proc_root=proc_root,
            provider=provider,
            instance_type=instance_type,
            capacity_type=capacity_type,
            nvml_timeout=nvml_timeout,
            duration=duration,
        )
    )
