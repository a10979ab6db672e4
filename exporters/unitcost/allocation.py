"""allocate(): the cost model. Pure: plain data in, plain data out.

For each node and resource r (docs/cost-model.md has the derivation):
    unit price      p = node_cost[r] / allocatable[r]
    demand          d_i = max(request_i, usage_i)          (usage unknown -> request)
    scale           s = min(1, allocatable[r] / sum(d_i))  (never over-allocate the node)
    allocated       a_i = p * d_i * s
    unused (waste)  w_i = p * max(0, request_i - usage_i) * s   (0 when usage is unknown)
    idle            node_cost[r] - sum(a_i), never negative
(computed as node_cost * d_i / max(allocatable, sum(d)), the same quantity.)
so that sum(a_i) + idle == node_cost[r] for every node and resource.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from unitcost.attribution import (
    Attribution,
    AttributionRules,
    attribute_namespace,
    attribute_pod,
    local_queue_index,
)
from unitcost.frame import CostFrame, GpuCost, NodeCost, PerResource, PodCost, QueueCost, VolumeCost
from unitcost.model import RESOURCES, Node, Pod, PodPhase, ResourceName, Snapshot
from unitcost.pricing import NodePrice, PriceBook

SharedStrategy = Literal["keep", "even", "proportional"]


@dataclass(frozen=True, slots=True)
class AllocationPolicy:
    attribution: AttributionRules = field(default_factory=AttributionRules)
    #: keep: shared cost stays a named bucket (team "shared"); even / proportional: it is also
    #: spread onto the other running pods, cluster-wide, as `PodCost.shared`.
    shared_strategy: SharedStrategy = "keep"
    #: A GPU allocated to a running pod is idle after its activity stays below the threshold
    #: for this long.
    gpu_idle_window_seconds: float = 1800.0


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
        # a_i = price * d_i * scale = node_cost * d_i / max(allocatable, sum(d)): one division,
        # each share <= 1, so no overflow however small allocatable or large demand is.
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


def _redistribute_shared(pods: list[PodCost], shared_team: str, strategy: SharedStrategy) -> None:
    if strategy == "keep":
        return
    donors = [p for p in pods if p.owner.team == shared_team]
    recipients = [p for p in pods if p.owner.team != shared_team and p.allocated]
    if not donors or not recipients:
        return
    pool = {r: math.fsum(p.allocated.get(r, 0.0) for p in donors) for r in RESOURCES}
    if strategy == "even":
        weights = [1.0] * len(recipients)
    else:
        weights = [math.fsum(p.allocated.values()) for p in recipients]
    total_weight = math.fsum(weights)
    for pod, weight in zip(recipients, weights, strict=True):
        share = weight / total_weight
        pod.shared = {r: amount * share for r, amount in pool.items() if amount > 0}


def _gpu_costs(
    snapshot: Snapshot, prices: dict[str, NodePrice], running: set[tuple[str, str]], window: float
) -> list[GpuCost]:
    nodes = {n.name: n for n in snapshot.nodes}
    out = []
    for gpu in snapshot.gpus:
        node = nodes.get(gpu.node)
        if node is None:
            continue
        devices = node.allocatable.gpu or node.capacity.gpu
        hourly = prices[node.name].dollars_per_hour["gpu"] / devices * gpu.share if devices else 0.0
        allocated = (gpu.pod_namespace, gpu.pod_name) in running
        if not allocated:
            continue  # an unallocated GPU is the node's idle capacity, not a pod's
        idle = (
            gpu.low_activity_since is not None
            and snapshot.timestamp - gpu.low_activity_since >= window
        )
        out.append(
            GpuCost(
                gpu.node,
                gpu.gpu,
                gpu.model,
                gpu.mig_profile,
                gpu.pod_namespace,
                gpu.pod_name,
                hourly,
                idle,
            )
        )
    return out


def _matches(node: Node, selector: dict[str, str]) -> bool:
    return all(node.labels.get(k) == v for k, v in selector.items())


def _queue_costs(
    snapshot: Snapshot, node_costs: Iterable[NodeCost], pods: list[PodCost], pricebook: PriceBook
) -> list[QueueCost]:
    if not snapshot.queues:
        return []
    flavors = {f.name: f.node_labels for f in snapshot.flavors}
    node_costs = list(node_costs)
    fallback = pricebook.book.fallback
    fallback_unit: PerResource = {
        "cpu": fallback.cpu_core_hour,
        "memory": fallback.memory_gib_hour / 2.0**30,
        "gpu": fallback.gpu_hour,
        "storage": fallback.storage_gib_hour / 2.0**30,
    }
    flavor_nodes: dict[str, set[str]] = {}
    flavor_unit: dict[str, PerResource] = {}
    for flavor, selector in flavors.items():
        members = [nc for nc in node_costs if _matches(nc.node, selector)]
        flavor_nodes[flavor] = {nc.node.name for nc in members}
        unit: PerResource = {}
        for r in RESOURCES:
            amount = math.fsum(nc.node.allocatable.get(r) for nc in members)
            cost = math.fsum(nc.price.dollars_per_hour[r] for nc in members)
            # A flavor with no nodes now (an autoscaled pool at zero) is priced at fallback rates.
            unit[r] = cost / amount if amount > 0 else fallback_unit[r]
        flavor_unit[flavor] = unit
    used: dict[tuple[str, str, ResourceName], float] = defaultdict(float)
    queue_flavors = {q.name: list(q.quota) for q in snapshot.queues}
    for pod in pods:
        names = queue_flavors.get(pod.owner.queue)
        if not names:
            continue
        for flavor in names:
            if pod.node in flavor_nodes.get(flavor, ()):
                for r, amount in pod.allocated.items():
                    used[(pod.owner.queue, flavor, r)] += amount
                break
    out = []
    for queue in snapshot.queues:
        for flavor, quota in queue.quota.items():
            unit = flavor_unit.get(flavor, fallback_unit)
            for r in RESOURCES:
                amount = quota.get(r)
                spent = used.get((queue.name, flavor, r), 0.0)
                if amount > 0 or spent > 0:
                    out.append(
                        QueueCost(queue.name, queue.scheduler, flavor, r, amount * unit[r], spent)
                    )
    return out


def allocate(snapshot: Snapshot, pricebook: PriceBook, policy: AllocationPolicy) -> CostFrame:
    """Price every node, allocate it to the pods running on it, and account for the rest."""
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
    prices: dict[str, NodePrice] = {}
    for node in snapshot.nodes:
        prices[node.name] = pricebook.node_price(node)
        node_cost, pod_costs = _allocate_node(node, prices[node.name], running[node.name], owners)
        frame.nodes.append(node_cost)
        frame.pods.extend(pod_costs)

    _redistribute_shared(frame.pods, rules.shared_team, policy.shared_strategy)
    running_keys = {p.key for pods in running.values() for p in pods}
    frame.gpus = _gpu_costs(snapshot, prices, running_keys, policy.gpu_idle_window_seconds)
    frame.queues = _queue_costs(snapshot, frame.nodes, frame.pods, pricebook)
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
