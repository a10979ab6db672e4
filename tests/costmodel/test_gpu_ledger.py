"""The per-device GPU ledger: hand-computed ledgers to the cent (a whole GPU, a 7-way MIG H100,
a 4-replica time-sliced A10G with 3 pods, a DRA claim shared by 2 pods, a HAMi 30%-memory
pod), the per-device invariant over random mixes of holders, and the node ledger still
conserved when allocate() prices GPUs through it."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.builders import GIB, node, pod, res
from support.invariant import assert_frame_invariant
from unitcost.costmodel.allocation import AllocationPolicy, allocate
from unitcost.costmodel.gpu_ledger import (
    MalformedAnnotation,
    gpu_ledgers,
    hami_allocation,
    malformed_annotations,
    mig_share,
)
from unitcost.data.devices import HAMI_ALLOCATED, DeviceLedger, DeviceRef, GpuClaim, GpuDevice
from unitcost.data.model import Node, Pod, Snapshot
from unitcost.pricing import PriceBook
from unitcost.pricing.schema import PriceBookFile

H100_MIB = "81559"  # what GPU feature discovery labels an 80 GB H100 with
A10G_MIB = "23028"


def cents(value: float) -> float:
    return round(value * 100) / 100


def by_pod(ledger: DeviceLedger) -> dict[str, float]:
    out: dict[str, float] = {}
    for h in ledger.holdings:
        out[h.pod] = out.get(h.pod, 0.0) + h.hourly
    return out


def gpu_pod(
    name: str, node_name: str, gpus: float = 0.0, extended: dict[str, float] | None = None
) -> Pod:
    requested = tuple((extended or {}).items())
    return replace(pod(name, node_name, res(1, 4, gpus)), gpu_requests=requested)


def ledgers_of(
    nodes: list[Node],
    hourly: dict[str, float],
    pods: list[Pod],
    devices: tuple[GpuDevice, ...] = (),
    claims: tuple[GpuClaim, ...] = (),
    basis: str = "compute",
) -> list[DeviceLedger]:
    return gpu_ledgers(nodes, hourly, pods, devices, claims, basis)  # type: ignore[arg-type]


def assert_conserved(ledgers: list[DeviceLedger]) -> None:
    for ledger in ledgers:
        assert ledger.unheld >= 0
        total = math.fsum(h.hourly for h in ledger.holdings) + ledger.unheld
        assert math.isclose(total, ledger.hourly, rel_tol=1e-9, abs_tol=1e-12), ledger


# -- hand-computed ----------------------------------------------------------------------------


def test_a_whole_gpu_of_an_eight_gpu_node() -> None:
    # p4d.24xlarge-like: $32.77/h of GPU over 8 A100s -> $4.09625 per device.
    n = node("p4d", res(96, 1152, 8), gpu_model="A100")
    ledgers = ledgers_of([n], {"p4d": 32.77}, [gpu_pod("train", "p4d", 1)])
    assert len(ledgers) == 8
    assert cents(by_pod(ledgers[0])["train"]) == 4.10
    assert ledgers[0].unheld == 0.0
    assert [cents(x.unheld) for x in ledgers[1:]] == [4.10] * 7
    assert cents(math.fsum(x.unheld for x in ledgers)) == cents(32.77 - 4.09625)
    assert_conserved(ledgers)


def test_a_seven_way_mig_h100_on_compute_slices_and_on_memory() -> None:
    # One H100 at $4.20/h, 7 pods each on a 1g.10gb slice.
    labels = {"nvidia.com/gpu.memory": H100_MIB}
    n = node("h100", res(26, 200, 1), gpu_model="H100", labels=labels)
    pods = [gpu_pod(f"p{i}", "h100", 0, {"nvidia.com/mig-1g.10gb": 1}) for i in range(7)]
    (compute,) = ledgers_of([n], {"h100": 4.20}, pods)
    assert {k: cents(v) for k, v in by_pod(compute).items()} == {f"p{i}": 0.60 for i in range(7)}
    assert cents(compute.unheld) == 0.0
    # memory: 10 GB of 80 -> 1/8 each, $0.525; one eighth ($0.525) unheld.
    (memory,) = ledgers_of([n], {"h100": 4.20}, pods, basis="memory")
    assert all(abs(v - 0.525) < 1e-12 for v in by_pod(memory).values())
    assert abs(memory.unheld - 0.525) < 1e-12
    assert {h.kind for h in compute.holdings} == {"mig"}
    assert_conserved([compute, memory])


def test_mixed_mig_profiles_fill_a_device() -> None:
    n = node("h100", res(26, 200, 1), gpu_model="H100")
    pods = [
        gpu_pod("big", "h100", 0, {"nvidia.com/mig-3g.40gb": 1}),
        gpu_pod("mid", "h100", 0, {"nvidia.com/mig-2g.20gb": 1}),
        gpu_pod("small", "h100", 0, {"nvidia.com/mig-1g.10gb": 2}),
    ]
    (ledger,) = ledgers_of([n], {"h100": 7.0}, pods)
    assert {k: cents(v) for k, v in by_pod(ledger).items()} == {"big": 3, "mid": 2, "small": 2}
    assert cents(ledger.unheld) == 0


def test_a_four_replica_time_sliced_a10g_with_three_pods() -> None:
    # g5.xlarge: one A10G; the node's GPU row $0.80/h, time-sliced into 4 replicas.
    labels = {"nvidia.com/gpu.replicas": "4", "nvidia.com/gpu.memory": A10G_MIB}
    n = node("g5", res(4, 16, 1), gpu_model="A10G", labels=labels)
    pods = [gpu_pod(f"infer-{i}", "g5", 1) for i in range(3)]
    (ledger,) = ledgers_of([n], {"g5": 0.80}, pods)
    assert {k: cents(v) for k, v in by_pod(ledger).items()} == {
        "infer-0": 0.20,
        "infer-1": 0.20,
        "infer-2": 0.20,
    }
    assert cents(ledger.unheld) == 0.20
    assert {h.kind for h in ledger.holdings} == {"replica"}
    mps = replace(n, labels={**labels, "nvidia.com/gpu.sharing-strategy": "mps"})
    (shared,) = ledgers_of([mps], {"g5": 0.80}, pods)
    assert {h.kind for h in shared.holdings} == {"mps"}


def test_a_dra_claim_shared_by_two_pods() -> None:
    # p5.48xlarge: $98.32/h, GPU row say $88.00 over 8 DRA devices -> $11.00 each.
    devices = tuple(
        GpuDevice("p5", f"gpu-{i}", "gpu.nvidia.com", "p5", f"GPU-{i}", "H100") for i in range(8)
    )
    claim = GpuClaim(
        "serve",
        "shared-gpu",
        (DeviceRef("p5", "gpu.nvidia.com", "p5", "gpu-3"),),
        ("router-a", "router-b"),
    )
    pods = [pod("router-a", "p5", res(1, 1), namespace="serve")]
    pods.append(pod("router-b", "p5", res(1, 1), namespace="serve"))
    ledgers = ledgers_of([node("p5", res(192, 2048))], {"p5": 88.0}, pods, devices, (claim,))
    held = {x.device.device: x for x in ledgers}
    assert {k: cents(v) for k, v in by_pod(held["gpu-3"]).items()} == {
        "router-a": 5.50,
        "router-b": 5.50,
    }
    assert held["gpu-3"].unheld == 0.0
    assert [h.claim for h in held["gpu-3"].holdings] == ["serve/shared-gpu"] * 2
    assert cents(math.fsum(x.unheld for x in ledgers)) == 77.00
    assert_conserved(ledgers)


def test_a_hami_pod_holding_thirty_percent_of_memory() -> None:
    # An A10G at $1.00/h; HAMi's nvidia.com/gpumem in MiB (30% of 23028 MiB) or in percent.
    n = node("g5", res(4, 16, 1), gpu_model="A10G", labels={"nvidia.com/gpu.memory": A10G_MIB})
    by_mib = gpu_pod("nb", "g5", 1, {"nvidia.com/gpumem": 0.3 * 23028})
    (ledger,) = ledgers_of([n], {"g5": 1.0}, [by_mib])
    assert cents(by_pod(ledger)["nb"]) == 0.30 and cents(ledger.unheld) == 0.70
    by_percent = gpu_pod("nb", "g5", 1, {"nvidia.com/gpumem-percentage": 30})
    (ledger,) = ledgers_of([n], {"g5": 1.0}, [by_percent])
    assert cents(by_pod(ledger)["nb"]) == 0.30 and ledger.holdings[0].kind == "fraction"
    # compute asked for beyond memory wins: 30% memory, 50% cores -> half the device
    cores = gpu_pod("nb", "g5", 1, {"nvidia.com/gpumem-percentage": 30, "nvidia.com/gpucores": 50})
    (ledger,) = ledgers_of([n], {"g5": 1.0}, [cores])
    assert cents(by_pod(ledger)["nb"]) == 0.50


def test_an_oversubscribed_device_is_scaled_not_overdrawn() -> None:
    n = node("g5", res(4, 16, 1), labels={"nvidia.com/gpu.memory": A10G_MIB})
    pods = [gpu_pod(f"nb{i}", "g5", 1, {"nvidia.com/gpumem-percentage": 60}) for i in range(2)]
    (ledger,) = ledgers_of([n], {"g5": 1.0}, pods)
    assert [cents(h.hourly) for h in ledger.holdings] == [0.5, 0.5]
    assert ledger.unheld == 0.0


def test_mig_share_by_basis() -> None:
    assert mig_share("3g.40gb") == 3 / 7
    assert mig_share("3g.40gb", "memory", 81559 * 2**20) == 0.5
    assert mig_share("3g.40gb", "memory", 0.0) == 3 / 7  # memory unknown: compute
    assert mig_share("2g.12gb", "compute", slices=4) == 0.5  # A30
    assert mig_share("1c.3g.40gb") == 1 / 7
    assert mig_share("1g.10gb+me") == 1 / 7
    assert mig_share("nonsense") == 1 / 7


def test_a_claim_whose_device_disappeared_is_still_priced() -> None:
    claim = GpuClaim(
        "ml", "c", (DeviceRef("n", "gpu.nvidia.com", "p", "gpu-9", listed=False),), ("w",)
    )
    listed = (GpuDevice("n", "gpu-0", "gpu.nvidia.com", "p"),)
    ledgers = ledgers_of(
        [node("n", res(8, 32))],
        {"n": 10.0},
        [pod("w", "n", res(1, 1), namespace="ml")],
        listed,
        (claim,),
    )
    assert [x.device.device for x in ledgers] == ["gpu-0", "gpu-9"]
    assert by_pod(ledgers[1]) == {"w": 5.0}


def test_an_unknown_driver_is_priced_at_the_nodes_gpu_price_and_flagged() -> None:
    devices = (GpuDevice("n", "acc-0", "accel.example.com", "p"),)
    claim = GpuClaim("ml", "c", (DeviceRef("n", "accel.example.com", "p", "acc-0"),), ("w",))
    (ledger,) = ledgers_of(
        [node("n", res(8, 32))],
        {"n": 3.0},
        [pod("w", "n", res(1, 1), namespace="ml")],
        devices,
        (claim,),
    )
    assert by_pod(ledger) == {"w": 3.0} and not ledger.device.known


# -- allocate(): pods get the ledger's GPU dollars, the node ledger stays conserved -----------

BOOK = PriceBook(
    PriceBookFile.model_validate(
        {
            "providers": {
                "aws": {
                    "instance_types": {
                        "p5.48xlarge": {"hourly": 98.32, "as_of": "2026-01-01"},
                        "g5.xlarge": {"hourly": 1.006, "as_of": "2026-01-01"},
                    }
                }
            }
        }
    )
)


def test_allocate_prices_dra_gpus_on_a_node_that_advertises_none() -> None:
    # The case: a p5.48xlarge whose 8 GPUs are published in a ResourceSlice and held
    # by claims showed $0 of GPU; now its GPU row is priced and held by the claims' pods.
    p5 = node("p5", res(192, 2048), instance_type="p5.48xlarge", gpu_model="H100")
    devices = tuple(GpuDevice("p5", f"gpu-{i}", "gpu.nvidia.com", "p5") for i in range(8))
    claims = tuple(
        GpuClaim("ml", f"c{i}", (DeviceRef("p5", "gpu.nvidia.com", "p5", f"gpu-{i}"),), (f"w{i}",))
        for i in range(6)
    )
    pods = tuple(pod(f"w{i}", "p5", res(8, 64), namespace="ml") for i in range(6))
    snapshot = Snapshot(0.0, nodes=(p5,), pods=pods, gpu_devices=devices, gpu_claims=claims)
    frame = allocate(snapshot, BOOK, AllocationPolicy())
    assert_frame_invariant(frame)
    (nc,) = frame.nodes
    gpu_row = nc.price.dollars_per_hour["gpu"]
    assert gpu_row > 50  # most of a p5 is its GPUs
    per_device = gpu_row / 8
    for p in frame.pods:
        assert math.isclose(p.allocated["gpu"], per_device, rel_tol=1e-12)
    assert math.isclose(nc.idle["gpu"], 2 * per_device, rel_tol=1e-9)
    assert len(frame.gpu_devices) == 8


def test_allocate_time_sliced_pods_and_conservation() -> None:
    labels = {"nvidia.com/gpu.replicas": "4"}
    g5 = node("g5", res(4, 16, 1), instance_type="g5.xlarge", gpu_model="A10G", labels=labels)
    pods = tuple(pod(f"i{i}", "g5", res(0.5, 2, 1)) for i in range(3))
    frame = allocate(Snapshot(0.0, nodes=(g5,), pods=pods), BOOK, AllocationPolicy())
    assert_frame_invariant(frame)
    gpu_row = frame.nodes[0].price.dollars_per_hour["gpu"]
    assert [cents(p.allocated["gpu"]) for p in frame.pods] == [cents(gpu_row / 4)] * 3
    assert math.isclose(frame.nodes[0].idle["gpu"], gpu_row / 4, rel_tol=1e-9)


def hami_pod(name: str, allocated: str, percent: float = 0.0) -> Pod:
    """A HAMi notebook: its request (memory percent) and HAMi's allocation annotation."""
    base = gpu_pod(name, "g5", 1, {"nvidia.com/gpumem-percentage": percent} if percent else {})
    return replace(base, annotations={HAMI_ALLOCATED: allocated})


def test_hami_allocation_annotation_format() -> None:
    # per container (';'), per device (':'), UUID,type,memory MiB,cores %
    value = "GPU-a,NVIDIA,3000,30:;GPU-b,NVIDIA,2000,0:GPU-c,NVIDIA,1000,0:;;"
    assert hami_allocation(value) == [
        ("GPU-a", 3000.0, 30.0),
        ("GPU-b", 2000.0, 0.0),
        ("GPU-c", 1000.0, 0.0),
    ]
    assert hami_allocation(";") == []  # allocated nothing (yet)
    for bad, why in (
        ("GPU-a,NVIDIA,3000:;", "want UUID,type,memory,cores"),
        (",NVIDIA,3000,0:;", "want UUID,type,memory,cores"),
        ("GPU-a,NVIDIA,lots,0:;", "must be numbers"),
        ("GPU-a,NVIDIA,-1,0:;", "must be >= 0"),
        ("GPU-a,NVIDIA,nan,0:;", "must be >= 0"),
    ):
        with pytest.raises(MalformedAnnotation, match=why):
            hami_allocation(bad)


def test_hami_annotations_name_the_device_and_the_share() -> None:
    # 4 A10G at $1.00/h each (23028 MiB). nb0: 30% of GPU-X's memory; nb1: 2000 MiB but 50%
    # of the cores of GPU-Y; nb2: 40% of GPU-Y's memory. First-fit would have put nb2 beside
    # nb0; the annotation puts it on GPU-Y: 0.30 on one device, 0.90 on another.
    n = node("g5", res(48, 192, 4), gpu_model="A10G", labels={"nvidia.com/gpu.memory": A10G_MIB})
    pods = [
        hami_pod("nb0", f"GPU-X,NVIDIA,{0.3 * 23028},0:;", 10),
        hami_pod("nb1", "GPU-Y,NVIDIA,2000,50:;", 10),
        hami_pod("nb2", f"GPU-Y,NVIDIA,{0.4 * 23028},0:;"),
    ]
    ledgers = ledgers_of([n], {"g5": 4.0}, pods)
    assert_conserved(ledgers)
    held = {x.device.uuid: by_pod(x) for x in ledgers}
    assert {k: {p: cents(v) for p, v in d.items()} for k, d in held.items()} == {
        "GPU-X": {"nb0": 0.30},
        "GPU-Y": {"nb1": 0.50, "nb2": 0.40},
        "": {},
    }
    assert [x.device.uuid for x in ledgers] == ["GPU-X", "GPU-Y", "", ""]
    assert {h.kind for x in ledgers for h in x.holdings} == {"fraction"}


def test_a_malformed_hami_annotation_is_counted_and_the_pod_keeps_its_cost() -> None:
    g5 = node(
        "g5",
        res(48, 192, 4),
        instance_type="g5.12xlarge",
        gpu_model="A10G",
        labels={"nvidia.com/gpu.memory": A10G_MIB},
    )
    good = replace(hami_pod("good", "GPU-X,NVIDIA,11514,0:;"), node="g5")
    bad = replace(hami_pod("bad", "GPU-X,NVIDIA,half,0", 25), node="g5")
    frame = allocate(Snapshot(0.0, nodes=(g5,), pods=(good, bad)), BOOK, AllocationPolicy())
    assert_frame_invariant(frame)
    assert frame.gpu_malformed_annotations == 1
    per_device = frame.nodes[0].price.dollars_per_hour["gpu"] / 4
    cost = {p.name: p.allocated["gpu"] for p in frame.pods}
    assert math.isclose(cost["good"], per_device * 0.5, rel_tol=1e-9)
    assert math.isclose(cost["bad"], per_device * 0.25, rel_tol=1e-9)  # by its request
    assert malformed_annotations([good, bad]) == 1


# -- property: per device and per node, over random mixes of holders ---------------------------

KINDS = st.sampled_from(["whole", "mig", "replica", "fraction", "dra", "none"])
PROFILES = st.sampled_from(["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb", "1c.3g.40gb"])


@st.composite
def gpu_snapshots(draw: st.DrawFn) -> Snapshot:
    nodes: list[Node] = []
    pods: list[Pod] = []
    devices: list[GpuDevice] = []
    claims: list[GpuClaim] = []
    for n in range(draw(st.integers(1, 3))):
        name = f"n{n}"
        count = draw(st.integers(0, 4))
        dra = draw(st.booleans())
        labels = {"nvidia.com/gpu.memory": "81559"}
        replicas = draw(st.sampled_from([1, 1, 2, 4]))
        if replicas > 1:
            labels["nvidia.com/gpu.replicas"] = str(replicas)
        instance = draw(st.sampled_from(["p5.48xlarge", "g5.xlarge", "no-such-type"]))
        gpus = 0.0 if dra else float(count)
        nodes.append(node(name, res(32, 256, gpus), instance_type=instance, labels=labels))
        if dra:
            devices += [GpuDevice(name, f"d{i}", "gpu.nvidia.com", name) for i in range(count)]
        for p in range(draw(st.integers(0, 8))):
            kind = draw(KINDS)
            pname = f"{name}-p{p}"
            if kind == "whole" or kind == "replica":
                pods.append(gpu_pod(pname, name, draw(st.sampled_from([0.5, 1, 2]))))
            elif kind == "mig":
                profile = draw(PROFILES)
                pods.append(gpu_pod(pname, name, 0, {f"nvidia.com/mig-{profile}": 1}))
            elif kind == "fraction":
                percent = draw(st.floats(1, 100))
                pods.append(gpu_pod(pname, name, 1, {"nvidia.com/gpumem-percentage": percent}))
            elif kind == "dra":
                pods.append(pod(pname, name, res(1, 1)))
                sharers = [pname]
                if draw(st.booleans()):
                    pods.append(pod(pname + "-b", name, res(1, 1)))
                    sharers.append(pname + "-b")
                target = f"d{draw(st.integers(0, 5))}"
                profile = draw(st.sampled_from(["", "3g.40gb", "1g.10gb"]))
                ref = DeviceRef(name, "gpu.nvidia.com", name, target, mig_profile=profile)
                claims.append(GpuClaim("team-a", f"c-{pname}", (ref,), tuple(sharers)))
            else:
                pods.append(pod(pname, name, res(1, 1)))
    return Snapshot(
        0.0,
        nodes=tuple(nodes),
        pods=tuple(pods),
        gpu_devices=tuple(devices),
        gpu_claims=tuple(claims),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gpu_snapshots(), st.sampled_from(["compute", "memory"]))
def test_every_device_and_every_node_is_conserved(snapshot: Snapshot, basis: str) -> None:
    policy = AllocationPolicy(mig_share_basis=basis)  # type: ignore[arg-type]
    frame = allocate(snapshot, BOOK, policy)
    assert_frame_invariant(frame)
    assert_conserved(frame.gpu_devices)
    for nc in frame.nodes:
        mine = [x for x in frame.gpu_devices if x.device.node == nc.node.name]
        if mine:
            total = math.fsum(x.hourly for x in mine)
            assert math.isclose(total, nc.price.dollars_per_hour["gpu"], rel_tol=1e-9)


@pytest.mark.parametrize("gib", [40, 80])
def test_memory_basis_uses_the_devices_nominal_memory(gib: int) -> None:
    assert mig_share("1g.10gb", "memory", gib * GIB) == 10 / gib
