"""The shared-service allocator over a frame: the service's cost from its pods, the split by the
last usage read, and a failing usage query (last good split kept, the source down)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from unitcost.config.shared_services import SharedService, SharedServicesSettings
from unitcost.data.frame import Attribution, CostFrame, PodCost
from unitcost.data.shared_services import BY_USAGE, LAST_GOOD, UNSPLIT
from unitcost.runtime.shared_services import SharedServiceAllocator, service_cost

PLATFORM = Attribution("platform", "infra", "cc1", labels=(("app", "alluxio"),))
OTHER = Attribution("platform", "infra", "cc1", labels=(("app", "kafka"),))


def frame(cache_dollars: float) -> CostFrame:
    return CostFrame(
        0.0,
        pods=[
            PodCost(
                "data-services",
                "alluxio-0",
                "n1",
                PLATFORM,
                {"cpu": cache_dollars / 2, "memory": cache_dollars / 2},
                {},
            ),
            PodCost("data-services", "kafka-0", "n1", OTHER, {"cpu": 100.0}, {}),
        ],
    )


SETTINGS = SharedServicesSettings(
    prometheus_url="http://prometheus:9090",
    services={
        "alluxio": SharedService(
            namespace="data-services",
            selector={"app": "alluxio"},
            usage_query="sum by (tenant) (rate(alluxio_bytes_read_total[1h]))",
            consumer_label="tenant",
        )
    },
)


class Queries:
    def __init__(self) -> None:
        self.answer: list[tuple[Mapping[str, str], float]] | Exception = []

    def __call__(self, promql: str) -> Sequence[tuple[Mapping[str, str], float]]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_service_cost_is_its_selected_pods() -> None:
    assert service_cost(frame(12.0), SETTINGS.services["alluxio"]) == (12.0, "platform")


def test_split_then_a_failing_query_keeps_the_last_good_split() -> None:
    queries = Queries()
    allocator = SharedServiceAllocator(SETTINGS, queries)
    # never read yet: everything on the owner, the source down
    first = allocator.split(frame(12.0))[0]
    assert (first.method, first.remainder) == (UNSPLIT, 12.0)
    assert [h.up for h in allocator.health()] == [False]
    queries.answer = [({"tenant": "data"}, 7.0), ({"tenant": "ml"}, 2.0), ({}, 1.0)]
    allocator.refresh(100.0)
    split = allocator.split(frame(12.0))[0]
    assert split.method == BY_USAGE
    assert {k: round(v, 2) for k, v in split.shares.items()} == {"data": 8.4, "ml": 2.4}
    # the query fails: the last fractions apply to the new cost ($20/h), the source is down
    queries.answer = RuntimeError("HTTP 503")
    allocator.refresh(200.0)
    kept = allocator.split(frame(20.0))[0]
    assert kept.method == LAST_GOOD
    assert {k: round(v, 2) for k, v in kept.shares.items()} == {"data": 14.0, "ml": 4.0}
    assert round(kept.remainder, 2) == 2.0
    health = allocator.health()[0]
    assert (health.source, health.up, health.last_success) == (
        "shared-service:alluxio",
        False,
        100.0,
    )


def test_namespace_consumers_pay_through_their_team_and_families_add_up() -> None:
    settings = SharedServicesSettings(
        prometheus_url="http://prometheus:9090",
        services={
            "alluxio": SharedService(
                namespace="data-services",
                selector={"app": "alluxio"},
                usage_query="q",
                consumer_label="namespace",
                consumer_kind="namespace",
            )
        },
    )
    queries = Queries()
    queries.answer = [
        ({"namespace": "etl"}, 3.0),
        ({"namespace": "etl-dev"}, 1.0),
        ({"namespace": "ghost"}, 2.0),
        ({}, 2.0),
    ]
    base = frame(16.0)
    owners = {
        "etl": Attribution("data", "r", "c"),
        "etl-dev": Attribution("data", "r", "c"),
    }
    with_namespaces = CostFrame(0.0, pods=base.pods, namespaces=owners)
    families = SharedServiceAllocator(settings, queries).families(with_namespaces, 10.0)
    cost, allocated = (dict(f.samples) for f in families)
    assert cost == {("alluxio", "platform"): 16.0}
    # usage 8: data (etl + etl-dev) 4/8 = $8, unknown namespace 2/8 = $4, owner 2/8 = $4
    assert allocated == {
        ("alluxio", "data", "usage"): 8.0,
        ("alluxio", "unassigned", "usage"): 4.0,
        ("alluxio", "platform", "unattributed"): 4.0,
    }
    assert sum(allocated.values()) == 16.0


def test_the_collector_serves_the_split_and_the_query_health() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from support.catalogue import assert_conforms
    from unitcost.config.file import demo_config
    from unitcost.metrics.catalogue import Binary
    from unitcost.pricing import PriceBook
    from unitcost.runtime.collector import Collector
    from unitcost.sources.simulator import SimulatedCluster, SimulatorSource

    settings = SharedServicesSettings(
        prometheus_url="http://prometheus:9090",
        services={
            "node-exporter": SharedService(
                namespace="monitoring", usage_query="q", consumer_label="team", owner_team="sre"
            )
        },
    )
    queries = Queries()
    queries.answer = [({"team": "ml"}, 1.0), ({"team": "data"}, 3.0)]
    config = demo_config()
    source = SimulatorSource(SimulatedCluster(seed=1, nodes=6, pods=60, start=1_000_000.0))
    collector = Collector(
        source,
        PriceBook.load(),
        config,
        shared_services=SharedServiceAllocator(settings, queries),
    )
    text = collector.collect_once().exposition.decode()
    assert_conforms(text, Binary.EXPORTER)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    cost = samples[
        (
            "unitcost_shared_service_cost_dollars_per_hour",
            (("service", "node-exporter"), ("team", "sre")),
        )
    ]
    assert cost > 0
    ml = samples[
        (
            "unitcost_shared_service_allocated_cost_dollars_per_hour",
            (("method", "usage"), ("service", "node-exporter"), ("team", "ml")),
        )
    ]
    assert abs(ml - cost / 4) < 1e-9
    assert samples[("unitcost_source_up", (("source", "shared-service:node-exporter"),))] == 1.0
