"""OTLP: the same metrics as /metrics, pushed through the OpenTelemetry SDK to loopback
receivers speaking gRPC and HTTP/protobuf."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from support.otlp_receiver import Points, Received, grpc_receiver, http_receiver
from support.prometheus import free_port, http_get, unitcost_command, wait_until
from unitcost.base.errors import InputError
from unitcost.config.file import demo_config, load_config
from unitcost.config.otlp import OtlpSettings, with_flags
from unitcost.metrics.family import MetricFamily
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.sinks.otlp import OtlpPublisher, unit_for
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource

Receiver = Callable[[], AbstractContextManager[tuple[str, Received]]]


def scraped(exposition: bytes) -> dict[str, Points]:
    out: dict[str, Points] = {}
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def assert_same_as_metrics(received: Received, exposition: bytes) -> None:
    expected = scraped(exposition)
    assert set(received.metrics) == set(expected)  # every /metrics series, none left out
    for name, points in expected.items():
        assert received.metrics[name] == pytest.approx(points), name
        assert received.units[name] == unit_for(name)


@pytest.fixture()
def collector() -> Iterator[Collector]:
    config = demo_config()
    source = SimulatorSource(SimulatedCluster(seed=3, nodes=8, pods=60, gpu_idle_share=0.5))
    yield Collector(source, PriceBook.load([]), config)
    source.close()


@pytest.mark.e2e  # the OTLP receivers, inline
@pytest.mark.parametrize("receiver", [grpc_receiver, http_receiver], ids=["grpc", "http"])
def test_export_matches_metrics(collector: Collector, receiver: Receiver) -> None:
    collected = collector.collect_once()
    with receiver() as (url, received):
        protocol = "grpc" if receiver is grpc_receiver else "http"
        settings = OtlpSettings(
            endpoint=url, protocol=protocol, interval_seconds=3600, cluster_name="eu-1"
        )
        publisher = OtlpPublisher(settings, lambda: collected.families)
        try:
            assert publisher.force_flush()
        finally:
            publisher.shutdown()
        assert received.requests >= 1
    assert_same_as_metrics(received, collected.exposition)
    resource = received.resources[0]
    assert resource["service.name"] == "unitcost"
    assert resource["k8s.cluster.name"] == "eu-1"
    assert received.kinds["unitcost_pod_total_cost_dollars_per_hour"] == "gauge"
    assert received.units["unitcost_pod_total_cost_dollars_per_hour"] == "USD/h"
    assert received.units["unitcost_budget_dollars"] == "USD"
    assert received.units["unitcost_node_allocatable_memory_bytes"] == "By"
    assert received.units["unitcost_source_last_success_timestamp_seconds"] == "s"
    assert received.units["unitcost_node_allocatable_cpu_cores"] == "{core}"
    assert received.units["unitcost_policy_waste_ratio_threshold"] == "1"


@pytest.mark.e2e  # the OTLP receiver, inline
def test_families_that_appear_later_are_registered(collector: Collector) -> None:
    # Before the first collect there is nothing; after it, the next export has everything.
    current: list[tuple[MetricFamily, ...]] = [()]
    with http_receiver() as (url, received):
        publisher = OtlpPublisher(
            OtlpSettings(endpoint=url, protocol="http"),
            lambda: current[0],
        )
        try:
            publisher.force_flush()
            assert received.metrics == {}
            current[0] = collector.collect_once().families
            assert publisher.force_flush()
        finally:
            publisher.shutdown()
    assert "unitcost_pod_total_cost_dollars_per_hour" in received.metrics
    assert "unitcost_source_up" in received.metrics


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("unitcost_queue_used_cost_dollars_per_hour", "USD/h"),
        ("unitcost_cloud_billed_cost_dollars", "USD"),
        ("unitcost_collect_duration_seconds", "s"),
        ("unitcost_gpu_energy_joules_total", "J"),
        ("unitcost_reconciliation_ratio", "1"),
        ("unitcost_unpriced_nodes", "1"),
        ("unitcost_pod_info", "1"),
    ],
)
def test_units_follow_the_name_suffix(name: str, unit: str) -> None:
    assert unit_for(name) == unit


def test_config_block_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"otlp": {"endpoint": "collector:4317"}}))
    with pytest.raises(
        InputError, match=r"c.yaml: otlp.endpoint: .*http:// or https://.*'collector:4317'"
    ):
        load_config(path)
    path.write_text(yaml.safe_dump({"otlp": {"endpoint": "http://c:4318", "protocol": "udp"}}))
    with pytest.raises(InputError, match=r"otlp.protocol: Input should be 'grpc' or 'http'"):
        load_config(path)
    path.write_text(yaml.safe_dump({"otlp": {"endpoint": "http://c:4318", "protocol": "http"}}))
    settings = load_config(path).otlp
    assert with_flags(settings, None, None) == settings
    assert with_flags(settings, "http://d:4317", "grpc").protocol == "grpc"
    assert demo_config().otlp.endpoint == ""  # off unless asked for


@pytest.mark.e2e
def test_serve_pushes_what_it_serves(tmp_path: Path) -> None:
    # `unitcost serve` with the config block (protocol http) overridden by the flags (grpc):
    # one collect (the data stays still), exports every second, a last one at exit.
    config = {
        "source": {"kind": "simulator", "simulator": {"seed": 5, "nodes": 6, "pods": 40}},
        "collect_interval_seconds": 3600,
        "otlp": {"protocol": "http", "interval_seconds": 1, "cluster_name": "e2e"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    with grpc_receiver() as (url, received):
        argv = [*unitcost_command(), "serve", "--config", str(path), "--duration", "6",
                "--listen", f"127.0.0.1:{port}", "--otlp-endpoint", url, "--otlp-protocol", "grpc"]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            body = wait_until(
                lambda: http_get(f"http://127.0.0.1:{port}/metrics"), timeout=30, what="/metrics"
            )
            wait_until(lambda: received.requests >= 1 or None, timeout=30, what="an OTLP export")
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, stderr.decode()[-2000:]
    assert received.resources[-1]["k8s.cluster.name"] == "e2e"
    # The health series (collect duration) is rendered once per collect too: all equal.
    assert_same_as_metrics(received, body)
