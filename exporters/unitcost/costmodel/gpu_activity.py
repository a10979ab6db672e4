"""DCGM readings joined to the per-device GPU ledger: each holding's activity, its state
(busy / warm idle / empty) and its usage-basis dollars. Pure (docs/gpu.md).

Join order for a reading to a device: DRA labels (pool, device) -> the device of that pool;
else the GPU's UUID; else (Hostname, gpu index) -> the node's device of that index. To a
holding: the reading's pod (dcgm-exporter's namespace/pod labels) among the device's holders,
a MIG instance's profile matched to a MIG holding's; else the pod's readings on another device
of the node (the ledger's placement of an extended-resource hold is a guess); else a reading
with no pod applies to every holder of the device (time-sliced and MPS pods share one
engine: each is charged the device's activity).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from unitcost.costmodel.gpu_idle import IdleTracker
from unitcost.data.activity import DcgmReading, GpuState, HoldingUse
from unitcost.data.devices import DeviceLedger
from unitcost.data.frame import GpuCost

DEFAULT_THRESHOLD = 0.01
#: Framebuffer a process holds when only its CUDA context is loaded is a few hundred MiB:
#: more than this is a loaded model (warm idle).
DEFAULT_WARM_MEMORY_BYTES = 1024.0 * 2**20


def gpu_state(
    activity: float | None,
    memory_used_bytes: float | None,
    power_watts: float | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    warm_memory_bytes: float = DEFAULT_WARM_MEMORY_BYTES,
    power_veto_watts: float | None = None,
) -> GpuState:
    """busy when activity >= threshold, or (with a veto) the GPU draws more than the veto's
    watts; else warm-idle when it holds more than `warm_memory_bytes`; else empty."""
    if activity is None:
        return "unknown"
    if activity >= threshold:
        return "busy"
    if power_veto_watts is not None and power_watts is not None and power_watts > power_veto_watts:
        return "busy"
    if memory_used_bytes is not None and memory_used_bytes > warm_memory_bytes:
        return "warm-idle"
    return "empty"


def _device_key(ledger: DeviceLedger) -> tuple[str, str]:
    return (ledger.device.node, ledger.device.device)


def join_activity(
    ledgers: Sequence[DeviceLedger],
    readings: Iterable[DcgmReading],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    warm_memory_bytes: float = DEFAULT_WARM_MEMORY_BYTES,
    power_veto_watts: float | None = None,
) -> list[HoldingUse]:
    """Every holding of `ledgers`, in ledger order, with its joined activity and state."""
    by_pool = {(lg.device.pool, lg.device.device): lg for lg in ledgers if lg.device.pool}
    by_uuid = {lg.device.uuid: lg for lg in ledgers if lg.device.uuid}
    by_index = {_device_key(lg): lg for lg in ledgers}
    joined: dict[tuple[str, str], list[DcgmReading]] = {}
    #: (node, namespace, pod) -> its readings: where the ledger placed a hold on another
    #: device of the node than the one DCGM saw the pod on (extended resources name none).
    by_pod: dict[tuple[str, str, str], list[DcgmReading]] = {}
    for reading in readings:
        if reading.pod:
            by_pod.setdefault((reading.node, reading.namespace, reading.pod), []).append(reading)
        ledger = None
        if reading.dra_device:
            ledger = by_pool.get((reading.dra_pool, reading.dra_device))
        if ledger is None and reading.uuid:
            ledger = by_uuid.get(reading.uuid)
        if ledger is None:
            ledger = by_index.get((reading.node, reading.gpu))
        if ledger is not None:
            joined.setdefault(_device_key(ledger), []).append(reading)
    out: list[HoldingUse] = []
    for ledger in ledgers:
        found = joined.get(_device_key(ledger), [])
        for holding in ledger.holdings:
            mine = [r for r in found if (r.namespace, r.pod) == (holding.namespace, holding.pod)]
            if holding.mig_profile:
                same = [r for r in mine or found if r.mig_profile == holding.mig_profile]
                mine = same or mine
            if not mine and holding.kind != "dra":
                elsewhere = by_pod.get((ledger.device.node, holding.namespace, holding.pod), [])
                mine = [r for r in elsewhere if r.mig_profile == holding.mig_profile]
            if not mine:
                mine = [r for r in found if not r.pod and not r.mig_profile]
            activities = [r.activity for r in mine if r.activity is not None]
            activity = max(activities) if activities else None
            memory = [r.memory_used_bytes for r in mine if r.memory_used_bytes is not None]
            power = [r.power_watts for r in mine if r.power_watts is not None]
            state = gpu_state(
                activity,
                max(memory) if memory else None,
                max(power) if power else None,
                threshold=threshold,
                warm_memory_bytes=warm_memory_bytes,
                power_veto_watts=power_veto_watts,
            )
            out.append(
                HoldingUse(
                    holding.namespace,
                    holding.pod,
                    ledger.device.node,
                    ledger.device.device,
                    holding.hourly,
                    activity,
                    state,
                )
            )
    return out


def dcgm_idle(
    ledgers: Sequence[DeviceLedger], uses: Sequence[HoldingUse], tracker: IdleTracker, now: float
) -> list[GpuCost]:
    """The idle rule over DCGM readings (`gpu_idle.producer: dcgm`): each (device, pod)
    holding that has a reading feeds `tracker`; it is idle, and its dollars are idle dollars,
    once its activity has stayed below the threshold for the window, the rule the GPU agent
    runs on NVML. A pod's holdings of one device add up; holdings without a reading have no
    idle series (nothing measured). `uses` are `join_activity(ledgers, ...)`, in its order."""
    models = {(lg.device.node, lg.device.device): lg.device.model for lg in ledgers}
    profiles: dict[tuple[str, str, str, str], str] = {}
    for lg in ledgers:
        for h in lg.holdings:
            key = (lg.device.node, lg.device.device, h.namespace, h.pod)
            profiles.setdefault(key, h.mig_profile)
    hourly: dict[tuple[str, str, str, str], list[float]] = {}
    activity: dict[tuple[str, str, str, str], float] = {}
    for use in uses:
        if use.activity is None:
            continue
        key = (use.node, use.gpu, use.namespace, use.pod)
        hourly.setdefault(key, []).append(use.hourly)
        activity[key] = max(activity.get(key, 0.0), use.activity)
    out = []
    for key, amounts in hourly.items():
        tracker.observe(key, activity[key], now)
        node, gpu, namespace, pod = key
        out.append(
            GpuCost(
                node,
                gpu,
                models.get((node, gpu), ""),
                profiles.get(key, ""),
                namespace,
                pod,
                math.fsum(amounts),
                tracker.is_idle(key, now),
            )
        )
    tracker.retain(hourly)
    return out
