"""The cost model's invariant, checked on a CostFrame or on scraped metrics."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from unitcost.data.frame import CostFrame
from unitcost.data.model import RESOURCES

REL_TOL = 1e-9
ABS_TOL = 1e-12


def assert_frame_invariant(frame: CostFrame) -> None:
    """For every node and resource: sum(pod allocated) + idle == node cost, idle >= 0."""
    allocated: dict[tuple[str, str], list[float]] = defaultdict(list)
    for pod in frame.pods:
        for resource, amount in pod.allocated.items():
            assert amount >= 0 and math.isfinite(amount), (pod, resource)
            allocated[(pod.node, resource)].append(amount)
        for resource, waste in pod.unused.items():
            assert 0 <= waste <= pod.allocated.get(resource, 0.0) * (1 + REL_TOL) + ABS_TOL
    for nc in frame.nodes:
        for resource in RESOURCES:
            cost = nc.price.dollars_per_hour[resource]
            idle = nc.idle[resource]
            assert idle >= 0, (nc.node.name, resource, idle)
            total = math.fsum(allocated[(nc.node.name, resource)]) + idle
            assert math.isclose(total, cost, rel_tol=REL_TOL, abs_tol=ABS_TOL), (
                nc.node.name,
                resource,
                total,
                cost,
            )


def assert_scraped_invariant(samples: Iterable[tuple[str, dict[str, str], float]]) -> int:
    """The same invariant from /metrics samples; returns how many (node, resource) it checked."""
    node_cost: dict[tuple[str, str], float] = {}
    idle: dict[tuple[str, str], float] = {}
    pods: dict[tuple[str, str], list[float]] = defaultdict(list)
    for name, labels, value in samples:
        if name == "unitcost_node_cost_dollars_per_hour":
            node_cost[(labels["node"], labels["resource"])] = value
        elif name == "unitcost_node_idle_cost_dollars_per_hour":
            idle[(labels["node"], labels["resource"])] = value
        elif name == "unitcost_pod_cost_dollars_per_hour":
            pods[(labels["node"], labels["resource"])].append(value)
    assert node_cost, "no node cost series"
    assert set(pods) <= set(node_cost), set(pods) - set(node_cost)
    for key, cost in node_cost.items():
        assert idle[key] >= 0
        total = math.fsum(pods[key]) + idle[key]
        assert math.isclose(total, cost, rel_tol=REL_TOL, abs_tol=ABS_TOL), (key, total, cost)
    return len(node_cost)
