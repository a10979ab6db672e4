"""GPU plain data: what one read of one device gives, the pod holding it, and its state after
the idle rule (what the GPU agent's metrics show)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    #: GPU memory the process holds; None when NVML cannot say (no permission, some vGPUs).
    memory_bytes: float | None


@dataclass(frozen=True, slots=True)
class DeviceReading:
    """One GPU or MIG slice. Fields a device does not support are None."""

    #: The `gpu` label: the device index, or "<index>/<gpu instance id>" for a MIG slice.
    gpu: str
    uuid: str
    model: str
    mig_profile: str = ""
    #: Fraction of the physical device (a MIG slice's compute slices over the device's).
    share: float = 1.0
    up: bool = True
    error: str = ""
    #: True for a physical GPU in MIG mode: its slices are the allocatable GPUs, not it.
    mig_parent: bool = False
    utilization: float | None = None
    memory_used_bytes: float | None = None
    memory_total_bytes: float | None = None
    power_watts: float | None = None
    energy_joules: float | None = None
    processes: tuple[Process, ...] = ()
    #: Mean SM utilisation (0..1) per process id since the last read, from
    #: nvmlDeviceGetProcessUtilization; None where the device does not give it.
    process_sm: tuple[tuple[int, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class PodRef:
    namespace: str
    name: str
    uid: str
    phase: str

    @property
    def running(self) -> bool:
        return self.phase == "Running"


@dataclass(frozen=True, slots=True)
class DeviceState:
    """One device after mapping and the idle rule: what the metrics show."""

    reading: DeviceReading
    #: The pod holding the device; None when no pod's process has been seen on it.
    pod: PodRef | None = None
    #: GPU memory per pod on the device (several pods share a time-sliced or MPS GPU).
    pod_memory: dict[PodRef, float] = field(default_factory=dict)
    #: Each pod's share of the device among the pods seen on it, per measure ("memory",
    #: "sm"; costmodel/gpu_shares.py): what the rules re-split time-sliced and MPS devices by.
    pod_shares: dict[str, dict[PodRef, float]] = field(default_factory=dict)
    #: The activity (0..1) the idle rule saw; None when not evaluated (down, unallocated).
    activity: float | None = None
    low_activity_since: float | None = None
    hourly: float = 0.0
    idle: bool = False

    @property
    def allocated(self) -> bool:
        return self.pod is not None
