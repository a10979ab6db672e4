"""The Collector keeps attributions between collects (AttributionCache) and still publishes a
namespace's new owner in the very next collect after the namespace is relabelled."""

from __future__ import annotations

from dataclasses import replace

from prometheus_client.parser import text_string_to_metric_families

from unitcost.config.file import demo_config
from unitcost.data.model import Snapshot
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.sources.simulator import SimulatedCluster


class RelabellingSource:
    """The simulator, with the `search` namespace's team label set by the test."""

    name = "relabelling"

    def __init__(self) -> None:
        self.cluster = SimulatedCluster(seed=4, nodes=10, pods=300)
        self.search_team = "search"

    def snapshot(self) -> Snapshot:
        snapshot = self.cluster.snapshot()
        namespaces = tuple(
            replace(ns, labels={**ns.labels, "team": self.search_team})
            if ns.name == "search"
            else ns
            for ns in snapshot.namespaces
        )
        return replace(snapshot, namespaces=namespaces)

    def close(self) -> None:
        return None


def search_teams(exposition: bytes) -> set[str]:
    return {
        s.labels["team"]
        for f in text_string_to_metric_families(exposition.decode())
        for s in f.samples
        if s.name == "unitcost_pod_total_cost_dollars_per_hour"
        and s.labels["namespace"] == "search"
    }


def test_a_relabelled_namespace_shows_in_the_next_collect() -> None:
    source = RelabellingSource()
    collector = Collector(source, PriceBook.load(), demo_config())
    assert search_teams(collector.collect_once().exposition) == {"search"}
    source.search_team = "discovery"
    assert search_teams(collector.collect_once().exposition) == {"discovery"}
    source.search_team = "search"
    assert search_teams(collector.collect_once().exposition) == {"search"}
