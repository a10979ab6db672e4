"""One ledger per physical GPU: who holds which share of it, and what is left unheld.

Pure: plain records in (data/devices.py, the snapshot's nodes and pods), plain records out.
For every physical device d on a node with GPU cost G and n devices (docs/gpu.md):

    price           P_d = G / n
    holds           h_i = the share of d each pod asked for (see `pod_holds`, `claim_holds`)
    scale           s = min(1, 1 / sum(h_i))          (an oversubscribed device is not overdrawn)
    holder dollars  a_i = P_d * h_i * s
    unheld          P_d - sum(a_i), never negative

so that sum(a_i) + unheld == P_d for every device, and summed over a node's devices, == G: the
node ledger's GPU row stays conserved. Where the scheduler names no device (extended resources:
MIG slices under the "mixed" strategy, time-slicing replicas, MPS, HAMi fractions), holds are
placed first-fit on the node's devices, in snapshot order: the node's totals are exact, the
device a hold lands on is the ledger's best guess. DRA claims name their device.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from unitcost.data.devices import (
    HAMI_ALLOCATED,
    DeviceLedger,
    GpuClaim,
    GpuDevice,
    GpuHold,
    Holding,
    HoldKind,
    MigShareBasis,
)
from unitcost.data.model import Node, Pod

#: `nvidia.com/mig-<profile>`: a MIG slice requested as an extended resource ("mixed" strategy).
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
#: HAMi's fractional requests: device memory in MiB, or in percent, and compute in percent.
HAMI_MEMORY = "nvidia.com/gpumem"
HAMI_MEMORY_PERCENT = "nvidia.com/gpumem-percentage"
HAMI_CORES = "nvidia.com/gpucores"
#: GPU feature discovery's node labels: time-slicing / MPS replicas per device, the sharing
#: strategy, device memory (MiB), physical device count.
REPLICAS_LABEL = "nvidia.com/gpu.replicas"
SHARING_LABEL = "nvidia.com/gpu.sharing-strategy"
MEMORY_LABEL = "nvidia.com/gpu.memory"
COUNT_LABEL = "nvidia.com/gpu.count"
#: 3g.40gb, 1g.10gb+me, 1c.3g.40gb (a compute instance of a 3g.40gb GPU instance).
_PROFILE = re.compile(r"^(?:(?P<ci>\d+)c\.)?(?P<g>\d+)g\.(?P<gb>\d+)gb")
_EPSILON = 1e-12
#: No node has more physical GPUs than this (a DGX has 8, an NVL72 rack 72): counts above it
#: are bad data, left to the node arithmetic rather than expanded device by device.
MAX_DEVICES = 256
MIB = 2.0**20
GIB = 2.0**30


class MalformedAnnotation(ValueError):
    """An allocation annotation that cannot be read (the pod keeps its request's holds)."""


def hami_allocation(value: str) -> list[tuple[str, float, float]]:
    """`hami.io/vgpu-devices-allocated` -> (UUID, memory MiB, cores %) per allocated device,
    every container's. Raises MalformedAnnotation naming the part it cannot read."""
    out: list[tuple[str, float, float]] = []
    for container in value.split(";"):
        for device in container.split(":"):
            if not device.strip():
                continue
            fields = [f.strip() for f in device.split(",")]
            if len(fields) != 4 or not fields[0]:
                raise MalformedAnnotation(f"{device!r}: want UUID,type,memory,cores")
            try:
                memory, cores = float(fields[2]), float(fields[3])
            except ValueError:
                raise MalformedAnnotation(f"{device!r}: memory and cores must be numbers") from None
            if not (math.isfinite(memory) and math.isfinite(cores)) or memory < 0 or cores < 0:
                raise MalformedAnnotation(f"{device!r}: memory and cores must be >= 0")
            out.append((fields[0], memory, cores))
    return out


def malformed_annotations(pods: Iterable[Pod]) -> int:
    """Pods whose HAMi allocation annotation cannot be read (reported, never fatal)."""
    count = 0
    for pod in pods:
        value = pod.annotations.get(HAMI_ALLOCATED)
        if value is None:
            continue
        try:
            hami_allocation(value)
        except MalformedAnnotation:
            count += 1
    return count


def _hami_holds(pod: Pod, node: Node) -> list[GpuHold] | None:
    """The holds HAMi's allocation annotation names (the device by UUID; share = the larger
    of its memory over the device's and its cores over 100), or None when the pod has none,
    it cannot be read, or a device's share cannot be told (no memory known, no cores)."""
    value = pod.annotations.get(HAMI_ALLOCATED)
    if value is None:
        return None
    try:
        devices = hami_allocation(value)
    except MalformedAnnotation:
        return None
    memory = node_device_memory(node)
    out = []
    for uuid, memory_mib, cores in devices:
        share = max(memory_mib * MIB / memory if memory > 0 else 0.0, cores / 100.0)
        if share <= 0:
            return None
        out.append(
            GpuHold(node.name, pod.namespace, pod.name, "fraction", min(1.0, share), uuid=uuid)
        )
    return out or None


def mig_share(
    profile: str, basis: MigShareBasis = "compute", memory_bytes: float = 0.0, slices: int = 7
) -> float:
    """A MIG slice's share of its parent. compute: its GPU-instance slices over the device's
    (3g.40gb on an H100: 3/7); memory: its framebuffer over the device's nominal memory in GB
    (the device's bytes rounded to whole GiB: 3g.40gb of 80: 1/2), compute when the device's
    memory is unknown. A compute instance (1c.3g.40gb) shares its GPU instance: 1/3 of 3/7.
    An unreadable profile counts as one slice."""
    match = _PROFILE.match(profile)
    slices = slices if slices > 0 else 7
    if match is None:
        return 1.0 / slices
    instance = int(match["g"])
    nominal = round(memory_bytes / GIB)
    if basis == "memory" and nominal > 0:
        share = min(1.0, int(match["gb"]) / nominal)
    else:
        share = min(1.0, instance / slices)
    compute_instance = match["ci"]
    if compute_instance is not None and instance > 0:
        share *= min(1.0, int(compute_instance) / instance)
    return share


def node_replicas(node: Node) -> int:
    try:
        replicas = int(node.labels.get(REPLICAS_LABEL, "1") or 1)
    except ValueError:
        return 1
    return max(1, replicas)


def node_device_memory(node: Node) -> float:
    """Bytes of one device on the node (GPU feature discovery's MiB label), 0 when unknown."""
    try:
        return max(0.0, float(node.labels.get(MEMORY_LABEL, "0") or 0)) * MIB
    except ValueError:
        return 0.0


def _units(amount: float) -> list[float]:
    """2.5 devices -> [1, 1, 0.5]: one hold per device touched."""
    if not math.isfinite(amount) or amount <= 0:
        return []
    if amount > MAX_DEVICES:
        return [1.0] * MAX_DEVICES
    whole = int(amount)
    rest = amount - whole
    return [1.0] * whole + ([rest] if rest > _EPSILON else [])


def pod_holds(pod: Pod, node: Node, basis: MigShareBasis = "compute") -> list[GpuHold]:
    """The holds a pod's extended resources make on its node's devices (none placed yet);
    HAMi's allocation annotation, where readable, names the devices and the shares."""
    if pod.annotations:
        hami = _hami_holds(pod, node)
        if hami is not None:
            return hami
    requested = dict(pod.gpu_requests)
    out: list[GpuHold] = []

    def hold(kind: HoldKind, share: float, profile: str = "") -> None:
        out.append(GpuHold(node.name, pod.namespace, pod.name, kind, share, mig_profile=profile))

    memory = node_device_memory(node)
    for resource, amount in pod.gpu_requests:
        if resource.startswith(MIG_RESOURCE_PREFIX):
            profile = resource[len(MIG_RESOURCE_PREFIX) :]
            share = mig_share(profile, basis, memory)
            for _ in _units(math.ceil(amount - _EPSILON) if math.isfinite(amount) else 0):
                hold("mig", share, profile)
    fraction = 0.0
    if HAMI_MEMORY_PERCENT in requested:
        fraction = requested[HAMI_MEMORY_PERCENT] / 100.0
    elif HAMI_MEMORY in requested and memory > 0:
        fraction = requested[HAMI_MEMORY] * MIB / memory
    if HAMI_CORES in requested:
        fraction = max(fraction, requested[HAMI_CORES] / 100.0)
    devices = pod.requests.gpu
    if fraction > 0 and math.isfinite(fraction):
        # HAMi: each requested vGPU is this fraction of one device (at least one vGPU).
        vgpus = _units(math.ceil(devices - _EPSILON)) if math.isfinite(devices) else []
        for _ in vgpus or [1.0]:
            hold("fraction", min(1.0, fraction))
        return out
    replicas = node_replicas(node)
    if replicas > 1:
        kind: HoldKind = "mps" if node.labels.get(SHARING_LABEL) == "mps" else "replica"
        for unit in _units(devices):
            hold(kind, unit / replicas)
    else:
        for unit in _units(devices):
            hold("whole", unit)
    return out


def node_devices(node: Node, listed: Sequence[GpuDevice]) -> list[GpuDevice]:
    """The node's physical devices: those its ResourceSlices list (DRA), else as many as its
    (physical) GPU capacity counts."""
    if listed:
        return list(listed)
    count = node.allocatable.gpu or node.capacity.gpu
    count = math.ceil(count - _EPSILON) if math.isfinite(count) and count > 0 else 0
    if count > MAX_DEVICES:
        return []
    memory = node_device_memory(node)
    return [
        GpuDevice(node.name, str(i), model=node.gpu_model, memory_bytes=memory)
        for i in range(count)
    ]


def claim_holds(
    claims: Iterable[GpuClaim],
    running: Mapping[tuple[str, str], str],
    devices: Mapping[tuple[str, str], GpuDevice],
    basis: MigShareBasis = "compute",
) -> tuple[list[GpuHold], list[GpuDevice]]:
    """DRA claims -> holds on the devices they name (the consumed fraction of a device shared
    through consumable capacity, else the whole device or its MIG slice), split evenly among
    the running pods the claim is reserved for (`running`: (namespace, pod) -> node), each
    on the device's node.
    Devices a claim names that no ResourceSlice lists any more are returned too: they are
    priced on their node and counted, never dropped."""
    holds: list[GpuHold] = []
    unlisted: dict[tuple[str, str], GpuDevice] = {}
    for claim in claims:
        for ref in claim.devices:
            parent = ref.parent or ref.device
            device = devices.get((ref.node, parent)) or unlisted.get((ref.node, parent))
            if device is None:
                device = GpuDevice(ref.node, parent, driver=ref.driver, pool=ref.pool, listed=False)
                unlisted[(ref.node, parent)] = device
            share = 1.0
            if ref.mig_profile:
                share = mig_share(ref.mig_profile, basis, device.memory_bytes, device.mig_slices)
            if ref.consumed is not None:  # consumable capacity: the part this share consumed
                share *= ref.consumed
            pods = [p for p in claim.pods if running.get((claim.namespace, p)) == ref.node]
            for pod in pods:
                holds.append(
                    GpuHold(
                        ref.node,
                        claim.namespace,
                        pod,
                        "dra",
                        share / len(pods),
                        device=parent,
                        mig_profile=ref.mig_profile,
                        claim=f"{claim.namespace}/{claim.name}",
                    )
                )
    return holds, list(unlisted.values())


def _by_uuid(
    devices: list[GpuDevice], holds: Sequence[GpuHold]
) -> tuple[list[GpuDevice], list[GpuHold]]:
    """Holds that name a UUID (HAMi) pinned to the node's device of that UUID; a UUID no
    device carries yet is given to the next device without one (devices counted from
    extended resources have no UUID), so DCGM joins it by UUID too. Past the node's
    devices the hold stays loose (placed first-fit)."""
    if not any(h.uuid for h in holds):
        return devices, list(holds)
    names = {d.uuid: d.device for d in devices if d.uuid}
    free = [i for i, d in enumerate(devices) if not d.uuid]
    out = []
    for hold in holds:
        if hold.uuid and not hold.device:
            if hold.uuid not in names and free:
                i = free.pop(0)
                devices[i] = replace(devices[i], uuid=hold.uuid)
                names[hold.uuid] = devices[i].device
            if hold.uuid in names:
                hold = replace(hold, device=names[hold.uuid])
        out.append(hold)
    return devices, out


def place(devices: Sequence[GpuDevice], holds: Sequence[GpuHold]) -> dict[str, list[GpuHold]]:
    """device name -> its holds. Pinned holds stay; the others go first-fit (in order) on the
    device with room, else on the one with most room left (to be scaled there)."""
    placed: dict[str, list[GpuHold]] = {d.device: [] for d in devices}
    if not devices:
        return placed
    free = {d.device: 1.0 for d in devices}
    loose: list[GpuHold] = []
    for hold in holds:
        if hold.device in placed:
            placed[hold.device].append(hold)
            free[hold.device] -= hold.share
        else:
            loose.append(hold)
    for hold in loose:
        name = next((d for d, room in free.items() if room >= hold.share - 1e-9), None)
        if name is None:
            name = max(free, key=free.__getitem__)
        placed[name].append(hold)
        free[name] -= hold.share
    return placed


def device_ledger(device: GpuDevice, hourly: float, holds: Sequence[GpuHold]) -> DeviceLedger:
    shares = [h.share if math.isfinite(h.share) and h.share > 0 else 0.0 for h in holds]
    total = math.fsum(shares)
    denominator = max(1.0, total)
    holdings = tuple(
        Holding(
            h.namespace,
            h.pod,
            h.kind,
            share / denominator,
            hourly * (share / denominator),
            h.mig_profile,
            h.claim,
        )
        for h, share in zip(holds, shares, strict=True)
        if share > 0
    )
    unheld = max(0.0, hourly - math.fsum(h.hourly for h in holdings))
    return DeviceLedger(device, hourly, holdings, unheld)


def gpu_ledgers(
    nodes: Sequence[Node],
    gpu_hourly: Mapping[str, float],
    pods: Sequence[Pod],
    listed: Sequence[GpuDevice] = (),
    claims: Sequence[GpuClaim] = (),
    basis: MigShareBasis = "compute",
) -> list[DeviceLedger]:
    """Every physical device of `nodes` (node -> its GPU $/h in `gpu_hourly`) with its holders
    among the running `pods` on it, in node order then device order."""
    by_node: dict[str, list[GpuDevice]] = defaultdict(list)
    for device in listed:
        by_node[device.node].append(device)
    node_index = {node.name: node for node in nodes}
    running = {(p.namespace, p.name): p.node for p in pods if p.node in node_index}
    holds: dict[str, list[GpuHold]] = defaultdict(list)
    for pod in pods:
        node = node_index.get(pod.node)
        if node is not None and (pod.requests.gpu > 0 or pod.gpu_requests):
            holds[node.name].extend(pod_holds(pod, node, basis))
    devices = {name: node_devices(node_index[name], by_node.get(name, ())) for name in node_index}
    known = {(d.node, d.device): d for found in devices.values() for d in found}
    dra, unlisted = claim_holds(claims, running, known, basis)
    for device in unlisted:
        if device.node in devices:
            devices[device.node].append(device)
    for hold in dra:
        holds[hold.node].append(hold)
    out: list[DeviceLedger] = []
    for node in nodes:
        found = devices.get(node.name, [])
        node_holds = holds.get(node.name, [])
        advertised = node.allocatable.gpu or node.capacity.gpu
        if node_holds and not found and not advertised:  # holds, no GPU counted: make room
            need = min(MAX_DEVICES, math.ceil(math.fsum(h.share for h in node_holds) - 1e-9))
            found = [GpuDevice(node.name, str(i), model=node.gpu_model) for i in range(need)]
            devices[node.name] = found
        if not found:
            continue
        per_device = gpu_hourly.get(node.name, 0.0) / len(found)
        found, node_holds = _by_uuid(list(found), node_holds)
        placed = place(found, node_holds)
        out.extend(device_ledger(d, per_device, placed[d.device]) for d in found)
    return out
