"""The cluster's nodes, made from the catalogue's pools in proportion to their weights."""

from __future__ import annotations

import math

from unitcost.data.model import Node, Resources
from unitcost.sources.simulator.catalogue import (
    GIB,
    NODE_POOL_LABEL,
    POOL_CLASS_LABEL,
    POOLS,
    PoolSpec,
)
from unitcost.sources.simulator.objects import SimNode


def pool_sizes(count: int) -> list[tuple[PoolSpec, int]]:
    """Each pool and its node count: `count` split by weight, summing exactly to `count`."""
    weights = [p.weight for p in POOLS]
    total = sum(weights)
    counts = [max(0, math.floor(count * w / total)) for w in weights]
    # Hand out the remainder largest-fraction first, so counts sum exactly to `count`.
    remainders = sorted(
        range(len(POOLS)), key=lambda i: (count * weights[i] / total) - counts[i], reverse=True
    )
    for i in remainders[: count - sum(counts)]:
        counts[i] += 1
    return list(zip(POOLS, counts, strict=True))


def pool_node(pool: PoolSpec, index: int) -> Node:
    """The pool's node number `index`, in the pool's zones in turn."""
    zone = pool.zones[index % len(pool.zones)]
    capacity = Resources(pool.cpu, pool.memory_gib * GIB, float(pool.gpus), pool.disk_gib * GIB)
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
    return Node(
        f"{pool.name}-{index:04d}",
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


def make_nodes(count: int) -> dict[str, SimNode]:
    """`count` empty nodes by name, pool after pool."""
    nodes: dict[str, SimNode] = {}
    for pool, size in pool_sizes(count):
        for index in range(size):
            node = pool_node(pool, index)
            free = node.allocatable
            nodes[node.name] = SimNode(node, free.cpu, free.memory, list(range(pool.gpus)))
    return nodes
