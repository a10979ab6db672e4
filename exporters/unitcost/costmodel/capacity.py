"""Capacity per node pool: what the pool offers, what running pods request and use, and what
waits in the queues (the history the capacity forecast reads; rendered by sinks/capacity.py).

Aggregated per (provider, node pool, GPU model, resource) rather than per pod, so the
forecast's inputs cost a few series per pool, not per pod. Values are in the resource's base
unit (cores, bytes, gpus).
"""

from __future__ import annotations

import math
from collections import defaultdict

from unitcost.costmodel.attribution import local_queue_index, pod_queue
from unitcost.data.capacity import CAPACITY_RESOURCES, KINDS, CapacityAmounts, PoolKey
from unitcost.data.frame import CostFrame
from unitcost.data.model import Node, PodPhase, ResourceName, Snapshot


def pool_of(node: Node) -> PoolKey:
    return PoolKey(node.provider.value, node.node_pool, node.gpu_model)


def capacity_amounts(snapshot: Snapshot, frame: CostFrame) -> CapacityAmounts:
    """kind -> (pool, resource) -> amount, for the four KINDS (pure; tested by hand-made
    snapshots)."""
    out: dict[str, dict[tuple[PoolKey, ResourceName], float]] = {
        k: defaultdict(float) for k in KINDS
    }
    pools = {n.name: pool_of(n) for n in snapshot.nodes}
    for node in snapshot.nodes:
        for r in CAPACITY_RESOURCES:
            out["allocatable"][(pools[node.name], r)] += node.allocatable.get(r)
    local_queues = local_queue_index(snapshot)
    flavor_pools = _flavor_pools(snapshot)
    queue_flavors = {q.name: q.quota for q in snapshot.queues}
    for pod in snapshot.pods:
        if pod.phase is PodPhase.RUNNING and pod.node in pools:
            pool = pools[pod.node]
            for r in CAPACITY_RESOURCES:
                out["requested"][(pool, r)] += pod.requests.get(r)
                # Usage unknown: the pod counts as using what it requested (as the cost model
                # prices it). GPUs come from the GPU rule below.
                if r != "gpu":
                    used = pod.usage.get(r) if pod.usage is not None else pod.requests.get(r)
                    if not math.isfinite(used) or used < 0:  # NaN/inf usage: as unknown
                        used = pod.requests.get(r)
                    out["used"][(pool, r)] += used
        elif pod.phase is PodPhase.PENDING and not pod.node:
            # Queued but not admitted/placed: the queue's flavors say which pools it waits for.
            # The scheduler has not picked one yet, so the demand is split evenly over them.
            quota = queue_flavors.get(pod_queue(pod, local_queues), {})
            for r in CAPACITY_RESOURCES:
                amount = pod.requests.get(r)
                targets = [
                    p for f, q in quota.items() if q.get(r) > 0 for p in flavor_pools.get(f, ())
                ]
                for pool in targets:
                    out["pending"][(pool, r)] += amount / len(targets)
    # A GPU is used when it is allocated to a running pod and not idle by the GPU rule.
    shares = {(g.node, g.gpu): g.share for g in snapshot.gpus}
    for gpu in frame.gpus:
        if gpu.node in pools and not gpu.idle:
            out["used"][(pools[gpu.node], "gpu")] += shares.get((gpu.node, gpu.gpu), 1.0)
    return out


def _flavor_pools(snapshot: Snapshot) -> dict[str, list[PoolKey]]:
    """Flavor -> the distinct pools of the nodes it selects (sorted, for stable output)."""
    out: dict[str, list[PoolKey]] = {}
    for flavor in snapshot.flavors:
        members = {
            pool_of(n)
            for n in snapshot.nodes
            if all(n.labels.get(k) == v for k, v in flavor.node_labels.items())
        }
        out[flavor.name] = sorted(members, key=lambda p: (p.provider, p.node_pool, p.gpu_model))
    return out
