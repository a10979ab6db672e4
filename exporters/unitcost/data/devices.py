"""Physical GPUs and who holds them: the plain records of the per-device GPU ledger
(costmodel/gpu_ledger.py, docs/gpu.md).

A pod holds part of a device in one of six ways (`HoldKind`): a whole device, a MIG slice, a
time-slicing replica, an MPS client, a fractional (HAMi-style) request, or a DRA claim (shared
by every pod it is reserved for). Sources say what they read; the ledger turns it into shares
and dollars. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HoldKind = Literal["whole", "mig", "replica", "mps", "fraction", "dra"]
HOLD_KINDS: tuple[HoldKind, ...] = ("whole", "mig", "replica", "mps", "fraction", "dra")
#: How a MIG slice's share of its parent is counted: compute slices (3g.40gb = 3/7 of an
#: H100) or framebuffer memory (40 GB of 80 = 1/2).
MigShareBasis = Literal["compute", "memory"]

#: HAMi's record of what it allocated, on the pod: per container (';'-separated), per device
#: (':'-separated) `UUID,type,memory MiB,cores %`, e.g. `GPU-0fc3...,NVIDIA,3000,30:;`.
HAMI_ALLOCATED = "hami.io/vgpu-devices-allocated"
#: DRA drivers whose devices are GPUs; a device of any other driver is still priced (at the
#: node's per-GPU price) and counted as unknown, never dropped.
GPU_DRIVERS = frozenset({"gpu.nvidia.com", "gpu.amd.com", "gpu.intel.com"})


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """One physical GPU as a ResourceSlice publishes it (DRA). Nodes without DRA get theirs
    from the node's extended resources (the ledger makes them)."""

    node: str
    #: The device's name in its pool (DRA) or its index: unique on the node.
    device: str
    driver: str = ""
    pool: str = ""
    uuid: str = ""
    model: str = ""
    memory_bytes: float = 0.0
    #: MIG compute slices of the whole device (7 on A100/H100/H200/B200, 4 on A30).
    mig_slices: int = 7
    #: False for a device a DRA claim names that no ResourceSlice lists (any more).
    listed: bool = True

    @property
    def known(self) -> bool:
        return not self.driver or self.driver in GPU_DRIVERS


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """One device a DRA claim was allocated (`status.allocation.devices.results[]`), with
    what its ResourceSlice says about it. A MIG device names its parent."""

    node: str
    driver: str
    pool: str
    device: str
    #: The physical device it is part of (the device itself when not a MIG slice).
    parent: str = ""
    mig_profile: str = ""
    #: False when no ResourceSlice lists the device any more (it disappeared): it is still
    #: priced, on its node, and counted.
    listed: bool = True
    #: DRA consumable capacity (KEP-5075): the fraction of the device this allocation
    #: consumed (its largest `consumedCapacity` over the device's capacity of that name);
    #: None when the allocation reports none (the claim holds the whole device, or its slice).
    consumed: float | None = None


@dataclass(frozen=True, slots=True)
class GpuClaim:
    """An allocated DRA ResourceClaim and the running pods it is reserved for."""

    namespace: str
    name: str
    devices: tuple[DeviceRef, ...]
    #: Pod names (in the claim's namespace) from status.reservedFor and the pods'
    #: status.resourceClaimStatuses; the claim is split evenly among them.
    pods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GpuHold:
    """One pod's hold on (part of) one device, before prices."""

    node: str
    namespace: str
    pod: str
    kind: HoldKind
    #: Fraction of the device asked for (0..1]; for a MIG slice, set from the profile by the
    #: ledger's basis.
    share: float
    #: The device it is on; "" when the scheduler's view does not say (extended resources):
    #: the ledger places it.
    device: str = ""
    mig_profile: str = ""
    #: "namespace/name" of the DRA claim.
    claim: str = ""
    #: The device's UUID where the hold names it but not the device (HAMi's allocation
    #: annotation): the ledger finds, or assigns, the node's device with that UUID.
    uuid: str = ""


@dataclass(frozen=True, slots=True)
class Holding:
    """A hold after pricing: the share the pod is charged for and its dollars per hour."""

    namespace: str
    pod: str
    kind: HoldKind
    share: float
    hourly: float
    mig_profile: str = ""
    claim: str = ""


@dataclass(frozen=True, slots=True)
class DeviceLedger:
    """One physical device: sum(holding.hourly) + unheld == hourly, to 1e-9."""

    device: GpuDevice
    hourly: float
    holdings: tuple[Holding, ...]
    unheld: float

    @property
    def held(self) -> float:
        return self.hourly - self.unheld
