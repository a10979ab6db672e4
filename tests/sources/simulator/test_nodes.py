"""Nodes from the catalogue's pools: exact counts, kubelet reservations, labels."""

from __future__ import annotations

import pytest

from unitcost.sources.simulator.catalogue import NODE_POOL_LABEL, POOL_CLASS_LABEL, POOLS
from unitcost.sources.simulator.nodes import make_nodes, pool_sizes


@pytest.mark.parametrize("count", [1, 2, 9, 60, 301, 5000])
def test_pools_share_exactly_the_node_count(count: int) -> None:
    sizes = pool_sizes(count)
    assert [pool for pool, _ in sizes] == list(POOLS)
    assert sum(n for _, n in sizes) == count
    total = sum(p.weight for p in POOLS)
    for pool, n in sizes:  # the largest-remainder split is within one node of the share
        assert abs(n - count * pool.weight / total) < 1


def test_nodes_reserve_for_the_system_and_start_empty() -> None:
    nodes = make_nodes(60)
    assert len(nodes) == 60
    pools = {p.name: p for p in POOLS}
    for name, sim in nodes.items():
        node = sim.node
        pool = pools[node.labels[NODE_POOL_LABEL]]
        assert name == node.name and node.labels[POOL_CLASS_LABEL] == pool.pool_class
        assert node.zone in pool.zones and node.instance_type == pool.instance_type
        assert node.allocatable.cpu < node.capacity.cpu
        assert node.allocatable.memory < node.capacity.memory
        assert (sim.free_cpu, sim.free_memory) == (node.allocatable.cpu, node.allocatable.memory)
        assert sim.free_gpus == list(range(pool.gpus))
