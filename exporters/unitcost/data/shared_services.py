"""Shared services split by usage: one service's split, plain data (docs/shared-services.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The method names the chargeback export carries (FOCUS x_AllocationMethod).
BY_USAGE = "usage"
#: The query failed: the last good fractions, applied to the current cost.
LAST_GOOD = "usage-last-good"
#: No usable usage: everything stays with the owner.
UNSPLIT = "owner"


@dataclass(frozen=True)
class Split:
    service: str
    owner: str
    #: The service's cost, dollars per hour.
    cost: float
    #: Consumer -> dollars per hour.
    shares: dict[str, float] = field(default_factory=dict)
    #: What usage could not attribute: stays with the owner.
    remainder: float = 0.0
    method: str = BY_USAGE
    #: Usage values that were refused (negative, NaN, infinite): consumer -> value.
    refused: dict[str, float] = field(default_factory=dict)
