"""Each pod's share of one GPU among the pods the GPU agent sees on it (docs/gpu.md).

Time-slicing and MPS hand one physical GPU to several pods; the scheduler's view prices each
replica alike and cannot say which device a replica landed on. The agent sees which pods run
processes on which device, with their framebuffer and (where NVML gives it) their SM time; the
recording rules re-split each device's held dollars among those pods by these shares. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

K = TypeVar("K")


def device_shares(measure: Mapping[K, float | None]) -> dict[K, float]:
    """Shares summing to 1 over the pods seen on a device: each pod's measure over the sum;
    evenly when a pod's measure is unknown (None) or the measures sum to nothing. Negative
    measures are an error (NVML gives none)."""
    if not measure:
        return {}
    values = list(measure.values())
    if any(v is not None and v < 0 for v in values):
        raise ValueError(
            f"negative GPU share measure: {sorted(v for v in values if v is not None)}"
        )
    known = [v for v in values if v is not None]
    total = sum(known)
    if len(known) < len(values) or total <= 0:
        even = 1.0 / len(measure)
        return dict.fromkeys(measure, even)
    return {key: (value or 0.0) / total for key, value in measure.items()}
