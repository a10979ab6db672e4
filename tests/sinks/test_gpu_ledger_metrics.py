"""The per-device GPU ledger on /metrics: device cost, holdings and unheld balance per device,
and unknown devices are counted."""

from __future__ import annotations

import math
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from support.builders import node, pod, res
from support.catalogue import assert_conforms
from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import AllocationPolicy, allocate
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.devices import DeviceRef, GpuClaim, GpuDevice
from unitcost.data.model import Snapshot
from unitcost.metrics.catalogue import Binary
from unitcost.pricing import PriceBook
from unitcost.sinks.exposition import render
from unitcost.sinks.metrics import cost_families
from unitcost.sources.simulator import SimulatedCluster
from unitcost.sources.simulator.gpu_pools import with_gpu_pools


def test_device_ledgers_balance_on_the_exposition() -> None:
    p5 = node("p5", res(192, 2048), instance_type="p5.48xlarge", gpu_model="H100")
    devices = tuple(GpuDevice("p5", f"gpu-{i}", "gpu.nvidia.com", "p5") for i in range(8))
    claims = (
        GpuClaim(
            "serve", "shared", (DeviceRef("p5", "gpu.nvidia.com", "p5", "gpu-0"),), ("a", "b")
        ),
        GpuClaim(
            "ml", "odd", (DeviceRef("p5", "accel.example.com", "x", "acc-0", listed=False),), ("c",)
        ),
    )
    pods = (
        pod("a", "p5", res(1, 1), namespace="serve"),
        pod("b", "p5", res(1, 1), namespace="serve"),
        pod("c", "p5", res(1, 1), namespace="ml"),
    )
    snapshot = Snapshot(0.0, nodes=(p5,), pods=pods, gpu_devices=devices, gpu_claims=claims)
    frame = allocate(snapshot, PriceBook.load(), AllocationPolicy())
    text = render(cost_families(frame)).decode()
    assert_conforms(text, Binary.EXPORTER)
    price: dict[tuple[str, str], float] = {}
    unheld: dict[tuple[str, str], float] = {}
    held: dict[tuple[str, str], list[float]] = defaultdict(list)
    unknown: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.labels.get("node", ""), s.labels.get("gpu", ""))
            if s.name == "unitcost_gpu_device_cost_dollars_per_hour":
                price[key] = s.value
            elif s.name == "unitcost_gpu_device_unheld_cost_dollars_per_hour":
                unheld[key] = s.value
            elif s.name == "unitcost_gpu_holding_cost_dollars_per_hour":
                held[key].append(s.value)
                assert s.labels["kind"] == "dra"
            elif s.name == "unitcost_gpu_unknown_devices":
                unknown[s.labels["reason"]] = s.value
    assert len(price) == 9
    for key, dollars in price.items():
        assert math.isclose(math.fsum(held[key]) + unheld[key], dollars, rel_tol=1e-9), key
    assert len(held[("p5", "gpu-0")]) == 2
    assert unknown == {"unknown-driver": 1.0, "unlisted": 0.0}


def test_a_pods_gpu_cost_is_the_sum_of_its_holdings_on_the_simulated_cluster() -> None:
    """What lets the GPU rules read holdings (served with every `detail`) instead of each
    pod's `resource="gpu"` series (only with `detail: pod`): the same dollars, pod by pod."""
    cluster = SimulatedCluster(seed=9, nodes=60, pods=1500, gpu_idle_share=0.5)
    snapshot = with_gpu_pools(cluster.snapshot())
    frame = allocate(snapshot, PriceBook.load(), allocation_policy(demo_config()))
    named = {f.name: f for f in cost_families(frame, "pod")}
    gpu_cost = {
        values[:2]: value
        for values, value in named["unitcost_pod_cost_dollars_per_hour"].samples
        if values[3] == "gpu"
    }
    held: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for values, value in named["unitcost_gpu_holding_cost_dollars_per_hour"].samples:
        held[values[:2]].append(value)
    assert len(gpu_cost) > 20
    assert {k for k, v in gpu_cost.items() if v > 0} == {
        k for k, v in held.items() if math.fsum(v) > 0
    }
    for key, dollars in gpu_cost.items():
        assert math.isclose(math.fsum(held[key]), dollars, rel_tol=1e-9, abs_tol=1e-12), key
