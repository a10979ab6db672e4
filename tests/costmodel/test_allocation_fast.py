"""The vectorised allocate() against the per-pod reference loop (tests/support/reference.py):
the same CostFrame, to the bit, on simulator snapshots and hypothesis-generated ones, with and
without an AttributionCache kept across rounds."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.builders import GIB, node, pod
from support.reference import allocate_reference
from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import AllocationPolicy, allocate
from unitcost.costmodel.attribution import AttributionCache, AttributionRules, LabelSource
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.model import (
    Flavor,
    LocalQueue,
    Namespace,
    Owner,
    PodPhase,
    Provider,
    Queue,
    Resources,
    Snapshot,
)
from unitcost.pricing import PriceBook
from unitcost.sources.simulator import SimulatedCluster

PRICES = PriceBook.load()
#: Edge values the vectorised path must treat exactly as the loop does: negative zero,
#: NaN, infinities, negatives, tiny and huge amounts.
AMOUNTS = st.one_of(
    st.floats(min_value=0, max_value=512),
    st.sampled_from([0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 5e-324, 1e300]),
)
LABELS = st.dictionaries(
    st.sampled_from(
        [
            "team",
            "org",
            "spark-app-selector",
            "ray.io/cluster",
            "queue",
            "kueue.x-k8s.io/queue-name",
            "x",
            "idx",
        ]
    ),
    st.sampled_from(["", "a", "b", "c"]),
    max_size=4,
)


#: Namespaces and LocalQueues as a later round may see them: relabelled, added, removed.
NAMESPACES = st.sampled_from(
    [
        (Namespace("a", {"team": "ns-team"}), Namespace("b", {})),
        (Namespace("a", {"team": "renamed"}), Namespace("b", {"org": "o"})),
        (Namespace("a", {}, {"team": "ann"}),),
        (),
    ]
)
QUEUES = st.lists(
    st.builds(
        LocalQueue,
        st.sampled_from(["a", "b", "kube-system"]),
        st.sampled_from(["a", "b"]),
        st.sampled_from(["cq-1", "cq-2"]),
    ),
    max_size=3,
).map(tuple)


FLAVORS = (Flavor("fx", {"pool": "x"}), Flavor("fy", {"pool": "y"}), Flavor("any", {}))
#: Queues named as pods name them: YuniKorn `queue` label values and Kueue ClusterQueues.
QUOTAS = (
    Queue("cq-1", "kueue", {"fx": Resources(4.0), "any": Resources(1.0, 2 * GIB)}),
    # Overlapping flavors: a pod counts at the first in quota order that holds its node.
    Queue("a", "yunikorn", {"gone": Resources(1.0), "fy": Resources(2.0), "any": Resources()}),
    Queue("b", "yunikorn", {"any": Resources()}),
)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    nodes = []
    for i in range(draw(st.integers(1, 5))):
        capacity = Resources(
            draw(AMOUNTS), draw(AMOUNTS) * GIB, float(draw(st.integers(0, 8))), draw(AMOUNTS)
        )
        allocatable = draw(st.one_of(st.just(capacity), st.builds(Resources, *[AMOUNTS] * 4)))
        nodes.append(
            node(
                f"n{i % 4}",  # sometimes a duplicate name: both nodes get the same pods
                capacity,
                allocatable=allocatable,
                instance_type=draw(st.sampled_from(["m5.xlarge", "p4d.24xlarge", "nope"])),
                provider=draw(st.sampled_from(list(Provider))),
                gpu_model="NVIDIA A10G",
                labels={"pool": draw(st.sampled_from(["x", "y"]))},
            )
        )
    pods = []
    for j in range(draw(st.integers(0, 25))):
        requests = Resources(*[draw(AMOUNTS) for _ in range(4)])
        usage = draw(st.one_of(st.none(), st.builds(Resources, *[AMOUNTS] * 4)))
        owner = draw(st.sampled_from([None, Owner("Job", "j"), Owner("Job", "k")]))
        built = pod(
            f"p{j % 20}",  # sometimes a duplicate key
            draw(st.sampled_from([n.name for n in nodes] + ["", "ghost"])),
            requests,
            usage,
            phase=draw(st.sampled_from([PodPhase.RUNNING, PodPhase.RUNNING, PodPhase.PENDING])),
            namespace=draw(st.sampled_from(["a", "b", "kube-system"])),
        )
        pods.append(replace(built, labels=draw(LABELS), annotations=draw(LABELS), owner=owner))
    return Snapshot(
        0.0,
        tuple(nodes),
        tuple(pods),
        draw(NAMESPACES),
        local_queues=draw(QUEUES),
        flavors=FLAVORS,
        queues=draw(st.sampled_from([(), QUOTAS])),
    )


POLICIES = st.builds(
    AllocationPolicy,
    st.builds(
        AttributionRules,
        team=st.just((LabelSource("pod_label", "team"), LabelSource("pod_annotation", "x"))),
        shared_namespaces=st.just(("kube-system",)),
        pod_label_allowlist=st.sampled_from([(), ("idx",), ("idx", "team")]),
    ),
    st.sampled_from(["keep", "even", "proportional"]),
)


def same(a: object, b: object) -> bool:
    """Equality where NaN equals NaN (repr compares floats bit for bit, incl. -0.0)."""
    return repr(a) == repr(b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots(), POLICIES)
def test_fast_allocation_equals_the_reference_loop(
    snapshot: Snapshot, policy: AllocationPolicy
) -> None:
    assert same(allocate(snapshot, PRICES, policy), allocate_reference(snapshot, PRICES, policy))


def test_fast_allocation_equals_the_reference_on_simulator_snapshots() -> None:
    cluster = SimulatedCluster(seed=7, nodes=40, pods=1200)
    policy = allocation_policy(demo_config())
    for _ in range(3):  # pods come and go, usage moves
        cluster.advance(600)
        snapshot = cluster.snapshot()
        fast = allocate(snapshot, PRICES, policy)
        assert len(fast.pods) > 500
        assert same(fast, allocate_reference(snapshot, PRICES, policy))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    snapshots(),
    st.lists(st.tuples(NAMESPACES, QUEUES, POLICIES, st.booleans()), min_size=1, max_size=3),
)
def test_a_cache_kept_across_rounds_gives_the_reference_frame(
    first: Snapshot,
    rounds: list[tuple[tuple[Namespace, ...], tuple[LocalQueue, ...], AllocationPolicy, bool]],
) -> None:
    """The same pods round after round (so the cache answers), while namespaces are relabelled,
    LocalQueues change, the rules change, and pods come and go."""
    cache = AttributionCache()
    snapshot = first
    for namespaces, queues, policy, drop_half in rounds:
        expected = allocate_reference(snapshot, PRICES, policy)
        assert same(allocate(snapshot, PRICES, policy, cache), expected)
        pods = snapshot.pods[::2] if drop_half else snapshot.pods
        snapshot = replace(snapshot, pods=pods, namespaces=namespaces, local_queues=queues)
    policy = rounds[-1][2]
    assert same(
        allocate(snapshot, PRICES, policy, cache), allocate_reference(snapshot, PRICES, policy)
    )
