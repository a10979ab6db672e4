"""The simulated cluster: the embedded default source, so unitcost runs with no cluster.

A multi-cloud AI/data platform: on-prem, AWS and GCP node pools (spot included), several orgs
and teams, Spark applications (driver + executors, YuniKorn queues), Ray clusters with GPU
workers and LLM batch-inference jobs (Kueue queues; some GPUs sit idle), services, daemonsets
and an unlabelled sandbox. Deterministic for a seed: the same seed and the same sequence of
`advance()` calls give the same snapshots. Scales from a few nodes to 5,000 nodes and 150,000
pods.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from unitcost.costmodel.attribution import (
    KUEUE_QUEUE_NAME,
    RAY_CLUSTER,
    RAY_NODE_TYPE,
    SPARK_APP_NAME,
    SPARK_APP_SELECTOR,
    SPARK_ROLE,
    YUNIKORN_QUEUE,
)
from unitcost.data.model import (
    CapacityType,
    Flavor,
    Gpu,
    LocalQueue,
    Namespace,
    Node,
    Owner,
    Pod,
    PodPhase,
    Provider,
    Queue,
    Resources,
    Snapshot,
    Volume,
)
from unitcost.metrics.family import MetricFamily
from unitcost.sources.simulator.vllm import Serving, SimulatedVllm

GIB = 2.0**30
NODE_POOL_LABEL = "node-pool"
POOL_CLASS_LABEL = "unitcost.dev/pool-class"
#: Activity below this counts as idle for the simulated GPUs (the GPU rule's default).
GPU_IDLE_THRESHOLD = 0.01


@dataclass(frozen=True, slots=True)
class PoolSpec:
    name: str
    provider: Provider
    instance_type: str
    region: str
    zones: tuple[str, ...]
    capacity_type: CapacityType
    cpu: float
    memory_gib: float
    disk_gib: float
    gpus: int = 0
    gpu_model: str = ""
    #: Share of the cluster's nodes in this pool.
    weight: float = 1.0
    pool_class: str = "general"


POOLS: tuple[PoolSpec, ...] = (
    PoolSpec(
        "onprem-cpu",
        Provider.ONPREM,
        "cpu-2s-64c",
        "dc-fra1",
        ("fra1-a", "fra1-b"),
        CapacityType.ON_DEMAND,
        64,
        512,
        1800,
        weight=0.14,
        pool_class="batch-cpu",
    ),
    PoolSpec(
        "onprem-dgx",
        Provider.ONPREM,
        "dgx-a100-80g",
        "dc-fra1",
        ("fra1-a",),
        CapacityType.ON_DEMAND,
        128,
        1024,
        15000,
        8,
        "NVIDIA A100-SXM4-80GB",
        weight=0.04,
        pool_class="gpu",
    ),
    PoolSpec(
        "aws-general",
        Provider.AWS,
        "m5.4xlarge",
        "us-east-1",
        ("us-east-1a", "us-east-1b", "us-east-1c"),
        CapacityType.ON_DEMAND,
        16,
        64,
        200,
        weight=0.2,
    ),
    PoolSpec(
        "aws-spot",
        Provider.AWS,
        "m5.8xlarge",
        "us-east-1",
        ("us-east-1a", "us-east-1b"),
        CapacityType.SPOT,
        32,
        128,
        200,
        weight=0.16,
        pool_class="batch-cpu",
    ),
    PoolSpec(
        "aws-p4d",
        Provider.AWS,
        "p4d.24xlarge",
        "us-east-1",
        ("us-east-1a",),
        CapacityType.COMMITTED,
        96,
        1152,
        8000,
        8,
        "NVIDIA A100-SXM4-40GB",
        weight=0.03,
        pool_class="gpu",
    ),
    PoolSpec(
        "aws-g5",
        Provider.AWS,
        "g5.12xlarge",
        "us-east-1",
        ("us-east-1b",),
        CapacityType.ON_DEMAND,
        48,
        192,
        3800,
        4,
        "NVIDIA A10G",
        weight=0.04,
        pool_class="gpu",
    ),
    PoolSpec(
        "gcp-general",
        Provider.GCP,
        "n2-standard-16",
        "us-central1",
        ("us-central1-a", "us-central1-b"),
        CapacityType.COMMITTED,
        16,
        64,
        100,
        weight=0.18,
    ),
    PoolSpec(
        "gcp-spot",
        Provider.GCP,
        "n2-highmem-16",
        "us-central1",
        ("us-central1-c",),
        CapacityType.SPOT,
        16,
        128,
        100,
        weight=0.16,
        pool_class="batch-cpu",
    ),
    PoolSpec(
        "gcp-a3",
        Provider.GCP,
        "a3-highgpu-8g",
        "us-central1",
        ("us-central1-a",),
        CapacityType.ON_DEMAND,
        208,
        1872,
        6000,
        8,
        "NVIDIA H100 80GB HBM3",
        weight=0.03,
        pool_class="gpu",
    ),
)


@dataclass(frozen=True, slots=True)
class TeamSpec:
    team: str
    org: str
    cost_center: str
    namespace: str
    #: spark | ray | inference | service
    workload: str
    #: Kueue LocalQueue name or YuniKorn queue path; "" for none.
    queue: str = ""
    #: Relative share of the CPU workload pods.
    weight: float = 1.0


TEAMS: tuple[TeamSpec, ...] = (
    TeamSpec("llm-training", "research", "cc-1001", "llm-training", "ray", "training"),
    TeamSpec("vision", "research", "cc-1002", "vision", "ray", "vision"),
    TeamSpec("batch-inference", "product", "cc-2001", "batch-inference", "inference", "batch"),
    TeamSpec("etl", "data", "cc-3001", "spark-etl", "spark", "root.data.etl", 3.0),
    TeamSpec("analytics", "data", "cc-3002", "analytics", "spark", "root.data.analytics", 2.0),
    TeamSpec("recsys", "product", "cc-2002", "recsys", "service", "", 1.5),
    TeamSpec("search", "product", "cc-2003", "search", "service", "", 1.5),
)
#: Cluster queues and which teams' LocalQueues point at them.
CLUSTER_QUEUES: dict[str, tuple[str, ...]] = {
    "research-gpu": ("llm-training", "vision"),
    "inference-gpu": ("batch-inference",),
}
SHARED_NAMESPACES = ("kube-system", "monitoring")
SANDBOX_NAMESPACE = "sandbox"


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
    phase_offset: float
    node: str = ""
    gpus: list[int] = field(default_factory=list)
    gpu_busy: bool = True
    claims: tuple[str, ...] = ()


@dataclass(slots=True)
class Workload:
    team: TeamSpec | None
    name: str
    kind: str
    pods: list[SimPod]
    started: float
    ends: float  # math.inf for services and daemons


@dataclass(slots=True)
class SimNode:
    node: Node
    free_cpu: float
    free_memory: float
    free_gpus: list[int]


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
    ) -> None:
        if nodes < 1 or pods < 0:
            raise ValueError("the simulator needs at least 1 node and a pod count >= 0")
        self.seed = seed
        self.now = start
        self.gpu_idle_share = gpu_idle_share
        self._rng = random.Random(seed)
        self._nodes = self._make_nodes(nodes)
        self._workloads: list[Workload] = []
        self._volumes: list[Volume] = []
        self._serial = 0
        self._make_daemonsets()
        self._fill(pods)

    # -- construction -----------------------------------------------------------------------
    def _make_nodes(self, count: int) -> dict[str, SimNode]:
        weights = [p.weight for p in POOLS]
        total = sum(weights)
        counts = [max(0, math.floor(count * w / total)) for w in weights]
        # Hand out the remainder largest-fraction first, so counts sum exactly to `count`.
        remainders = sorted(
            range(len(POOLS)), key=lambda i: (count * weights[i] / total) - counts[i], reverse=True
        )
        for i in remainders[: count - sum(counts)]:
            counts[i] += 1
        nodes: dict[str, SimNode] = {}
        for pool, n in zip(POOLS, counts, strict=True):
            for i in range(n):
                name = f"{pool.name}-{i:04d}"
                zone = pool.zones[i % len(pool.zones)]
                capacity = Resources(
                    pool.cpu, pool.memory_gib * GIB, float(pool.gpus), pool.disk_gib * GIB
                )
                # kubelet reserves some cpu and memory for the system.
                allocatable = Resources(
                    pool.cpu - 0.1 - 0.01 * pool.cpu,
                    (pool.memory_gib - 0.5 - 0.02 * pool.memory_gib) * GIB,
                    float(pool.gpus),
                    pool.disk_gib * 0.9 * GIB,
                )
                labels = {
                    NODE_POOL_LABEL: pool.name,
                    POOL_CLASS_LABEL: pool.pool_class,
                    "topology.kubernetes.io/region": pool.region,
                    "topology.kubernetes.io/zone": zone,
                    "node.kubernetes.io/instance-type": pool.instance_type,
                }
                node = Node(
                    name,
                    pool.provider,
                    pool.instance_type,
                    pool.region,
                    zone,
                    pool.capacity_type,
                    pool.name,
                    capacity,
                    allocatable,
                    pool.gpu_model,
                    labels,
                )
                nodes[name] = SimNode(
                    node, allocatable.cpu, allocatable.memory, list(range(pool.gpus))
                )
        return nodes

    def _next_id(self) -> str:
        self._serial += 1
        return f"{self._rng.getrandbits(32):08x}"

    def _uid(self, name: str) -> str:
        digest = hashlib.sha1(f"{self.seed}/{name}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def _pod(
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
            self._uid(f"{namespace}/{name}"),
            namespace,
            Resources(cpu, memory_gib * GIB, float(gpus), 0.0),
            labels,
            owner,
            cpu_fraction,
            memory_fraction,
            self._rng.uniform(0, 2 * math.pi),
        )

    def _make_daemonsets(self) -> None:
        for sim in self._nodes.values():
            pods = [
                self._pod(
                    "kube-system",
                    f"kube-proxy-{sim.node.name}",
                    0.1,
                    0.125,
                    {},
                    Owner("DaemonSet", "kube-proxy"),
                    0.4,
                    0.6,
                ),
                self._pod(
                    "monitoring",
                    f"node-exporter-{sim.node.name}",
                    0.1,
                    0.1,
                    {},
                    Owner("DaemonSet", "node-exporter"),
                    0.3,
                    0.5,
                ),
            ]
            for pod in pods:
                self._bind(pod, sim)
            self._workloads.append(
                Workload(None, sim.node.name, "daemon", pods, self.now, math.inf)
            )

    def _gpu_nodes(self) -> list[SimNode]:
        return [s for s in self._nodes.values() if s.node.capacity.gpu > 0]

    def _fill(self, target_pods: int) -> None:
        """Add workloads until about `target_pods` pods exist: GPU work first (to ~85% of the
        GPUs), then CPU work sized so requests fill about 70% of the CPU pools."""
        total_gpus = sum(len(s.free_gpus) for s in self._gpu_nodes())
        gpu_teams = [t for t in TEAMS if t.workload in ("ray", "inference")]
        cpu_teams = [t for t in TEAMS if t.workload in ("spark", "service")]
        existing = sum(len(w.pods) for w in self._workloads)
        placed_gpus = 0
        attempts = 0
        while placed_gpus < 0.85 * total_gpus and attempts < total_gpus + 10:
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
        # Mean request per CPU-workload pod if pods were their template size (~2.2 cores);
        # shrink templates when the cluster is dense so the work still fits.
        self._cpu_scale = min(1.0, 0.7 * cpu_capacity / max(1.0, remaining * 2.2))
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
        pods = []
        for i in range(count):
            pod = self._pod(SANDBOX_NAMESPACE, f"debug-{i}", 0.5, 1.0, {}, None, 0.05, 0.2)
            self._place(pod, ("general",))
            pods.append(pod)
        if pods:
            self._workloads.append(Workload(None, "sandbox", "bare", pods, self.now, math.inf))

    def _new_workload(
        self, team: TeamSpec, started: float, max_pods: int | None = None
    ) -> Workload:
        rng = self._rng
        ident = self._next_id()
        ns = team.namespace
        pods: list[SimPod] = []
        queue_labels = (
            {YUNIKORN_QUEUE: team.queue}
            if team.queue.startswith("root.")
            else {KUEUE_QUEUE_NAME: team.queue}
            if team.queue
            else {}
        )
        scale = getattr(self, "_cpu_scale", 1.0)
        if team.workload == "spark":
            name = f"{team.team}-job-{ident}"
            executors = rng.randint(2, 12)
            if max_pods is not None:
                executors = max(0, min(executors, max_pods - 1))  # a driver alone is valid
            base = {SPARK_APP_SELECTOR: f"spark-{ident}", SPARK_APP_NAME: name, **queue_labels}
            owner = Owner("SparkApplication", name)
            pods.append(
                self._pod(
                    ns,
                    f"{name}-driver",
                    1.0 * scale,
                    4 * scale,
                    {**base, SPARK_ROLE: "driver"},
                    owner,
                    0.3,
                    0.5,
                )
            )
            for i in range(executors):
                pods.append(
                    self._pod(
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
            classes: tuple[str, ...] = ("batch-cpu",)
        elif team.workload == "service":
            name = f"{team.team}-api-{ident[:5]}"
            replicas = rng.randint(2, 8)
            if max_pods is not None:
                replicas = max(1, min(replicas, max_pods))
            owner = Owner("Deployment", name)
            for i in range(replicas):
                pods.append(
                    self._pod(
                        ns,
                        f"{name}-{ident[5:]}-{i}",
                        2.0 * scale,
                        4 * scale,
                        {"app": name},
                        owner,
                        rng.uniform(0.1, 0.7),
                        rng.uniform(0.3, 0.8),
                    )
                )
            lifetime = math.inf
            classes = ("general",)
        elif team.workload == "ray":
            name = f"{team.team}-ray-{ident[:6]}"
            workers = rng.choice((1, 2, 2, 4))
            gpus_each = rng.choice((1, 2, 4, 8))
            owner = Owner("RayCluster", name)
            base = {RAY_CLUSTER: name, **queue_labels}
            pods.append(
                self._pod(
                    ns, f"{name}-head", 4, 16, {**base, RAY_NODE_TYPE: "head"}, owner, 0.3, 0.4
                )
            )
            for i in range(workers):
                pods.append(
                    self._pod(
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
            classes = ("gpu",)
        else:  # inference: an LLM batch-inference Job on one node's GPUs
            name = f"{team.team}-llm-{ident[:6]}"
            gpus = rng.choice((1, 2, 4, 8))
            owner = Owner("Job", name)
            pods.append(
                self._pod(
                    ns,
                    f"{name}-{ident[6:]}",
                    6 * gpus,
                    48 * gpus,
                    {"job-name": name, **queue_labels},
                    owner,
                    rng.uniform(0.2, 0.6),
                    rng.uniform(0.5, 0.9),
                    gpus,
                )
            )
            # Batch inference over a large corpus runs for hours (and, at the demo's 60x, its
            # pods live long enough for the 5m token-rate window: docs/unit-economics.md).
            lifetime = rng.uniform(2, 12) * 3600
            classes = ("gpu",)
        idle = team.workload in ("ray", "inference") and rng.random() < self.gpu_idle_share
        for pod in pods:
            if pod.requests.gpu:
                pod.gpu_busy = not idle
            self._place(pod, classes)
        if team.workload == "spark" and rng.random() < 0.5:
            claim = f"{name}-scratch"
            self._volumes.append(
                Volume(
                    f"pvc-{self._uid(claim)}",
                    "gp3",
                    rng.choice((50, 100, 500)) * GIB,
                    Provider.AWS,
                    ns,
                    claim,
                )
            )
            pods[0].claims = (claim,)
        return Workload(team, name, team.workload, pods, started, started + lifetime)

    # -- scheduling ---------------------------------------------------------------------------
    def _fits(self, sim: SimNode, pod: SimPod) -> bool:
        return (
            sim.free_cpu >= pod.requests.cpu
            and sim.free_memory >= pod.requests.memory
            and len(sim.free_gpus) >= pod.requests.gpu
        )

    def _bind(self, pod: SimPod, sim: SimNode) -> None:
        pod.node = sim.node.name
        sim.free_cpu -= pod.requests.cpu
        sim.free_memory -= pod.requests.memory
        gpus = int(pod.requests.gpu)
        pod.gpus, sim.free_gpus = sim.free_gpus[:gpus], sim.free_gpus[gpus:]

    def _place(self, pod: SimPod, classes: tuple[str, ...]) -> None:
        candidates = self._candidates(classes)
        if not candidates:
            return
        # Try a bounded number of random nodes (a scheduler's sample), then give up: Pending.
        for _ in range(min(24, len(candidates))):
            sim = candidates[self._rng.randrange(len(candidates))]
            if self._fits(sim, pod):
                self._bind(pod, sim)
                return

    def _candidates(self, classes: tuple[str, ...]) -> list[SimNode]:
        cache = self.__dict__.setdefault("_candidate_cache", {})
        if classes not in cache:
            cache[classes] = [
                s for s in self._nodes.values() if s.node.labels[POOL_CLASS_LABEL] in classes
            ]
        result: list[SimNode] = cache[classes]
        return result

    def _release(self, workload: Workload) -> None:
        for pod in workload.pods:
            sim = self._nodes.get(pod.node)
            if sim is None:
                continue
            sim.free_cpu += pod.requests.cpu
            sim.free_memory += pod.requests.memory
            sim.free_gpus.extend(pod.gpus)
            sim.free_gpus.sort()
            pod.node = ""
            pod.gpus = []
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
        for workload in finished:
            if workload.team is None:
                continue
            self._workloads.append(self._new_workload(workload.team, self.now))

    def _usage(self, pod: SimPod) -> Resources:
        hours = self.now / 3600.0
        wave = 1.0 + 0.25 * math.sin(2 * math.pi * hours / 6.0 + pod.phase_offset)
        cpu = pod.requests.cpu * max(0.01, pod.cpu_fraction * wave)
        memory = pod.requests.memory * min(1.2, pod.memory_fraction * (0.95 + 0.05 * wave))
        return Resources(cpu, memory, pod.requests.gpu, 0.0)

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
                    self._usage(sim) if running else None,
                    sim.labels,
                    {},
                    sim.owner,
                    sim.claims,
                )
            )
            if running:
                node = self._nodes[sim.node].node
                for index in sim.gpus:
                    utilization = self._gpu_utilization(sim, index)
                    gpus.append(
                        Gpu(
                            sim.node,
                            str(index),
                            self._uid(f"{sim.node}/gpu{index}"),
                            node.gpu_model,
                            1.0,
                            "",
                            sim.namespace,
                            sim.name,
                            utilization,
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
                        self._uid(f"{node.name}/gpu{index}"),
                        node.gpu_model,
                        utilization=0.0,
                        low_activity_since=None,
                    )
                )
        return Snapshot(
            timestamp=self.now,
            nodes=nodes,
            pods=tuple(pods),
            namespaces=self._namespaces(),
            volumes=tuple(self._volumes),
            flavors=self._flavors(),
            queues=self._queues(),
            local_queues=tuple(
                LocalQueue(t.namespace, t.queue, cq)
                for cq, teams in CLUSTER_QUEUES.items()
                for t in TEAMS
                if t.team in teams
            ),
            gpus=tuple(gpus),
        )

    def serving(self) -> list[Serving]:
        """The running LLM inference pods, as vLLM servers (sources/simulator/vllm.py counts their
        tokens)."""
        out = []
        for workload, sim in self.iter_pods():
            if workload.kind != "inference" or not sim.node or workload.started > self.now:
                continue
            busy = [self._gpu_utilization(sim, i) for i in sim.gpus]
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

    def _gpu_utilization(self, pod: SimPod, index: int) -> float:
        if not pod.gpu_busy:
            return 0.0
        hours = self.now / 3600.0
        return min(1.0, 0.75 + 0.2 * math.sin(2 * math.pi * hours + pod.phase_offset + index))

    @staticmethod
    def _namespaces() -> tuple[Namespace, ...]:
        out = [
            Namespace(t.namespace, {"team": t.team, "org": t.org, "cost-center": t.cost_center})
            for t in TEAMS
        ]
        out += [Namespace(ns, {}) for ns in SHARED_NAMESPACES]
        out.append(Namespace(SANDBOX_NAMESPACE, {}))
        return tuple(out)

    def _flavors(self) -> tuple[Flavor, ...]:
        flavors = [Flavor(p.name, {NODE_POOL_LABEL: p.name}) for p in POOLS if p.gpus]
        flavors.append(Flavor("batch-cpu", {POOL_CLASS_LABEL: "batch-cpu"}))
        return tuple(flavors)

    def _queues(self) -> tuple[Queue, ...]:
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
        research = {p: pool_total((NODE_POOL_LABEL, p), 0.6) for p in gpu_pools}
        inference = {p: pool_total((NODE_POOL_LABEL, p), 0.4) for p in gpu_pools}
        batch = (POOL_CLASS_LABEL, "batch-cpu")
        return (
            Queue("research-gpu", "kueue", research, cohort="ai"),
            Queue("inference-gpu", "kueue", inference, cohort="ai"),
            Queue(
                "root.data.etl",
                "yunikorn",
                {"batch-cpu": pool_total(batch, 0.45)},
                parent="root.data",
            ),
            Queue(
                "root.data.analytics",
                "yunikorn",
                {"batch-cpu": pool_total(batch, 0.3)},
                parent="root.data",
            ),
        )

    def close(self) -> None:
        return None


class SimulatorSource:
    """The simulated cluster as a live source: each read advances its clock by the wall time
    since the previous read, times `speed`. Its LLM inference pods' token counters advance
    by the wall time itself (see sources/simulator/vllm.py)."""

    name = "simulator"

    def __init__(
        self,
        cluster: SimulatedCluster,
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster = cluster
        self.speed = speed
        self._clock = clock
        self._last = clock()
        self.vllm = SimulatedVllm()

    def snapshot(self) -> Snapshot:
        now = self._clock()
        self.cluster.advance((now - self._last) * self.speed)
        self.vllm.advance(self.cluster.serving(), now - self._last)
        self._last = now
        return self.cluster.snapshot()

    def families(self) -> list[MetricFamily]:
        """Series the simulated workloads serve themselves (vLLM token counters)."""
        return self.vllm.families()

    def close(self) -> None:
        self.cluster.close()
