"""The three states of a held GPU, and DCGM readings joined to the ledger's holders (pure);
the collector serving the state and usage-basis families from a DCGM poller."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.builders import node, pod, res
from unitcost.base.errors import InputError
from unitcost.config.file import demo_config, parse_config
from unitcost.costmodel.gpu_activity import dcgm_idle, gpu_state, join_activity
from unitcost.costmodel.gpu_idle import IdleTracker
from unitcost.costmodel.gpu_ledger import gpu_ledgers
from unitcost.data.activity import DcgmReading
from unitcost.data.model import Snapshot
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.sources.dcgm import GPU_UTIL, PROF_ACTIVE, readings_from
from unitcost.sources.poller import Poller
from unitcost.sources.promapi import Sample

GIB = 2.0**30


def test_three_states_and_the_power_veto() -> None:
    assert gpu_state(0.5, 10 * GIB) == "busy"
    assert gpu_state(0.001, 10 * GIB) == "warm-idle"
    assert gpu_state(0.001, 0.2 * GIB) == "empty"
    assert gpu_state(0.0, None) == "empty"
    assert gpu_state(None, 10 * GIB) == "unknown"
    assert gpu_state(0.0, 10 * GIB, 250.0, power_veto_watts=100.0) == "busy"
    assert gpu_state(0.0, 10 * GIB, 80.0, power_veto_watts=100.0) == "warm-idle"


def test_readings_prefer_the_profiling_field_and_keep_pod_and_dra_labels() -> None:
    gpu0 = {"Hostname": "n", "gpu": "0", "UUID": "GPU-a", "namespace": "ml", "pod": "p"}
    gpu1 = {"Hostname": "n", "gpu": "1", "UUID": "GPU-b", "dra_claim_name": "c"}
    gpu1 |= {"dra_claim_namespace": "ml", "dra_pool_name": "n", "dra_device_name": "gpu-1"}
    readings = readings_from(
        [Sample(gpu0, 0.25)],
        [Sample(gpu0, 90.0), Sample(gpu1, 30.0)],
        [Sample(gpu0, 1024.0)],
        [Sample(gpu1, 70.0)],
    )
    first, second = readings
    assert (first.activity, first.field, first.memory_used_bytes) == (0.25, PROF_ACTIVE, GIB)
    assert (second.activity, second.field, second.power_watts) == (0.3, GPU_UTIL, 70.0)
    assert (second.dra_claim, second.dra_device) == ("ml/c", "gpu-1")


def test_a_pod_on_two_like_slices_is_one_series() -> None:
    n = node("h100", res(26, 200, 1), gpu_model="H100")
    p = replace(pod("p", "h100", res(1, 1)), gpu_requests=(("nvidia.com/mig-1g.10gb", 2.0),))
    ledgers = gpu_ledgers([n], {"h100": 7.0}, [p])
    reading = DcgmReading("h100", "0", activity=0.5, memory_used_bytes=GIB * 4)
    uses = join_activity(ledgers, [reading])
    assert [u.used_hourly for u in uses] == [0.5, 0.5]


def test_the_collector_serves_states_and_usage_from_a_dcgm_poller() -> None:
    gpu_node = node("g", res(8, 64, 2), instance_type="g5.12xlarge", gpu_model="A10G")
    pods = (
        pod("busy", "g", res(1, 1, 1), namespace="ml"),
        pod("warm", "g", res(1, 1, 1), namespace="ml"),
    )

    class Fixed:
        name = "fixed"

        def snapshot(self) -> Snapshot:
            return Snapshot(1.0, nodes=(gpu_node,), pods=pods)

        def close(self) -> None:
            return None

    readings = [
        DcgmReading("g", "0", activity=0.75, memory_used_bytes=20 * GIB),
        DcgmReading("g", "1", activity=0.0, memory_used_bytes=20 * GIB),
    ]
    poller: Poller[list[DcgmReading]] = Poller("dcgm", lambda: readings, 60.0)
    assert poller.poll_once()
    collector = Collector(Fixed(), PriceBook.load(), demo_config(), gpu_activity=poller)
    collected = collector.collect_once()
    text = collected.exposition.decode()
    states: dict[str, str] = {}
    used: dict[str, float] = {}
    up: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "unitcost_gpu_state_cost_dollars_per_hour":
                states[s.labels["pod"]] = s.labels["state"]
            elif s.name == "unitcost_gpu_holding_used_cost_dollars_per_hour":
                used[s.labels["pod"]] = s.value
            elif s.name == "unitcost_source_up":
                up[s.labels["source"]] = s.value
    assert states == {"busy": "busy", "warm": "warm-idle"}
    assert used["warm"] == 0.0 and used["busy"] > 0
    assert up["dcgm"] == 1.0


def test_dcgm_needs_a_prometheus_url() -> None:
    with pytest.raises(InputError):
        parse_config({"gpu_activity": {"source": "dcgm"}}, "t.yaml", Path("."))
    cfg = parse_config(
        {"gpu_activity": {"source": "dcgm", "prometheus_url": "http://prom:9090"}},
        "t.yaml",
        Path("."),
    )
    assert cfg.gpu_activity.source == "dcgm"


def test_the_dcgm_idle_rule_over_the_window_and_a_new_holder() -> None:
    """dcgm_idle: a holding is idle once below the threshold for the whole window; any
    activity restarts it; a device handed to another pod starts a fresh window."""
    n = node("n", res(8, 64, 2), gpu_model="H100")
    hold_a = pod("a", "n", res(1, 1, 1), namespace="ml")
    ledgers = gpu_ledgers([n], {"n": 4.0}, [hold_a])
    tracker = IdleTracker(0.01, 600.0)

    def idle_at(now: float, activity: float, holder: str = "a") -> list[tuple[str, float, bool]]:
        reading = DcgmReading("n", "0", namespace="ml", pod=holder, activity=activity)
        current = (
            ledgers
            if holder == "a"
            else gpu_ledgers([n], {"n": 4.0}, [pod(holder, "n", res(1, 1, 1), namespace="ml")])
        )
        uses = join_activity(current, [reading])
        return [(g.pod, g.hourly, g.idle) for g in dcgm_idle(current, uses, tracker, now)]

    assert idle_at(0.0, 0.0) == [("a", 2.0, False)]  # low since 0
    assert idle_at(599.0, 0.0) == [("a", 2.0, False)]
    assert idle_at(600.0, 0.0) == [("a", 2.0, True)]  # the whole window below 1%
    assert idle_at(700.0, 0.5) == [("a", 2.0, False)]  # activity restarts it
    assert idle_at(1300.0, 0.0) == [("a", 2.0, False)]
    assert idle_at(1900.0, 0.0) == [("a", 2.0, True)]
    assert idle_at(1910.0, 0.0, holder="b") == [("b", 2.0, False)]  # a new holder, a new window
