"""The cluster exporter's families: CostFrame + policy + health -> samples.

Each family is declared in metrics/catalogue.py (name, HELP, labels, type); this module only
fills them. Series a thing cannot have (gpu cost for a pod without GPUs, a zero unused cost)
are left out rather than written as zeros.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from unitcost import __version__
from unitcost.base.sums import exact_sum
from unitcost.config.file import Config, Detail
from unitcost.data.devices import HAMI_ALLOCATED
from unitcost.data.frame import CostFrame, PodCost
from unitcost.data.model import RESOURCES
from unitcost.data.records import CloudBilling, CollectStats, ReloadStatus
from unitcost.metrics.catalogue import (
    BUDGET,
    BUILD_INFO,
    CLOUD_BILLED_COST,
    CLOUD_BILLED_DAY,
    CLOUD_BILLED_TRANSFER,
    CLOUD_ESTIMATED_COST,
    COLLECT_DURATION,
    CONFIG_LAST_RELOAD,
    CONFIG_RELOAD_SUCCESS,
    COST_CORRECTION_FACTOR,
    GPU_DEVICE_COST,
    GPU_DEVICE_UNHELD,
    GPU_HOLDING_COST,
    GPU_HOLDING_USED_COST,
    GPU_IDLE_COST,
    GPU_INFO,
    GPU_MALFORMED_ANNOTATIONS,
    GPU_STATE_COST,
    GPU_UNKNOWN_DEVICES,
    NAMESPACE_INFO,
    NODE_ALLOCATABLE_CPU,
    NODE_ALLOCATABLE_MEMORY,
    NODE_COST,
    NODE_IDLE_COST,
    NODE_INFO,
    POD_COST,
    POD_INFO,
    POD_SHARED_COST,
    POD_TOTAL_COST,
    POD_UNUSED_COST,
    POLICY_GPU_IDLE,
    POLICY_QUEUED_QUOTA_RATIO,
    POLICY_SOURCE_STALE,
    POLICY_UNATTRIBUTED_RATIO,
    POLICY_UNPRODUCTIVE_RATIO,
    POLICY_WASTE_RATIO,
    QUEUE_INFO,
    QUEUE_QUOTA_COST,
    QUEUE_USED_COST,
    RECONCILIATION_DAY,
    RECONCILIATION_RATIO,
    SIMULATED_DATA,
    SOURCE_LAST_SUCCESS,
    SOURCE_UP,
    UNPRICED_NODES,
    VOLUME_COST,
)
from unitcost.metrics.family import MetricFamily
from unitcost.sinks.batch import cohort_families, pending_families
from unitcost.sinks.workloads import workload_families


def pod_label_name(key: str) -> str:
    """The metric label for an allowlisted pod label: `label_` + key, [^a-zA-Z0-9_] -> `_`."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def cost_families(frame: CostFrame, detail: Detail = "workload") -> list[MetricFamily]:
    """The cost families of one frame. `detail` (the config's): "workload" serves one series
    per pod (its total, with its owners); "pod" adds its per-resource, unused and shared
    series and its info series. The per-workload sums are the same in both."""
    node_cost = NODE_COST.family()
    node_idle = NODE_IDLE_COST.family()
    node_info = NODE_INFO.family()
    # Allocatable amounts, so unit costs ($ per core-hour, per GiB-hour) are a division away.
    cores = NODE_ALLOCATABLE_CPU.family()
    memory = NODE_ALLOCATABLE_MEMORY.family()
    for nc in frame.nodes:
        node = nc.node
        cores.add((node.name,), node.allocatable.cpu)
        memory.add((node.name,), node.allocatable.memory)
        node_info.add(
            (
                node.name,
                node.provider.value,
                node.region,
                node.zone,
                node.instance_type,
                node.capacity_type.value,
                node.node_pool,
            ),
            1.0,
        )
        for r in RESOURCES:
            if node.capacity.get(r) > 0 or nc.price.dollars_per_hour[r] > 0:
                node_cost.add((node.name, r), nc.price.dollars_per_hour[r])
                node_idle.add((node.name, r), nc.idle[r])

    pod_cost = POD_COST.family()
    pod_unused = POD_UNUSED_COST.family()
    pod_shared = POD_SHARED_COST.family()
    # Allowlisted pod labels (attribution.pod_label_allowlist) ride on the info series only.
    extra = tuple(pod_label_name(k) for k, _ in frame.pods[0].owner.labels) if frame.pods else ()
    pod_info = POD_INFO.family(extra)
    pod_total = POD_TOTAL_COST.family(extra)
    per_pod = detail == "pod"
    for pc in frame.pods:
        o = pc.owner
        # GPU rules select these few pods by this label, not all pods.
        holds_gpu = "true" if pc.allocated.get("gpu", 0.0) > 0 else ""
        labels = tuple(v for _, v in o.labels)
        owners = (o.team, o.org, o.cost_center, o.queue, o.app, o.workload_kind, holds_gpu)
        pod_total.add((pc.namespace, pc.name, pc.node, *owners, *labels), pod_total_cost(pc))
        if not per_pod:
            continue
        pod_info.add((pc.namespace, pc.name, *owners, *labels), 1.0)
        for r, amount in pc.allocated.items():
            pod_cost.add((pc.namespace, pc.name, pc.node, r), amount)
        for r, amount in pc.unused.items():
            pod_unused.add((pc.namespace, pc.name, pc.node, r), amount)
        for r, amount in pc.shared.items():
            pod_shared.add((pc.namespace, pc.name, pc.node, r), amount)

    namespace_info = NAMESPACE_INFO.family()
    for name, o in frame.namespaces.items():
        namespace_info.add((name, o.team, o.org, o.cost_center), 1.0)

    volume_cost = VOLUME_COST.family()
    for v in frame.volumes:
        volume_cost.add((v.volume, v.storage_class, v.namespace, v.claim), v.hourly)

    gpu_idle = GPU_IDLE_COST.family()
    gpu_info = GPU_INFO.family()
    info_seen: set[tuple[str, str, str, str]] = set()
    for g in frame.gpus:
        gpu_idle.add((g.node, g.gpu, g.namespace, g.pod), g.idle_hourly)
        info = (g.node, g.gpu, g.model, g.mig_profile)
        if info not in info_seen:  # pods sharing a device (DCGM producer): one info series
            info_seen.add(info)
            gpu_info.add(info, 1.0)

    devices = GPU_DEVICE_COST.family()
    unheld = GPU_DEVICE_UNHELD.family()
    unknown = {"unknown-driver": 0, "unlisted": 0}
    # A pod may hold two like slices of one device: their series add up.
    held: dict[tuple[str, ...], list[float]] = {}
    for ledger in frame.gpu_devices:
        d = ledger.device
        devices.add((d.node, d.device, d.model, d.driver), ledger.hourly)
        unheld.add((d.node, d.device), ledger.unheld)
        if not d.known:
            unknown["unknown-driver"] += 1
        elif not d.listed:
            unknown["unlisted"] += 1
        for h in ledger.holdings:
            holding = (h.namespace, h.pod, d.node, d.device, h.kind, h.mig_profile, h.claim)
            held.setdefault(holding, []).append(h.hourly)
    holdings = GPU_HOLDING_COST.family()
    for held_labels, amounts in held.items():
        holdings.add(held_labels, math.fsum(amounts))
    unknown_devices = GPU_UNKNOWN_DEVICES.family()
    if frame.gpu_devices:
        for reason, count in unknown.items():
            unknown_devices.add((reason,), float(count))
    malformed = GPU_MALFORMED_ANNOTATIONS.family()
    if frame.gpu_devices:
        malformed.add((HAMI_ALLOCATED,), float(frame.gpu_malformed_annotations))
    used_by: dict[tuple[str, ...], list[float]] = {}
    state_by: dict[tuple[str, ...], list[float]] = {}
    for use in frame.gpu_uses:
        holder = (use.namespace, use.pod, use.node, use.gpu)
        if use.activity is not None:
            used_by.setdefault(holder, []).append(use.used_hourly)
        state_by.setdefault((*holder, use.state), []).append(use.hourly)
    used_gpu = GPU_HOLDING_USED_COST.family()
    for used_labels, amounts in used_by.items():
        used_gpu.add(used_labels, math.fsum(amounts))
    state_cost = GPU_STATE_COST.family()
    for state_labels, amounts in state_by.items():
        state_cost.add(state_labels, math.fsum(amounts))

    quota = QUEUE_QUOTA_COST.family()
    used = QUEUE_USED_COST.family()
    queue_info = QUEUE_INFO.family()
    seen_queues: set[str] = set()
    for q in frame.queues:
        quota.add((q.queue, q.flavor, q.resource), q.quota_hourly)
        used.add((q.queue, q.flavor, q.resource), q.used_hourly)
        if q.queue not in seen_queues:
            seen_queues.add(q.queue)
            queue_info.add((q.queue, q.scheduler), 1.0)

    unpriced = UNPRICED_NODES.family()
    unpriced.add((), float(frame.unpriced_nodes))
    return [
        node_cost,
        node_idle,
        node_info,
        cores,
        memory,
        pod_cost,
        pod_unused,
        pod_shared,
        pod_info,
        pod_total,
        *workload_families(frame),
        namespace_info,
        volume_cost,
        gpu_idle,
        gpu_info,
        devices,
        unheld,
        holdings,
        unknown_devices,
        malformed,
        used_gpu,
        state_cost,
        quota,
        used,
        queue_info,
        *cohort_families(frame.cohorts, frame.cohort_paths),
        *pending_families(frame.pending),
        unpriced,
    ]


def pod_total_cost(pod: PodCost) -> float:
    """A pod's allocated cost over all its resources (exactly summed)."""
    return exact_sum(pod.allocated.values())


def teams_in(frame: CostFrame) -> set[str]:
    return (
        {p.owner.team for p in frame.pods}
        | {o.team for o in frame.namespaces.values()}
        | {p.team for p in frame.pending}
    )


def policy_families(config: Config, teams: Iterable[str]) -> list[MetricFamily]:
    """Budgets and thresholds, so rules and alerts stay static YAML and join on(team)."""
    budgets, policy = config.budgets, config.policy
    known = (
        set(teams)
        | set(budgets.teams)
        | set(policy.waste_ratio_threshold.teams)
        | set(policy.gpu_idle_dollars_per_hour_threshold.teams)
        | set(policy.unproductive_cost_ratio_threshold.teams)
        | set(policy.queued_demand_quota_ratio_threshold.teams)
    )
    budget = BUDGET.family()
    waste = POLICY_WASTE_RATIO.family()
    gpu_idle = POLICY_GPU_IDLE.family()
    unproductive = POLICY_UNPRODUCTIVE_RATIO.family()
    queued = POLICY_QUEUED_QUOTA_RATIO.family()
    for team in sorted(known):
        amount = budgets.for_team(team)
        if amount > 0:
            budget.add((team, budgets.period), amount)
        waste.add((team,), policy.waste_ratio_threshold.for_team(team))
        gpu_idle.add((team,), policy.gpu_idle_dollars_per_hour_threshold.for_team(team))
        unproductive.add((team,), policy.unproductive_cost_ratio_threshold.for_team(team))
        queued.add((team,), policy.queued_demand_quota_ratio_threshold.for_team(team))
    unattributed = POLICY_UNATTRIBUTED_RATIO.family()
    unattributed.add((), policy.unattributed_cost_ratio_threshold)
    stale = POLICY_SOURCE_STALE.family()
    stale.add((), policy.source_stale_seconds)
    return [budget, waste, gpu_idle, unproductive, queued, unattributed, stale]


def cloud_families(billing: CloudBilling) -> list[MetricFamily]:
    """The bill, and how the estimates compare with it (docs/clouds.md)."""
    billed, billed_day = billing.billed, billing.billed_day
    reconciliations, corrections = billing.reconciliations, billing.corrections
    cost = CLOUD_BILLED_COST.family()
    for b in billed:
        cost.add((b.provider, b.account, b.service, b.team), b.dollars)
    transfer = CLOUD_BILLED_TRANSFER.family()
    for t in billing.billed_transfer:
        transfer.add((t.provider, t.account, t.destination), t.dollars)
    day = CLOUD_BILLED_DAY.family()
    for provider, start in sorted(billed_day.items()):
        day.add((provider,), start)
    estimated = CLOUD_ESTIMATED_COST.family()
    ratio = RECONCILIATION_RATIO.family()
    reconciled_day = RECONCILIATION_DAY.family()
    for r in reconciliations:
        estimated.add((r.provider,), r.estimated)
        reconciled_day.add((r.provider,), r.day_start)
        if r.billed > 0:
            ratio.add((r.provider,), r.estimated / r.billed)
    factor = COST_CORRECTION_FACTOR.family()
    for provider, value in sorted(corrections.items()):
        factor.add((provider,), value)
    return [cost, transfer, day, estimated, ratio, reconciled_day, factor]


def health_families(stats: CollectStats) -> list[MetricFamily]:
    up = SOURCE_UP.family()
    last = SOURCE_LAST_SUCCESS.family()
    for s in stats.sources:
        up.add((s.source,), 1.0 if s.up else 0.0)
        last.add((s.source,), s.last_success)
    duration = COLLECT_DURATION.family()
    duration.add((), stats.duration_seconds)
    build = BUILD_INFO.family()
    build.add((__version__,), 1.0)
    return [up, last, duration, build]


def simulated_families(simulated: bool) -> list[MetricFamily]:
    """unitcost_simulated_data while the costs come from the simulator; nothing otherwise, so
    a real cluster's exposition does not even name it."""
    if not simulated:
        return []
    family = SIMULATED_DATA.family()
    family.add((), 1.0)
    return [family]


def reload_families(statuses: Iterable[ReloadStatus]) -> list[MetricFamily]:
    success = CONFIG_RELOAD_SUCCESS.family()
    last = CONFIG_LAST_RELOAD.family()
    for s in statuses:
        success.add((s.file,), 1.0 if s.ok else 0.0)
        last.add((s.file,), s.last_success)
    return [success, last]
