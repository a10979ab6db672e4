"""The NVML telemetry reader: every GPU (and MIG slice) on this node, one read per collect.

Each device is read in a worker thread with a deadline, so a GPU that is lost
(NVML_ERROR_GPU_IS_LOST) or hangs in the driver is reported down (`up=False`) while the others
keep reporting. A device whose previous read is still stuck is not read again until it returns.
"""

from __future__ import annotations

import importlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from unitcost.data.gpu import DeviceReading
from unitcost.sources.gpu.mig import mig_enabled, read_mig_devices, total_slices
from unitcost.sources.gpu.readings import memory, optional, process_sm, processes, text

log = logging.getLogger(__name__)


class NvmlUnavailable(Exception):
    """NVML cannot be used on this machine; `str()` says what is missing."""


def load_pynvml() -> Any:
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:
        raise NvmlUnavailable(
            "the Python package nvidia-ml-py (module pynvml) is not installed: "
            "pip install nvidia-ml-py"
        ) from exc


def _startup_message(nvml: Any, exc: Exception) -> str:
    value = getattr(exc, "value", None)
    if value == nvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        return (
            "NVML shared library libnvidia-ml.so.1 not found: install the NVIDIA driver, or run "
            "with the NVIDIA container runtime (runtimeClassName: nvidia) so it is mounted in"
        )
    if value == nvml.NVML_ERROR_DRIVER_NOT_LOADED:
        return "NVIDIA kernel driver not loaded (no /dev/nvidia*): is this a GPU node?"
    if value == nvml.NVML_ERROR_NO_PERMISSION:
        return "no permission to open /dev/nvidiactl or /dev/nvidia*: give the agent device access"
    return f"NVML failed to initialise: {exc}"


class NvmlReader:
    """Reads every device through `nvml` (pynvml, or a fake with the same functions)."""

    def __init__(self, nvml: Any = None, *, timeout: float = 5.0) -> None:
        self.nvml = nvml if nvml is not None else load_pynvml()
        self.timeout = timeout
        self.count = 0
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: dict[int, Future[list[DeviceReading]]] = {}
        #: Last good readings per device index: a device that fails keeps its identity
        #: (uuid, model, MIG slices) on its up=0 series.
        self._known: dict[int, list[DeviceReading]] = {}
        self._slices_total: dict[int, int] = {}
        #: Newest per-process utilisation sample read per device (NVML timestamps, us).
        self._sm_since: dict[int, int] = {}
        self._failing: set[int] = set()  # log a device's failure once, not every collect
        self._lock = threading.Lock()

    def start(self) -> int:
        """Initialise NVML and count devices; raises NvmlUnavailable naming what is missing."""
        nv = self.nvml
        try:
            nv.nvmlInit()
            self.count = int(nv.nvmlDeviceGetCount())
        except nv.NVMLError as exc:
            raise NvmlUnavailable(_startup_message(nv, exc)) from exc
        except OSError as exc:  # ctypes could not load a broken library
            raise NvmlUnavailable(f"NVML library could not be loaded: {exc}") from exc
        self._pool = ThreadPoolExecutor(
            max_workers=max(2, 2 * self.count), thread_name_prefix="nvml"
        )
        log.info("NVML: %d GPUs", self.count)
        return self.count

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            try:
                self.nvml.nvmlShutdown()
            except self.nvml.NVMLError as exc:
                log.warning("nvmlShutdown: %s", exc)

    # -- one device --------------------------------------------------------------------------
    def _read_device(self, index: int) -> list[DeviceReading]:
        nv = self.nvml
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        model = text(nv.nvmlDeviceGetName(handle))
        uuid = text(nv.nvmlDeviceGetUUID(handle))
        is_mig = mig_enabled(nv, handle)
        used, total = memory(nv, handle)
        power = optional(nv, lambda: nv.nvmlDeviceGetPowerUsage(handle))
        energy = optional(nv, lambda: nv.nvmlDeviceGetTotalEnergyConsumption(handle))
        utilization = None
        sm: tuple[tuple[int, float], ...] | None = None
        if not is_mig:
            sm, self._sm_since[index] = process_sm(
                nv, handle, self._sm_since.get(index, 0)
            )  # a MIG-mode parent answers NotSupported; do not ask
            rates = optional(nv, lambda: nv.nvmlDeviceGetUtilizationRates(handle))
            utilization = rates.gpu / 100.0 if rates is not None else None
        device = DeviceReading(
            gpu=str(index),
            uuid=uuid,
            model=model,
            mig_parent=is_mig,
            utilization=utilization,
            memory_used_bytes=used,
            memory_total_bytes=total,
            power_watts=power / 1000.0 if power is not None else None,  # NVML: milliwatts
            energy_joules=energy / 1000.0 if energy is not None else None,  # NVML: millijoules
            processes=() if is_mig else processes(nv, handle),
            process_sm=sm,
        )
        if not is_mig:
            return [device]
        if index not in self._slices_total:
            self._slices_total[index] = total_slices(nv, handle)
        slices = read_mig_devices(nv, handle, index, model, self._slices_total[index])
        return [device, *slices]

    def _down(self, index: int, error: str) -> list[DeviceReading]:
        known = self._known.get(index) or [DeviceReading(gpu=str(index), uuid="", model="")]
        return [
            replace(
                DeviceReading(r.gpu, r.uuid, r.model, r.mig_profile, r.share),
                mig_parent=r.mig_parent,
                up=False,
                error=error,
            )
            for r in known
        ]

    # -- all devices -------------------------------------------------------------------------
    def read(self) -> list[DeviceReading]:
        """One reading per GPU and MIG slice; failed devices come back with up=False."""
        if self._pool is None:
            raise RuntimeError("NvmlReader.read() before start()")
        with self._lock:  # one read at a time: the in-flight bookkeeping is not shared
            results: dict[int, list[DeviceReading]] = {}
            submitted: dict[int, Future[list[DeviceReading]]] = {}
            for index in range(self.count):
                previous = self._inflight.get(index)
                if previous is not None and not previous.done():
                    results[index] = self._down(index, "previous NVML call still hung")
                    continue
                submitted[index] = self._inflight[index] = self._pool.submit(
                    self._read_device, index
                )
            wait(submitted.values(), timeout=self.timeout)
            for index, future in submitted.items():
                if not future.done():
                    log.warning("GPU %d: NVML call timed out after %.1fs", index, self.timeout)
                    results[index] = self._down(index, f"NVML timed out after {self.timeout}s")
                    continue
                try:
                    readings = future.result()
                except Exception as exc:  # NVMLError, or a surprise: this device only
                    if index not in self._failing:
                        log.error("GPU %d: %s", index, exc)
                        self._failing.add(index)
                    results[index] = self._down(index, str(exc) or type(exc).__name__)
                    continue
                if index in self._failing:
                    log.info("GPU %d: reporting again", index)
                    self._failing.discard(index)
                self._known[index] = readings
                results[index] = readings
            return [r for index in range(self.count) for r in results[index]]
