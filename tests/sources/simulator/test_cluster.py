"""The simulated cluster: deterministic for a seed, realistic in shape, scales to k8s limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

from support.invariant import assert_frame_invariant
from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.policy import allocation_policy
from unitcost.data.model import PodPhase, Provider, Snapshot
from unitcost.pricing import PriceBook
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource

PRICES = PriceBook.load()
POLICY = allocation_policy(demo_config())


def totals(snapshot: Snapshot) -> dict[str, float]:
    frame = allocate(snapshot, PRICES, POLICY)
    by_team: Counter[str] = Counter()
    for pod in frame.pods:
        by_team[pod.owner.team] += sum(pod.allocated.values())
    return {team: round(value, 9) for team, value in sorted(by_team.items())}


def test_same_seed_same_cluster_over_time() -> None:
    a, b = SimulatedCluster(seed=3), SimulatedCluster(seed=3)
    assert a.snapshot() == b.snapshot()
    for _ in range(5):
        a.advance(1800)
        b.advance(1800)
    assert a.snapshot() == b.snapshot()
    assert SimulatedCluster(seed=4).snapshot() != SimulatedCluster(seed=3).snapshot()


def test_totals_are_stable_across_processes() -> None:
    """Different interpreter runs (different hash seeds) give the same dollars for a seed."""
    code = (
        "import json; from tests.sources.simulator.test_cluster import totals;"
        "from unitcost.sources.simulator import SimulatedCluster as S;"
        "c = S(seed=11); c.advance(7200); print(json.dumps(totals(c.snapshot())))"
    )
    runs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": "tests"}
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        )
        runs.append(json.loads(out.stdout))
    here = SimulatedCluster(seed=11)
    here.advance(7200)
    assert runs[0] == runs[1] == totals(here.snapshot())


def test_shape_of_the_platform() -> None:
    snapshot = SimulatedCluster(seed=42).snapshot()
    assert {n.provider for n in snapshot.nodes} == set(Provider)
    assert {n.capacity_type.value for n in snapshot.nodes} == {"on-demand", "spot", "committed"}
    kinds = Counter(p.owner.kind for p in snapshot.pods if p.owner)
    assert {"SparkApplication", "RayCluster", "Job", "Deployment", "DaemonSet"} <= set(kinds)
    assert any(p.labels.get("spark-role") == "driver" for p in snapshot.pods)
    assert any(
        p.labels.get("ray.io/node-type") == "worker" and p.requests.gpu for p in snapshot.pods
    )
    assert {q.scheduler for q in snapshot.queues} == {"kueue", "yunikorn"}
    assert any(g.low_activity_since is not None and g.pod_name for g in snapshot.gpus)  # idle GPUs
    assert any(g.low_activity_since is None and g.pod_name for g in snapshot.gpus)  # busy GPUs
    frame = allocate(snapshot, PRICES, POLICY)
    teams = {p.owner.team for p in frame.pods}
    assert {"llm-training", "etl", "recsys", "shared", "unassigned"} <= teams
    assert len({p.owner.org for p in frame.pods}) >= 4
    assert frame.unpriced_nodes == 0
    assert_frame_invariant(frame)


def test_pods_come_and_go_and_usage_varies() -> None:
    source_clock = [0.0]
    cluster = SimulatedCluster(seed=5)
    source = SimulatorSource(cluster, speed=3600, clock=lambda: source_clock[0])
    before = source.snapshot()
    source_clock[0] = 3.0  # three simulated hours
    after = source.snapshot()
    names_before = {p.name for p in before.pods}
    names_after = {p.name for p in after.pods}
    assert names_before - names_after and names_after - names_before
    common = [p for p in after.pods if p.name in names_before and p.usage]
    usage_before = {p.name: p.usage for p in before.pods}
    assert any(usage_before[p.name] != p.usage for p in common)
    assert after.timestamp - before.timestamp == 3 * 3600


def test_dense_clusters_shrink_cpu_work_so_it_still_runs() -> None:
    sparse = SimulatedCluster(seed=1, nodes=10, pods=300)
    dense = SimulatedCluster(seed=1, nodes=10, pods=3000)
    assert dense.cpu_scale < sparse.cpu_scale <= 1.0
    dense.advance(3 * 3600)  # replacements are made at the same scale
    snapshot = dense.snapshot()
    drivers = [p for p in snapshot.pods if p.labels.get("spark-role") == "driver"]
    assert drivers and {p.requests.cpu for p in drivers} == {1.0 * dense.cpu_scale}
    running = sum(p.phase is PodPhase.RUNNING for p in snapshot.pods)
    assert running > 0.95 * len(snapshot.pods)


def test_scales_to_kubernetes_documented_limits() -> None:
    snapshot = SimulatedCluster(seed=1, nodes=5000, pods=150_000).snapshot()
    assert len(snapshot.nodes) == 5000
    assert len(snapshot.pods) == 150_000
    running = sum(p.phase is PodPhase.RUNNING for p in snapshot.pods)
    assert running > 0.99 * 150_000
