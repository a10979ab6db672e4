"""`unitcost gpu-agent`: the per-node GPU exporter (a DaemonSet on GPU nodes), port 9811."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from unitcost.base.errors import InputError
from unitcost.cli.options import duration_option, fail, pricebook_option, require_extra
from unitcost.config.file import Config, load_config
from unitcost.costmodel.gpu_idle import IdleTracker
from unitcost.costmodel.network import Topology
from unitcost.data.model import CapacityType, Provider
from unitcost.data.network import Place
from unitcost.pricing import PriceBook
from unitcost.pricing.gpu import GpuPricer, host_node
from unitcost.pricing.network import NetworkPricer
from unitcost.runtime.gpu_agent import GpuAgent
from unitcost.runtime.network import NetworkCollector
from unitcost.runtime.server import ExporterServer, parse_listen, serving_until_stopped
from unitcost.sources.gpu.nvml import NvmlReader, NvmlUnavailable
from unitcost.sources.gpu.pods import PodDirectory, PodsUnavailable, in_cluster_pods_url
from unitcost.sources.network import cloud_ranges
from unitcost.sources.network.conntrack import (
    ConntrackUnavailable,
    NetlinkConntrack,
    ProcConntrack,
)
from unitcost.sources.network.topology import (
    NodeInfo,
    build_topology,
    parse_node_list,
    pods_by_ip,
)

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
    gpu: bool = True
    network: bool = False
    conntrack: str = "netlink"  # or "proc"
    conntrack_netns: str | None = None
    conntrack_proc_path: Path = Path("/proc/net/nf_conntrack")
    region: str | None = None
    zone: str | None = None


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
    reader = NvmlReader(nvml, timeout=options.nvml_timeout) if options.gpu else None
    count = reader.start() if reader is not None else 0
    network = None
    try:
        node = None
        if options.instance_type and reader is not None:
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
        if options.network:
            network = build_network(options, config, book, pods)
    except Exception:
        if reader is not None:
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
        network=network,
        idle_dollars=_idle_dollars(config),
    )


def _idle_dollars(config: Config) -> bool:
    """Whether this agent writes idle GPU dollars: only when it is the config's producer."""
    producer = config.gpu_idle_producer
    if producer != "agent":
        log.info("gpu_idle.producer is %s: the agent writes no idle GPU dollars", producer)
    return producer == "agent"


NODES_REFRESH_SECONDS = 300.0


def build_network(
    options: AgentOptions, config: Config, book: PriceBook, pods: PodDirectory | None
) -> NetworkCollector:
    """The network collector: conntrack reader, this node's place, prices (docs/network.md)."""
    cloud = cloud_ranges.load(
        [config.base_dir / path for path in config.network.cloud_ranges],
        use_bundled=config.network.bundled_cloud_ranges,
    )
    for snapshot in cloud.snapshots:
        log.info(
            "cloud ranges: %s, %d prefixes, created %s, from %s",
            snapshot.provider,
            snapshot.prefixes,
            snapshot.created,
            snapshot.source,
        )
    ranges = cloud.ranges
    nodes_url = None
    if pods is not None and "/api/v1/pods" in pods.url:
        nodes_url = pods.url.split("/api/v1/pods")[0] + "/api/v1/nodes"
    nodes: list[NodeInfo] = []
    fetched = [0.0]

    def refresh_nodes() -> None:
        nonlocal nodes
        now = time.monotonic()
        if pods is None or nodes_url is None or now - fetched[0] < NODES_REFRESH_SECONDS:
            return
        try:
            nodes = parse_node_list(pods.fetch(nodes_url), f"GET {nodes_url}")
            fetched[0] = now
        except (PodsUnavailable, InputError) as exc:
            log.error("node list: %s (keeping the last good list)", exc)

    refresh_nodes()
    me = next((n for n in nodes if n.name == options.node), None)
    here = me.place if me is not None else Place(options.provider or "onprem", "", "", options.node)
    if options.provider or options.region or options.zone:
        here = Place(
            options.provider or here.provider,
            options.region if options.region is not None else here.region,
            options.zone if options.zone is not None else here.zone,
            options.node,
        )

    def topology() -> Topology:
        refresh_nodes()
        by_ip = pods_by_ip(pods.items) if pods is not None else {}
        return build_topology(options.node, nodes, by_ip, config.network, ranges, here)

    reader: NetlinkConntrack | ProcConntrack
    if options.conntrack == "proc":
        reader = ProcConntrack(options.conntrack_proc_path)
    else:
        reader = NetlinkConntrack(netns=options.conntrack_netns)
    accounting: Callable[[], bool | None] | None = None
    if options.conntrack_netns is not None:
        accounting = lambda: None  # noqa: E731 (the sysctl of another namespace is not ours to read)
    return NetworkCollector(
        reader,
        NetworkPricer(book, here.provider),
        options.node,
        topology,
        retain_seconds=config.network.retain_seconds,
        **({"accounting": accounting} if accounting is not None else {}),
    )


def run_agent(options: AgentOptions, nvml: Any = None) -> None:
    try:
        address = parse_listen(options.listen)
    except ValueError as exc:
        _fail(str(exc))
        return
    try:
        agent = build_agent(options, nvml)
    except (InputError, NvmlUnavailable, ConntrackUnavailable) as exc:
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
@click.option(
    "--collector.gpu/--no-collector.gpu",
    "collector_gpu",
    default=True,
    show_default=True,
    help="The GPU collector (NVML). Off on nodes without GPUs.",
)
@click.option(
    "--collector.network/--no-collector.network",
    "collector_network",
    default=False,
    show_default=True,
    help="The network collector: conntrack bytes per pod and destination class, priced "
    "(docs/network.md; needs hostNetwork and NET_ADMIN).",
)
@click.option(
    "--conntrack",
    type=click.Choice(["netlink", "proc"]),
    default="netlink",
    show_default=True,
    help="How the network collector reads conntrack: a netlink dump, or /proc/net/nf_conntrack.",
)
@click.option(
    "--conntrack-netns",
    help="Read the conntrack table of this named network namespace (/run/netns/NAME) "
    "instead of the agent's own (tests, nested setups).",
)
@click.option(
    "--region",
    envvar="UNITCOST_REGION",
    help="This node's region, when the node list cannot say (network classes).",
)
@click.option(
    "--zone",
    envvar="UNITCOST_ZONE",
    help="This node's zone, when the node list cannot say (network classes).",
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
    collector_gpu: bool,
    collector_network: bool,
    conntrack: str,
    conntrack_netns: str | None,
    region: str | None,
    zone: str | None,
    duration: float,
) -> None:
    """Per-node agent: GPU collector (NVML telemetry, pod mapping, MIG, idle GPU dollars) and
    network collector (conntrack traffic per pod and destination class, priced)."""
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
            gpu=collector_gpu,
            network=collector_network,
            conntrack=conntrack,
            conntrack_netns=conntrack_netns,
            region=region,
            zone=zone,
        )
    )
