"""`unitcost serve` against the fake apiserver, as a user runs it: a real process, a kubeconfig
(from the config, or from --kubeconfig and --context alone), scraped over HTTP. Costs must
equal what allocate() computes for the same objects written out by hand; watch deletions and
410 relists must show within one collect interval; nothing says "simulated"."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.fake_apiserver import FakeApiServer, FakeCluster, pod
from support.kube_cluster import EXPECTED_PODS, expected_nodes, populate
from unitcost.config.file import load_config
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.model import Pod, PodPhase, Snapshot
from unitcost.pricing import PriceBook

INTERVAL = 1.0
CONFIG = """
source:
  kind: kubernetes
  kubernetes:
    kubeconfig: kubeconfig
    context: fake
    read_timeout_seconds: 5
    backoff_initial_seconds: 0.05
    backoff_max_seconds: 0.5
    metrics_poll_seconds: 0.5
collect_interval_seconds: {interval}
detail: pod
shared_cost:
  namespaces: [kube-system]
"""

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scrape(base: str) -> Series:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def pod_totals(series: Series) -> dict[tuple[str, str, str], float]:
    """The one series per pod of every `detail`: (namespace, pod, node) -> $/h."""
    out = {}
    for (name, labels), value in series.items():
        if name == "unitcost_pod_total_cost_dollars_per_hour":
            d = dict(labels)
            out[(d["namespace"], d["pod"], d["node"])] = value
    return out


def pod_costs(series: Series) -> dict[tuple[str, str, str, str], float]:
    out = {}
    for (name, labels), value in series.items():
        if name == "unitcost_pod_cost_dollars_per_hour":
            d = dict(labels)
            out[(d["namespace"], d["pod"], d["node"], d["resource"])] = value
    return out


def wait_until(condition: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "condition not met in time"
        time.sleep(0.05)
    return time.monotonic() - started


@contextmanager
def serving(*args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`unitcost serve ARGS` as a process, once it serves pod costs."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "unitcost", "serve", *args, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if pod_totals(scrape(base)):
                    break
            except OSError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "serve did not serve costs within 30 s"
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


@pytest.fixture
def served(
    cluster: FakeCluster, apiserver: FakeApiServer, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    populate(cluster)
    apiserver.write_kubeconfig(tmp_path / "kubeconfig")
    (tmp_path / "unitcost.yaml").write_text(CONFIG.format(interval=INTERVAL))
    with serving("--config", str(tmp_path / "unitcost.yaml")) as served:
        yield served


def expected_costs(config_path: Path | None) -> dict[tuple[str, str, str, str], float]:
    """allocate() over the same objects, as model objects written by hand."""
    pods = tuple(
        Pod(ns, name, f"uid-{name}", node, PodPhase.RUNNING, requests, usage)
        for (ns, name), (node, requests, usage) in EXPECTED_PODS.items()
    )
    snapshot = Snapshot(timestamp=0.0, nodes=tuple(expected_nodes()), pods=pods)
    config = load_config(config_path)
    frame = allocate(snapshot, PriceBook.load([]), allocation_policy(config))
    return {
        (p.namespace, p.name, p.node, r): amount
        for p in frame.pods
        for r, amount in p.allocated.items()
    }


def test_serve_costs_deletions_and_relists(
    served: tuple[str, subprocess.Popen[bytes]], cluster: FakeCluster, tmp_path: Path
) -> None:
    base, process = served
    series = scrape(base)
    expected = expected_costs(tmp_path / "unitcost.yaml")
    got = pod_costs(series)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key
    assert series[("unitcost_source_up", (("source", "kubernetes"),))] == 1.0
    assert series[("unitcost_source_up", (("source", "metrics"),))] == 1.0
    assert not any(name == "unitcost_simulated_data" for name, _ in series)
    with urllib.request.urlopen(base + "/", timeout=10) as response:
        assert "simulated" not in response.read().decode().lower()

    # A pod deleted by a watch event leaves /metrics within one collect interval.
    cluster.delete("pods", "sandbox", "scratch")
    took = wait_until(
        lambda: not any(k[1] == "scratch" for k in pod_costs(scrape(base))), 3 * INTERVAL
    )
    assert took <= INTERVAL + 0.5  # the slack covers scrape polling and a loaded CI machine

    # Changes the watch never saw, then a 410 mid-stream: the relisted state is served.
    cluster.delete("pods", "data", "api-5c6d-xyz", silent=True)
    cluster.apply("pods", pod("ml", "late", node_name="cpu-1", cpu="1"), silent=True)
    cluster.expire("pods")

    def relisted() -> bool:
        names = {k[1] for k in pod_costs(scrape(base))}
        return "api-5c6d-xyz" not in names and "late" in names

    wait_until(relisted, 5 * INTERVAL)
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0


def test_serve_reads_the_cluster_named_by_flags_alone(
    cluster: FakeCluster, apiserver: FakeApiServer, tmp_path: Path
) -> None:
    """No config: --kubeconfig and --context pick the cluster, not the kubeconfig's current
    context (which points at nothing here); every field has its default."""
    populate(cluster)
    kubeconfig = apiserver.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
    doc = json.loads(kubeconfig.read_text())
    doc["clusters"].append({"name": "gone", "cluster": {"server": "http://127.0.0.1:9"}})
    doc["contexts"].append({"name": "elsewhere", "context": {"cluster": "gone", "user": "tester"}})
    doc["current-context"] = "elsewhere"
    kubeconfig.write_text(json.dumps(doc))
    with serving("--kubeconfig", str(kubeconfig), "--context", "fake") as (base, process):
        series = scrape(base)
        # No config: the default `detail: workload`, one total per pod.
        assert not pod_costs(series)
        expected: dict[tuple[str, str, str], float] = {}
        for (namespace, pod, node, _), value in expected_costs(None).items():
            expected[(namespace, pod, node)] = expected.get((namespace, pod, node), 0.0) + value
        got = pod_totals(series)
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-9), key
        assert series[("unitcost_source_up", (("source", "kubernetes"),))] == 1.0
        assert not any(name == "unitcost_simulated_data" for name, _ in series)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        log = process.stdout.read().decode() if process.stdout else ""
    assert f"reading the cluster at {apiserver.url} (context fake, cluster fake;" in log
