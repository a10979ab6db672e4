"""Bad input at the model's door, through the real Collector (cost model, series cap, render):
NaN/inf usage, duplicate objects, skewed clocks, nodes with no price, 100k distinct label
values. Nothing crashes, nothing is priced at zero, promtool accepts the output, and the
invariant holds."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.builders import node, pod, res
from support.invariant import assert_scraped_invariant
from support.prometheus import Promtool
from unitcost.config.file import parse_config
from unitcost.data.model import Gpu, Resources, Snapshot
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector

NOW = 1.7e9
Samples = list[tuple[str, dict[str, str], float]]


@dataclass
class FixedSource:
    """A source that returns one prepared snapshot (the Source protocol)."""

    snap: Snapshot
    name: str = "corpus"

    def snapshot(self) -> Snapshot:
        return self.snap

    def close(self) -> None:
        return None


def collect(snap: Snapshot, **config: object) -> tuple[str, Samples]:
    cfg = parse_config(
        {"attribution": {"pod_label_allowlist": ["corpus"]}, "detail": "pod", **config},
        "corpus.yaml",
        ".",
    )
    collector = Collector(FixedSource(snap), PriceBook.load(), cfg, clock=lambda: NOW)
    text = collector.collect_once().exposition.decode()
    samples = [
        (s.name, dict(s.labels), s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
    ]
    return text, samples


def promtool_clean(promtool: Promtool, text: str) -> None:
    result = promtool(text)
    # promtool lints too (e.g. counters without _total); only errors about the format fail.
    assert result.returncode == 0 or b"error" not in result.stderr.lower(), result.stderr[:2000]
    assert b"duplicate" not in (result.stdout + result.stderr).lower()


def test_nan_and_inf_usage_fall_back_to_requests(promtool: Promtool) -> None:
    nan, inf = float("nan"), float("inf")
    pods = (
        pod("nan", "n1", res(2, 4), Resources(nan, nan, 0, 0)),
        pod("inf", "n1", res(2, 4), Resources(inf, -inf, 0, 0)),
        pod("neg", "n1", res(2, 4), Resources(-1, -5, 0, 0)),
        pod("ok", "n1", res(2, 4), res(1, 1)),
    )
    text, samples = collect(Snapshot(NOW, nodes=(node("n1", res(8, 32)),), pods=pods))
    for name, labels, v in samples:
        assert math.isfinite(v), (name, labels, v)
    costs = {
        (labels["pod"], labels["resource"]): v
        for n, labels, v in samples
        if n == "unitcost_pod_cost_dollars_per_hour"
    }
    # Unusable usage counts as unknown: the request is what the pod costs, same as "ok"'s.
    for name in ("nan", "inf", "neg"):
        assert costs[(name, "cpu")] == pytest.approx(costs[("ok", "cpu")])
    assert costs[("ok", "cpu")] > 0
    assert assert_scraped_invariant(samples) > 0
    promtool_clean(promtool, text)


def test_duplicate_objects_are_served_once(promtool: Promtool) -> None:
    n1 = node("n1", res(8, 32))
    p1 = pod("p1", "n1", res(1, 2))
    snap = Snapshot(
        NOW,
        nodes=(n1, n1),
        pods=(p1, pod("p2", "n1", res(1, 2)), p1),
        gpus=(Gpu("n1", "0", "u0", "A10G"), Gpu("n1", "0", "u0", "A10G")),
    )
    text, samples = collect(snap)
    series = [(n, tuple(sorted(labels.items()))) for n, labels, _ in samples]
    assert len(series) == len(set(series))
    assert len([1 for n, _, _ in samples if n == "unitcost_pod_info"]) == 2
    assert assert_scraped_invariant(samples) > 0
    promtool_clean(promtool, text)


def test_skewed_clocks_never_make_negative_or_future_idle(promtool: Promtool) -> None:
    """The GPU agent's clock runs ahead of the collector's, the snapshot is stamped in the
    past: idle time is never negative and the GPU is not called idle."""
    snap = Snapshot(
        NOW - 3600,
        nodes=(node("g1", res(48, 192, gpu=4), gpu_model="NVIDIA-A10G"),),
        pods=(pod("train", "g1", res(8, 32, gpu=1)),),
        gpus=(
            Gpu(
                "g1",
                "0",
                "u0",
                "NVIDIA-A10G",
                pod_namespace="team-a",
                pod_name="train",
                utilization=0.0,
                low_activity_since=NOW + 7200,  # in the future
            ),
        ),
    )
    # GPU readings in the snapshot are the simulator's: it is the one idle producer here.
    text, samples = collect(snap, source={"kind": "simulator"})
    idle = [v for n, _, v in samples if n == "unitcost_gpu_idle_cost_dollars_per_hour"]
    assert idle == [0.0]
    for n, _, v in samples:
        if "cost" in n:
            assert v >= 0, n
    assert assert_scraped_invariant(samples) > 0
    promtool_clean(promtool, text)


def test_hundred_thousand_distinct_label_values_stay_under_the_series_cap(
    promtool: Promtool,
) -> None:
    nodes = tuple(node(f"n{i}", res(96, 384)) for i in range(100))
    pods = tuple(
        pod(f"p{i}", f"n{i % 100}", res(0.5 + (i % 7) * 0.1), labels={"corpus": f"v-{i}"})
        for i in range(100_000)
    )
    started = time.perf_counter()
    # Bare pods are each their own workload: 100k workloads of 1 series (cpu: the pods request
    # CPU only), which the cap keeps while any pod is left, so the cap leaves room for them and
    # some pods (one series each with the default detail, the label on it).
    cap = 110_000
    text, samples = collect(
        Snapshot(NOW, nodes=nodes, pods=pods), limits={"max_series": cap}, detail="workload"
    )
    took = time.perf_counter() - started
    print(f"\n100k pods, cap {cap}: collect + render {took:.1f}s, {len(text) / 2**20:.1f} MiB")
    counted = len(samples)
    dropped = [v for n, _, v in samples if n == "unitcost_series_dropped_total"]
    assert counted <= cap + 1  # the cap, plus the dropped-series counter itself
    assert dropped and dropped[0] >= 100_000 * 2 - cap  # 1 series per pod + its workload's 1
    label_values = {
        labels["label_corpus"]
        for n, labels, _ in samples
        if n == "unitcost_pod_total_cost_dollars_per_hour"
    }
    assert 1_000 < len(label_values) < 20_000
    workloads = [
        1 for n, _, _ in samples if n == "unitcost_workload_resource_cost_dollars_per_hour"
    ]
    assert len(workloads) == 100_000  # every pod's dollars still reach its team
    promtool_clean(promtool, text)
