"""The simulated cluster's mutable objects (pods, nodes, workloads) and how pods and ids are
made: every random draw comes from the cluster's one seeded generator, in a fixed order."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

from unitcost.data.model import Node, Owner, Resources
from unitcost.sources.simulator.catalogue import GIB, TeamSpec, WorkloadKind


@dataclass(slots=True)
class SimPod:
    name: str
    uid: str
    namespace: str
    requests: Resources
    labels: dict[str, str]
    owner: Owner | None
    #: Mean usage as a fraction of the request (cpu, memory); cpu may exceed 1 (bursting).
    cpu_fraction: float
    memory_fraction: float
    #: Where in its usage waves the pod starts (radians), so pods do not move in step.
    phase_offset: float
    node: str = ""
    gpus: list[int] = field(default_factory=list)
    gpu_busy: bool = True
    claims: tuple[str, ...] = ()


@dataclass(slots=True)
class SimNode:
    node: Node
    free_cpu: float
    free_memory: float
    free_gpus: list[int]


@dataclass(slots=True)
class Workload:
    #: None for the per-node daemonsets and the sandbox: no team's work, never replaced.
    team: TeamSpec | None
    name: str
    pods: list[SimPod]
    started: float
    ends: float  # math.inf for services and daemons

    @property
    def kind(self) -> WorkloadKind | None:
        return self.team.workload if self.team is not None else None


def object_uid(seed: int, name: str) -> str:
    """A Kubernetes-style uid, stable for (seed, name) across processes."""
    digest = hashlib.sha1(f"{seed}/{name}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


class PodMaker:
    """Makes pods and workload ids from the cluster's seed and random generator."""

    def __init__(self, seed: int, rng: random.Random) -> None:
        self.seed = seed
        self.rng = rng

    def uid(self, name: str) -> str:
        return object_uid(self.seed, name)

    def next_id(self) -> str:
        """A fresh workload id: 8 hex digits."""
        return f"{self.rng.getrandbits(32):08x}"

    def pod(
        self,
        namespace: str,
        name: str,
        cpu: float,
        memory_gib: float,
        labels: dict[str, str],
        owner: Owner | None,
        cpu_fraction: float,
        memory_fraction: float,
        gpus: int = 0,
    ) -> SimPod:
        return SimPod(
            name,
            self.uid(f"{namespace}/{name}"),
            namespace,
            Resources(cpu, memory_gib * GIB, float(gpus), 0.0),
            labels,
            owner,
            cpu_fraction,
            memory_fraction,
            self.rng.uniform(0, 2 * math.pi),
        )
