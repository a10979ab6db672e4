"""How busy a running pod is at a simulated time: slow sine waves around its mean usage, each
pod at its own phase, so usage varies between collects and pods do not move in step."""

from __future__ import annotations

import math

from unitcost.data.model import Resources
from unitcost.sources.simulator.objects import SimPod

#: Period of the CPU and memory wave, in hours.
USAGE_PERIOD_HOURS = 6.0


def pod_usage(pod: SimPod, now: float) -> Resources:
    """CPU and memory in use at `now` (GPUs: the requested devices)."""
    hours = now / 3600.0
    wave = 1.0 + 0.25 * math.sin(2 * math.pi * hours / USAGE_PERIOD_HOURS + pod.phase_offset)
    cpu = pod.requests.cpu * max(0.01, pod.cpu_fraction * wave)
    memory = pod.requests.memory * min(1.2, pod.memory_fraction * (0.95 + 0.05 * wave))
    return Resources(cpu, memory, pod.requests.gpu, 0.0)


def gpu_utilization(pod: SimPod, index: int, now: float) -> float:
    """Activity (0..1) of GPU `index` held by the pod: 0 for an idle job, else 55-95% on an
    hourly wave."""
    if not pod.gpu_busy:
        return 0.0
    hours = now / 3600.0
    return min(1.0, 0.75 + 0.2 * math.sin(2 * math.pi * hours + pod.phase_offset + index))
