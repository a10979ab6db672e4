"""Bin packing: pods land only where they fit, in their pool classes, and give back exactly
what they took."""

from __future__ import annotations

import random

from unitcost.data.model import Owner
from unitcost.sources.simulator.catalogue import POOL_CLASS_LABEL
from unitcost.sources.simulator.nodes import make_nodes
from unitcost.sources.simulator.objects import PodMaker, SimPod
from unitcost.sources.simulator.scheduler import Scheduler


def setup(seed: int = 3) -> tuple[Scheduler, PodMaker]:
    rng = random.Random(seed)
    return Scheduler(make_nodes(40), rng), PodMaker(seed, rng)


def pod(make: PodMaker, name: str, cpu: float, memory_gib: float, gpus: int = 0) -> SimPod:
    return make.pod("ns", name, cpu, memory_gib, {}, Owner("Job", name), 0.5, 0.5, gpus)


def test_a_pod_lands_in_its_classes_and_release_gives_back_exactly() -> None:
    scheduler, make = setup()
    free = {n: (s.free_cpu, s.free_memory, list(s.free_gpus)) for n, s in scheduler.nodes.items()}
    pods = [pod(make, f"gpu-{i}", 8, 64, gpus=2) for i in range(3)]
    for p in pods:
        scheduler.place(p, ("gpu",))
    for p in pods:
        node = scheduler.nodes[p.node]
        assert node.node.labels[POOL_CLASS_LABEL] == "gpu"
        assert len(p.gpus) == 2 and not set(p.gpus) & set(node.free_gpus)
    scheduler.release(pods)
    assert all(p.node == "" and p.gpus == [] for p in pods)
    after = {n: (s.free_cpu, s.free_memory, list(s.free_gpus)) for n, s in scheduler.nodes.items()}
    assert after == free


def test_a_pod_that_fits_nowhere_stays_pending() -> None:
    scheduler, make = setup()
    biggest = max(s.node.allocatable.cpu for s in scheduler.nodes.values())
    too_big = pod(make, "huge", biggest + 1, 1)
    scheduler.place(too_big, ("general", "batch-cpu", "gpu"))
    assert too_big.node == ""
    no_pool = pod(make, "lost", 0.1, 0.1)
    scheduler.place(no_pool, ("no-such-class",))
    assert no_pool.node == ""


def test_nodes_never_overcommit() -> None:
    scheduler, make = setup()
    for i in range(2000):
        scheduler.place(pod(make, f"p-{i}", 3.0, 10.0), ("general", "batch-cpu"))
    for sim in scheduler.nodes.values():
        assert sim.free_cpu >= 0 and sim.free_memory >= 0
