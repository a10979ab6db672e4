"""A fake NVML: exactly the pynvml functions, NVMLError classes and constants the GPU agent
calls, over scripted devices. Pass an instance where the agent takes `nvml` (it stands in for
the pynvml module). tests/sources/gpu/test_fake_nvml.py checks every name here exists in pynvml.

Scenarios (see `scenario_*`): eight idle/busy GPUs, an H100 in MIG mode with mixed profiles,
a lost GPU, unsupported fields, processes from several pods. Each comes with the host's
/proc/<pid>/cgroup lines for its processes, so the agent's real cgroup parsing runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

MIB = 2**20
GIB = 2**30

# -- errors: the same codes and the same class scheme as pynvml --------------------------------
NVML_ERROR_INVALID_ARGUMENT = pynvml.NVML_ERROR_INVALID_ARGUMENT
NVML_ERROR_NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
NVML_ERROR_NO_PERMISSION = pynvml.NVML_ERROR_NO_PERMISSION
NVML_ERROR_NOT_FOUND = pynvml.NVML_ERROR_NOT_FOUND
NVML_ERROR_DRIVER_NOT_LOADED = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
NVML_ERROR_TIMEOUT = pynvml.NVML_ERROR_TIMEOUT
NVML_ERROR_LIBRARY_NOT_FOUND = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
NVML_ERROR_GPU_IS_LOST = pynvml.NVML_ERROR_GPU_IS_LOST
NVML_ERROR_UNINITIALIZED = pynvml.NVML_ERROR_UNINITIALIZED
NVML_DEVICE_MIG_DISABLE = pynvml.NVML_DEVICE_MIG_DISABLE
NVML_DEVICE_MIG_ENABLE = pynvml.NVML_DEVICE_MIG_ENABLE
NVML_GPU_INSTANCE_PROFILE_1_SLICE = pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE
NVML_GPU_INSTANCE_PROFILE_2_SLICE = pynvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE
NVML_GPU_INSTANCE_PROFILE_3_SLICE = pynvml.NVML_GPU_INSTANCE_PROFILE_3_SLICE
NVML_GPU_INSTANCE_PROFILE_4_SLICE = pynvml.NVML_GPU_INSTANCE_PROFILE_4_SLICE
NVML_GPU_INSTANCE_PROFILE_6_SLICE = pynvml.NVML_GPU_INSTANCE_PROFILE_6_SLICE
NVML_GPU_INSTANCE_PROFILE_7_SLICE = pynvml.NVML_GPU_INSTANCE_PROFILE_7_SLICE
NVML_GPU_INSTANCE_PROFILE_8_SLICE = pynvml.NVML_GPU_INSTANCE_PROFILE_8_SLICE
_SLICES_OF_PROFILE = {
    NVML_GPU_INSTANCE_PROFILE_1_SLICE: 1,
    NVML_GPU_INSTANCE_PROFILE_2_SLICE: 2,
    NVML_GPU_INSTANCE_PROFILE_3_SLICE: 3,
    NVML_GPU_INSTANCE_PROFILE_4_SLICE: 4,
    NVML_GPU_INSTANCE_PROFILE_6_SLICE: 6,
    NVML_GPU_INSTANCE_PROFILE_7_SLICE: 7,
    NVML_GPU_INSTANCE_PROFILE_8_SLICE: 8,
}


class NVMLError(Exception):
    """Like pynvml.NVMLError: `NVMLError(code)` builds the matching subclass; `.value` is
    the code."""

    _by_value: dict[int, type[NVMLError]] = {}  # noqa: RUF012 - filled below, as pynvml does
    value: int

    def __new__(cls, value: int) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._by_value.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value: int) -> None:
        super().__init__(value)

    def __str__(self) -> str:
        return str(pynvml.NVMLError._errcode_to_string.get(self.value, f"code {self.value}"))


def _error_class(name: str, value: int) -> type[NVMLError]:
    cls = type(name, (NVMLError,), {})
    NVMLError._by_value[value] = cls
    return cls


NVMLError_NotSupported = _error_class("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NotFound = _error_class("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_GpuIsLost = _error_class("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)
NVMLError_Timeout = _error_class("NVMLError_Timeout", NVML_ERROR_TIMEOUT)
NVMLError_LibraryNotFound = _error_class("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_DriverNotLoaded = _error_class("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_Uninitialized = _error_class("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_InvalidArgument = _error_class("NVMLError_InvalidArgument", NVML_ERROR_INVALID_ARGUMENT)


# -- scripted devices -------------------------------------------------------------------------
@dataclass
class FakeProcess:
    pid: int
    used_memory: int | None  # bytes; None = NVML_VALUE_NOT_AVAILABLE
    #: SM utilisation samples (percent) nvmlDeviceGetProcessUtilization gives for the process,
    #: one per read; [] no sample (a process that launched no kernel).
    sm_util: list[int] = field(default_factory=list)


@dataclass
class FakeMig:
    gpu_instance_id: int
    profile: str  # "1g.10gb"
    slices: int
    memory_mb: int
    uuid: str
    memory_used: int = 0
    processes: list[FakeProcess] = field(default_factory=list)


@dataclass
class FakeGpu:
    uuid: str
    name: str
    utilization: int = 0  # percent
    memory_total: int = 80 * GIB
    memory_used: int = 0
    power_mw: int = 60_000
    energy_mj: int = 1_000_000
    processes: list[FakeProcess] = field(default_factory=list)
    #: None: MIG not supported by this GPU; [] MIG capable but off; slices: MIG mode on.
    mig: list[FakeMig] | None = None
    mig_capable: bool = False
    max_slices: int = 7
    #: Fields answering NVML_ERROR_NOT_SUPPORTED: utilization, power, energy, processes, memory,
    #: process_utilization.
    unsupported: set[str] = field(default_factory=set)
    lost: bool = False
    #: When set, every call on the device blocks until it is set (a hung driver).
    hang: threading.Event | None = None


@dataclass(frozen=True)
class _Handle:
    index: int
    mig: int | None = None  # the MIG device index on the parent


class FakeNvml:
    """Stands in for the pynvml module. `calls` counts calls per function name."""

    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVML_ERROR_INVALID_ARGUMENT = NVML_ERROR_INVALID_ARGUMENT
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_NO_PERMISSION = NVML_ERROR_NO_PERMISSION
    NVML_ERROR_NOT_FOUND = NVML_ERROR_NOT_FOUND
    NVML_ERROR_DRIVER_NOT_LOADED = NVML_ERROR_DRIVER_NOT_LOADED
    NVML_ERROR_TIMEOUT = NVML_ERROR_TIMEOUT
    NVML_ERROR_LIBRARY_NOT_FOUND = NVML_ERROR_LIBRARY_NOT_FOUND
    NVML_ERROR_GPU_IS_LOST = NVML_ERROR_GPU_IS_LOST
    NVML_DEVICE_MIG_DISABLE = NVML_DEVICE_MIG_DISABLE
    NVML_DEVICE_MIG_ENABLE = NVML_DEVICE_MIG_ENABLE
    NVML_GPU_INSTANCE_PROFILE_1_SLICE = NVML_GPU_INSTANCE_PROFILE_1_SLICE
    NVML_GPU_INSTANCE_PROFILE_2_SLICE = NVML_GPU_INSTANCE_PROFILE_2_SLICE
    NVML_GPU_INSTANCE_PROFILE_3_SLICE = NVML_GPU_INSTANCE_PROFILE_3_SLICE
    NVML_GPU_INSTANCE_PROFILE_4_SLICE = NVML_GPU_INSTANCE_PROFILE_4_SLICE
    NVML_GPU_INSTANCE_PROFILE_6_SLICE = NVML_GPU_INSTANCE_PROFILE_6_SLICE
    NVML_GPU_INSTANCE_PROFILE_7_SLICE = NVML_GPU_INSTANCE_PROFILE_7_SLICE
    NVML_GPU_INSTANCE_PROFILE_8_SLICE = NVML_GPU_INSTANCE_PROFILE_8_SLICE

    def __init__(self, gpus: list[FakeGpu], *, init_error: int | None = None) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.initialized = False
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------
    def _count(self, name: str) -> None:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1

    def _gpu(self, handle: _Handle, name: str) -> FakeGpu:
        self._count(name)
        if not self.initialized:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        gpu = self.gpus[handle.index]
        if gpu.hang is not None:
            gpu.hang.wait(timeout=30)  # never longer than a test's patience
        if gpu.lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        return gpu

    def _mig(self, handle: _Handle, name: str) -> FakeMig:
        gpu = self._gpu(handle, name)
        assert gpu.mig is not None and handle.mig is not None, "not a MIG device handle"
        return gpu.mig[handle.mig]

    @staticmethod
    def _check(gpu: FakeGpu, fieldname: str) -> None:
        if fieldname in gpu.unsupported:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)

    # -- the pynvml functions the agent calls -----------------------------------------------
    def nvmlInit(self) -> None:
        self._count("nvmlInit")
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self._count("nvmlShutdown")
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        self._count("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._count("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(index)

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        gpu = self._gpu(handle, "nvmlDeviceGetName")
        if handle.mig is not None and gpu.mig is not None:
            return f"{gpu.name} MIG {gpu.mig[handle.mig].profile}"
        return gpu.name

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        if handle.mig is not None:
            return self._mig(handle, "nvmlDeviceGetUUID").uuid
        return self._gpu(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetUtilizationRates")
        if handle.mig is not None or gpu.mig:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)  # as NVML does in MIG mode
        self._check(gpu, "utilization")
        return SimpleNamespace(gpu=gpu.utilization, memory=gpu.utilization // 2)

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle) -> Any:
        if handle.mig is not None:
            mig = self._mig(handle, "nvmlDeviceGetMemoryInfo")
            total = mig.memory_mb * MIB
            return SimpleNamespace(total=total, used=mig.memory_used, free=total - mig.memory_used)
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        self._check(gpu, "memory")
        used = gpu.memory_used + sum(m.memory_used for m in gpu.mig or ())
        return SimpleNamespace(total=gpu.memory_total, used=used, free=gpu.memory_total - used)

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetPowerUsage")
        self._check(gpu, "power")
        return gpu.power_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: _Handle) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetTotalEnergyConsumption")
        self._check(gpu, "energy")
        return gpu.energy_mj

    def nvmlDeviceGetComputeRunningProcesses(self, handle: _Handle) -> list[Any]:
        if handle.mig is not None:
            procs = self._mig(handle, "nvmlDeviceGetComputeRunningProcesses").processes
        else:
            gpu = self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses")
            self._check(gpu, "processes")
            procs = gpu.processes
        return [
            SimpleNamespace(pid=p.pid, usedGpuMemory=p.used_memory, gpuInstanceId=0xFFFFFFFF)
            for p in procs
        ]

    def nvmlDeviceGetProcessUtilization(self, handle: _Handle, timeStamp: int) -> list[Any]:
        """As NVML: the samples newer than `timeStamp` (us), each process's sampled SM%;
        Not Found when there is none, Not Supported in MIG mode or where `unsupported` says."""
        gpu = self._gpu(handle, "nvmlDeviceGetProcessUtilization")
        if handle.mig is not None or gpu.mig:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        self._check(gpu, "process_utilization")
        samples = [
            SimpleNamespace(
                pid=p.pid, timeStamp=(i + 1) * 1_000_000, smUtil=sm, memUtil=0, encUtil=0, decUtil=0
            )
            for p in gpu.processes
            for i, sm in enumerate(p.sm_util)
        ]
        newer = [x for x in samples if x.timeStamp > timeStamp]
        if not newer:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return newer

    def nvmlDeviceGetMigMode(self, handle: _Handle) -> tuple[int, int]:
        gpu = self._gpu(handle, "nvmlDeviceGetMigMode")
        if gpu.mig is None and not gpu.mig_capable:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        mode = NVML_DEVICE_MIG_ENABLE if gpu.mig else NVML_DEVICE_MIG_DISABLE
        return mode, mode

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: _Handle) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetMaxMigDeviceCount")
        return gpu.max_slices if gpu.mig is not None else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: _Handle, index: int) -> _Handle:
        gpu = self._gpu(handle, "nvmlDeviceGetMigDeviceHandleByIndex")
        if not gpu.mig or index >= len(gpu.mig):
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return _Handle(handle.index, index)

    def nvmlDeviceGetGpuInstanceId(self, handle: _Handle) -> int:
        return self._mig(handle, "nvmlDeviceGetGpuInstanceId").gpu_instance_id

    def nvmlDeviceGetAttributes(self, handle: _Handle) -> Any:
        mig = self._mig(handle, "nvmlDeviceGetAttributes")
        return SimpleNamespace(
            multiprocessorCount=16 * mig.slices,
            gpuInstanceSliceCount=mig.slices,
            computeInstanceSliceCount=mig.slices,
            memorySizeMB=mig.memory_mb,
        )

    def nvmlDeviceGetGpuInstanceProfileInfo(self, handle: _Handle, profile: int) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetGpuInstanceProfileInfo")
        slices = _SLICES_OF_PROFILE.get(profile)
        if slices is None:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        if slices > gpu.max_slices or slices in (5, 6, 8):
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(
            id=profile, sliceCount=slices, instanceCount=gpu.max_slices // slices
        )


#: The names above that the agent may call; checked against pynvml by the tests.
PYNVML_NAMES = tuple(
    name
    for name in vars(FakeNvml)
    if name.startswith(("nvml", "NVML")) and not name.startswith("_")
)


# -- the host side: /proc/<pid>/cgroup for each process ------------------------------------------
def cgroup_v2_containerd(pod_uid: str, qos: str = "burstable") -> str:
    """cgroup v2, systemd driver, containerd: the default on current distributions."""
    u = pod_uid.replace("-", "_")
    return (
        f"0::/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{u}.slice/"
        "cri-containerd-4f1e0c7b2d5a9e8f3c6b1a0d9e8f7c6b5a4d3c2b1a0f9e8d7c6b5a4d3c2b1a0f.scope\n"
    )


def cgroup_v1_crio_cgroupfs(pod_uid: str) -> str:
    """cgroup v1, cgroupfs driver, CRI-O (guaranteed QoS: no QoS level in the path)."""
    leaf = f"/kubepods/pod{pod_uid}/crio-9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c"
    return (
        "\n".join(
            f"{n}:{c}:{leaf}"
            for n, c in ((12, "memory"), (11, "devices"), (4, "cpu,cpuacct"), (1, "name=systemd"))
        )
        + "\n"
    )


HOST_PROCESS_CGROUP = "0::/system.slice/nvidia-persistenced.service\n"


@dataclass
class Scenario:
    nvml: FakeNvml
    #: pid -> /proc/<pid>/cgroup content.
    cgroups: dict[int, str]
    #: pod uid -> (namespace, name): what the pod list (kubelet /pods) holds, all Running.
    pods: dict[str, tuple[str, str]]

    def write_proc(self, root: Path) -> Path:
        for pid, text in self.cgroups.items():
            (root / str(pid)).mkdir(parents=True, exist_ok=True)
            (root / str(pid) / "cgroup").write_text(text)
        return root

    def pod_list(self, phase: Callable[[str], str] = lambda _uid: "Running") -> dict[str, Any]:
        return {
            "kind": "PodList",
            "apiVersion": "v1",
            "items": [
                {
                    "metadata": {"namespace": ns, "name": name, "uid": uid},
                    "status": {"phase": phase(uid)},
                }
                for uid, (ns, name) in self.pods.items()
            ],
        }


def pod_uid(n: int) -> str:
    return f"{n:08x}-1c1a-4c1e-9a3c-2d3b1f0e7a11"


def scenario_eight_gpus() -> Scenario:
    """8 x A100 80GB: 0-3 busy (one pod each), 4-5 allocated but idle (a process holds
    memory, no kernels), 6-7 free. GPU 3 mixes a pod process with a host process."""
    gpus, cgroups, pods = [], {}, {}
    for i in range(8):
        gpu = FakeGpu(uuid=f"GPU-a100-{i:04d}", name="NVIDIA A100-SXM4-80GB", power_mw=90_000)
        if i < 6:
            pid, uid = 1000 + i, pod_uid(i)
            gpu.processes.append(FakeProcess(pid, (10 + i) * GIB))
            gpu.memory_used = (10 + i) * GIB
            gpu.utilization = 85 if i < 4 else 0
            gpu.power_mw = 350_000 if i < 4 else 70_000
            cgroups[pid] = cgroup_v2_containerd(uid)
            pods[uid] = ("llm-batch" if i < 4 else "notebooks", f"worker-{i}")
        gpus.append(gpu)
    gpus[3].processes.append(FakeProcess(900, 300 * MIB))
    cgroups[900] = HOST_PROCESS_CGROUP
    return Scenario(FakeNvml(gpus), cgroups, pods)


def scenario_mig_h100() -> Scenario:
    """One H100 in MIG mode: 3g.40gb (busy pod), 2g.20gb (pod, no process), two 1g.10gb
    (one busy pod, one free), plus a whole H100 next to it not in MIG mode."""
    busy_a, busy_b = pod_uid(0x31), pod_uid(0x32)
    slices = [
        FakeMig(1, "3g.40gb", 3, 40_192, "MIG-3g-0001", 20 * GIB, [FakeProcess(2001, 20 * GIB)]),
        FakeMig(5, "2g.20gb", 2, 19_968, "MIG-2g-0005"),
        FakeMig(13, "1g.10gb", 1, 9_856, "MIG-1g-0013", 4 * GIB, [FakeProcess(2002, 4 * GIB)]),
        FakeMig(14, "1g.10gb", 1, 9_856, "MIG-1g-0014"),
    ]
    h100 = "NVIDIA H100 80GB HBM3"
    gpus = [
        FakeGpu("GPU-h100-mig", h100, mig=slices, mig_capable=True, power_mw=120_000),
        FakeGpu("GPU-h100-full", h100, utilization=40, mig=[], mig_capable=True),
    ]
    cgroups = {2001: cgroup_v2_containerd(busy_a), 2002: cgroup_v1_crio_cgroupfs(busy_b)}
    pods = {busy_a: ("inference", "llama-0"), busy_b: ("inference", "embedder-0")}
    return Scenario(FakeNvml(gpus), cgroups, pods)


def scenario_lost_gpu() -> Scenario:
    """Two L4s; `nvml.gpus[1].lost = True` loses the second mid-run."""
    uid = pod_uid(0x40)
    gpus = [
        FakeGpu("GPU-l4-0", "NVIDIA L4", 30, 24 * GIB, 2 * GIB, processes=[FakeProcess(3001, GIB)]),
        FakeGpu("GPU-l4-1", "NVIDIA L4", 0, 24 * GIB),
    ]
    return Scenario(FakeNvml(gpus), {3001: cgroup_v2_containerd(uid)}, {uid: ("ml", "trainer")})


def scenario_unsupported_fields() -> Scenario:
    """A GPU without power, energy or process listing (NVMLError_NotSupported), next to one
    without utilisation."""
    gpus = [
        FakeGpu(
            "GPU-t4-0", "Tesla T4", 12, 16 * GIB, GIB, unsupported={"power", "energy", "processes"}
        ),
        FakeGpu("GPU-a10g-0", "NVIDIA A10G", 0, 24 * GIB, unsupported={"utilization"}),
    ]
    return Scenario(FakeNvml(gpus), {}, {})


def scenario_shared_gpu() -> Scenario:
    """One A10G time-sliced between three pods in two namespaces: framebuffer 2, 6 and 6 GiB;
    SM samples (one read's worth) averaging 20%, 60% and none (svc-2 launched no kernel)."""
    uids = [pod_uid(0x50), pod_uid(0x51), pod_uid(0x52)]
    procs = [
        FakeProcess(4001, 2 * GIB, [10, 30]),
        FakeProcess(4002, 6 * GIB, [60]),
        FakeProcess(4003, 6 * GIB),
    ]
    gpu = FakeGpu("GPU-a10g-s", "NVIDIA A10G", 0, 24 * GIB, 14 * GIB, processes=procs)
    cgroups = {
        4001: cgroup_v2_containerd(uids[0], "besteffort"),
        4002: cgroup_v1_crio_cgroupfs(uids[1]),
        4003: cgroup_v2_containerd(uids[2]),
    }
    pods = {
        uids[0]: ("team-a", "svc-0"),
        uids[1]: ("team-b", "svc-1"),
        uids[2]: ("team-b", "svc-2"),
    }
    return Scenario(FakeNvml([gpu]), cgroups, pods)
