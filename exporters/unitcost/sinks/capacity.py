"""Capacity per node pool: what the pool offers, what running pods request and use, and what
waits in the queues. The history the capacity forecast (unitcost.history.forecast) reads.

Aggregated per (provider, node pool, GPU model, resource) here rather than per pod, so the
forecast's inputs cost a few series per pool, not per pod (DESIGN.md "Cardinality is a
budget"). Values are in the resource's base unit, named by the `unit` label (cores, bytes,
gpus), as kube-state-metrics does for `kube_node_status_allocatable`.
"""

from __future__ import annotations

from unitcost.costmodel.capacity import CAPACITY_RESOURCES, KINDS, capacity_amounts
from unitcost.data.frame import CostFrame
from unitcost.data.model import Snapshot
from unitcost.metrics.family import MetricFamily

LABELS = ("provider", "node_pool", "gpu_model", "resource", "unit")


HELP = {
    "allocatable": "What the node pool's nodes offer to pods (allocatable), in `unit`.",
    "requested": "Requests of the running pods on the node pool's nodes, in `unit`.",
    "used": "Usage of the running pods on the node pool (cpu, memory; requests when usage is "
    "unknown) and GPUs allocated and not idle by the GPU rule, in `unit`.",
    "pending": "Requests of pending pods waiting in a queue (Kueue ClusterQueue, YuniKorn "
    "queue), split evenly over the node pools of the queue's flavors, in `unit`.",
}


def capacity_families(snapshot: Snapshot, frame: CostFrame) -> list[MetricFamily]:
    amounts = capacity_amounts(snapshot, frame)
    families = []
    pools = sorted(
        {key for key, _ in amounts["allocatable"]},
        key=lambda p: (p.provider, p.node_pool, p.gpu_model),
    )
    for kind in KINDS:
        family = MetricFamily(f"unitcost_capacity_{kind}", HELP[kind], LABELS)
        for pool in pools:
            for r, unit in CAPACITY_RESOURCES.items():
                if amounts["allocatable"].get((pool, r), 0.0) <= 0:
                    continue  # a CPU pool has no GPU capacity to plan
                value = amounts[kind].get((pool, r), 0.0)
                family.add((pool.provider, pool.node_pool, pool.gpu_model, r, unit), value)
        families.append(family)
    return families
