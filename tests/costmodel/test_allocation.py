"""The cost model: hand-computed scenarios (one per provider type) and the invariant under
random snapshots."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.builders import GIB, node, pod, res
from support.invariant import assert_frame_invariant
from unitcost.costmodel.allocation import AllocationPolicy, allocate
from unitcost.costmodel.attribution import AttributionRules
from unitcost.data.model import (
    CapacityType,
    Gpu,
    Namespace,
    PodPhase,
    Provider,
    Resources,
    Snapshot,
)
from unitcost.pricing import PriceBook
from unitcost.pricing.schema import PriceBookFile

POLICY = AllocationPolicy(AttributionRules(shared_namespaces=("kube-system",)))


def book(data: dict[str, object]) -> PriceBook:
    return PriceBook(PriceBookFile.model_validate(data))


class Monthly:
    """Compares a $/h figure as monthly dollars (730 h) to the cent: how Finance reads them."""

    def __init__(self, hourly: float) -> None:
        self.monthly = hourly * 730

    def __eq__(self, expected: object) -> bool:
        return isinstance(expected, int | float) and abs(self.monthly - expected) < 0.005

    def __repr__(self) -> str:
        return f"${self.monthly:.4f}/month"


cents = Monthly


def by_name(frame_pods: list, name: str):  # type: ignore[no-untyped-def]
    return next(p for p in frame_pods if p.name == name)


# -- hand-computed scenarios -----------------------------------------------------------------


def test_aws_on_demand_node_split_and_waste_to_the_cent() -> None:
    # m5-like node at $0.384/h; fallback rates value cpu 4 x 0.032 = 0.128 and memory
    # 16 GiB x 0.004 = 0.064, so the price splits 2:1 -> cpu $0.256/h, memory $0.128/h,
    # i.e. $0.064 per core-hour and $0.008 per GiB-hour (allocatable = capacity).
    prices = book(
        {
            "fallback": {"cpu_core_hour": 0.032, "memory_gib_hour": 0.004},
            "providers": {
                "aws": {"instance_types": {"m5.test": {"hourly": 0.384, "as_of": "2025-05"}}}
            },
        }
    )
    n = node("n1", res(4, 16), instance_type="m5.test")
    a = pod("a", "n1", res(1, 4), res(0.5, 6))  # demand cpu 1, memory 6
    b = pod("b", "n1", res(2, 2), res(2.5, 1))  # demand cpu 2.5, memory 2
    frame = allocate(Snapshot(0, (n,), (a, b)), prices, POLICY)

    pa, pb = by_name(frame.pods, "a"), by_name(frame.pods, "b")
    assert cents(pa.allocated["cpu"]) == 46.72  # 1 core x 0.064 x 730
    assert cents(pa.allocated["memory"]) == 35.04  # 6 GiB x 0.008 x 730
    assert cents(pa.unused["cpu"]) == 23.36  # 0.5 core requested, unused
    assert "memory" not in pa.unused  # used more than requested: no waste
    assert cents(pb.allocated["cpu"]) == 116.80  # 2.5 cores (usage above request)
    assert cents(pb.allocated["memory"]) == 11.68
    assert cents(pb.unused["memory"]) == 5.84
    (nc,) = frame.nodes
    assert cents(nc.price.dollars_per_hour["cpu"]) == 186.88
    assert cents(nc.idle["cpu"]) == 23.36  # 0.5 core idle
    assert cents(nc.idle["memory"]) == 46.72  # 8 GiB idle
    assert frame.unpriced_nodes == 0
    assert_frame_invariant(frame)


def test_gcp_spot_over_committed_node_is_scaled_not_overdrawn() -> None:
    # $0.40/h list, 70% spot discount -> $0.12/h, split 2:1 -> cpu $0.08, memory $0.04.
    prices = book(
        {
            "fallback": {"cpu_core_hour": 0.01, "memory_gib_hour": 0.00125},
            "providers": {
                "gcp": {
                    "spot_discount": 0.7,
                    "instance_types": {"n2-test": {"hourly": 0.4, "as_of": "2025-05"}},
                }
            },
        }
    )
    n = node(
        "g1",
        res(8, 32),
        provider=Provider.GCP,
        instance_type="n2-test",
        capacity_type=CapacityType.SPOT,
    )
    a = pod("a", "g1", res(4, 8), res(6, 4))
    b = pod("b", "g1", res(4, 0), res(6, 2))
    pending = pod("p", "", res(4, 4), phase=PodPhase.PENDING)
    done = pod("d", "g1", res(4, 4), phase=PodPhase.SUCCEEDED)
    frame = allocate(Snapshot(0, (n,), (a, b, pending, done)), prices, POLICY)

    assert {p.name for p in frame.pods} == {"a", "b"}  # only running pods cost
    pa, pb = by_name(frame.pods, "a"), by_name(frame.pods, "b")
    # cpu demand 12 cores on 8: scaled by 2/3, each gets 4 cores = $0.04/h; nothing idle.
    assert cents(pa.allocated["cpu"]) == 29.20
    assert cents(pb.allocated["cpu"]) == 29.20
    assert cents(frame.nodes[0].idle["cpu"]) == 0.0
    assert cents(pa.allocated["memory"]) == 7.30  # 8 GiB x $0.00125
    assert cents(pa.unused["memory"]) == 3.65  # 4 GiB requested and unused
    assert cents(pb.allocated["memory"]) == 1.825  # no request, 2 GiB used
    assert cents(frame.nodes[0].idle["memory"]) == 20.075  # 22 GiB idle
    assert_frame_invariant(frame)


def test_onprem_tco_node_with_idle_gpu_and_shared_namespace() -> None:
    # 36,500 over 50 months = $1.00/h; 1 kW x $0.10 x PUE 1.5 = $0.15/h;
    # (73 + 73)/730 = $0.20/h: $1.35/h, split cpu .5 / memory .3 / gpu .2.
    prices = book(
        {
            "onprem": {
                "node_classes": {
                    "gpu-box": {
                        "purchase_price": 36500,
                        "amortization_months": 50,
                        "watts": 1000,
                        "kwh_price": 0.10,
                        "pue": 1.5,
                        "facility_per_month": 73,
                        "support_per_month": 73,
                        "weights": {"cpu": 0.5, "memory": 0.3, "gpu": 0.2, "storage": 0.4},
                    }
                }
            },
        }
    )
    n = node(
        "dc1",
        res(10, 100, 1),
        provider=Provider.ONPREM,
        instance_type="gpu-box",
        gpu_model="NVIDIA A100-SXM4-80GB",
    )
    worker = pod("infer", "dc1", res(5, 50, 1), res(5, 50, 1), namespace="ml")
    system = pod("proxy", "dc1", res(1, 0), res(1, 0), namespace="kube-system")
    gpu = Gpu(
        "dc1",
        "0",
        "GPU-1",
        "NVIDIA A100-SXM4-80GB",
        pod_namespace="ml",
        pod_name="infer",
        utilization=0.0,
        low_activity_since=0.0,
    )
    snapshot = Snapshot(
        7200, (n,), (worker, system), (Namespace("ml", {"team": "ml"}),), gpus=(gpu,)
    )
    frame = allocate(snapshot, prices, POLICY)

    price = frame.nodes[0].price
    assert price.method == "node-class"
    # storage weight ignored: the node has no local disk; weights renormalise over the rest.
    assert price.total == pytest.approx(1.35, abs=1e-12)
    assert cents(price.dollars_per_hour["gpu"]) == 197.10  # 0.27/h
    pw = by_name(frame.pods, "infer")
    assert cents(pw.allocated["cpu"]) == 246.375  # 5 of 10 cores of $0.675/h
    assert pw.owner.team == "ml"
    assert by_name(frame.pods, "proxy").owner.team == "shared"
    (g,) = frame.gpus
    assert g.idle and cents(g.idle_hourly) == 197.10  # idle 2 h > 30 min window
    assert_frame_invariant(frame)


def test_unknown_instance_type_falls_back_to_rates_and_is_counted() -> None:
    prices = PriceBook.load()
    n = node("odd", res(2, 8), instance_type="x9.imaginary")
    frame = allocate(Snapshot(0, (n,), ()), prices, POLICY)
    assert frame.unpriced_nodes == 1
    assert frame.nodes[0].price.method == "fallback"
    assert frame.nodes[0].price.total > 0  # never silently zero


def test_shared_cost_spread_evenly_and_proportionally() -> None:
    prices = book({"fallback": {"cpu_core_hour": 1.0, "memory_gib_hour": 0.001}})
    n = node("n", res(10, 0), instance_type="unknown")
    pods = (
        pod("sys", "n", res(2), namespace="kube-system"),
        pod("small", "n", res(1)),
        pod("big", "n", res(3)),
    )
    for strategy, expected in (("even", (1.0, 1.0)), ("proportional", (0.5, 1.5))):
        policy = AllocationPolicy(POLICY.attribution, strategy)  # type: ignore[arg-type]
        frame = allocate(Snapshot(0, (n,), pods), prices, policy)
        small, big = by_name(frame.pods, "small"), by_name(frame.pods, "big")
        assert (small.shared["cpu"], big.shared["cpu"]) == pytest.approx(expected)
        assert by_name(frame.pods, "sys").shared == {}
        assert_frame_invariant(frame)  # redistribution never changes the node ledger


def test_gpu_not_idle_before_window_and_unallocated_gpu_is_node_idle() -> None:
    prices = PriceBook.load()
    n = node("g", res(8, 64, 2), instance_type="g5.12xlarge", gpu_model="NVIDIA A10G")
    p = pod("job", "g", res(4, 16, 1), res(4, 16, 1))
    busy_soon_idle = Gpu(
        "g",
        "0",
        "u0",
        "NVIDIA A10G",
        pod_namespace="team-a",
        pod_name="job",
        utilization=0.0,
        low_activity_since=1000.0,
    )
    free = Gpu("g", "1", "u1", "NVIDIA A10G", utilization=0.0, low_activity_since=0.0)
    frame = allocate(
        Snapshot(1000.0 + 1799, (n,), (p,), gpus=(busy_soon_idle, free)), prices, POLICY
    )
    assert [g.gpu for g in frame.gpus] == ["0"] and not frame.gpus[0].idle
    assert frame.nodes[0].idle["gpu"] == pytest.approx(
        frame.nodes[0].price.dollars_per_hour["gpu"] / 2
    )


# -- the invariant over random snapshots ----------------------------------------------------

finite = st.floats(min_value=0, max_value=512, allow_nan=False)
maybe_bad = st.one_of(finite, st.just(math.nan), st.just(math.inf), st.just(-1.0))


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    nodes = []
    for i in range(draw(st.integers(1, 4))):
        cap = Resources(
            draw(finite), draw(finite) * GIB, float(draw(st.integers(0, 8))), draw(finite) * GIB
        )
        # allocatable at most capacity, sometimes zero
        frac = draw(st.floats(0, 1))
        alloc = Resources(cap.cpu * frac, cap.memory * frac, cap.gpu, cap.storage * frac)
        instance = draw(st.sampled_from(["m5.xlarge", "p4d.24xlarge", "no-such-type"]))
        provider = draw(st.sampled_from(list(Provider)))
        nodes.append(
            node(
                f"n{i}",
                cap,
                allocatable=alloc,
                instance_type=instance,
                provider=provider,
                gpu_model="NVIDIA A10G",
            )
        )
    pods = []
    for j in range(draw(st.integers(0, 12))):
        requests = Resources(
            draw(finite), draw(finite) * GIB, float(draw(st.integers(0, 4))), draw(finite) * GIB
        )
        usage = draw(
            st.one_of(st.none(), st.builds(Resources, maybe_bad, maybe_bad, maybe_bad, maybe_bad))
        )
        node_name = draw(st.sampled_from([n.name for n in nodes] + ["", "ghost"]))
        phase = draw(st.sampled_from(list(PodPhase)))
        namespace = draw(st.sampled_from(["a", "b", "kube-system"]))
        pods.append(pod(f"p{j}", node_name, requests, usage, phase=phase, namespace=namespace))
    return Snapshot(0.0, tuple(nodes), tuple(pods))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots(), st.sampled_from(["keep", "even", "proportional"]))
def test_invariant_holds_for_random_snapshots(snapshot: Snapshot, strategy: str) -> None:
    policy = AllocationPolicy(POLICY.attribution, strategy)  # type: ignore[arg-type]
    frame = allocate(snapshot, PRICES, policy)
    assert_frame_invariant(frame)
    for nc in frame.nodes:
        assert all(v >= 0 and math.isfinite(v) for v in nc.price.dollars_per_hour.values())
    shared_total = sum(sum(p.shared.values()) for p in frame.pods)
    donors = sum(sum(p.allocated.values()) for p in frame.pods if p.owner.team == "shared")
    if strategy != "keep" and shared_total:
        assert shared_total == pytest.approx(donors, rel=1e-9)


PRICES = PriceBook.load()
