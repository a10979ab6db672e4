"""The smallest MIG profile a GPU holder's peak fits in: the GPU right-size advice
("holds a full H100 and never uses more than a 3g.40gb slice"). Pure.

A profile fits when its framebuffer holds the peak memory with headroom and its compute
slices cover the peak engine activity (DCGM_FI_PROF_GR_ENGINE_ACTIVE of the whole GPU, a
proxy for the share of the GPU the work needs). Its price is its compute-slice share of the
device (docs/gpu.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from unitcost.costmodel.gpu_ledger import mig_share

GIB = 2.0**30
#: MIG GPU-instance profiles per device family, smallest first (NVIDIA's MIG user guide).
PROFILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("H200", ("1g.18gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb")),
    ("A30", ("1g.6gb", "2g.12gb", "4g.24gb")),
    ("A100-SXM4-40GB", ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")),
    ("A100-PCIE-40GB", ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")),
    ("H100", ("1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")),
    ("A100", ("1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")),
    ("B200", ("1g.23gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb")),
)


@dataclass(frozen=True, slots=True)
class MigFit:
    profile: str
    #: The profile's share of the device (compute slices).
    share: float


def profiles_for(model: str) -> tuple[str, ...]:
    """The MIG profiles of a GPU model ("" when it has no MIG: A10G, L4, T4...)."""
    return next((p for name, p in PROFILES if name in model), ())


def mig_fit(
    model: str, peak_memory_bytes: float, peak_activity: float, headroom: float = 0.1
) -> MigFit | None:
    """The smallest profile that fits, or None (no MIG on this model, or only the whole
    device fits)."""
    profiles = profiles_for(model)
    slices = 4 if "A30" in model else 7
    need_memory = peak_memory_bytes * (1 + headroom)
    for profile in profiles[:-1]:  # the last is the whole device
        share = mig_share(profile, "compute", slices=slices)
        gigabytes = float(profile.rsplit(".", 1)[1].removesuffix("gb"))
        if gigabytes * GIB >= need_memory and share >= peak_activity * (1 + headroom):
            return MigFit(profile, share)
    return None
