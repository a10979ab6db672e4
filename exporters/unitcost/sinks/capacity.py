"""Capacity per node pool: what the pool offers, what running pods request and use, and what
waits in the queues. The history the capacity forecast
(history/forecast) reads; the amounts are computed in costmodel/capacity.py.

Aggregated per (provider, node pool, GPU model, resource) here rather than per pod, so the
forecast's inputs cost a few series per pool, not per pod (docs/design.md, "Cardinality is
a budget"). Values are in the resource's base unit, named by the `unit` label (cores, bytes,
gpus), as kube-state-metrics does for `kube_node_status_allocatable`.
"""

from __future__ import annotations

from unitcost.data.capacity import CAPACITY_RESOURCES, CapacityAmounts
from unitcost.metrics.catalogue import (
    CAPACITY_ALLOCATABLE,
    CAPACITY_PENDING,
    CAPACITY_REQUESTED,
    CAPACITY_USED,
)
from unitcost.metrics.family import MetricFamily

#: The family of each kind of amount (data/capacity.py KINDS).
SPECS = {
    "allocatable": CAPACITY_ALLOCATABLE,
    "requested": CAPACITY_REQUESTED,
    "used": CAPACITY_USED,
    "pending": CAPACITY_PENDING,
}


def capacity_families(amounts: CapacityAmounts) -> list[MetricFamily]:
    """The amounts costmodel/capacity.py computed, one family per kind."""
    families = []
    pools = sorted(
        {key for key, _ in amounts["allocatable"]},
        key=lambda p: (p.provider, p.node_pool, p.gpu_model),
    )
    for kind, spec in SPECS.items():
        family = spec.family()
        for pool in pools:
            for r, unit in CAPACITY_RESOURCES.items():
                if amounts["allocatable"].get((pool, r), 0.0) <= 0:
                    continue  # a CPU pool has no GPU capacity to plan
                value = amounts[kind].get((pool, r), 0.0)
                family.add((pool.provider, pool.node_pool, pool.gpu_model, r, unit), value)
        families.append(family)
    return families
