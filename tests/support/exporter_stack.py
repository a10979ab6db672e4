"""The exporter stack in one process, for fault injection and the soak: the fake apiserver
(restartable on the same port), the real KubernetesSource + Collector + HTTP server, scraped
over HTTP."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from support.fake_apiserver import FakeApiServer, FakeCluster, running
from support.kube_cluster import populate
from unitcost.config.file import parse_config
from unitcost.costmodel.policy import attribution_rules
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.runtime.server import ExporterServer, serve_in_background
from unitcost.sources.kubernetes.source import KubernetesSource

Samples = list[tuple[str, dict[str, str], float]]

#: Short timeouts so each fault shows (and heals) within seconds.
KUBERNETES = {
    "kubeconfig": "kubeconfig",
    "context": "fake",
    "read_timeout_seconds": 1.0,
    "connect_timeout_seconds": 1.0,
    "watch_timeout_seconds": 2,
    "backoff_initial_seconds": 0.05,
    "backoff_max_seconds": 0.3,
    "metrics_poll_seconds": 0.2,
    "metrics_stale_seconds": 1.0,
    "initial_sync_timeout_seconds": 10,
}
INTERVAL = 0.2


def parse(text: str) -> Samples:
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(samples: Samples, name: str, **labels: str) -> float | None:
    for n, got, v in samples:
        if n == name and all(got.get(k) == want for k, want in labels.items()):
            return v
    return None


def pod_costs(samples: Samples) -> dict[tuple[str, str, str], float]:
    return {
        (labels["namespace"], labels["pod"], labels["resource"]): v
        for name, labels, v in samples
        if name == "unitcost_pod_cost_dollars_per_hour"
    }


def eventually(condition: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)


@dataclass
class Stack:
    cluster: FakeCluster
    port: int
    url: str
    collector: Collector
    source: KubernetesSource
    _apiserver: ExitStack = field(default_factory=ExitStack)

    def scrape(self) -> Samples:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            return parse(response.read().decode())

    def up(self, source: str = "kubernetes") -> float | None:
        return value(self.scrape(), "unitcost_source_up", source=source)

    def stop_apiserver(self) -> None:
        self._apiserver.close()

    def start_apiserver(self) -> None:
        self._apiserver = ExitStack()
        self._apiserver.enter_context(running(self.cluster, self.port))


@contextmanager
def kubernetes_stack(
    tmp_path: Path,
    cluster: FakeCluster | None = None,
    config: dict[str, Any] | None = None,
    **settings: Any,
) -> Iterator[Stack]:
    """`cluster` (default: the small platform of support.kube_cluster) served by the fake
    apiserver, read by the real source with `settings` over the short-timeout defaults;
    `config` adds top-level config blocks (attribution, limits)."""
    if cluster is None:
        cluster = FakeCluster(kueue_version="v1beta1")
        populate(cluster)
    apiserver_stack = ExitStack()
    apiserver: FakeApiServer = apiserver_stack.enter_context(running(cluster))
    apiserver.write_kubeconfig(tmp_path / "kubeconfig")
    parsed = parse_config(
        {
            "source": {"kind": "kubernetes", "kubernetes": {**KUBERNETES, **settings}},
            "collect_interval_seconds": INTERVAL,
            "policy": {"source_stale_seconds": 600},
            # Each pod's per-resource series: what these tests check the source's figures on.
            "detail": "pod",
            **(config or {}),
        },
        "faults.yaml",
        tmp_path,
    )
    source = KubernetesSource(parsed.source.kubernetes, attribution_rules(parsed), tmp_path)
    collector = Collector(source, PriceBook.load(), parsed)
    collector.collect_once()
    server = ExporterServer(("127.0.0.1", 0), collector)
    serve_in_background(server)
    stop = threading.Event()
    loop = threading.Thread(target=collector.run, args=(stop,), daemon=True)
    loop.start()
    host, port = server.server_address[:2]
    stack = Stack(cluster, apiserver.server_address[1], f"http://{host}:{port}", collector, source)
    stack._apiserver = apiserver_stack
    try:
        yield stack
    finally:
        stop.set()
        loop.join(10)
        server.shutdown()
        server.server_close()
        source.close()
        stack.stop_apiserver()
