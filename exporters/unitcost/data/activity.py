"""GPU activity as dcgm-exporter reports it (read from Prometheus), and what a held GPU's
holder did with it: the plain records of the DCGM join (costmodel/gpu_activity.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: busy: engine activity at or above the threshold (or power above the veto); warm-idle: below
#: it but framebuffer memory held (a loaded model with no traffic); empty: neither;
#: unknown: no reading joined.
GpuState = Literal["busy", "warm-idle", "empty", "unknown"]
GPU_STATES: tuple[GpuState, ...] = ("busy", "warm-idle", "empty", "unknown")


@dataclass(frozen=True, slots=True)
class DcgmReading:
    """One dcgm-exporter device (a GPU or a MIG instance) at one instant."""

    #: dcgm-exporter's `Hostname` (the node) and `gpu` (the index).
    node: str
    gpu: str
    uuid: str = ""
    #: `GPU_I_PROFILE` for a MIG instance ("" for a whole GPU).
    mig_profile: str = ""
    #: The pod dcgm-exporter attributes the device to (its `namespace`, `pod` labels).
    namespace: str = ""
    pod: str = ""
    #: DRA attribution (dcgm-exporter's dra_* labels), "" when absent.
    dra_claim: str = ""
    dra_pool: str = ""
    dra_device: str = ""
    #: Engine activity 0..1: DCGM_FI_PROF_GR_ENGINE_ACTIVE, else DCGM_FI_DEV_GPU_UTIL / 100.
    activity: float | None = None
    #: Which field gave `activity`: "DCGM_FI_PROF_GR_ENGINE_ACTIVE" or "DCGM_FI_DEV_GPU_UTIL".
    field: str = ""
    memory_used_bytes: float | None = None
    power_watts: float | None = None


@dataclass(frozen=True, slots=True)
class HoldingUse:
    """One holding of the per-device ledger, with what DCGM says its holder did."""

    namespace: str
    pod: str
    node: str
    gpu: str
    #: The holding's dollars per hour (allocation basis).
    hourly: float
    #: Activity 0..1 joined to it; None when no reading joined.
    activity: float | None
    state: GpuState

    @property
    def used_hourly(self) -> float:
        """Usage basis: the held dollars weighted by measured activity (0 when unknown)."""
        if self.activity is None:
            return 0.0
        return self.hourly * min(1.0, max(0.0, self.activity))
