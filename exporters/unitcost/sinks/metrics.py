"""The public metric contract: CostFrame + policy + health -> metric families.

Every metric here is documented in docs/metrics.md; tests/sinks/test_metrics.py checks
that the two agree. Series a thing cannot have (gpu cost for a pod without GPUs, a zero
unused cost) are left out rather than written as zeros.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from unitcost import __version__
from unitcost.config.file import Config
from unitcost.data.frame import CostFrame
from unitcost.data.model import RESOURCES
from unitcost.data.records import CloudBilling, CollectStats, ReloadStatus
from unitcost.metrics.family import MetricFamily
from unitcost.sinks.workloads import workload_families

POD_LABELS = ("namespace", "pod", "node", "resource")


def pod_label_name(key: str) -> str:
    """The metric label for an allowlisted pod label: `label_` + key, [^a-zA-Z0-9_] -> `_`."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


NODE_LABELS = ("node", "resource")


def cost_families(frame: CostFrame) -> list[MetricFamily]:
    node_cost = MetricFamily(
        "unitcost_node_cost_dollars_per_hour",
        "Cost of the node per hour, split by resource.",
        NODE_LABELS,
    )
    node_idle = MetricFamily(
        "unitcost_node_idle_cost_dollars_per_hour",
        "Node cost not allocated to any pod (idle capacity), per resource.",
        NODE_LABELS,
    )
    node_info = MetricFamily(
        "unitcost_node_info",
        "Node metadata for joins; always 1.",
        ("node", "provider", "region", "zone", "instance_type", "capacity_type", "node_pool"),
    )
    # Allocatable amounts, so unit costs ($ per core-hour, per GiB-hour) are a division away.
    cores = MetricFamily(
        "unitcost_node_allocatable_cpu_cores", "CPU cores the node offers to pods.", ("node",)
    )
    memory = MetricFamily(
        "unitcost_node_allocatable_memory_bytes", "Memory the node offers to pods.", ("node",)
    )
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

    pod_cost = MetricFamily(
        "unitcost_pod_cost_dollars_per_hour",
        "Cost allocated to the pod per hour: price x max(request, usage), scaled so the node "
        "is never over-allocated.",
        POD_LABELS,
    )
    pod_unused = MetricFamily(
        "unitcost_pod_unused_cost_dollars_per_hour",
        "Cost of requested but unused resources (waste); part of the allocated cost.",
        POD_LABELS,
    )
    pod_shared = MetricFamily(
        "unitcost_pod_shared_cost_dollars_per_hour",
        "Shared/system cost redistributed onto the pod by the shared-cost policy.",
        POD_LABELS,
    )
    # Allowlisted pod labels (attribution.pod_label_allowlist) ride on the info series only.
    extra = tuple(pod_label_name(k) for k, _ in frame.pods[0].owner.labels) if frame.pods else ()
    pod_info = MetricFamily(
        "unitcost_pod_info",
        "Pod ownership for joins; always 1.",
        (
            "namespace",
            "pod",
            "team",
            "org",
            "cost_center",
            "queue",
            "app",
            "workload_kind",
            "holds_gpu",
            *extra,
        ),
    )
    for pc in frame.pods:
        o = pc.owner
        pod_info.add(
            (
                pc.namespace,
                pc.name,
                o.team,
                o.org,
                o.cost_center,
                o.queue,
                o.app,
                o.workload_kind,
                # GPU rules select these few pods' info by this label, not all pods' info.
                "true" if pc.allocated.get("gpu", 0.0) > 0 else "",
                *(v for _, v in o.labels),
            ),
            1.0,
        )
        for r, amount in pc.allocated.items():
            pod_cost.add((pc.namespace, pc.name, pc.node, r), amount)
        for r, amount in pc.unused.items():
            pod_unused.add((pc.namespace, pc.name, pc.node, r), amount)
        for r, amount in pc.shared.items():
            pod_shared.add((pc.namespace, pc.name, pc.node, r), amount)

    namespace_info = MetricFamily(
        "unitcost_namespace_info",
        "Namespace ownership for joins; always 1.",
        ("namespace", "team", "org", "cost_center"),
    )
    for name, o in frame.namespaces.items():
        namespace_info.add((name, o.team, o.org, o.cost_center), 1.0)

    volume_cost = MetricFamily(
        "unitcost_volume_cost_dollars_per_hour",
        "Cost of a persistent volume per hour; namespace and claim are empty when unbound.",
        ("persistentvolume", "storage_class", "namespace", "persistentvolumeclaim"),
    )
    for v in frame.volumes:
        volume_cost.add((v.volume, v.storage_class, v.namespace, v.claim), v.hourly)

    gpu_idle = MetricFamily(
        "unitcost_gpu_idle_cost_dollars_per_hour",
        "Cost per hour of a GPU allocated to a running pod whose activity stayed below the "
        "idle threshold for the idle window; 0 while the GPU is active.",
        ("node", "gpu", "namespace", "pod"),
    )
    gpu_info = MetricFamily(
        "unitcost_gpu_info",
        "Allocated GPU metadata for joins; always 1.",
        ("node", "gpu", "model", "mig_profile"),
    )
    for g in frame.gpus:
        gpu_idle.add((g.node, g.gpu, g.namespace, g.pod), g.idle_hourly)
        gpu_info.add((g.node, g.gpu, g.model, g.mig_profile), 1.0)

    queue_labels = ("queue", "flavor", "resource")
    quota = MetricFamily(
        "unitcost_queue_quota_cost_dollars_per_hour",
        "Cost per hour of the queue's nominal (Kueue) or guaranteed (YuniKorn) quota, priced "
        "at the flavor's nodes.",
        queue_labels,
    )
    used = MetricFamily(
        "unitcost_queue_used_cost_dollars_per_hour",
        "Cost per hour allocated to the queue's running pods on the flavor's nodes.",
        queue_labels,
    )
    queue_info = MetricFamily(
        "unitcost_queue_info", "Queue metadata for joins; always 1.", ("queue", "scheduler")
    )
    seen_queues: set[str] = set()
    for q in frame.queues:
        quota.add((q.queue, q.flavor, q.resource), q.quota_hourly)
        used.add((q.queue, q.flavor, q.resource), q.used_hourly)
        if q.queue not in seen_queues:
            seen_queues.add(q.queue)
            queue_info.add((q.queue, q.scheduler), 1.0)

    unpriced = MetricFamily(
        "unitcost_unpriced_nodes",
        "Nodes with no instance price or node class, priced at fallback rates.",
        (),
    )
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
        *workload_families(frame),
        namespace_info,
        volume_cost,
        gpu_idle,
        gpu_info,
        quota,
        used,
        queue_info,
        unpriced,
    ]


def teams_in(frame: CostFrame) -> set[str]:
    return {p.owner.team for p in frame.pods} | {o.team for o in frame.namespaces.values()}


def policy_families(config: Config, teams: Iterable[str]) -> list[MetricFamily]:
    """Budgets and thresholds, so rules and alerts stay static YAML and join on(team)."""
    budgets, policy = config.budgets, config.policy
    known = (
        set(teams)
        | set(budgets.teams)
        | set(policy.waste_ratio_threshold.teams)
        | set(policy.gpu_idle_dollars_per_hour_threshold.teams)
    )
    budget = MetricFamily(
        "unitcost_budget_dollars",
        "The team's budget for the period, in dollars.",
        ("team", "period"),
    )
    waste = MetricFamily(
        "unitcost_policy_waste_ratio_threshold",
        "Waste ratio (unused / allocated cost) above which the team is alerted.",
        ("team",),
    )
    gpu_idle = MetricFamily(
        "unitcost_policy_gpu_idle_dollars_per_hour_threshold",
        "Idle GPU dollars per hour above which the team is alerted.",
        ("team",),
    )
    for team in sorted(known):
        amount = budgets.for_team(team)
        if amount > 0:
            budget.add((team, budgets.period), amount)
        waste.add((team,), policy.waste_ratio_threshold.for_team(team))
        gpu_idle.add((team,), policy.gpu_idle_dollars_per_hour_threshold.for_team(team))
    unattributed = MetricFamily(
        "unitcost_policy_unattributed_cost_ratio_threshold",
        "Share of cost with no known team above which the data-quality alert fires.",
        (),
    )
    unattributed.add((), policy.unattributed_cost_ratio_threshold)
    stale = MetricFamily(
        "unitcost_policy_source_stale_seconds",
        "Age of a source's last success after which it is stale and its series go.",
        (),
    )
    stale.add((), policy.source_stale_seconds)
    return [budget, waste, gpu_idle, unattributed, stale]


def cloud_families(billing: CloudBilling) -> list[MetricFamily]:
    """The bill, and how the estimates compare with it (docs/clouds.md)."""
    billed, billed_day = billing.billed, billing.billed_day
    reconciliations, corrections = billing.reconciliations, billing.corrections
    cost = MetricFamily(
        "unitcost_cloud_billed_cost_dollars",
        "Billed cost of the latest complete day the provider reports, per account, service "
        "and team (cost allocation tag).",
        ("provider", "account", "service", "team"),
    )
    for b in billed:
        cost.add((b.provider, b.account, b.service, b.team), b.dollars)
    day = MetricFamily(
        "unitcost_cloud_billed_day_timestamp_seconds",
        "Start (00:00 UTC) of the day unitcost_cloud_billed_cost_dollars covers.",
        ("provider",),
    )
    for provider, start in sorted(billed_day.items()):
        day.add((provider,), start)
    estimated = MetricFamily(
        "unitcost_cloud_estimated_cost_dollars",
        "The exporter's estimate of the provider's node cost over the reconciled day.",
        ("provider",),
    )
    ratio = MetricFamily(
        "unitcost_reconciliation_ratio",
        "Estimated / billed cost of the provider's nodes for the same scope and UTC day.",
        ("provider",),
    )
    reconciled_day = MetricFamily(
        "unitcost_reconciliation_day_timestamp_seconds",
        "Start (00:00 UTC) of the day unitcost_reconciliation_ratio compares.",
        ("provider",),
    )
    for r in reconciliations:
        estimated.add((r.provider,), r.estimated)
        reconciled_day.add((r.provider,), r.day_start)
        if r.billed > 0:
            ratio.add((r.provider,), r.estimated / r.billed)
    factor = MetricFamily(
        "unitcost_cost_correction_factor",
        "Factor applied to the provider's node prices so estimates converge on the bill.",
        ("provider",),
    )
    for provider, value in sorted(corrections.items()):
        factor.add((provider,), value)
    return [cost, day, estimated, ratio, reconciled_day, factor]


def health_families(stats: CollectStats) -> list[MetricFamily]:
    up = MetricFamily("unitcost_source_up", "1 if the source's last read succeeded.", ("source",))
    last = MetricFamily(
        "unitcost_source_last_success_timestamp_seconds",
        "Unix time of the source's last successful read.",
        ("source",),
    )
    for s in stats.sources:
        up.add((s.source,), 1.0 if s.up else 0.0)
        last.add((s.source,), s.last_success)
    duration = MetricFamily(
        "unitcost_collect_duration_seconds",
        "Wall time of the last collect (read sources, allocate, render).",
        (),
    )
    duration.add((), stats.duration_seconds)
    build = MetricFamily("unitcost_build_info", "unitcost version; always 1.", ("version",))
    build.add((__version__,), 1.0)
    return [up, last, duration, build]


def reload_families(statuses: Iterable[ReloadStatus]) -> list[MetricFamily]:
    success = MetricFamily(
        "unitcost_config_reload_success",
        "1 if the last (re)load of the file succeeded; 0: the last good version stays in force.",
        ("file",),
    )
    last = MetricFamily(
        "unitcost_config_last_reload_timestamp_seconds",
        "Unix time of the file's last successful (re)load.",
        ("file",),
    )
    for s in statuses:
        success.add((s.file,), 1.0 if s.ok else 0.0)
        last.add((s.file,), s.last_success)
    return [success, last]
