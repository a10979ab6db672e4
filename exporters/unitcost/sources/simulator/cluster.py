"""The simulated cluster: its state, how it fills and moves on, and its Snapshot.

A multi-cloud AI/data platform (catalogue.py): on-prem, AWS and GCP node pools (spot
included), several orgs and teams, Spark applications (driver + executors, YuniKorn queues),
Ray clusters with GPU workers and LLM batch-inference jobs (Kueue queues; some GPUs sit idle),
services, daemonsets and an unlabelled sandbox. Deterministic for a seed: the same seed and
the same sequence of `advance()` calls give the same snapshots. Scales from a few nodes to
5,000 nodes and 150,000 pods.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from unitcost.data.batch import BatchJob, Cohort
from unitcost.data.model import (
    Gpu,
    LocalQueue,
    Namespace,
    Owner,
    Pod,
    PodPhase,
    Provider,
    Queue,
    Resources,
    Snapshot,
    Volume,
)
from unitcost.sources.simulator.activity import gpu_utilization, pod_usage
from unitcost.sources.simulator.batch import (
    COHORTS,
    ENDED_KEPT_SECONDS,
    ending_of,
    job_of,
    queue_usage,
)
from unitcost.sources.simulator.catalogue import (
    CLUSTER_QUEUES,
    GIB,
    NODE_POOL_LABEL,
    POOL_CLASS_LABEL,
    POOLS,
    SANDBOX_NAMESPACE,
    TEAMS,
    TeamSpec,
    WorkloadKind,
    flavors,
    namespaces,
)
from unitcost.sources.simulator.nodes import make_nodes
from unitcost.sources.simulator.objects import PodMaker, SimNode, SimPod, Workload
from unitcost.sources.simulator.scheduler import Scheduler
from unitcost.sources.simulator.shared_services import BROKER_NAMESPACE, CACHE_NAMESPACE
from unitcost.sources.simulator.vllm import Serving
from unitcost.sources.simulator.workloads import WorkloadOrder, draft_workload

#: GPU work is added until it holds this share of the GPUs.
GPU_FILL_SHARE = 0.85
#: CPU work is sized so its requests fill about this share of the CPU pools.
CPU_FILL_SHARE = 0.7
#: Mean cores requested by a CPU-workload pod at template size (scale 1).
CPU_POD_MEAN_CORES = 2.2


class SimulatedCluster:
    """A deterministic, evolving cluster. Not thread-safe: one collector drives it."""

    name = "simulator"

    def __init__(
        self,
        *,
        seed: int = 42,
        nodes: int = 60,
        pods: int = 1500,
        start: float = 1_790_000_000.0,
        gpu_idle_share: float = 0.25,
        shared_services: bool = False,
    ) -> None:
        if nodes < 1 or pods < 0:
            raise ValueError("the simulator needs at least 1 node and a pod count >= 0")
        self.seed = seed
        self.now = start
        self.gpu_idle_share = gpu_idle_share
        #: The one random generator: every draw, in a fixed order, comes from it.
        self._rng = random.Random(seed)
        self._make = PodMaker(seed, self._rng)
        self._nodes = make_nodes(nodes)
        self._scheduler = Scheduler(self._nodes, self._rng)
        self._workloads: list[Workload] = []
        self._volumes: list[Volume] = []
        #: Finished runs' job records, kept a while as their Jobs or Workloads would be.
        self._ended: list[tuple[float, BatchJob]] = []
        #: Scale of CPU workloads' pod templates, set by the initial fill (below 1 when the
        #: cluster is dense) and kept for the work that replaces them.
        self.cpu_scale = 1.0
        self._add_daemonsets()
        self._fill(pods)
        #: The platform's shared cache and broker (shared_services.py), added last so the
        #: rest of the cluster is the same with or without them.
        self.shared_services = shared_services
        if shared_services:
            self._add_shared_services()

    # -- construction -----------------------------------------------------------------------
    def _add_daemonsets(self) -> None:
        make = self._make
        for sim in self._nodes.values():
            node = sim.node.name
            pods = [
                make.pod(
                    "kube-system",
                    f"kube-proxy-{node}",
                    0.1,
                    0.125,
                    {},
                    Owner("DaemonSet", "kube-proxy"),
                    0.4,
                    0.6,
                ),
                make.pod(
                    "monitoring",
                    f"node-exporter-{node}",
                    0.1,
                    0.1,
                    {},
                    Owner("DaemonSet", "node-exporter"),
                    0.3,
                    0.5,
                ),
            ]
            for pod in pods:
                self._scheduler.bind(pod, sim)
            self._workloads.append(Workload(None, node, pods, self.now, math.inf))

    def _add_shared_services(self) -> None:
        """Three Alluxio workers and three Kafka brokers, on general nodes, never replaced."""
        make = self._make
        for namespace, name, cpu, memory in (
            (CACHE_NAMESPACE, "alluxio-worker", 4.0, 32.0),
            (BROKER_NAMESPACE, "kafka", 2.0, 8.0),
        ):
            pods = [
                make.pod(
                    namespace,
                    f"{name}-{i}",
                    cpu,
                    memory,
                    {"app": name},
                    Owner("StatefulSet", name),
                    0.5,
                    0.8,
                )
                for i in range(3)
            ]
            for pod in pods:
                self._scheduler.place(pod, ("general",))
            self._workloads.append(Workload(None, name, pods, self.now, math.inf))

    def _gpu_nodes(self) -> list[SimNode]:
        return [s for s in self._nodes.values() if s.node.capacity.gpu > 0]

    def _fill(self, target_pods: int) -> None:
        """Add workloads until about `target_pods` pods exist: GPU work first (to ~85% of the
        GPUs), then CPU work sized so requests fill about 70% of the CPU pools."""
        total_gpus = sum(len(s.free_gpus) for s in self._gpu_nodes())
        gpu_teams = [t for t in TEAMS if t.workload.runs_on_gpus]
        cpu_teams = [t for t in TEAMS if not t.workload.runs_on_gpus]
        placed_gpus = 0
        attempts = 0
        while placed_gpus < GPU_FILL_SHARE * total_gpus and attempts < total_gpus + 10:
            attempts += 1
            team = gpu_teams[attempts % len(gpu_teams)]
            workload = self._new_workload(team, self.now - self._rng.uniform(0, 3 * 3600))
            placed_gpus += sum(len(p.gpus) for p in workload.pods)
            if not any(p.node for p in workload.pods):
                self._release(workload)
                break
            self._workloads.append(workload)
        existing = sum(len(w.pods) for w in self._workloads)
        remaining = max(0, target_pods - existing - self._sandbox_count(target_pods))
        cpu_capacity = sum(
            s.node.allocatable.cpu for s in self._nodes.values() if s.node.capacity.gpu == 0
        )
        # Shrink the templates when the cluster is dense, so the work still fits.
        self.cpu_scale = min(
            1.0, CPU_FILL_SHARE * cpu_capacity / max(1.0, remaining * CPU_POD_MEAN_CORES)
        )
        weights = [t.weight for t in cpu_teams]
        while remaining > 0:
            team = self._rng.choices(cpu_teams, weights)[0]
            workload = self._new_workload(
                team, self.now - self._rng.uniform(0, 3600), max_pods=remaining
            )
            remaining -= len(workload.pods)
            self._workloads.append(workload)
        self._add_sandbox(self._sandbox_count(target_pods))

    @staticmethod
    def _sandbox_count(target_pods: int) -> int:
        return min(20, target_pods // 100)

    def _add_sandbox(self, count: int) -> None:
        """Bare debug pods with no owner and no labels, in an unlabelled namespace."""
        pods = []
        for i in range(count):
            pod = self._make.pod(SANDBOX_NAMESPACE, f"debug-{i}", 0.5, 1.0, {}, None, 0.05, 0.2)
            self._scheduler.place(pod, ("general",))
            pods.append(pod)
        if pods:
            self._workloads.append(Workload(None, "sandbox", pods, self.now, math.inf))

    def _new_workload(
        self, team: TeamSpec, started: float, max_pods: int | None = None
    ) -> Workload:
        rng = self._rng
        order = WorkloadOrder(team, self._make.next_id(), max_pods, self.cpu_scale)
        draft = draft_workload(order, self._make)
        idle = team.workload.runs_on_gpus and rng.random() < self.gpu_idle_share
        for pod in draft.pods:
            if pod.requests.gpu:
                pod.gpu_busy = not idle
            self._scheduler.place(pod, draft.node_classes)
        if draft.scratch_volume_chance and rng.random() < draft.scratch_volume_chance:
            claim = f"{draft.name}-scratch"
            self._volumes.append(
                Volume(
                    f"pvc-{self._make.uid(claim)}",
                    "gp3",
                    rng.choice((50, 100, 500)) * GIB,
                    Provider.AWS,
                    team.namespace,
                    claim,
                )
            )
            draft.pods[0].claims = (claim,)
        return Workload(team, draft.name, draft.pods, started, started + draft.lifetime)

    def _release(self, workload: Workload) -> None:
        self._scheduler.release(workload.pods)
        names = {c for p in workload.pods for c in p.claims}
        if names:
            self._volumes = [v for v in self._volumes if v.claim_name not in names]

    # -- time ---------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move the clock: finished workloads leave, the same kind of work arrives."""
        self.now += seconds
        finished = [w for w in self._workloads if w.ends <= self.now]
        if not finished:
            return
        self._workloads = [w for w in self._workloads if w.ends > self.now]
        for workload in finished:
            self._release(workload)
            job = job_of(workload, ending_of(workload, workload.ends))
            if job is not None:
                self._ended.append((self.now, job))
        self._ended = [(t, j) for t, j in self._ended if self.now - t < ENDED_KEPT_SECONDS]
        for workload in finished:
            if workload.team is None:
                continue
            self._workloads.append(self._new_workload(workload.team, self.now))

    # -- output -------------------------------------------------------------------------------
    def iter_pods(self) -> Iterator[tuple[Workload, SimPod]]:
        for workload in self._workloads:
            for pod in workload.pods:
                yield workload, pod

    def snapshot(self) -> Snapshot:
        pods = []
        gpus = []
        for workload, sim in self.iter_pods():
            running = bool(sim.node) and workload.started <= self.now
            pods.append(
                Pod(
                    sim.namespace,
                    sim.name,
                    sim.uid,
                    sim.node,
                    PodPhase.RUNNING if running else PodPhase.PENDING,
                    sim.requests,
                    pod_usage(sim, self.now) if running else None,
                    sim.labels,
                    {},
                    sim.owner,
                    sim.claims,
                )
            )
            if running:
                node = self._nodes[sim.node].node
                for index in sim.gpus:
                    gpus.append(
                        Gpu(
                            sim.node,
                            str(index),
                            self._make.uid(f"{sim.node}/gpu{index}"),
                            node.gpu_model,
                            1.0,
                            "",
                            sim.namespace,
                            sim.name,
                            gpu_utilization(sim, index, self.now),
                            # An idle job has been idle since it started.
                            None if sim.gpu_busy else workload.started,
                        )
                    )
        nodes = tuple(s.node for s in self._nodes.values())
        for sim_node in self._nodes.values():  # unallocated devices, visible as such
            node = sim_node.node
            for index in sim_node.free_gpus:
                gpus.append(
                    Gpu(
                        node.name,
                        str(index),
                        self._make.uid(f"{node.name}/gpu{index}"),
                        node.gpu_model,
                        utilization=0.0,
                        low_activity_since=None,
                    )
                )
        queues = self._queues()
        jobs = [j for j in map(job_of, self._workloads) if j is not None and (j.local_queue)]
        return Snapshot(
            timestamp=self.now,
            nodes=nodes,
            pods=tuple(pods),
            namespaces=namespaces()
            + (
                (Namespace(CACHE_NAMESPACE, {}), Namespace(BROKER_NAMESPACE, {}))
                if self.shared_services
                else ()
            ),
            volumes=tuple(self._volumes),
            flavors=flavors(),
            queues=queues,
            local_queues=tuple(
                LocalQueue(t.namespace, t.queue, cq)
                for cq, teams in CLUSTER_QUEUES.items()
                for t in TEAMS
                if t.team in teams
            ),
            gpus=tuple(gpus),
            simulated=True,
            cohorts=(*COHORTS, Cohort("root.data", "root")),
            queue_usage=tuple(queue_usage(queues, self._workloads, self._nodes)),
            jobs=(*jobs, *(job for _, job in self._ended)),
        )

    def serving(self) -> list[Serving]:
        """The running LLM inference pods, as vLLM servers (vllm.py counts their tokens)."""
        out = []
        for workload, sim in self.iter_pods():
            if (
                workload.kind is not WorkloadKind.INFERENCE
                or not sim.node
                or workload.started > self.now
            ):
                continue
            busy = [gpu_utilization(sim, i, self.now) for i in sim.gpus]
            out.append(
                Serving(
                    sim.namespace,
                    sim.name,
                    workload.name,
                    self._nodes[sim.node].node.gpu_model,
                    len(sim.gpus),
                    sum(busy) / len(busy) if busy else 0.0,
                )
            )
        return out

    def _queues(self) -> tuple[Queue, ...]:
        """Kueue ClusterQueues in cohort `ai` (research 50%, inference 50% of every GPU pool:
        research runs more and borrows) and YuniKorn queues under root.data (ETL 45%,
        analytics 30% of the batch-CPU pools)."""

        def pool_total(selector: tuple[str, str], share: float) -> Resources:
            key, value = selector
            members = [s.node for s in self._nodes.values() if s.node.labels[key] == value]
            return Resources(
                round(sum(n.allocatable.cpu for n in members) * share, 3),
                round(sum(n.allocatable.memory for n in members) * share / GIB) * GIB,
                float(math.floor(sum(n.allocatable.gpu for n in members) * share)),
                0.0,
            )

        gpu_pools = [p.name for p in POOLS if p.gpus]
        research = {p: pool_total((NODE_POOL_LABEL, p), 0.5) for p in gpu_pools}
        inference = {p: pool_total((NODE_POOL_LABEL, p), 0.5) for p in gpu_pools}
        batch = (POOL_CLASS_LABEL, "batch-cpu")
        return (
            Queue("research-gpu", "kueue", research, cohort="ai"),
            Queue("inference-gpu", "kueue", inference, cohort="ai"),
            Queue(
                "root.data.etl",
                "yunikorn",
                {"batch-cpu": pool_total(batch, 0.45)},
                parent="root.data",
                cohort="root.data",
            ),
            Queue(
                "root.data.analytics",
                "yunikorn",
                {"batch-cpu": pool_total(batch, 0.3)},
                parent="root.data",
                cohort="root.data",
            ),
        )

    def close(self) -> None:
        return None
