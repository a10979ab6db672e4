"""A GPU's price per hour, from the price book.

With the node's instance type (or on-prem node class) known, a device costs the node's GPU
share (`PriceBook.node_price`) over its GPU count, exactly as the cluster exporter prices it;
otherwise the per-model rate (`PriceBook.gpu_hourly`). A MIG slice costs its share of that.
"""

from __future__ import annotations

import os

from unitcost.data.model import CapacityType, Node, Provider, Resources
from unitcost.pricing import PriceBook


def host_node(
    name: str,
    provider: Provider,
    instance_type: str,
    capacity_type: CapacityType,
    gpus: int,
    gpu_model: str,
) -> Node:
    """This node as the price book sees it. CPU and memory come from the host: the split of
    an instance price across resources is weighted by them."""
    try:
        memory = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError):
        memory = 0.0
    capacity = Resources(cpu=float(os.cpu_count() or 1), memory=memory, gpu=float(gpus))
    return Node(
        name=name,
        provider=provider,
        instance_type=instance_type,
        region="",
        zone="",
        capacity_type=capacity_type,
        node_pool="",
        capacity=capacity,
        allocatable=capacity,
        gpu_model=gpu_model,
    )


class GpuPricer:
    def __init__(self, book: PriceBook, node: Node | None = None) -> None:
        self.book = book
        self.node = node
        self._node_gpu_hourly: float | None = None
        if node is not None and node.capacity.gpu > 0:
            price = book.node_price(node)
            if price.priced:  # an unknown instance type falls back to the per-model rate
                self._node_gpu_hourly = price.dollars_per_hour["gpu"] / node.capacity.gpu

    @property
    def method(self) -> str:
        return "node" if self._node_gpu_hourly is not None else "model"

    def hourly(self, model: str, share: float = 1.0) -> float:
        """Dollars per hour for `share` of one device of `model`."""
        if self._node_gpu_hourly is not None:
            return self._node_gpu_hourly * share
        return self.book.gpu_hourly(model) * share
