"""Workload factories: one function per WorkloadKind drafts a team's next workload (its pods,
lifetime and the node classes it runs on). Adding a kind is one enum member in catalogue.py
and one function here, registered with `@_factory(kind)`.

Factories draw from the cluster's generator in a fixed order (the seed's promise of identical
snapshots depends on it): draw sizes, then make pods in order, then draw the lifetime.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from unitcost.costmodel.attribution import (
    KUEUE_QUEUE_NAME,
    RAY_CLUSTER,
    RAY_NODE_TYPE,
    SPARK_APP_NAME,
    SPARK_APP_SELECTOR,
    SPARK_ROLE,
    YUNIKORN_QUEUE,
)
from unitcost.data.model import Owner
from unitcost.sources.simulator.catalogue import TeamSpec, WorkloadKind
from unitcost.sources.simulator.objects import PodMaker, SimPod


@dataclass(frozen=True, slots=True)
class WorkloadOrder:
    """What a factory is asked for."""

    team: TeamSpec
    #: The workload's fresh id (8 hex digits); names and pod suffixes are cut from it.
    ident: str
    #: At most this many pods (the initial fill tops up to a pod count); None: no limit.
    max_pods: int | None
    #: Scale of CPU pod templates: below 1 when the cluster is dense, so the work still fits.
    cpu_scale: float

    @property
    def queue_labels(self) -> dict[str, str]:
        """The pod labels that put it in the team's queue: YuniKorn for a `root.` path,
        else Kueue, none without a queue."""
        queue = self.team.queue
        if queue.startswith("root."):
            return {YUNIKORN_QUEUE: queue}
        return {KUEUE_QUEUE_NAME: queue} if queue else {}


@dataclass(frozen=True, slots=True)
class Draft:
    """A workload as its factory drafts it: pods made, not yet placed on nodes."""

    name: str
    pods: list[SimPod]
    #: Seconds until it finishes; math.inf for work that never does (services).
    lifetime: float
    #: Node pool classes (catalogue.PoolSpec.pool_class) its pods may run on.
    node_classes: tuple[str, ...]
    #: Chance that its first pod claims a scratch volume.
    scratch_volume_chance: float = 0.0


WorkloadFactory = Callable[[WorkloadOrder, PodMaker], Draft]
_FACTORIES: dict[WorkloadKind, WorkloadFactory] = {}
#: The registered factory of every kind (tests check that none is missing).
FACTORIES: Mapping[WorkloadKind, WorkloadFactory] = MappingProxyType(_FACTORIES)


def _factory(kind: WorkloadKind) -> Callable[[WorkloadFactory], WorkloadFactory]:
    def register(factory: WorkloadFactory) -> WorkloadFactory:
        _FACTORIES[kind] = factory
        return factory

    return register


def draft_workload(order: WorkloadOrder, make: PodMaker) -> Draft:
    return _FACTORIES[order.team.workload](order, make)


@_factory(WorkloadKind.SPARK)
def spark_application(order: WorkloadOrder, make: PodMaker) -> Draft:
    """A Spark application: a driver and 2-12 executors, 20-90 minutes, on batch-CPU pools."""
    rng, ns, ident, scale = make.rng, order.team.namespace, order.ident, order.cpu_scale
    name = f"{order.team.team}-job-{ident}"
    executors = rng.randint(2, 12)
    if order.max_pods is not None:
        executors = max(0, min(executors, order.max_pods - 1))  # a driver alone is valid
    base = {SPARK_APP_SELECTOR: f"spark-{ident}", SPARK_APP_NAME: name, **order.queue_labels}
    owner = Owner("SparkApplication", name)
    pods = [
        make.pod(
            ns,
            f"{name}-driver",
            1.0 * scale,
            4 * scale,
            {**base, SPARK_ROLE: "driver"},
            owner,
            0.3,
            0.5,
        )
    ]
    for i in range(executors):
        pods.append(
            make.pod(
                ns,
                f"{name}-exec-{i + 1}",
                2.0 * scale,
                8 * scale,
                {**base, SPARK_ROLE: "executor"},
                owner,
                rng.uniform(0.3, 1.25),
                rng.uniform(0.4, 0.95),
            )
        )
    lifetime = rng.uniform(20, 90) * 60
    return Draft(name, pods, lifetime, ("batch-cpu",), scratch_volume_chance=0.5)


@_factory(WorkloadKind.SERVICE)
def service(order: WorkloadOrder, make: PodMaker) -> Draft:
    """A Deployment of 2-8 replicas on general pools that runs until the end."""
    rng, ns, ident, scale = make.rng, order.team.namespace, order.ident, order.cpu_scale
    name = f"{order.team.team}-api-{ident[:5]}"
    replicas = rng.randint(2, 8)
    if order.max_pods is not None:
        replicas = max(1, min(replicas, order.max_pods))
    owner = Owner("Deployment", name)
    pods = [
        make.pod(
            ns,
            f"{name}-{ident[5:]}-{i}",
            2.0 * scale,
            4 * scale,
            {"app": name},
            owner,
            rng.uniform(0.1, 0.7),
            rng.uniform(0.3, 0.8),
        )
        for i in range(replicas)
    ]
    return Draft(name, pods, math.inf, ("general",))


@_factory(WorkloadKind.RAY)
def ray_cluster(order: WorkloadOrder, make: PodMaker) -> Draft:
    """A Ray cluster: a CPU head and 1-4 GPU workers of 1-8 GPUs each, for 2-8 hours."""
    rng, ns = make.rng, order.team.namespace
    name = f"{order.team.team}-ray-{order.ident[:6]}"
    workers = rng.choice((1, 2, 2, 4))
    gpus_each = rng.choice((1, 2, 4, 8))
    owner = Owner("RayCluster", name)
    base = {RAY_CLUSTER: name, **order.queue_labels}
    pods = [make.pod(ns, f"{name}-head", 4, 16, {**base, RAY_NODE_TYPE: "head"}, owner, 0.3, 0.4)]
    for i in range(workers):
        pods.append(
            make.pod(
                ns,
                f"{name}-worker-{i}",
                8 * gpus_each,
                64 * gpus_each,
                {**base, RAY_NODE_TYPE: "worker"},
                owner,
                rng.uniform(0.5, 0.9),
                rng.uniform(0.5, 0.9),
                gpus_each,
            )
        )
    lifetime = rng.uniform(2, 8) * 3600
    return Draft(name, pods, lifetime, ("gpu",))


@_factory(WorkloadKind.INFERENCE)
def llm_batch_inference(order: WorkloadOrder, make: PodMaker) -> Draft:
    """An LLM batch-inference Job: one pod on 1-8 GPUs of one node (it serves the simulated
    vLLM counters, vllm.py)."""
    rng, ident = make.rng, order.ident
    name = f"{order.team.team}-llm-{ident[:6]}"
    gpus = rng.choice((1, 2, 4, 8))
    pod = make.pod(
        order.team.namespace,
        f"{name}-{ident[6:]}",
        6 * gpus,
        48 * gpus,
        {"job-name": name, **order.queue_labels},
        Owner("Job", name),
        rng.uniform(0.2, 0.6),
        rng.uniform(0.5, 0.9),
        gpus,
    )
    # Batch inference over a large corpus runs for hours (and, at the demo's 60x, its pods
    # live long enough for the 5m token-rate window: docs/unit-economics.md).
    lifetime = rng.uniform(2, 12) * 3600
    return Draft(name, [pod], lifetime, ("gpu",))
