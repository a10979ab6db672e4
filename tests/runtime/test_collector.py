"""The collect loop degrades, never lies: a failing source keeps its last data until stale."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from unitcost.config.file import demo_config
from unitcost.data.model import Snapshot
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.sources.base import SourceError
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource


class FlakySource:
    name = "flaky"

    def __init__(self) -> None:
        self.cluster = SimulatedCluster(seed=2, nodes=10, pods=200)
        self.failing = False

    def snapshot(self) -> Snapshot:
        if self.failing:
            raise SourceError("apiserver unreachable")
        return self.cluster.snapshot()

    def close(self) -> None:
        return None


def values(exposition: bytes, name: str) -> list[float]:
    return [
        s.value
        for f in text_string_to_metric_families(exposition.decode())
        for s in f.samples
        if s.name == name
    ]


def test_failing_source_serves_last_data_then_drops_it_when_stale() -> None:
    now = [1000.0]
    source = FlakySource()
    config = demo_config()
    collector = Collector(source, PriceBook.load(), config, clock=lambda: now[0])
    good = collector.collect_once()
    assert values(good.exposition, "unitcost_source_up") == [1.0]
    node_cost = values(good.exposition, "unitcost_node_cost_dollars_per_hour")

    source.failing = True
    now[0] += 60
    degraded = collector.collect_once()
    assert values(degraded.exposition, "unitcost_source_up") == [0.0]
    assert values(degraded.exposition, "unitcost_source_last_success_timestamp_seconds") == [1000.0]
    assert values(degraded.exposition, "unitcost_node_cost_dollars_per_hour") == node_cost

    now[0] += config.policy.source_stale_seconds
    stale = collector.collect_once()
    assert values(stale.exposition, "unitcost_node_cost_dollars_per_hour") == []
    assert values(stale.exposition, "unitcost_budget_dollars")  # policy still served

    source.failing = False
    recovered = collector.collect_once()
    assert values(recovered.exposition, "unitcost_source_up") == [1.0]
    assert values(recovered.exposition, "unitcost_node_cost_dollars_per_hour")


def test_the_collect_publishes_only_unitcost_families() -> None:
    """The simulator's vLLM counters are served beside /metrics (cli/exporter.py), not in it."""
    source = SimulatorSource(SimulatedCluster(seed=42, nodes=20, pods=300), speed=60)
    collected = Collector(source, PriceBook.load(), demo_config()).collect_once()
    assert source.cluster.serving()  # pods that serve tokens exist
    names = {f.name for f in collected.families}
    assert names and all(n.startswith("unitcost_") for n in names), sorted(names)
