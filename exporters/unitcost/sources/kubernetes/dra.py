"""Dynamic Resource Allocation (resource.k8s.io): ResourceSlices, ResourceClaims and
DeviceClasses -> the GPUs a node publishes and the claims that hold them (data/devices.py).

The join (docs/gpu.md): a claim's `status.allocation.devices.results[]` names (driver, pool,
device); the ResourceSlice of that driver and pool lists the device with its attributes
(uuid, productName, type gpu|mig, profile, parentUUID) and its node; `status.reservedFor[]`
and the pods' `status.resourceClaimStatuses[]` (which name the claims generated from a
ResourceClaimTemplate) name the pods. The shapes of v1 and v1beta2 are the same here; v1beta1
wraps a device's attributes and capacity in `basic`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unitcost.costmodel.quantity import QuantityError, parse_quantity
from unitcost.data.devices import DeviceRef, GpuClaim, GpuDevice
from unitcost.data.model import Pod

Obj = Mapping[str, Any]
GROUP = "resource.k8s.io"
#: Tried in this order: GA (Kubernetes 1.34), then the betas older clusters serve.
VERSIONS = ("v1", "v1beta2", "v1beta1")
#: A30s have 4 MIG compute slices; the A100, H100, H200 and B200 have 7.
_FOUR_SLICES = ("A30",)


@dataclass(frozen=True, slots=True)
class SliceDevice:
    """One device of a ResourceSlice, with what the join needs."""

    node: str
    driver: str
    pool: str
    name: str
    uuid: str
    model: str
    memory_bytes: float
    #: "mig" for a MIG slice (then `parent_uuid` and `profile`), else a whole device.
    type: str = ""
    parent_uuid: str = ""
    profile: str = ""
    #: Every capacity the device declares, (name, value) with the name unqualified
    #: (consumable capacity splits a shared device by these).
    capacity: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Claim:
    namespace: str
    name: str
    #: (driver, pool, device) per allocation result.
    results: tuple[tuple[str, str, str], ...]
    #: Pod names the claim is reserved for.
    reserved_for: tuple[str, ...]
    #: The node the allocation selects (nodeSelector on metadata.name), "" when none.
    node: str = ""
    #: Per result, in order: its `consumedCapacity` (name, value), empty when it has none
    #: (DRA consumable capacity, KEP-5075, alpha in Kubernetes 1.34).
    consumed: tuple[tuple[tuple[str, float], ...], ...] = ()


def _attribute(attributes: Obj, name: str) -> str:
    """A device attribute's value, whatever its type (string, int, bool, version), by its
    plain or driver-qualified name (gpu.nvidia.com/uuid)."""
    value = attributes.get(name)
    if value is None:
        value = next((v for k, v in attributes.items() if k.rsplit("/", 1)[-1] == name), None)
    if not isinstance(value, Mapping):
        return ""
    for kind in ("string", "int", "bool", "version"):
        if kind in value:
            return str(value[kind])
    return ""


def _quantity(entry: Any) -> float:
    raw = entry.get("value") if isinstance(entry, Mapping) else entry
    try:
        return parse_quantity(raw) if raw is not None else 0.0
    except QuantityError:
        return 0.0


def _memory(capacity: Obj) -> float:
    return _quantity(capacity.get("memory"))


def _amounts(capacity: Obj | None) -> tuple[tuple[str, float], ...]:
    """A capacity map ({name: {value: q}} on a device, {name: q} consumed) as (unqualified
    name, value) pairs, unreadable quantities left out."""
    if not isinstance(capacity, Mapping):
        return ()
    out = []
    for name, entry in capacity.items():
        value = _quantity(entry)
        if value > 0:
            out.append((str(name).rsplit("/", 1)[-1], value))
    return tuple(out)


def consumed_fraction(
    consumed: Iterable[tuple[str, float]], capacity: Iterable[tuple[str, float]]
) -> float | None:
    """The fraction of a device one allocation consumed: its largest consumed capacity over
    the device's capacity of that name (memory 20Gi of 80Gi and cores 10 of 100: 1/4). None
    when nothing consumed names a capacity the device declares."""
    declared = dict(capacity)
    shares = [amount / declared[name] for name, amount in consumed if declared.get(name, 0) > 0]
    return min(1.0, max(shares)) if shares else None


def to_slice_devices(obj: Obj) -> tuple[SliceDevice, ...]:
    """A ResourceSlice's devices on its node (a slice for no single node: none kept)."""
    spec = obj.get("spec") or {}
    node = str(spec.get("nodeName") or "")
    if not node:
        return ()
    driver = sys.intern(str(spec.get("driver") or ""))
    pool = sys.intern(str((spec.get("pool") or {}).get("name") or ""))
    out = []
    for device in spec.get("devices") or []:
        body = device.get("basic") or device  # v1beta1 wraps them
        attributes = body.get("attributes") or {}
        out.append(
            SliceDevice(
                node=sys.intern(node),
                driver=driver,
                pool=pool,
                name=str(device.get("name") or ""),
                uuid=_attribute(attributes, "uuid"),
                model=_attribute(attributes, "productName"),
                memory_bytes=_memory(body.get("capacity") or {}),
                type=_attribute(attributes, "type"),
                parent_uuid=_attribute(attributes, "parentUUID"),
                profile=_attribute(attributes, "profile"),
                capacity=_amounts(body.get("capacity")),
            )
        )
    return tuple(out)


def _selected_node(allocation: Obj) -> str:
    for term in (allocation.get("nodeSelector") or {}).get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            values = field.get("values") or []
            if field.get("key") == "metadata.name" and values:
                return str(values[0])
    return ""


def to_claim(obj: Obj) -> Claim | None:
    """An allocated ResourceClaim (None while unallocated: it holds nothing yet)."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    allocation = status.get("allocation") or {}
    raw = (allocation.get("devices") or {}).get("results") or []
    results = tuple(
        (str(r.get("driver") or ""), str(r.get("pool") or ""), str(r.get("device") or ""))
        for r in raw
    )
    consumed = tuple(_amounts(r.get("consumedCapacity")) for r in raw)
    if not results:
        return None
    reserved = tuple(
        str(ref.get("name") or "")
        for ref in status.get("reservedFor") or []
        if ref.get("resource", "pods") == "pods" and not ref.get("apiGroup")
    )
    return Claim(
        namespace=sys.intern(str(meta.get("namespace") or "")),
        name=str(meta.get("name") or ""),
        results=results,
        reserved_for=reserved,
        node=_selected_node(allocation),
        consumed=consumed if any(consumed) else (),
    )


def to_device_class(obj: Obj) -> str:
    """A DeviceClass's name (kept to report which classes the cluster offers)."""
    return str((obj.get("metadata") or {}).get("name") or "")


def _slices_of(model: str) -> int:
    return 4 if any(short in model for short in _FOUR_SLICES) else 7


def join(
    slices: Iterable[SliceDevice], claims: Iterable[Claim], pods: Sequence[Pod]
) -> tuple[tuple[GpuDevice, ...], tuple[GpuClaim, ...]]:
    """The physical GPUs the slices list, and each allocated claim with the devices it holds
    (a MIG device resolved to its parent GPU) and the pods it is reserved for."""
    listed: dict[tuple[str, str, str], SliceDevice] = {}
    physical: list[GpuDevice] = []
    by_uuid: dict[str, SliceDevice] = {}
    for device in slices:
        listed[(device.driver, device.pool, device.name)] = device
        if device.type != "mig":
            if device.uuid:
                by_uuid[device.uuid] = device
            physical.append(
                GpuDevice(
                    device.node,
                    device.name,
                    device.driver,
                    device.pool,
                    device.uuid,
                    device.model,
                    device.memory_bytes,
                    _slices_of(device.model),
                )
            )
    # A slice that lists only MIG devices (MIG set up ahead of DRA) still names their GPU.
    for device in list(listed.values()):
        if device.type == "mig" and device.parent_uuid and device.parent_uuid not in by_uuid:
            parent = SliceDevice(
                device.node,
                device.driver,
                device.pool,
                device.parent_uuid,
                device.parent_uuid,
                device.model,
                0.0,
            )
            by_uuid[device.parent_uuid] = parent
            physical.append(
                GpuDevice(
                    parent.node,
                    parent.name,
                    parent.driver,
                    parent.pool,
                    parent.uuid,
                    parent.model,
                    mig_slices=_slices_of(parent.model),
                )
            )
    users: dict[tuple[str, str], list[str]] = {}
    nodes: dict[tuple[str, str], str] = {}
    for pod in pods:
        nodes[(pod.namespace, pod.name)] = pod.node
        for name in pod.resource_claims:
            users.setdefault((pod.namespace, name), []).append(pod.name)
    out: list[GpuClaim] = []
    for claim in claims:
        names = list(
            dict.fromkeys((*claim.reserved_for, *users.get((claim.namespace, claim.name), ())))
        )
        fallback_node = claim.node or next(
            (nodes[(claim.namespace, p)] for p in names if nodes.get((claim.namespace, p))), ""
        )
        refs = []
        for i, (driver, pool, name) in enumerate(claim.results):
            found = listed.get((driver, pool, name))
            if found is None:  # no slice lists it (any more): still priced, on its node
                if fallback_node:
                    refs.append(DeviceRef(fallback_node, driver, pool, name, listed=False))
                continue
            parent_name, profile = name, ""
            if found.type == "mig":
                owner = by_uuid.get(found.parent_uuid)
                parent_name = owner.name if owner is not None else name
                profile = found.profile
            used = claim.consumed[i] if i < len(claim.consumed) else ()
            fraction = consumed_fraction(used, found.capacity) if used else None
            refs.append(
                DeviceRef(found.node, driver, pool, name, parent_name, profile, consumed=fraction)
            )
        if refs:
            out.append(GpuClaim(claim.namespace, claim.name, tuple(refs), tuple(names)))
    return tuple(physical), tuple(out)
