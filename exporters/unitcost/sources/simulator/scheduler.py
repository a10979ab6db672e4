"""Bin packing as a scheduler samples it: a pod goes on the first of a bounded number of
randomly drawn nodes of its pool classes where its requests fit; else it stays Pending."""

from __future__ import annotations

import random
from collections.abc import Iterable

from unitcost.sources.simulator.catalogue import POOL_CLASS_LABEL
from unitcost.sources.simulator.objects import SimNode, SimPod

#: Nodes tried per pod before giving up (a real scheduler scores a sample too).
NODES_SAMPLED = 24


class Scheduler:
    def __init__(self, nodes: dict[str, SimNode], rng: random.Random) -> None:
        self.nodes = nodes
        self._rng = rng
        #: Nodes of each set of pool classes, in node order (nodes never change).
        self._candidates: dict[tuple[str, ...], list[SimNode]] = {}

    @staticmethod
    def fits(sim: SimNode, pod: SimPod) -> bool:
        return (
            sim.free_cpu >= pod.requests.cpu
            and sim.free_memory >= pod.requests.memory
            and len(sim.free_gpus) >= pod.requests.gpu
        )

    @staticmethod
    def bind(pod: SimPod, sim: SimNode) -> None:
        """Put the pod on the node, taking its requests and its lowest free GPUs."""
        pod.node = sim.node.name
        sim.free_cpu -= pod.requests.cpu
        sim.free_memory -= pod.requests.memory
        gpus = int(pod.requests.gpu)
        pod.gpus, sim.free_gpus = sim.free_gpus[:gpus], sim.free_gpus[gpus:]

    def place(self, pod: SimPod, classes: tuple[str, ...]) -> None:
        candidates = self._candidates_for(classes)
        if not candidates:
            return
        for _ in range(min(NODES_SAMPLED, len(candidates))):
            sim = candidates[self._rng.randrange(len(candidates))]
            if self.fits(sim, pod):
                self.bind(pod, sim)
                return

    def release(self, pods: Iterable[SimPod]) -> None:
        """Give the pods' requests and GPUs back to their nodes; the pods become unbound."""
        for pod in pods:
            sim = self.nodes.get(pod.node)
            if sim is None:
                continue
            sim.free_cpu += pod.requests.cpu
            sim.free_memory += pod.requests.memory
            sim.free_gpus.extend(pod.gpus)
            sim.free_gpus.sort()
            pod.node = ""
            pod.gpus = []

    def _candidates_for(self, classes: tuple[str, ...]) -> list[SimNode]:
        if classes not in self._candidates:
            self._candidates[classes] = [
                s for s in self.nodes.values() if s.node.labels[POOL_CLASS_LABEL] in classes
            ]
        return self._candidates[classes]
