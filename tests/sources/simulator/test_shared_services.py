"""The demo's shared cache and broker: usage by hand, the cluster unchanged without them, and
the demo's allocator splitting their cost by that usage with nothing lost."""

from __future__ import annotations

import math

import pytest

from unitcost.cli.exporter import shared_services
from unitcost.config.file import demo_config
from unitcost.data.model import Owner
from unitcost.data.resources import Resources
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource
from unitcost.sources.simulator.catalogue import SANDBOX_NAMESPACE, TEAMS, WorkloadKind
from unitcost.sources.simulator.objects import SimPod, Workload
from unitcost.sources.simulator.shared_services import (
    BROKER,
    BROKER_NAMESPACE,
    CACHE,
    CACHE_NAMESPACE,
    rows,
    usage,
)

TEAM = {t.workload: t for t in TEAMS}


def pod(namespace: str, name: str, node: str = "n1") -> SimPod:
    return SimPod(name, name, namespace, Resources(1, 1), {}, None, 0.5, 0.5, 0.0, node)


def workload(kind: WorkloadKind | None, pods: list[SimPod], started: float = 0.0) -> Workload:
    team = TEAM[kind] if kind is not None else None
    return Workload(team, "w", pods, started, math.inf)


def test_usage_by_hand() -> None:
    spark, ray, service = (
        TEAM[WorkloadKind.SPARK],
        TEAM[WorkloadKind.RAY],
        TEAM[WorkloadKind.SERVICE],
    )
    items = [
        (workload(WorkloadKind.SPARK, []), pod(spark.namespace, "exec-1")),
        (workload(WorkloadKind.SPARK, []), pod(spark.namespace, "exec-2")),
        (workload(WorkloadKind.RAY, []), pod(ray.namespace, "head")),
        (workload(WorkloadKind.SERVICE, []), pod(service.namespace, "api")),
        (workload(None, []), pod(SANDBOX_NAMESPACE, "debug-0")),
        # not placed yet, or not started yet: no usage
        (workload(WorkloadKind.SPARK, []), pod(spark.namespace, "pending", node="")),
        (workload(WorkloadKind.SPARK, [], started=200.0), pod(spark.namespace, "later")),
    ]
    found = usage(items, now=100.0)
    # cache: Spark 2 x 20 MB/s, Ray 50 MB/s, the sandbox 5 MB/s with no tenant
    assert found[CACHE] == {spark.team: 40e6, ray.team: 50e6, "": 5e6}
    # broker: Spark 2 x 10/s, the service 300/s, by namespace
    assert found[BROKER] == {spark.namespace: 20.0, service.namespace: 300.0}
    # as a Prometheus instant query returns them: unnamed usage has no consumer label
    assert rows(found, CACHE, "tenant") == [
        ({}, 5e6),
        ({"tenant": spark.team}, 40e6),
        ({"tenant": ray.team}, 50e6),
    ]
    with pytest.raises(LookupError, match="no shared service 'trino'"):
        rows(found, "trino", "tenant")


def test_the_cluster_is_the_same_without_the_services() -> None:
    plain = SimulatedCluster(seed=7, nodes=20, pods=200).snapshot()
    with_services = SimulatedCluster(seed=7, nodes=20, pods=200, shared_services=True).snapshot()
    extra = [p for p in with_services.pods if p.namespace in (CACHE_NAMESPACE, BROKER_NAMESPACE)]
    assert len(extra) == 6
    assert {p.owner for p in extra} == {
        Owner("StatefulSet", "alluxio-worker"),
        Owner("StatefulSet", "kafka"),
    }
    assert all(p.node for p in extra)
    assert [p for p in with_services.pods if p not in extra] == list(plain.pods)
    names = {n.name for n in with_services.namespaces}
    assert {CACHE_NAMESPACE, BROKER_NAMESPACE} <= names
    assert not {CACHE_NAMESPACE, BROKER_NAMESPACE} & {n.name for n in plain.namespaces}


def test_the_demo_splits_the_services_cost_by_usage() -> None:
    config = demo_config()
    cluster = SimulatedCluster(seed=7, nodes=20, pods=200, shared_services=True)
    source = SimulatorSource(cluster)
    allocator = shared_services(config, source)
    assert allocator is not None
    frame = (
        Collector(source, PriceBook.load(), config, shared_services=allocator).collect_once().frame
    )
    assert frame is not None
    splits = {s.service: s for s in allocator.by_team(frame)}
    assert set(splits) == {CACHE, BROKER}
    expected = usage(cluster.iter_pods(), cluster.now)
    for split in splits.values():
        assert split.cost > 0 and split.owner == "platform"
        # shares + remainder == the service's cost (docs/shared-services.md)
        assert math.isclose(sum(split.shares.values()) + split.remainder, split.cost, rel_tol=1e-9)
    cache = splits[CACHE]
    total = sum(expected[CACHE].values())
    for team, reads in expected[CACHE].items():
        if team:
            assert math.isclose(cache.shares[team], cache.cost * reads / total, rel_tol=1e-9)
    assert math.isclose(cache.remainder, cache.cost * expected[CACHE][""] / total, rel_tol=1e-9)
    # the broker's consumers are namespaces, paid for by their teams
    assert set(splits[BROKER].shares) <= {t.team for t in TEAMS}
    assert all(h.up for h in allocator.health())


def test_no_allocator_for_a_real_cluster_without_prometheus() -> None:
    config = demo_config()
    plain = SimulatorSource(SimulatedCluster(seed=7, nodes=20, pods=200))
    assert shared_services(config, plain) is None
    assert shared_services(config) is None
