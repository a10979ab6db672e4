"""The straightforward implementations the fast paths must match, kept as executable specs.

`render_reference` is the line-by-line renderer that `unitcost.sinks.exposition.render` replaced;
`allocate_reference` is the per-node, per-pod loop that the vectorised `allocate()` replaced
(with attribute_pod per pod, where allocate() memoises it, and queue use summed per PodCost).
tests/costmodel/test_allocation_fast.py and tests/sinks/test_render_fast.py prove the fast paths give
the same numbers and the same bytes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from functools import partial

from unitcost.costmodel.allocation import (
    AllocationPolicy,
    Candidates,
    QueueUse,
    _gpu_costs,
    _queue_costs,
    _redistribute_shared,
    batch_costs,
    flavor_prices,
    gpu_devices,
    with_listed_gpus,
)
from unitcost.costmodel.attribution import attribute_namespace, attribute_pod, local_queue_index
from unitcost.data.frame import (
    Attribution,
    CostFrame,
    NodeCost,
    NodePrice,
    PerResource,
    PodCost,
    VolumeCost,
)
from unitcost.data.model import RESOURCES, Node, Pod, PodPhase, ResourceName, Snapshot
from unitcost.metrics.family import MetricFamily
from unitcost.pricing import PriceBook
from unitcost.sinks.exposition import escape_label_value, format_value


def render_reference(families: Iterable[MetricFamily]) -> bytes:
    lines: list[str] = []
    for family in families:
        help_text = family.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {family.name} {help_text}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        names = family.labels
        for values, value in family.samples:
            if names:
                pairs = ",".join(
                    f'{n}="{escape_label_value(v)}"' for n, v in zip(names, values, strict=True)
                )
                lines.append(f"{family.name}{{{pairs}}} {format_value(value)}")
            else:
                lines.append(f"{family.name} {format_value(value)}")
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def _usage(pod: Pod, resource: ResourceName) -> float | None:
    if pod.usage is None:
        return None
    value = pod.usage.get(resource)
    return value if math.isfinite(value) and value >= 0 else None


def _request(pod: Pod, resource: ResourceName) -> float:
    value = pod.requests.get(resource)
    return value if math.isfinite(value) and value > 0 else 0.0


def _allocate_node(
    node: Node, price: NodePrice, pods: list[Pod], owners: dict[tuple[str, str], Attribution]
) -> tuple[NodeCost, list[PodCost]]:
    pod_costs = [PodCost(p.namespace, p.name, node.name, owners[p.key], {}, {}) for p in pods]
    allocated_total: PerResource = {}
    idle: PerResource = {}
    for resource in RESOURCES:
        node_cost = price.dollars_per_hour[resource]
        allocatable = node.allocatable.get(resource)
        requests = [_request(p, resource) for p in pods]
        usages = [_usage(p, resource) for p in pods]
        demands = [r if u is None else max(r, u) for r, u in zip(requests, usages, strict=True)]
        denominator = max(allocatable, math.fsum(demands))
        spent = []
        if allocatable > 0 and math.isfinite(denominator):
            for cost, request, usage, demand in zip(
                pod_costs, requests, usages, demands, strict=True
            ):
                amount = node_cost * (demand / denominator)
                spent.append(amount)
                if amount > 0:
                    cost.allocated[resource] = amount
                if usage is not None and request > usage:
                    cost.unused[resource] = node_cost * ((request - usage) / denominator)
        allocated_total[resource] = math.fsum(spent)
        idle[resource] = max(0.0, node_cost - allocated_total[resource])
    return NodeCost(node, price, allocated_total, idle), pod_costs


def _queue_use(pods: list[PodCost], candidates: Candidates) -> QueueUse:
    used: dict[tuple[str, str, ResourceName], float] = defaultdict(float)
    for pod in pods:
        queue_name = pod.owner.queue
        for flavor, holders in candidates.get(queue_name, ()):
            if pod.node in holders:
                for r, amount in pod.allocated.items():
                    used[(queue_name, flavor, r)] += amount
                break
    return used


def allocate_reference(
    snapshot: Snapshot, pricebook: PriceBook, policy: AllocationPolicy
) -> CostFrame:
    rules = policy.attribution
    namespaces = {ns.name: ns for ns in snapshot.namespaces}
    local_queues = local_queue_index(snapshot)
    node_names = {n.name for n in snapshot.nodes}
    running: dict[str, list[Pod]] = defaultdict(list)
    owners: dict[tuple[str, str], Attribution] = {}
    for pod in snapshot.pods:
        if pod.phase is PodPhase.RUNNING and pod.node in node_names:
            running[pod.node].append(pod)
            owners[pod.key] = attribute_pod(pod, namespaces.get(pod.namespace), rules, local_queues)

    frame = CostFrame(timestamp=snapshot.timestamp)
    if snapshot.gpu_devices:
        snapshot = with_listed_gpus(snapshot)
    prices: dict[str, NodePrice] = {}
    for node in snapshot.nodes:
        prices[node.name] = pricebook.node_price(node)
        node_cost, pod_costs = _allocate_node(node, prices[node.name], running[node.name], owners)
        frame.nodes.append(node_cost)
        frame.pods.extend(pod_costs)

    pods_running = [  # in snapshot order, as the fast path holds them
        p for p in snapshot.pods if p.phase is PodPhase.RUNNING and p.node in node_names
    ]
    frame.gpu_devices = gpu_devices(snapshot, prices, pods_running, policy, frame.nodes, frame.pods)
    _redistribute_shared(frame.pods, rules.shared_team, policy.shared_strategy)
    running_keys = {p.key for pods in running.values() for p in pods}
    frame.gpus = _gpu_costs(snapshot, prices, running_keys, policy.gpu_idle_window_seconds)
    frame.queues = _queue_costs(snapshot, frame.nodes, pricebook, partial(_queue_use, frame.pods))
    if snapshot.queues or snapshot.jobs:  # not part of the per-pod arithmetic: the same code
        batch_costs(snapshot, flavor_prices(snapshot, frame.nodes, pricebook), rules, frame)
    frame.volumes = [
        VolumeCost(
            v.name, v.storage_class, v.claim_namespace, v.claim_name, pricebook.volume_hourly(v)
        )
        for v in snapshot.volumes
    ]
    seen = (
        set(namespaces)
        | {p.namespace for p in snapshot.pods}
        | {v.claim_namespace for v in snapshot.volumes if v.claim_namespace}
    )
    frame.namespaces = {
        name: attribute_namespace(name, namespaces.get(name), rules) for name in sorted(seen)
    }
    return frame
