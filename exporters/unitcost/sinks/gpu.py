"""The GPU agent's metric families (documented in docs/gpu-agent.md).

Per-device series carry `node`, `gpu` and `mig_profile` ("" on whole GPUs, which Prometheus
drops); model and profile also go in `unitcost_gpu_info`, the same info series the cluster
exporter writes. `unitcost_gpu_idle_cost_dollars_per_hour{node,gpu,namespace,pod}` has the
cluster exporter's name and labels, so recording rules read either producer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from unitcost.metrics.family import MetricFamily

if TYPE_CHECKING:
    from unitcost.data.gpu import DeviceState

DEVICE = ("node", "gpu", "mig_profile")


def agent_families(node: str, states: Sequence[DeviceState], now: float) -> list[MetricFamily]:
    up = MetricFamily(
        "unitcost_gpu_up", "1 if NVML answered for the GPU (or MIG device) this collect.", DEVICE
    )
    info = MetricFamily(
        "unitcost_gpu_info",
        "GPU metadata for joins; always 1.",
        ("node", "gpu", "model", "mig_profile"),
    )
    utilization = MetricFamily(
        "unitcost_gpu_utilization_ratio",
        "Share of the last sample period a kernel ran on the GPU (NVML utilization.gpu); "
        "absent for MIG devices, which NVML does not measure.",
        DEVICE,
    )
    mem_used = MetricFamily(
        "unitcost_gpu_memory_used_bytes", "GPU memory in use (framebuffer).", DEVICE
    )
    mem_total = MetricFamily("unitcost_gpu_memory_total_bytes", "GPU memory in total.", DEVICE)
    power = MetricFamily(
        "unitcost_gpu_power_watts", "Power draw of the physical GPU, in watts.", DEVICE
    )
    energy = MetricFamily(
        "unitcost_gpu_energy_joules_total",
        "Energy the physical GPU used since the driver loaded, in joules.",
        DEVICE,
        kind="counter",
    )
    allocated = MetricFamily(
        "unitcost_gpu_allocated",
        "1 if a pod holds the GPU (its processes run there, or ran there and the pod still "
        "runs); 0 for the node's free GPUs.",
        DEVICE,
    )
    low_for = MetricFamily(
        "unitcost_gpu_low_activity_seconds",
        "How long the allocated GPU's activity has stayed below the idle threshold; 0 while "
        "active.",
        DEVICE,
    )
    pod_memory = MetricFamily(
        "unitcost_gpu_pod_memory_used_bytes",
        "GPU memory held by the pod's processes on the GPU.",
        ("node", "gpu", "namespace", "pod"),
    )
    idle_cost = MetricFamily(
        "unitcost_gpu_idle_cost_dollars_per_hour",
        "Cost per hour of a GPU allocated to a running pod whose activity stayed below the "
        "idle threshold for the idle window; 0 while the GPU is active.",
        ("node", "gpu", "namespace", "pod"),
    )
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
        if s.pod is not None and s.pod.running:
            since = s.low_activity_since
            low_for.add(labels, max(0.0, now - since) if since is not None else 0.0)
            idle_cost.add((node, r.gpu, s.pod.namespace, s.pod.name), s.hourly if s.idle else 0.0)
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
        idle_cost,
    ]
