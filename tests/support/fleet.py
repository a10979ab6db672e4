"""A fleet of simulated clusters in one view, on real software (docs/fleet.md).

Each cluster is `unitcost serve` on the simulator (its own seed and provider mix) scraped by
its own Prometheus 3.5 in agent mode with `external_labels: {cluster: NAME}`, remote-writing
to two global tiers at once:

- tier A: Prometheus 3.5 with its remote-write receiver on, evaluating the rules and alerts
  (the PromQL engine Thanos Ruler and Mimir's ruler embed);
- tier B: VictoriaMetrics single-node, with vmalert evaluating the same rule files and
  writing records and ALERTS back into it.

Beside each agent, a plain Prometheus 3.5 scrapes the same exporter with the rules loaded:
the cluster's own view, as a single-cluster install has it, to compare the global tiers
against. Exporters collect once and then hold their figures (a long collect interval), so
every store sees the same values and totals can be compared to the cent.

    with fleet(FleetSpec(clusters=CLUSTERS), rule_files) as f:
        f.tier_a.query(...); f.tier_b.query(...); f.clusters[0].local.query(...)

`python benchmarks/fleet.py` (`make fleet`) runs the same fleet until Ctrl-C.
"""

from __future__ import annotations

import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from support.prometheus import (
    Process,
    Prometheus,
    _process,
    _ready,
    exporter,
    free_port,
    prometheus,
    prometheus_config,
    query,
)
from support.tools import tool

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ClusterSpec:
    """One simulated cluster: its `cluster` label and simulator settings."""

    name: str
    seed: int
    nodes: int = 12
    pods: int = 200
    #: Monthly budget of every team in this cluster: small, so the budget alerts fire.
    budget: float = 1.0
    #: Share of GPU workloads left idle: every cluster has idle GPUs to recommend reclaiming.
    gpu_idle_share: float = 0.5


#: The three clusters of the fleet test and `make fleet`: an on-prem site, AWS and GCP.
CLUSTERS = (
    ClusterSpec("onprem-dc1", seed=11),
    ClusterSpec("aws-us-east-1", seed=22),
    ClusterSpec("gcp-europe-west4", seed=33),
)


#: The backfilled GPU pool of every cluster (`history_days`): 64 GPUs, demand growing.
HISTORY_POOL = {"provider": "aws", "node_pool": "fleet-gpu", "gpu_model": "H100", "resource": "gpu",
                "unit": "gpus"}  # fmt: skip
HISTORY_CAPACITY = 64.0
DAY = 86400


def history_demand(spec: ClusterSpec, day: int) -> float:
    """Requested GPUs of a cluster's history pool on `day`: a start that differs per cluster,
    growing 0.8 a day, so each cluster's pool runs out on its own date."""
    return 20.0 + spec.seed % 30 + 0.8 * day


def capacity_history(clusters: Sequence[ClusterSpec], days: int) -> list[tuple[str, float, int]]:
    """(series, value, unix seconds): hourly capacity samples of each cluster's history pool
    for the `days` whole days before today (UTC), as the cluster's agent would have sent."""
    start_day = int(time.time() // DAY) - days
    samples = []
    for spec in clusters:
        labels = ",".join(f'{k}="{v}"' for k, v in {"cluster": spec.name, **HISTORY_POOL}.items())
        for hour in range(days * 24):
            day = hour // 24
            t = (start_day + day) * DAY + (hour % 24) * 3600
            samples.append((f"unitcost_capacity_allocatable{{{labels}}}", HISTORY_CAPACITY, t))
            samples.append(
                (f"unitcost_capacity_requested{{{labels}}}", history_demand(spec, day), t)
            )
    return samples


def _openmetrics(samples: Sequence[tuple[str, float, int]]) -> str:
    kinds = sorted({s.split("{", 1)[0] for s, _, _ in samples})
    lines = []
    for kind in kinds:
        lines.append(f"# TYPE {kind} gauge")
        lines += [f"{s} {v} {t}" for s, v, t in samples if s.startswith(kind + "{")]
    return "\n".join(lines) + "\n# EOF\n"


def import_into_victoria_metrics(url: str, samples: Sequence[tuple[str, float, int]]) -> None:
    """Samples with their timestamps through /api/v1/import/prometheus (milliseconds)."""
    body = "\n".join(f"{s} {v} {t * 1000}" for s, v, t in samples).encode()
    request = urllib.request.Request(f"{url}/api/v1/import/prometheus", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=60):
        pass
    with urllib.request.urlopen(f"{url}/internal/force_flush", timeout=60):
        pass


@dataclass
class Store:
    """Something that answers the Prometheus query API (a Prometheus, VictoriaMetrics)."""

    name: str
    url: str

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        return query(self.url, expr, at)

    def by(self, expr: str, label: str) -> dict[str, float]:
        """Instant query as {value of `label`: value}."""
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(expr)}


@dataclass
class Cluster:
    spec: ClusterSpec
    exporter: Process
    agent: Process
    local: Store


@dataclass
class Fleet:
    clusters: list[Cluster]
    tier_a: Store
    tier_b: Store
    vmalert: Process

    @property
    def tiers(self) -> tuple[Store, Store]:
        return (self.tier_a, self.tier_b)


def demo_config() -> dict[str, Any]:
    """The packaged demo config (`unitcost demo`)."""
    text = (resources.files("unitcost.config") / "demo.yaml").read_text("utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def exporter_config(spec: ClusterSpec, dest: Path, *, frozen: bool = True) -> Path:
    """A `unitcost serve` config for one simulated cluster; `frozen` collects once an hour."""
    config: dict[str, Any] = {
        "source": {
            "kind": "simulator",
            "simulator": {
                "seed": spec.seed,
                "nodes": spec.nodes,
                "pods": spec.pods,
                "speed": 60,
                "gpu_idle_share": spec.gpu_idle_share,
                "network_traffic": True,
                "shared_services": True,
            },
        },
        "budgets": {"period": "month", "default": spec.budget},
        # The demo's cache and broker, split by the usage the simulator answers.
        "shared_services": demo_config()["shared_services"],
    }
    if frozen:
        config["collect_interval_seconds"] = 3600
    path = dest / f"{spec.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    return path


def agent_config(
    spec: ClusterSpec, target: str, remote_writes: Sequence[str], scrape_interval: str
) -> dict[str, Any]:
    """Prometheus agent: scrape one cluster, label it, remote-write to every global tier."""
    config = prometheus_config(
        [target], (), scrape_interval=scrape_interval, simulated_vllm=[target]
    )
    config.pop("rule_files", None)
    config["global"] = {
        "scrape_interval": scrape_interval,
        "external_labels": {"cluster": spec.name},
    }
    config["remote_write"] = [
        # Small batches sent within a second, so the global view is seconds behind.
        {"url": url, "queue_config": {"batch_send_deadline": "1s", "max_samples_per_send": 5000}}
        for url in remote_writes
    ]
    return config


@contextmanager
def _listening(
    name: str, argv: Callable[[str, Path], list[str]], ready_path: str, timeout: float
) -> Iterator[Process]:
    """A helper binary in a fresh temp dir on a free loopback port: `argv(address, workdir)`,
    yielded once `ready_path` answers."""
    with tempfile.TemporaryDirectory(prefix=f"unitcost-{name}-") as tmp:
        workdir = Path(tmp)
        address = f"127.0.0.1:{free_port()}"
        with _process(name, argv(address, workdir), workdir) as (proc, _log):
            proc.address = address
            _ready(proc, f"{proc.url}{ready_path}", timeout)
            yield proc


def prometheus_agent(
    name: str, config: dict[str, Any], *, timeout: float = 30.0
) -> AbstractContextManager[Process]:
    """Prometheus 3.5 in agent mode (scrape and remote_write only, no queries)."""

    def argv(address: str, workdir: Path) -> list[str]:
        config_path = workdir / "agent.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
        return [
            tool("prometheus"),
            "--agent",
            f"--config.file={config_path}",
            f"--storage.agent.path={workdir / 'wal'}",
            f"--web.listen-address={address}",
            "--log.level=warn",
        ]

    return _listening(f"agent-{name}", argv, "/-/ready", timeout)


def victoria_metrics(*, timeout: float = 30.0) -> AbstractContextManager[Process]:
    """VictoriaMetrics single-node; its remote-write endpoint is URL/api/v1/write."""

    def argv(address: str, workdir: Path) -> list[str]:
        return [
            tool("victoria-metrics"),
            f"-httpListenAddr={address}",
            f"-storageDataPath={workdir / 'data'}",
            "-retentionPeriod=100y",
            # Queries see samples as soon as they land (the default hides the last 30 s,
            # waiting for late scrapes; here every sample comes in order over remote_write).
            "-search.latencyOffset=0s",
            # Fresh samples searchable within a second (default 5 s): vmalert's chained records
            # (workload -> team -> month to date -> burn rate -> alert) each wait for it.
            "-inmemoryDataFlushInterval=1s",
            "-loggerLevel=WARN",
        ]

    return _listening("victoria-metrics", argv, "/health", timeout)


def vmalert(
    datasource: str,
    rule_files: Sequence[Path],
    *,
    evaluation_interval: str = "2s",
    timeout: float = 30.0,
) -> AbstractContextManager[Process]:
    """vmalert evaluating `rule_files` against `datasource` (VictoriaMetrics), writing records
    and ALERTS back into it; notifications go nowhere (the rules, not routing, are tested)."""

    def argv(address: str, _workdir: Path) -> list[str]:
        return [
            tool("vmalert"),
            f"-httpListenAddr={address}",
            f"-datasource.url={datasource}",
            f"-remoteWrite.url={datasource}",
            f"-evaluationInterval={evaluation_interval}",
            "-remoteWrite.flushInterval=1s",
            # Evaluate at the evaluation time itself (the default looks 30 s back, for
            # late scrapes: VictoriaMetrics here is fed in order and shows samples at once).
            "-rule.evalDelay=0s",
            "-notifier.blackhole",
            "-loggerLevel=WARN",
            *(f"-rule={Path(p).resolve()}" for p in rule_files),
        ]

    return _listening("vmalert", argv, "/health", timeout)


@contextmanager
def fleet(
    clusters: Sequence[ClusterSpec],
    rule_files: Sequence[Path],
    *,
    scrape_interval: str = "2s",
    evaluation_interval: str = "2s",
    frozen: bool = True,
    local_views: bool = True,
    history_days: int = 0,
) -> Iterator[Fleet]:
    """Start the whole fleet (exporters, agents, local views, both global tiers); with
    `history_days`, both tiers first hold that many days of each cluster's capacity history
    (capacity_history), for the forecaster."""
    history = capacity_history(clusters, history_days) if history_days else []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="unitcost-fleet-") as tmp:
        workdir = Path(tmp)
        tier_a = stack.enter_context(
            prometheus(
                [],
                rule_files,
                scrape_interval=scrape_interval,
                evaluation_interval=evaluation_interval,
                extra_args=["--web.enable-remote-write-receiver"],
                history=_openmetrics(history) if history else None,
            )
        )
        vm = stack.enter_context(victoria_metrics())
        if history:
            import_into_victoria_metrics(vm.url, history)
        alerting = stack.enter_context(
            vmalert(vm.url, rule_files, evaluation_interval=evaluation_interval)
        )
        writes = [f"{tier_a.url}/api/v1/write", f"{vm.url}/api/v1/write"]
        members: list[Cluster] = []
        for spec in clusters:
            target = stack.enter_context(exporter(exporter_config(spec, workdir, frozen=frozen)))
            agent = stack.enter_context(
                prometheus_agent(
                    spec.name, agent_config(spec, target.address, writes, scrape_interval)
                )
            )
            local: Store
            if local_views:
                own: Prometheus = stack.enter_context(
                    prometheus(
                        [target.address],
                        rule_files,
                        scrape_interval=scrape_interval,
                        evaluation_interval=evaluation_interval,
                        simulated_vllm=[target.address],
                    )
                )
                local = Store(f"{spec.name}-local", own.url)
            else:
                local = Store(f"{spec.name}-local", "")
            members.append(Cluster(spec, target, agent, local))
        yield Fleet(
            members,
            Store("prometheus-3.5-receiver", tier_a.url),
            Store("victoria-metrics", vm.url),
            alerting,
        )
