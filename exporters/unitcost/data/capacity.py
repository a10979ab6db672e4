"""Capacity per node pool as plain data: the pools, the resources planned and their units."""

from __future__ import annotations

from dataclasses import dataclass

from unitcost.data.model import ResourceName

#: The resources capacity is planned in, and their units.
CAPACITY_RESOURCES: dict[ResourceName, str] = {"cpu": "cores", "memory": "bytes", "gpu": "gpus"}


KINDS = ("allocatable", "requested", "used", "pending")


@dataclass(frozen=True, slots=True)
class PoolKey:
    provider: str
    node_pool: str
    gpu_model: str


#: kind -> (pool, resource) -> amount in the resource's unit, for each of KINDS.
CapacityAmounts = dict[str, dict[tuple[PoolKey, ResourceName], float]]
