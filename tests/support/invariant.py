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
    """The same invariant from /metrics samples, with either `detail`; returns how many
    (node, resource) it checked.

    What every exposition has: per node, over its resources, the pods' totals
    (unitcost_pod_total_cost_dollars_per_hour) + idle == cost; per resource, over the
    cluster, the workloads' sums (unitcost_workload_resource_cost_dollars_per_hour) + idle
    == cost; over the cluster, the workloads' sums add up to the pods' totals (every running
    pod is in one workload). With `detail: pod` also per node and resource:
    sum(unitcost_pod_cost_dollars_per_hour) + idle == cost."""
    node_cost: dict[tuple[str, str], float] = {}
    idle: dict[tuple[str, str], float] = {}
    pods: dict[tuple[str, str], list[float]] = defaultdict(list)
    pod_totals: dict[str, list[float]] = defaultdict(list)
    by_resource: dict[str, list[float]] = defaultdict(list)
    for name, labels, value in samples:
        if name == "unitcost_node_cost_dollars_per_hour":
            node_cost[(labels["node"], labels["resource"])] = value
        elif name == "unitcost_node_idle_cost_dollars_per_hour":
            idle[(labels["node"], labels["resource"])] = value
        elif name == "unitcost_pod_cost_dollars_per_hour":
            pods[(labels["node"], labels["resource"])].append(value)
        elif name == "unitcost_pod_total_cost_dollars_per_hour":
            pod_totals[labels["node"]].append(value)
        elif name == "unitcost_workload_resource_cost_dollars_per_hour":
            by_resource[labels["resource"]].append(value)
    assert node_cost, "no node cost series"
    assert set(pods) <= set(node_cost), set(pods) - set(node_cost)
    nodes = {node for node, _ in node_cost}
    assert set(pod_totals) <= nodes, set(pod_totals) - nodes
    for key, cost in node_cost.items():
        assert idle[key] >= 0
        if pods:  # detail: pod
            total = math.fsum(pods[key]) + idle[key]
            assert math.isclose(total, cost, rel_tol=REL_TOL, abs_tol=ABS_TOL), (key, total, cost)
    for node in nodes:
        keys = [k for k in node_cost if k[0] == node]
        cost = math.fsum(node_cost[k] for k in keys)
        total = math.fsum(pod_totals[node]) + math.fsum(idle[k] for k in keys)
        assert math.isclose(total, cost, rel_tol=REL_TOL, abs_tol=ABS_TOL), (node, total, cost)
    for resource in {r for _, r in node_cost}:
        keys = [k for k in node_cost if k[1] == resource]
        cost = math.fsum(node_cost[k] for k in keys)
        total = math.fsum(by_resource[resource]) + math.fsum(idle[k] for k in keys)
        assert math.isclose(total, cost, rel_tol=REL_TOL, abs_tol=ABS_TOL), (resource, total, cost)
    workloads = math.fsum(v for values in by_resource.values() for v in values)
    pods_total = math.fsum(v for values in pod_totals.values() for v in values)
    assert math.isclose(workloads, pods_total, rel_tol=REL_TOL, abs_tol=ABS_TOL), (
        workloads,
        pods_total,
    )
    return len(node_cost)
