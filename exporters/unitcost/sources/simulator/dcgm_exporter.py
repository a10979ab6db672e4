"""dcgm-exporter's series, written as dcgm-exporter 4.x writes them: the one definition of
their names and label sets that the simulated cluster serves (the demo's
`/simulated/dcgm-exporter/metrics`) and the tests' fake dcgm-exporter reuses.

Names: DCGM_FI_PROF_GR_ENGINE_ACTIVE (ratio), DCGM_FI_DEV_GPU_UTIL (%), DCGM_FI_DEV_FB_USED
(MiB), DCGM_FI_DEV_POWER_USAGE (W). Labels: gpu, UUID, pci_bus_id, device, modelName,
Hostname, DCGM_FI_DRIVER_VERSION; GPU_I_PROFILE and GPU_I_ID on a MIG instance; container,
namespace and pod with Kubernetes attribution; dra_claim_name, dra_claim_namespace,
dra_driver_name, dra_pool_name, dra_device_name (and dra_mig_profile, dra_mig_device_uuid) with
DRA attribution. `simulated_dcgm` makes them from a simulated snapshot so that every GPU
state (busy, warm idle, empty) shows through the DCGM path (docs/gpu.md).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from unitcost.data.model import Snapshot
from unitcost.sources.dcgm import FB_USED, GPU_UTIL, POWER, PROF_ACTIVE
from unitcost.sources.promapi import Sample

DRIVER_VERSION = "570.124.06"
HELP = {
    PROF_ACTIVE: "Ratio of time the graphics engine is active.",
    GPU_UTIL: "GPU utilization (in %).",
    FB_USED: "Framebuffer memory used (in MiB).",
    POWER: "Power draw (in W).",
}
_MODEL_NAMES = {
    "H100": "NVIDIA H100 80GB HBM3",
    "H200": "NVIDIA H200",
    "A100": "NVIDIA A100-SXM4-80GB",
    "A10G": "NVIDIA A10G",
    "L4": "NVIDIA L4",
    "T4": "Tesla T4",
}
#: A loaded model's framebuffer; a bare CUDA context's.
WARM_MIB = 30720.0
EMPTY_MIB = 12.0
_INDEX = re.compile(r"(\d+)$")
_MIG = re.compile(r"^(\d+)g\.")


@dataclass(frozen=True, slots=True)
class DcgmDevice:
    """One GPU or MIG instance as dcgm-exporter reports it; a None field is not written
    (a GPU without profiling metrics has no PROF series; power is per GPU, not instance)."""

    hostname: str
    gpu: int
    uuid: str
    model_name: str
    active: float | None = None
    util_percent: float | None = None
    fb_used_mib: float | None = None
    power_watts: float | None = None
    gpu_i_profile: str = ""
    gpu_i_id: str = ""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    #: DRA attribution: (claim namespace, claim name, driver, pool, device), "" when absent.
    dra_claim_namespace: str = ""
    dra_claim_name: str = ""
    dra_driver: str = ""
    dra_pool: str = ""
    dra_device: str = ""

    def labels(self) -> dict[str, str]:
        out = {
            "gpu": str(self.gpu),
            "UUID": self.uuid,
            "pci_bus_id": f"00000000:{self.gpu:02d}:00.0",
            "device": f"nvidia{self.gpu}",
            "modelName": self.model_name,
            "Hostname": self.hostname,
        }
        if self.gpu_i_profile:
            out["GPU_I_PROFILE"] = self.gpu_i_profile
            out["GPU_I_ID"] = self.gpu_i_id
        out["DCGM_FI_DRIVER_VERSION"] = DRIVER_VERSION
        if self.pod:
            out |= {"container": self.container, "namespace": self.namespace, "pod": self.pod}
        if self.dra_claim_name:
            out |= {
                "dra_claim_name": self.dra_claim_name,
                "dra_claim_namespace": self.dra_claim_namespace,
                "dra_driver_name": self.dra_driver,
                "dra_pool_name": self.dra_pool,
                "dra_device_name": self.dra_device,
            }
            if self.gpu_i_profile:
                out |= {"dra_mig_profile": self.gpu_i_profile, "dra_mig_device_uuid": self.uuid}
        return out

    def values(self) -> dict[str, float | None]:
        return {
            PROF_ACTIVE: self.active,
            GPU_UTIL: self.util_percent,
            FB_USED: self.fb_used_mib,
            POWER: self.power_watts,
        }


def samples(devices: Iterable[DcgmDevice]) -> dict[str, list[Sample]]:
    """Metric name -> its series, as a Prometheus instant query would return them."""
    out: dict[str, list[Sample]] = {name: [] for name in HELP}
    for device in devices:
        labels = device.labels()
        for name, value in device.values().items():
            if value is not None:
                out[name].append(Sample(labels, value))
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(devices: Iterable[DcgmDevice]) -> str:
    """The text exposition dcgm-exporter serves on its /metrics."""
    lines: list[str] = []
    for name, series in samples(devices).items():
        lines += [f"# HELP {name} {HELP[name]}", f"# TYPE {name} gauge"]
        for sample in series:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels.items())
            lines.append(f"{name}{{{labels}}} {sample.value:g}")
    return "\n".join(lines) + "\n"


def _index(gpu: str) -> int:
    match = _INDEX.search(gpu.split("/")[0])
    return int(match[1]) if match else 0


def _model_name(model: str) -> str:
    return _MODEL_NAMES.get(model, f"NVIDIA {model}" if model else "NVIDIA GPU")


def _readings(uuid: str, busy: float | None) -> dict[str, float]:
    """Busy devices hold most of their memory and draw power; an idle one is warm (a model
    loaded, half of them, by its UUID) or empty (a context only)."""
    if busy is not None and busy > 0:
        return {"fb": 61440.0, "power": 520.0}
    if zlib.crc32(uuid.encode()) % 2 == 0:
        return {"fb": WARM_MIB, "power": 110.0}
    return {"fb": EMPTY_MIB, "power": 70.0}


def simulated_dcgm(snapshot: Snapshot) -> list[DcgmDevice]:
    """The simulated cluster's GPUs as dcgm-exporter (with pod and DRA attribution) would
    report them: every simulated GPU (DRA devices with their claim's dra_* labels and no pod,
    time-sliced devices with no pod), a MIG instance per MIG slice a pod requests (placed
    first-fit, seven slices a GPU, as the GPU Operator's mixed strategy would), and one
    device-level series per GPU of nodes that hold fractions (no pod: HAMi shares the
    engine)."""
    claims = {
        (ref.node, ref.device): claim for claim in snapshot.gpu_claims for ref in claim.devices
    }
    pools = {(d.node, d.device): d for d in snapshot.gpu_devices}
    nodes = {n.name: n for n in snapshot.nodes}
    out: list[DcgmDevice] = []
    seen: set[str] = set()
    for g in snapshot.gpus:
        if g.utilization is None:
            continue
        seen.add(g.node)
        extra = _readings(g.uuid, g.utilization)
        claim = claims.get((g.node, g.gpu))
        device = pools.get((g.node, g.gpu))
        dra = claim is not None and device is not None
        out.append(
            DcgmDevice(
                g.node,
                _index(g.gpu),
                g.uuid,
                _model_name(g.model),
                active=g.utilization,
                util_percent=round(g.utilization * 100.0),
                fb_used_mib=extra["fb"],
                power_watts=extra["power"],
                gpu_i_profile=g.mig_profile,
                gpu_i_id=g.gpu.split("/")[1] if "/" in g.gpu else "",
                namespace="" if dra else g.pod_namespace,
                pod="" if dra else g.pod_name,
                container="main" if g.pod_name and not dra else "",
                dra_claim_namespace=claim.namespace if dra and claim else "",
                dra_claim_name=claim.name if dra and claim else "",
                dra_driver=device.driver if dra and device else "",
                dra_pool=device.pool if dra and device else "",
                dra_device=device.device if dra and device else "",
            )
        )
    # MIG slices and fractions: extended resources name no device; dcgm-exporter does.
    free: dict[str, list[int]] = {}
    instance: dict[str, int] = {}
    fractional: set[str] = set()
    for pod in snapshot.pods:
        node = nodes.get(pod.node)
        if node is None or node.name in seen:
            continue
        for resource, amount in pod.gpu_requests:
            if resource.startswith("nvidia.com/gpumem") or resource == "nvidia.com/gpucores":
                fractional.add(node.name)
            match = _MIG.match(resource.removeprefix("nvidia.com/mig-"))
            if not resource.startswith("nvidia.com/mig-") or match is None:
                continue
            slices = int(match[1])
            devices = int(node.labels.get("nvidia.com/gpu.count", "0") or 0) or 8
            room = free.setdefault(node.name, [7] * devices)
            for _ in range(max(1, int(amount))):
                index = next((i for i, r in enumerate(room) if r >= slices), None)
                if index is None:
                    break
                room[index] -= slices
                instance[node.name] = instance.get(node.name, 0) + 1
                uuid = f"MIG-{node.name}-{index}-{instance[node.name]}"
                busy = 0.6 if zlib.crc32(pod.name.encode()) % 3 else 0.0
                extra = _readings(uuid, busy)
                out.append(
                    DcgmDevice(
                        node.name,
                        index,
                        uuid,
                        _model_name(node.gpu_model),
                        active=busy,
                        fb_used_mib=min(extra["fb"], 10240.0 * slices),
                        gpu_i_profile=resource.removeprefix("nvidia.com/mig-"),
                        gpu_i_id=str(instance[node.name]),
                        namespace=pod.namespace,
                        pod=pod.name,
                        container="main",
                    )
                )
    for name in sorted(free):  # power is per GPU
        for index in range(len(free[name])):
            out.append(
                DcgmDevice(name, index, f"GPU-{name}-{index}", _model_name(nodes[name].gpu_model),
                           power_watts=180.0)
            )  # fmt: skip
    for name in sorted(fractional):
        node = nodes[name]
        for index in range(int(node.capacity.gpu)):
            uuid = f"GPU-{name}-{index}"
            busy = 0.35 if index % 2 == 0 else 0.0
            extra = _readings(uuid, busy)
            out.append(
                DcgmDevice(
                    name,
                    index,
                    uuid,
                    _model_name(node.gpu_model),
                    active=busy,
                    util_percent=busy * 100.0,
                    fb_used_mib=extra["fb"],
                    power_watts=extra["power"],
                )
            )
    return out
