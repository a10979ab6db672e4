"""The GPU agent's metric families (declared in metrics/catalogue.py; docs/gpu-agent.md).

Per-device series carry `node`, `gpu` and `mig_profile` ("" on whole GPUs, which Prometheus
drops); model and profile also go in `unitcost_gpu_info`, the same info series the cluster
exporter writes. `unitcost_gpu_idle_cost_dollars_per_hour{node,gpu,namespace,pod}` has the
cluster exporter's name and labels, so recording rules read either producer.
"""

from __future__ import annotations

from collections.abc import Sequence

from unitcost.data.gpu import DeviceState
from unitcost.metrics.catalogue import (
    GPU_ALLOCATED,
    GPU_ENERGY,
    GPU_IDLE_COST,
    GPU_INFO,
    GPU_LOW_ACTIVITY,
    GPU_MEMORY_TOTAL,
    GPU_MEMORY_USED,
    GPU_POD_MEMORY,
    GPU_POD_SHARE,
    GPU_POWER,
    GPU_UP,
    GPU_UTILIZATION,
)
from unitcost.metrics.family import MetricFamily


def agent_families(
    node: str, states: Sequence[DeviceState], now: float, *, idle_dollars: bool = True
) -> list[MetricFamily]:
    """`idle_dollars`: False when another producer (gpu_idle.producer dcgm) writes
    unitcost_gpu_idle_cost_dollars_per_hour: the agent then writes none (one per device)."""
    up = GPU_UP.family()
    info = GPU_INFO.family()
    utilization = GPU_UTILIZATION.family()
    mem_used = GPU_MEMORY_USED.family()
    mem_total = GPU_MEMORY_TOTAL.family()
    power = GPU_POWER.family()
    energy = GPU_ENERGY.family()
    allocated = GPU_ALLOCATED.family()
    low_for = GPU_LOW_ACTIVITY.family()
    pod_memory = GPU_POD_MEMORY.family()
    pod_share = GPU_POD_SHARE.family()
    idle_cost = GPU_IDLE_COST.family()
    for s in states:
        r = s.reading
        labels = (node, r.gpu, r.mig_profile)
        up.add(labels, 1.0 if r.up else 0.0)
        if r.model:
            info.add((node, r.gpu, r.model, r.mig_profile), 1.0)
        if not r.up:
            continue  # no stale or made-up values for a device that did not answer
        for family, value in (
            (utilization, r.utilization),
            (mem_used, r.memory_used_bytes),
            (mem_total, r.memory_total_bytes),
            (power, r.power_watts),
            (energy, r.energy_joules),
        ):
            if value is not None:
                family.add(labels, value)
        if r.mig_parent:
            continue
        allocated.add(labels, 1.0 if s.allocated else 0.0)
        for ref, used in sorted(s.pod_memory.items(), key=lambda item: item[0].uid):
            pod_memory.add((node, r.gpu, ref.namespace, ref.name), used)
        for measure, shares in sorted(s.pod_shares.items()):
            for ref, share in sorted(shares.items(), key=lambda item: item[0].uid):
                pod_share.add((node, r.gpu, ref.namespace, ref.name, measure), share)
        if s.pod is not None and s.pod.running:
            since = s.low_activity_since
            low_for.add(labels, max(0.0, now - since) if since is not None else 0.0)
            if idle_dollars:
                idle_cost.add(
                    (node, r.gpu, s.pod.namespace, s.pod.name), s.hourly if s.idle else 0.0
                )
    return [
        up,
        info,
        utilization,
        mem_used,
        mem_total,
        power,
        energy,
        allocated,
        low_for,
        pod_memory,
        pod_share,
        idle_cost,
    ]
