"""KubernetesSource against the fake apiserver: attribution table, queue cost, the metrics API
as its own source status, and memory per 1,000 watched pods."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes import config as kube_config
from prometheus_client.parser import text_string_to_metric_families

from support.fake_apiserver import FakeCluster, pod, running
from support.kube_cluster import EXPECTED, EXPECTED_PODS, populate
from unitcost.config.file import Config, parse_config
from unitcost.config.kubernetes import KubernetesSettings, KueueSettings
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.attribution import attribute_pod, local_queue_index
from unitcost.costmodel.policy import allocation_policy, attribution_rules
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.sources.kubernetes.source import KubernetesSource

SETTINGS = KubernetesSettings(
    page_size=100,
    read_timeout_seconds=5,
    backoff_initial_seconds=0.05,
    backoff_max_seconds=0.2,
    initial_sync_timeout_seconds=60,
    metrics_poll_seconds=0.2,
)


def config(**attribution: object) -> Config:
    data = {
        "source": {"kind": "kubernetes"},
        "attribution": attribution,
        "shared_cost": {"namespaces": ["kube-system"]},
    }
    return parse_config(data, "test.yaml", Path("."))


@contextmanager
def source(api: client.ApiClient, cfg: Config) -> Iterator[KubernetesSource]:
    src = KubernetesSource(SETTINGS, attribution_rules(cfg), api=api)
    try:
        yield src
    finally:
        src.close()


def test_attribution_table(cluster: FakeCluster, api: client.ApiClient) -> None:
    populate(cluster)
    cfg = config(pod_label_allowlist=["spark-role"])
    rules = attribution_rules(cfg)
    with source(api, cfg) as src:
        snap = src.snapshot()
    namespaces = {ns.name: ns for ns in snap.namespaces}
    index = local_queue_index(snap)
    got = {}
    for p in snap.pods:
        if p.key in EXPECTED:
            a = attribute_pod(p, namespaces.get(p.namespace), rules, index)
            got[p.key] = (a.team, a.queue, a.app, a.workload_kind)
    assert got == EXPECTED
    pods = {p.key: p for p in snap.pods}
    # Only the keys attribution reads are kept, never whole label maps.
    assert "secret-ish" not in pods[("data", "web-7d9f-abc")].labels
    driver = attribute_pod(pods[("data", "etl-driver")], namespaces["data"], rules, index)
    assert driver.labels == (("spark-role", "driver"),)
    # Requests and usage come through as written by hand.
    for key, (node, requests, usage) in EXPECTED_PODS.items():
        assert (pods[key].node, pods[key].requests) == (node, requests)
        assert pods[key].usage == pytest.approx(usage) if usage else pods[key].usage is None


def test_queue_cost_from_kueue_and_yunikorn(cluster: FakeCluster, api: client.ApiClient) -> None:
    populate(cluster)
    cfg = config()
    with source(api, cfg) as src:
        snap = src.snapshot()
    frame = allocate(snap, PriceBook.load([]), allocation_policy(cfg))
    by_key = {(q.queue, q.flavor, q.resource): q for q in frame.queues}
    gpu = by_key[("gpu-cq", "a10g", "gpu")]
    gpu_node = next(n for n in frame.nodes if n.node.name == "gpu-1")
    per_gpu = gpu_node.price.dollars_per_hour["gpu"] / 4
    assert gpu.quota_hourly == pytest.approx(2 * per_gpu)  # nominal quota: 2 GPUs
    llm = next(p for p in frame.pods if p.name == "llm-batch-x7")
    assert gpu.used_hourly == pytest.approx(llm.allocated["gpu"])
    assert gpu.quota_hourly - gpu.used_hourly == pytest.approx(per_gpu)  # idle quota dollars
    etl = [q for q in frame.queues if q.queue == "root.data.etl"]
    assert etl and all(q.scheduler == "yunikorn" and q.quota_hourly == 0 for q in etl)
    spark = [p for p in frame.pods if p.owner.queue == "root.data.etl"]
    assert sum(q.used_hourly for q in etl) == pytest.approx(
        sum(sum(p.allocated.values()) for p in spark)
    )


def _samples(exposition: bytes, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(exposition.decode()):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


@pytest.mark.parametrize("cluster", [FakeCluster(kueue_version=None, metrics=False)])
def test_without_metrics_api_costs_fall_back_to_requests(
    cluster: FakeCluster, api: client.ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    populate(cluster)
    cfg = config()
    with source(api, cfg) as src:
        collector = Collector(src, PriceBook.load([]), cfg)
        first = collector.collect_once()
        second = collector.collect_once()
    up = _samples(second.exposition, "unitcost_source_up")
    assert up == {(("source", "kubernetes"),): 1.0, (("source", "metrics"),): 0.0}
    assert first.frame is not None
    assert all(not p.unused for p in first.frame.pods)  # no usage, so no waste claimed
    # Kueue CRDs absent: no queues, and not an error.
    assert [q for q in first.frame.queues if q.scheduler == "kueue"] == []
    lines = [r for r in caplog.records if "metrics API" in r.getMessage()]
    assert len(lines) == 1 and "fall back to requests" in lines[0].getMessage()


def _realistic_pod(i: int) -> dict[str, object]:
    """A pod as big as real ones: many labels, annotations, env, two containers."""
    obj = pod(
        f"ns-{i % 50}",
        f"worker-{i:05d}-abcde",
        node_name=f"node-{i % 200}",
        cpu="500m",
        memory="2Gi",
        labels={
            "app.kubernetes.io/name": "batch-worker",
            "app.kubernetes.io/instance": f"run-{i // 100}",
            "team": "vision",
            "pod-template-hash": "5d8f7c9b4",
            "version": "v1.2.3",
        },
        annotations={
            "kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 1500 + "}",
            "prometheus.io/scrape": "true",
        },
        owner=("ReplicaSet", f"batch-worker-{i // 100}-5d8f7c9b4"),
    )
    spec = obj["spec"]
    assert isinstance(spec, dict)
    spec["containers"].append(
        {"name": "sidecar", "image": "envoy:1.30", "resources": {"requests": {"cpu": "100m"}}}
    )
    return obj


def _retained_bytes(api: client.ApiClient, cluster: FakeCluster, pods: int) -> int:
    for i in range(pods):
        cluster.apply("pods", _realistic_pod(i))
    gc.collect()
    tracemalloc.start()
    try:
        src = KubernetesSource(
            SETTINGS.model_copy(
                update={
                    "page_size": 500,
                    "metrics_enabled": False,
                    "kueue": KueueSettings(enabled=False),
                }
            ),
            attribution_rules(config()),
            api=api,
        )
        try:
            src.snapshot()
            gc.collect()
            retained, _ = tracemalloc.get_traced_memory()
        finally:
            src.close()
    finally:
        tracemalloc.stop()
    return retained


def _measure(tmp_path: Path, pods: int) -> int:
    cluster = FakeCluster()
    with running(cluster) as server:
        configuration = client.Configuration()
        kubeconfig = server.write_kubeconfig(tmp_path / f"kubeconfig-{pods}")
        kube_config.load_kube_config(
            config_file=str(kubeconfig), client_configuration=configuration
        )
        configuration.connection_pool_maxsize = 32
        with client.ApiClient(configuration) as api:
            return _retained_bytes(api, cluster, pods)


@pytest.mark.e2e  # the fake apiserver, inline
def test_memory_per_thousand_watched_pods(tmp_path: Path) -> None:
    """Measured with tracemalloc: what the stores keep after the initial list (the fake
    server's own objects exist before tracing starts). Printed for the issue."""
    base = _measure(tmp_path, 1000)
    large = _measure(tmp_path, 5000)
    per_thousand = (large - base) / 4
    print(f"\nmemory per 1,000 watched pods: {per_thousand / 2**20:.2f} MiB")
    assert 0 < per_thousand < 2 * 2**20
