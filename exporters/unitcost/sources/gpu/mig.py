"""MIG: enumerate a GPU's MIG devices (slices) as GPUs of their own.

Each slice is labelled `gpu="<index>/<gpu instance id>"` with its profile (`1g.10gb`,
`3g.40gb`, ...) and priced at its share of the device: its GPU-instance compute slices over
the most the device can have (7 on A100/H100, 4 on A30). NVML gives no utilisation for MIG
devices; docs/gpu-agent.md says which signal the idle rule uses instead.
"""

from __future__ import annotations

import re
from typing import Any

from unitcost.data.gpu import DeviceReading
from unitcost.sources.gpu.readings import memory, optional, processes, text

_PROFILE = re.compile(r"(?:\d+c\.)?\d+g\.\d+gb(?:\+\w+)?", re.IGNORECASE)
#: GPU instance profile constants, largest first (names as in pynvml).
_GI_PROFILES = (
    "NVML_GPU_INSTANCE_PROFILE_8_SLICE",
    "NVML_GPU_INSTANCE_PROFILE_7_SLICE",
    "NVML_GPU_INSTANCE_PROFILE_6_SLICE",
    "NVML_GPU_INSTANCE_PROFILE_4_SLICE",
    "NVML_GPU_INSTANCE_PROFILE_3_SLICE",
    "NVML_GPU_INSTANCE_PROFILE_2_SLICE",
    "NVML_GPU_INSTANCE_PROFILE_1_SLICE",
)


def mig_enabled(nvml: Any, handle: object) -> bool:
    mode = optional(nvml, lambda: nvml.nvmlDeviceGetMigMode(handle))
    if mode is None:
        return False  # a GPU without MIG support
    current, _pending = mode
    return bool(current == nvml.NVML_DEVICE_MIG_ENABLE)


def total_slices(nvml: Any, handle: object) -> int:
    """The most GPU-instance slices the device has: the largest supported profile's count."""
    for name in _GI_PROFILES:
        profile = getattr(nvml, name, None)
        if profile is None:
            continue
        try:
            info = nvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, profile)
        except nvml.NVMLError as exc:
            if exc.value in (nvml.NVML_ERROR_NOT_SUPPORTED, nvml.NVML_ERROR_INVALID_ARGUMENT):
                continue
            raise
        if int(info.sliceCount) > 0:
            return int(info.sliceCount)
    return 7  # A100/H100 layout, if the driver will not say


def profile_name(name: str, slices: int, memory_mb: float) -> str:
    """`1g.10gb` from the MIG device name, or built from its attributes."""
    found = _PROFILE.search(name)
    if found:
        return found.group(0).lower()
    return f"{slices}g.{round(memory_mb / 1024)}gb"


def read_mig_devices(
    nvml: Any, handle: object, index: int, model: str, slices_total: int
) -> list[DeviceReading]:
    out = []
    for i in range(int(nvml.nvmlDeviceGetMaxMigDeviceCount(handle))):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, i)
        except nvml.NVMLError as exc:
            if exc.value in (nvml.NVML_ERROR_NOT_FOUND, nvml.NVML_ERROR_INVALID_ARGUMENT):
                continue  # an unused MIG device index
            raise
        instance = int(nvml.nvmlDeviceGetGpuInstanceId(mig))
        attrs = nvml.nvmlDeviceGetAttributes(mig)
        slices = int(attrs.gpuInstanceSliceCount)
        used, total = memory(nvml, mig)
        out.append(
            DeviceReading(
                gpu=f"{index}/{instance}",
                uuid=text(nvml.nvmlDeviceGetUUID(mig)),
                model=model,
                mig_profile=profile_name(
                    text(nvml.nvmlDeviceGetName(mig)), slices, float(attrs.memorySizeMB)
                ),
                share=min(1.0, slices / slices_total) if slices_total else 0.0,
                utilization=None,  # NVML has none for MIG devices
                memory_used_bytes=used,
                memory_total_bytes=total,
                processes=processes(nvml, mig),
            )
        )
    return out
