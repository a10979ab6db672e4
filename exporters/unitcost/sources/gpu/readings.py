"""What one read of one device gives, and the NVML value helpers the readers share.

`nvml` is always the module passed in (pynvml in production, tests/support/fake_nvml.py in
tests), so these helpers only use names both define.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from unitcost.data.gpu import Process

T = TypeVar("T")


def text(value: str | bytes) -> str:
    """NVML strings: str from current nvidia-ml-py, bytes from old releases."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def optional(nvml: Any, call: Callable[[], T]) -> T | None:
    """Call NVML; a field the device does not support is None, any other error propagates
    (a lost GPU or a timeout must mark the device down, not silently drop a field)."""
    try:
        return call()
    except nvml.NVMLError as exc:
        if exc.value == nvml.NVML_ERROR_NOT_SUPPORTED:
            return None
        raise


def processes(nvml: Any, handle: object) -> tuple[Process, ...]:
    found = optional(nvml, lambda: nvml.nvmlDeviceGetComputeRunningProcesses(handle))
    out = []
    for proc in found or ():
        used = getattr(proc, "usedGpuMemory", None)
        # NVML reports "not available" as None (pynvml maps NVML_VALUE_NOT_AVAILABLE).
        out.append(Process(int(proc.pid), float(used) if used is not None else None))
    return tuple(out)


def memory(nvml: Any, handle: object) -> tuple[float | None, float | None]:
    info = optional(nvml, lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    if info is None:
        return None, None
    return float(info.used), float(info.total)


def process_sm(
    nvml: Any, handle: object, since_us: int
) -> tuple[tuple[tuple[int, float], ...] | None, int]:
    """Mean SM utilisation (0..1) per pid over NVML's samples newer than `since_us`
    (nvmlDeviceGetProcessUtilization), and the newest sample's timestamp for the next read.

    None where the device does not give per-process utilisation (Not Supported, vGPU, an old
    driver); no samples since the last read (Not Found) is an empty measure. Never raises an
    NVML error: a missing refinement must not mark the device down."""
    try:
        samples = nvml.nvmlDeviceGetProcessUtilization(handle, since_us)
    except nvml.NVMLError as exc:
        if exc.value == nvml.NVML_ERROR_NOT_FOUND:
            return (), since_us
        return None, since_us
    total: dict[int, float] = {}
    count: dict[int, int] = {}
    newest = since_us
    for sample in samples:
        pid = int(sample.pid)
        total[pid] = total.get(pid, 0.0) + float(sample.smUtil) / 100.0
        count[pid] = count.get(pid, 0) + 1
        newest = max(newest, int(sample.timeStamp))
    return tuple(sorted((pid, total[pid] / count[pid]) for pid in total)), newest
