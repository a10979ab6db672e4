"""Capacity per node pool on a hand-made cluster: allocatable, requested, used (GPUs by the
idle rule) and queued demand split over the queue's flavors."""

from __future__ import annotations

from dataclasses import replace

from support.builders import node, pod, res
from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.capacity import capacity_amounts
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.capacity import PoolKey
from unitcost.data.model import Flavor, Gpu, LocalQueue, PodPhase, Queue, Snapshot
from unitcost.pricing import PriceBook
from unitcost.sinks.capacity import capacity_families

NOW = 1_000_000.0


def cluster() -> Snapshot:
    a100 = replace(node("gpu-1", res(96, 1024, 8)), node_pool="a100", gpu_model="A100",
                   labels={"pool": "a100"})  # fmt: skip
    h100 = replace(node("gpu-2", res(96, 1024, 8)), node_pool="h100", gpu_model="H100",
                   labels={"pool": "h100"})  # fmt: skip
    cpu = replace(node("cpu-1", res(16, 64)), node_pool="general")
    train = pod("train", "gpu-1", res(16, 128, 2), res(8, 100, 2))
    web = pod("web", "cpu-1", res(4, 8), None)  # no usage: counts as its requests
    queued = pod("queued", "", res(8, 64, 4), phase=PodPhase.PENDING,
                 labels={"kueue.x-k8s.io/queue-name": "lq"})  # fmt: skip
    unqueued = pod("stray", "", res(1, 1), phase=PodPhase.PENDING)
    gpus = (
        Gpu("gpu-1", "0", "u0", "A100", pod_namespace="team-a", pod_name="train", utilization=0.9),
        Gpu(
            "gpu-1",
            "1",
            "u1",
            "A100",
            pod_namespace="team-a",
            pod_name="train",
            utilization=0.0,
            low_activity_since=NOW - 7200,
        ),
    )
    return Snapshot(
        NOW,
        nodes=(a100, h100, cpu),
        pods=(train, web, queued, unqueued),
        flavors=(Flavor("a100", {"pool": "a100"}), Flavor("h100", {"pool": "h100"})),
        queues=(Queue("gpu-cq", "kueue", {"a100": res(gpu=8), "h100": res(gpu=8)}),),
        local_queues=(LocalQueue("team-a", "lq", "gpu-cq"),),
        gpus=gpus,
    )


def test_amounts_by_hand() -> None:
    snapshot = cluster()
    frame = allocate(snapshot, PriceBook.load(), allocation_policy(demo_config()))
    amounts = capacity_amounts(snapshot, frame)
    a100 = PoolKey("aws", "a100", "A100")
    h100 = PoolKey("aws", "h100", "H100")
    general = PoolKey("aws", "general", "")
    assert amounts["allocatable"][(a100, "gpu")] == 8
    assert amounts["requested"][(a100, "gpu")] == 2
    assert amounts["requested"][(general, "cpu")] == 4
    assert amounts["used"][(a100, "cpu")] == 8
    assert amounts["used"][(general, "cpu")] == 4  # usage unknown: its requests
    # One of the two GPUs idles past the window: one used.
    assert amounts["used"][(a100, "gpu")] == 1
    # The queued pod waits for a100 or h100 (the queue's GPU flavors): half on each. Its cpu
    # goes nowhere (the queue has no cpu quota); the stray pod is in no queue.
    assert amounts["pending"][(a100, "gpu")] == 2 == amounts["pending"][(h100, "gpu")]
    assert amounts["pending"].get((a100, "cpu"), 0.0) == 0
    assert sum(amounts["pending"].values()) == 4


def test_families_only_for_resources_a_pool_has() -> None:
    snapshot = cluster()
    frame = allocate(snapshot, PriceBook.load(), allocation_policy(demo_config()))
    families = {f.name: f for f in capacity_families(capacity_amounts(snapshot, frame))}
    assert set(families) == {
        "unitcost_capacity_allocatable",
        "unitcost_capacity_requested",
        "unitcost_capacity_used",
        "unitcost_capacity_pending",
    }
    series = {values for values, _ in families["unitcost_capacity_allocatable"].samples}
    assert ("aws", "general", "", "cpu", "cores") in series
    assert ("aws", "general", "", "gpu", "gpus") not in series  # a CPU pool plans no GPUs
    assert ("aws", "a100", "A100", "memory", "bytes") in series
