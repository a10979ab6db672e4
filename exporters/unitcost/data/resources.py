"""Amounts of the priced resources: the unit every record in data/ counts in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ResourceName = Literal["cpu", "memory", "gpu", "storage"]
#: Order matters only for stable output.
RESOURCES: tuple[ResourceName, ...] = ("cpu", "memory", "gpu", "storage")


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of each priced resource: cpu in cores, memory and storage in bytes, gpu in
    devices (a MIG slice is a fraction of a device)."""

    cpu: float = 0.0
    memory: float = 0.0
    gpu: float = 0.0
    storage: float = 0.0

    def get(self, resource: ResourceName) -> float:
        value: float = getattr(self, resource)
        return value

    def is_finite(self) -> bool:
        return all(math.isfinite(self.get(r)) for r in RESOURCES)


ZERO = Resources()
