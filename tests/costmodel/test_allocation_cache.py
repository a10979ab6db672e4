"""AttributionCache across rounds: the frame equals a cache-less allocate() after every kind of
change its answers depend on (namespace labels, LocalQueues, rules, pods coming and going),
the cache only recomputes what changed, and it holds the latest round's inputs only."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from support.reference import allocate_reference
from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import AllocationPolicy, allocate
from unitcost.costmodel.attribution import AttributionCache, AttributionRules, LabelSource
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.frame import CostFrame
from unitcost.data.model import LocalQueue, Snapshot
from unitcost.pricing import PriceBook
from unitcost.sources.simulator import SimulatedCluster

PRICES = PriceBook.load()
POLICY = allocation_policy(demo_config())


def same(a: CostFrame, b: CostFrame) -> bool:
    return repr(a) == repr(b)


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return SimulatedCluster(seed=3, nodes=30, pods=900).snapshot()


def teams(frame: CostFrame, namespace: str) -> Counter[str]:
    return Counter(p.owner.team for p in frame.pods if p.namespace == namespace)


def warm(snapshot: Snapshot, policy: AllocationPolicy = POLICY) -> AttributionCache:
    cache = AttributionCache()
    allocate(snapshot, PRICES, policy, cache)
    assert cache.computed > 10
    return cache


def test_an_unchanged_round_attributes_nothing_and_gives_the_same_frame(
    snapshot: Snapshot,
) -> None:
    cache = warm(snapshot)
    distinct = len(cache)
    frame = allocate(snapshot, PRICES, POLICY, cache)
    assert cache.computed == 0
    assert len(cache) == distinct
    assert same(frame, allocate(snapshot, PRICES, POLICY))
    assert same(frame, allocate_reference(snapshot, PRICES, POLICY))


def test_a_relabelled_namespace_is_attributed_again(snapshot: Snapshot) -> None:
    cache = warm(snapshot)
    before = allocate(snapshot, PRICES, POLICY, cache)
    assert teams(before, "vision") == Counter({"vision": teams(before, "vision").total()})
    relabelled = tuple(
        replace(ns, labels={**ns.labels, "team": "vision-2"}) if ns.name == "vision" else ns
        for ns in snapshot.namespaces
    )
    changed = replace(snapshot, namespaces=relabelled)
    frame = allocate(changed, PRICES, POLICY, cache)
    assert teams(frame, "vision") == Counter({"vision-2": teams(before, "vision").total()})
    assert 0 < cache.computed < len(cache)  # only the vision namespace's inputs
    assert same(frame, allocate_reference(changed, PRICES, POLICY))


def test_a_namespace_relabelled_in_place_is_noticed(snapshot: Snapshot) -> None:
    """A source that mutates its Namespace's label dict rather than making a new one."""
    namespaces = tuple(replace(ns, labels=dict(ns.labels)) for ns in snapshot.namespaces)
    mine = replace(snapshot, namespaces=namespaces)
    cache = warm(mine)
    next(ns for ns in namespaces if ns.name == "recsys").labels["team"] = "ranking"
    frame = allocate(mine, PRICES, POLICY, cache)
    assert set(teams(frame, "recsys")) == {"ranking"}
    assert same(frame, allocate(mine, PRICES, POLICY))


def test_a_local_queue_pointed_elsewhere_moves_its_pods(snapshot: Snapshot) -> None:
    cache = warm(snapshot)
    before = allocate(snapshot, PRICES, POLICY, cache)
    queued = Counter(p.owner.queue for p in before.pods if p.namespace == "llm-training")
    assert queued == Counter({"research-gpu": queued.total()}) and queued.total() > 0
    moved = tuple(
        LocalQueue(lq.namespace, lq.name, "spare-gpu") if lq.namespace == "llm-training" else lq
        for lq in snapshot.local_queues
    )
    changed = replace(snapshot, local_queues=moved)
    frame = allocate(changed, PRICES, POLICY, cache)
    after = Counter(p.owner.queue for p in frame.pods if p.namespace == "llm-training")
    assert after == Counter({"spare-gpu": queued.total()})
    assert same(frame, allocate_reference(changed, PRICES, POLICY))
    # And back: a deleted LocalQueue leaves the pod's queue label as the queue.
    gone = replace(snapshot, local_queues=())
    frame = allocate(gone, PRICES, POLICY, cache)
    assert same(frame, allocate_reference(gone, PRICES, POLICY))


def test_new_rules_empty_the_cache(snapshot: Snapshot) -> None:
    cache = warm(snapshot)
    distinct = len(cache)
    rules = replace(
        POLICY.attribution,
        team=(LabelSource("namespace_label", "org"),),
        pod_label_allowlist=("spark-role",),
    )
    policy = replace(POLICY, attribution=rules)
    frame = allocate(snapshot, PRICES, policy, cache)
    assert cache.computed == distinct  # every input attributed again
    assert set(teams(frame, "recsys")) == {"product"}  # team now read from the org label
    assert same(frame, allocate_reference(snapshot, PRICES, policy))
    # Equal rules built anew (a reload of the same file) keep the cache.
    allocate(
        snapshot, PRICES, replace(policy, attribution=AttributionRules(**_fields(rules))), cache
    )
    assert cache.computed == 0


def _fields(rules: AttributionRules) -> dict[str, object]:
    return {name: getattr(rules, name) for name in rules.__slots__}


def test_the_cache_keeps_only_the_latest_rounds_inputs() -> None:
    cluster = SimulatedCluster(seed=5, nodes=30, pods=900)
    cache = AttributionCache()
    first = cluster.snapshot()
    allocate(first, PRICES, POLICY, cache)
    before = len(cache)
    for _ in range(4):  # workloads finish and new ones arrive
        cluster.advance(3 * 3600)
        snapshot = cluster.snapshot()
        frame = allocate(snapshot, PRICES, POLICY, cache)
        assert same(frame, allocate(snapshot, PRICES, POLICY))
        fresh = AttributionCache()
        allocate(snapshot, PRICES, POLICY, fresh)
        assert len(cache) == len(fresh)  # nothing left over from earlier rounds
    assert cache.computed > 0  # new workloads were attributed
    assert len(cache) < 2 * before


def test_pods_with_labels_attribution_does_not_read_share_one_computation(
    snapshot: Snapshot,
) -> None:
    """A source that keeps every label (a pod index, a hash) still attributes once per
    workload: the second-level key holds only the values attribution reads."""
    indexed = tuple(
        replace(p, labels={**p.labels, "index": str(i)}) for i, p in enumerate(snapshot.pods)
    )
    cache = warm(snapshot)
    per_workload = len(cache)
    changed = replace(snapshot, pods=indexed)
    frame = allocate(changed, PRICES, POLICY, cache)
    assert cache.computed <= per_workload
    assert same(frame, allocate_reference(changed, PRICES, POLICY))


def test_an_empty_round_empties_the_cache(snapshot: Snapshot) -> None:
    cache = warm(snapshot)
    distinct = len(cache)
    allocate(replace(snapshot, pods=()), PRICES, POLICY, cache)
    assert len(cache) == 0
    frame = allocate(snapshot, PRICES, POLICY, cache)
    assert cache.computed == distinct
    assert same(frame, allocate(snapshot, PRICES, POLICY))
