"""Dynamic Resource Allocation through the fake apiserver and the real kubernetes client:
ResourceSlices, ResourceClaims and DeviceClasses at resource.k8s.io/v1 (and the betas), in the
shapes the apiserver sends, joined into GPU devices and claims and priced by allocate().

Cases: a single-pod claim, a claim shared by two pods, a claim generated from a template, a
MIG device from a slice, a claim whose device disappears, an unknown driver, a cluster that
serves no DRA at all, and a watch through a 410."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes import client

from support.fake_apiserver import FakeCluster, node, pod, running
from support.invariant import assert_frame_invariant
from unitcost.config.kubernetes import KubernetesSettings
from unitcost.costmodel.allocation import AllocationPolicy, allocate
from unitcost.costmodel.attribution import AttributionRules
from unitcost.data.model import Snapshot
from unitcost.pricing import PriceBook
from unitcost.sources.kubernetes.source import KubernetesSource

SETTINGS = KubernetesSettings(
    page_size=100,
    read_timeout_seconds=5,
    backoff_initial_seconds=0.05,
    backoff_max_seconds=0.2,
    initial_sync_timeout_seconds=30,
    metrics_enabled=False,
    resolve_owners=False,
)
#: Each test starts the fake apiserver inline (tests/conftest.py): the e2e lane.
pytestmark = pytest.mark.e2e
DRIVER = "gpu.nvidia.com"
P5 = {"node.kubernetes.io/instance-type": "p5.48xlarge", "nvidia.com/gpu.product": "H100"}


def gpu_slice(node_name: str, devices: list[dict[str, Any]], *, version: str) -> dict[str, Any]:
    if version == "v1beta1":  # attributes and capacity under `basic`
        devices = [
            {"name": d["name"], "basic": {k: v for k, v in d.items() if k != "name"}}
            for d in devices
        ]
    return {
        "metadata": {"name": f"{node_name}-{DRIVER}"},
        "spec": {
            "driver": DRIVER,
            "nodeName": node_name,
            "pool": {"name": node_name, "generation": 1, "resourceSliceCount": 1},
            "devices": devices,
        },
    }


def gpu(index: int, uuid: str) -> dict[str, Any]:
    """A whole GPU as NVIDIA's DRA driver publishes it."""
    return {
        "name": f"gpu-{index}",
        "attributes": {
            "type": {"string": "gpu"},
            "uuid": {"string": uuid},
            "productName": {"string": "NVIDIA H100 80GB HBM3"},
            "index": {"int": index},
            "architecture": {"string": "Hopper"},
            "cudaComputeCapability": {"version": "9.0.0"},
        },
        "capacity": {"memory": {"value": "80Gi"}},
    }


def mig(name: str, uuid: str, parent_uuid: str, profile: str) -> dict[str, Any]:
    return {
        "name": name,
        "attributes": {
            "type": {"string": "mig"},
            "uuid": {"string": uuid},
            "parentUUID": {"string": parent_uuid},
            "profile": {"string": profile},
            "productName": {"string": "NVIDIA H100 80GB HBM3"},
        },
        "capacity": {"memory": {"value": "40Gi"}},
    }


def claim(
    namespace: str,
    name: str,
    devices: list[tuple[str, str, str]],
    reserved_for: list[str],
    *,
    template: str = "",
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if template:
        meta["annotations"] = {"resource.kubernetes.io/pod-claim-name": template}
    return {
        "metadata": meta,
        "spec": {
            "devices": {
                "requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com"}}]
            }
        },
        "status": {
            "allocation": {
                "devices": {
                    "results": [
                        {"request": "gpu", "driver": d, "pool": p, "device": dev}
                        for d, p, dev in devices
                    ]
                },
                "nodeSelector": {
                    "nodeSelectorTerms": [
                        {
                            "matchFields": [
                                {
                                    "key": "metadata.name",
                                    "operator": "In",
                                    "values": [devices[0][1]],
                                }
                            ]
                        }
                    ]
                },
            },
            "reservedFor": [
                {"resource": "pods", "name": p, "uid": f"uid-{p}"} for p in reserved_for
            ],
        },
    }


def device_class(name: str, driver: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{driver}"'}}]},
    }


def claim_pod(namespace: str, name: str, node_name: str, claims: dict[str, str]) -> dict[str, Any]:
    """A pod using DRA claims: spec.resourceClaims and status.resourceClaimStatuses
    (template-generated claims are named only there)."""
    obj = pod(namespace, name, node_name=node_name, cpu="4", memory="32Gi")
    obj["spec"]["resourceClaims"] = [
        {"name": ref, "resourceClaimTemplateName": "gpu-template"} for ref in claims
    ]
    obj["status"]["resourceClaimStatuses"] = [
        {"name": ref, "resourceClaimName": actual} for ref, actual in claims.items()
    ]
    return obj


UUIDS = [f"GPU-{i:08d}-aaaa-bbbb-cccc-000000000000" for i in range(8)]


def populate(cluster: FakeCluster, version: str) -> None:
    cluster.apply(
        "nodes",
        node("p5-a", cpu="192", memory="2048Gi", labels=P5, provider_id="aws:///us-east-1a/i-1"),
    )
    devices = [gpu(i, UUIDS[i]) for i in range(7)]
    # gpu-7 is MIG-partitioned: a 3g.40gb slice listed with its parent's UUID.
    devices.append(mig("gpu-7-mig-3g40gb-0", "MIG-0001", UUIDS[7], "3g.40gb"))
    devices.append(gpu(7, UUIDS[7]) | {"name": "gpu-7"})
    cluster.apply("resourceslices", gpu_slice("p5-a", devices, version=version))
    cluster.apply("deviceclasses", device_class("gpu.nvidia.com", DRIVER))
    # single-pod claim on gpu-0
    cluster.apply(
        "resourceclaims", claim("ml", "train-gpu", [(DRIVER, "p5-a", "gpu-0")], ["train"])
    )
    cluster.apply("pods", claim_pod("ml", "train", "p5-a", {"gpu": "train-gpu"}))
    # a claim shared by two pods, on gpu-1
    cluster.apply(
        "resourceclaims",
        claim("serve", "shared", [(DRIVER, "p5-a", "gpu-1")], ["router-a", "router-b"]),
    )
    for name in ("router-a", "router-b"):
        cluster.apply("pods", claim_pod("serve", name, "p5-a", {"gpu": "shared"}))
    # a template-generated claim (reservedFor empty yet: the pod status names it), on gpu-2
    cluster.apply(
        "resourceclaims",
        claim("ml", "notebook-gpu-x7k2p", [(DRIVER, "p5-a", "gpu-2")], [], template="gpu"),
    )
    cluster.apply("pods", claim_pod("ml", "notebook", "p5-a", {"gpu": "notebook-gpu-x7k2p"}))
    # a MIG slice of gpu-7
    cluster.apply(
        "resourceclaims",
        claim("ml", "mig-claim", [(DRIVER, "p5-a", "gpu-7-mig-3g40gb-0")], ["small"]),
    )
    cluster.apply("pods", claim_pod("ml", "small", "p5-a", {"gpu": "mig-claim"}))
    # an unknown driver's device (no slice lists it): still priced, on the claim's node
    cluster.apply(
        "resourceclaims", claim("ml", "odd", [("accel.example.com", "p5-a", "acc-0")], ["odd"])
    )
    cluster.apply("pods", claim_pod("ml", "odd", "p5-a", {"acc": "odd"}))


@contextmanager
def dra_source(api: client.ApiClient) -> Iterator[KubernetesSource]:
    src = KubernetesSource(SETTINGS, AttributionRules(), api=api)
    try:
        yield src
    finally:
        src.close()


@contextmanager
def served(version: str | None) -> Iterator[tuple[FakeCluster, client.ApiClient]]:
    from kubernetes import config as kube_config

    cluster = FakeCluster(dra_version=version)
    with running(cluster) as server:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            path = server.write_kubeconfig(Path(tmp) / "kubeconfig")
            configuration = client.Configuration()
            kube_config.load_kube_config(config_file=str(path), client_configuration=configuration)
            configuration.retries = False
            configuration.connection_pool_maxsize = 32
            api = client.ApiClient(configuration)
            try:
                yield cluster, api
            finally:
                api.close()


def wait_for(src: KubernetesSource, ready: Callable[[Snapshot], bool]) -> Snapshot:
    deadline = time.monotonic() + 20
    while True:
        snap = src.snapshot()
        if ready(snap) or time.monotonic() > deadline:
            return snap
        time.sleep(0.05)


def gpu_dollars(snapshot: Snapshot) -> tuple[dict[tuple[str, str], float], float, Any]:
    frame = allocate(snapshot, PriceBook.load(), AllocationPolicy())
    assert_frame_invariant(frame)
    (nc,) = frame.nodes
    per_pod = {(p.namespace, p.name): p.allocated.get("gpu", 0.0) for p in frame.pods}
    return per_pod, nc.price.dollars_per_hour["gpu"], frame


@pytest.mark.parametrize("version", ["v1", "v1beta2", "v1beta1"])
def test_dra_claims_are_priced_per_device(version: str) -> None:
    with served(version) as (cluster, api):
        populate(cluster, version)
        with dra_source(api) as src:
            snap = wait_for(src, lambda s: len(s.gpu_claims) == 5 and len(s.pods) == 6)
    assert sorted(d.device for d in snap.gpu_devices) == [f"gpu-{i}" for i in range(8)]
    claims = {c.name: c for c in snap.gpu_claims}
    assert claims["shared"].pods == ("router-a", "router-b")
    assert claims["notebook-gpu-x7k2p"].pods == ("notebook",)  # from the pod's status
    (mig_ref,) = claims["mig-claim"].devices
    assert (mig_ref.parent, mig_ref.mig_profile) == ("gpu-7", "3g.40gb")
    (odd,) = claims["odd"].devices
    assert (odd.node, odd.listed) == ("p5-a", False)

    per_pod, gpu_row, frame = gpu_dollars(snap)
    # 8 listed GPUs + the unknown driver's device: 9 devices share the node's GPU row.
    assert len(frame.gpu_devices) == 9
    assert gpu_row > 50  # the p5's GPUs are priced although it advertises no nvidia.com/gpu
    device = gpu_row / 9
    expected = {
        ("ml", "train"): device,
        ("serve", "router-a"): device / 2,
        ("serve", "router-b"): device / 2,
        ("ml", "notebook"): device,
        ("ml", "small"): device * 3 / 7,
        ("ml", "odd"): device,
    }
    for key, dollars in expected.items():
        assert math.isclose(per_pod[key], dollars, rel_tol=1e-9), key
    unknown = [x for x in frame.gpu_devices if not x.device.known]
    assert [x.device.device for x in unknown] == ["acc-0"]


def test_a_claim_whose_device_disappears_stays_priced() -> None:
    with served("v1") as (cluster, api):
        populate(cluster, "v1")
        with dra_source(api) as src:
            wait_for(src, lambda s: len(s.gpu_claims) == 5)
            # the slice is republished without gpu-0 (driver restart, device lost)
            obj = cluster.objects["resourceslices"]["/p5-a-gpu.nvidia.com"]
            devices = [d for d in obj["spec"]["devices"] if d["name"] != "gpu-0"]
            cluster.apply("resourceslices", gpu_slice("p5-a", devices, version="v1"))
            snap = wait_for(src, lambda s: len(s.gpu_devices) == 7)
    (ref,) = next(c for c in snap.gpu_claims if c.name == "train-gpu").devices
    assert not ref.listed
    per_pod, _, _ = gpu_dollars(snap)
    assert per_pod[("ml", "train")] > 0


def test_a_cluster_without_dra_is_not_an_error() -> None:
    with served(None) as (cluster, api):
        cluster.apply("nodes", node("n", gpus=2))
        cluster.apply("pods", pod("ml", "w", node_name="n", gpus=1))
        with dra_source(api) as src:
            snap = src.snapshot()
            assert all(r.healthy for r in src.auxiliary)
    assert snap.gpu_devices == () and snap.gpu_claims == ()
    per_pod, gpu_row, _ = gpu_dollars(snap)
    assert math.isclose(per_pod[("ml", "w")], gpu_row / 2, rel_tol=1e-9)


def test_claims_follow_a_watch_through_410() -> None:
    with served("v1") as (cluster, api):
        populate(cluster, "v1")
        with dra_source(api) as src:
            wait_for(src, lambda s: len(s.gpu_claims) == 5)
            # A deletion the watch never saw, then its history compacted: only a relist learns
            # it (expiring first let a quick relist finish before the deletion).
            cluster.delete("resourceclaims", "ml", "odd", silent=True)
            cluster.expire("resourceclaims")
            snap = wait_for(src, lambda s: len(s.gpu_claims) == 4)
    assert "odd" not in {c.name for c in snap.gpu_claims}


def shared_gpu(index: int, uuid: str) -> dict[str, Any]:
    """A GPU published for consumable capacity (KEP-5075, DRAConsumableCapacity): several
    claims may be allocated it, each consuming part of its memory and cores."""
    device = gpu(index, uuid)
    device["allowMultipleAllocations"] = True
    device["capacity"] = {
        "memory": {"value": "80Gi", "requestPolicy": {"default": "10Gi"}},
        "gpu.nvidia.com/cores": {"value": "100"},
    }
    return device


def consuming_claim(
    namespace: str, name: str, device: str, consumed: dict[str, str], reserved_for: list[str]
) -> dict[str, Any]:
    obj = claim(namespace, name, [(DRIVER, "p5-a", device)], reserved_for)
    (result,) = obj["status"]["allocation"]["devices"]["results"]
    result["consumedCapacity"] = consumed
    result["shareID"] = f"{len(name):08x}-0000-4000-8000-{name.encode().hex()[:12]:0>12}"
    return obj


def test_consumed_capacity_splits_a_shared_device() -> None:
    """Two claims share gpu-0 through consumable capacity: each is priced by what it
    consumed (its largest capacity over the device's: 20Gi of 80Gi memory = 1/4; 40Gi and
    10 of 100 cores = 1/2), the rest of the device is unheld, and a claim shared by two pods
    splits its share evenly; gpu-1, shared the old way (no consumed capacity), is split
    evenly between its two claims."""
    with served("v1") as (cluster, api):
        cluster.apply(
            "nodes",
            node("p5-a", cpu="192", memory="2048Gi", labels=P5, provider_id="aws:///x/i-1"),
        )
        devices = [shared_gpu(0, UUIDS[0]), gpu(1, UUIDS[1])]
        cluster.apply("resourceslices", gpu_slice("p5-a", devices, version="v1"))
        cluster.apply(
            "resourceclaims",
            consuming_claim("ml", "quarter", "gpu-0", {"memory": "20Gi"}, ["q"]),
        )
        cluster.apply(
            "resourceclaims",
            consuming_claim(
                "ml",
                "half",
                "gpu-0",
                {"memory": "40Gi", "gpu.nvidia.com/cores": "10"},
                ["h1", "h2"],
            ),
        )
        cluster.apply("resourceclaims", claim("ml", "old-a", [(DRIVER, "p5-a", "gpu-1")], ["a"]))
        cluster.apply("resourceclaims", claim("ml", "old-b", [(DRIVER, "p5-a", "gpu-1")], ["b"]))
        pods = {"q": "quarter", "h1": "half", "h2": "half", "a": "old-a", "b": "old-b"}
        for name, used in pods.items():
            cluster.apply("pods", claim_pod("ml", name, "p5-a", {"gpu": used}))
        with dra_source(api) as src:
            snap = wait_for(src, lambda s: len(s.gpu_claims) == 4 and len(s.pods) == 5)
    consumed = {c.name: c.devices[0].consumed for c in snap.gpu_claims}
    assert consumed == {"quarter": 0.25, "half": 0.5, "old-a": None, "old-b": None}
    per_pod, gpu_row, frame = gpu_dollars(snap)
    device = gpu_row / 2
    expected = {"q": device / 4, "h1": device / 4, "h2": device / 4, "a": device / 2}
    for name, dollars in expected.items():
        assert math.isclose(per_pod[("ml", name)], dollars, rel_tol=1e-9), name
    gpu0 = next(x for x in frame.gpu_devices if x.device.device == "gpu-0")
    assert math.isclose(gpu0.unheld, device / 4, rel_tol=1e-9)  # 1/4 of its capacity free


def test_hami_allocation_annotations_reach_the_ledger() -> None:
    """The source keeps HAMi's allocation annotation (no other annotation is kept unless a
    rule reads it), and the ledger pins the pod's share to the device it names."""
    labels = {"nvidia.com/gpu.memory": "23028", "node.kubernetes.io/instance-type": "g5.12xlarge"}
    with served(None) as (cluster, api):
        cluster.apply("nodes", node("g5", cpu="48", memory="192Gi", gpus=4, labels=labels))
        allocated = {"hami.io/vgpu-devices-allocated": "GPU-Y,NVIDIA,11514,0:;", "x": "dropped"}
        cluster.apply("pods", pod("nb", "a", node_name="g5", gpus=1, annotations=allocated))
        with dra_source(api) as src:
            snap = wait_for(src, lambda s: len(s.pods) == 1)
    (kept,) = snap.pods
    assert kept.annotations == {"hami.io/vgpu-devices-allocated": "GPU-Y,NVIDIA,11514,0:;"}
    frame = allocate(snap, PriceBook.load(), AllocationPolicy())
    assert_frame_invariant(frame)
    (held,) = [x for x in frame.gpu_devices if x.holdings]
    assert held.device.uuid == "GPU-Y" and held.holdings[0].share == 0.5
