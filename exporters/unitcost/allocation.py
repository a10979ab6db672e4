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

The arithmetic runs over columnar numpy arrays for all nodes at once, and attribution once per
distinct (namespace, labels, annotations, owner): 150,000 pods allocate in about a second.
tests/support/reference.py keeps the per-pod loop, and tests prove both give the same frame.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress
from operator import attrgetter
from typing import Any, Literal

import numpy as np

from unitcost.attribution import (
    Attribution,
    AttributionRules,
    attribute_namespace,
    attribute_pod,
    local_queue_index,
)
from unitcost.frame import CostFrame, GpuCost, NodeCost, PerResource, PodCost, QueueCost, VolumeCost
from unitcost.model import (
    RESOURCES,
    LocalQueue,
    Namespace,
    Node,
    Pod,
    PodPhase,
    ResourceName,
    Resources,
    Snapshot,
)
from unitcost.pricing import NodePrice, PriceBook

SharedStrategy = Literal["keep", "even", "proportional"]
#: Stands in for a pod's missing usage in the usage matrix (masked out by `has_usage`).
_NO_USAGE = Resources()
#: A 4-bit code (bit j: RESOURCES[j] present) -> the resources it names, and its selectors.
_AMOUNTS = attrgetter(*RESOURCES)
_BITS = np.array([1 << j for j in range(len(RESOURCES))], dtype=np.intp)
_CODE_KEYS = [
    tuple(r for j, r in enumerate(RESOURCES) if code >> j & 1)
    for code in range(1 << len(RESOURCES))
]
_CODE_SELECT = [
    tuple(bool(code >> j & 1) for j in range(len(RESOURCES))) for code in range(1 << len(RESOURCES))
]


@dataclass(frozen=True, slots=True)
class AllocationPolicy:
    attribution: AttributionRules = field(default_factory=AttributionRules)
    #: keep: shared cost stays a named bucket (team "shared"); even / proportional: it is also
    #: spread onto the other running pods, cluster-wide, as `PodCost.shared`.
    shared_strategy: SharedStrategy = "keep"
    #: A GPU allocated to a running pod is idle after its activity stays below the threshold
    #: for this long.
    gpu_idle_window_seconds: float = 1800.0


def _attribute_all(
    pods: list[Pod],
    namespaces: dict[str, Namespace],
    rules: AttributionRules,
    local_queues: dict[tuple[str, str], LocalQueue],
) -> dict[tuple[str, str], Attribution]:
    """attribute_pod for every pod, computed once per distinct input: the pods of one job or
    deployment share namespace, labels, annotations and owner (sources keep only the label
    keys attribution reads), so attribution runs once per workload, not once per pod."""
    owners: dict[tuple[str, str], Attribution] = {}
    memo: dict[object, Attribution] = {}
    # Attribution reads only these keys (the Kubernetes source keeps no others), so pods that
    # differ in any other label (a pod index, a hash) share one computation.
    label_keys = sorted(rules.pod_label_keys())
    annotation_keys = sorted(rules.pod_annotation_keys())
    for pod in pods:
        labels, annotations = pod.labels, pod.annotations
        key = (
            pod.namespace,
            tuple(map(labels.get, label_keys)) if labels else (),
            tuple(map(annotations.get, annotation_keys)) if annotations else (),
            pod.owner,
            # The pod's own name is read only when it has no owner (app = the pod's name).
            pod.name if pod.owner is None else "",
        )
        found = memo.get(key)
        if found is None:
            found = memo[key] = attribute_pod(
                pod, namespaces.get(pod.namespace), rules, local_queues
            )
        owners[pod.namespace, pod.name] = found  # pod.key, without a call
    return owners


def _resource_matrix(amounts: list[Resources]) -> np.ndarray[Any, np.dtype[np.float64]]:
    # attrgetter + chain + fromiter: no Python-level loop, no tuple-by-tuple array conversion.
    flat = chain.from_iterable(map(_AMOUNTS, amounts))
    matrix = np.fromiter(flat, dtype=np.float64, count=len(amounts) * len(RESOURCES))
    return matrix.reshape(-1, len(RESOURCES))


def _allocate_nodes(
    nodes: Sequence[Node],
    prices: list[NodePrice],
    running: dict[str, list[Pod]],
    owners: dict[tuple[str, str], Attribution],
) -> tuple[list[NodeCost], list[PodCost]]:
    """Every node at once, over columnar arrays (pods x resources), with the same arithmetic,
    in the same order, as the per-pod loop (tests/support/reference.py): the results are
    bit-identical. Sums stay math.fsum per node, so node totals are exactly rounded."""
    per_node = [running.get(node.name, []) for node in nodes]
    pods = [pod for group in per_node for pod in group]
    counts = np.array([len(group) for group in per_node], dtype=np.intp)
    bounds = np.concatenate(([0], np.cumsum(counts))).tolist()
    requests = _resource_matrix([p.requests for p in pods])
    has_usage = np.array([p.usage is not None for p in pods], dtype=bool)
    usage = _resource_matrix([p.usage if p.usage is not None else _NO_USAGE for p in pods])
    with np.errstate(invalid="ignore"):  # NaN compares false: exactly the invalid entries
        requests[~(np.isfinite(requests) & (requests > 0))] = 0.0
        known = has_usage[:, None] & np.isfinite(usage) & (usage >= 0)
    usage[~known] = 0.0
    # max(request, usage) as Python's max() picks it: usage only when strictly greater.
    demands = np.where(known & (usage > requests), usage, requests)
    demand_columns = demands.T.tolist()

    node_cost = np.empty((len(nodes), len(RESOURCES)), dtype=np.float64)
    denominator = np.ones((len(nodes), len(RESOURCES)), dtype=np.float64)
    priced = np.zeros((len(nodes), len(RESOURCES)), dtype=bool)
    for i, (node, price) in enumerate(zip(nodes, prices, strict=True)):
        start, end = bounds[i], bounds[i + 1]
        for j, resource in enumerate(RESOURCES):
            node_cost[i, j] = price.dollars_per_hour[resource]
            allocatable = node.allocatable.get(resource)
            # One division per pod, each share <= 1: no overflow however small allocatable is.
            total = max(allocatable, math.fsum(demand_columns[j][start:end]))
            if allocatable > 0 and math.isfinite(total):
                denominator[i, j] = total
                priced[i, j] = True
    cost_per_pod = np.repeat(node_cost, counts, axis=0)
    denominator_per_pod = np.repeat(denominator, counts, axis=0)
    priced_per_pod = np.repeat(priced, counts, axis=0)
    with np.errstate(all="ignore"):  # NaN and inf propagate silently, as in the loop
        allocated = np.where(priced_per_pod, cost_per_pod * (demands / denominator_per_pod), 0.0)
        unused = cost_per_pod * ((requests - usage) / denominator_per_pod)
    wasted = known & priced_per_pod & (requests > usage)

    allocated_columns = allocated.T.tolist()
    node_costs = []
    for i, (node, price) in enumerate(zip(nodes, prices, strict=True)):
        start, end = bounds[i], bounds[i + 1]
        totals: PerResource = {}
        idle: PerResource = {}
        for j, resource in enumerate(RESOURCES):
            spent = math.fsum(allocated_columns[j][start:end]) if priced[i, j] else 0.0
            totals[resource] = spent
            idle[resource] = max(0.0, price.dollars_per_hour[resource] - spent)
        node_costs.append(NodeCost(node, price, totals, idle))

    node_of = [node.name for node, group in zip(nodes, per_node, strict=True) for _ in group]
    # Which entries each pod's dicts hold, as a 4-bit code per pod: the dicts are then built
    # by zip + compress at C speed rather than by a comprehension per pod.
    allocated_codes = ((allocated > 0) @ _BITS).tolist()
    # Every wasted entry is kept, 0.0 or NaN alike, as the loop keeps it.
    wasted_codes = (wasted @ _BITS).tolist()
    keys, select = _CODE_KEYS, _CODE_SELECT
    pod_costs = [
        PodCost(
            pod.namespace,
            pod.name,
            node_name,
            owners[pod.namespace, pod.name],
            dict(zip(keys[a], compress(row_allocated, select[a]), strict=False)),
            dict(zip(keys[w], compress(row_unused, select[w]), strict=False)),
        )
        for pod, node_name, row_allocated, row_unused, a, w in zip(
            pods,
            node_of,
            allocated.tolist(),
            unused.tolist(),
            allocated_codes,
            wasted_codes,
            strict=True,
        )
    ]
    return node_costs, pod_costs


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
    # queue -> its flavors' node sets, in quota order: a pod counts at the first that holds it.
    candidates = {
        q.name: [(f, flavor_nodes.get(f, set())) for f in q.quota] for q in snapshot.queues
    }
    for pod in pods:
        queue_name = pod.owner.queue
        for flavor, holders in candidates.get(queue_name, ()):
            if pod.node in holders:
                for r, amount in pod.allocated.items():
                    used[(queue_name, flavor, r)] += amount
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
    running_pods = []
    running_phase = PodPhase.RUNNING
    for pod in snapshot.pods:
        if pod.phase is running_phase and pod.node in node_names:
            running[pod.node].append(pod)
            running_pods.append(pod)
    owners = _attribute_all(running_pods, namespaces, rules, local_queues)

    frame = CostFrame(timestamp=snapshot.timestamp)
    node_prices = [pricebook.node_price(node) for node in snapshot.nodes]
    prices = {node.name: price for node, price in zip(snapshot.nodes, node_prices, strict=True)}
    frame.nodes, frame.pods = _allocate_nodes(snapshot.nodes, node_prices, running, owners)

    _redistribute_shared(frame.pods, rules.shared_team, policy.shared_strategy)
    running_keys = set(owners)  # keyed by every running pod's key
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
        | set(map(attrgetter("namespace"), snapshot.pods))
        | {v.claim_namespace for v in snapshot.volumes if v.claim_namespace}
    )
    frame.namespaces = {
        name: attribute_namespace(name, namespaces.get(name), rules) for name in sorted(seen)
    }
    return frame
