"""Shared platform services split by usage, pure (docs/shared-services.md).

A service's own allocated cost (the dollars per hour of its pods) is split among its consumers
by their share of usage; usage that names no consumer (an empty label), and all of the cost
when there is no usable usage, stays with the service's owner. The invariant, to float
rounding: sum(consumers' shares) + remainder == the service's cost. This is FOCUS 1.3's
split-cost allocation; the method is named on every row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from unitcost.base.sums import exact_sum
from unitcost.data.shared_services import BY_USAGE, LAST_GOOD, UNSPLIT, Split


def usable(usage: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """(usable values, refused values): negative, NaN and infinite usage is refused."""
    good: dict[str, float] = {}
    bad: dict[str, float] = {}
    for consumer, value in usage.items():
        if math.isfinite(value) and value >= 0:
            if value > 0:
                good[consumer] = good.get(consumer, 0.0) + value
        else:
            bad[consumer] = value
    return good, bad


def usage_fractions(usage: Mapping[str, float]) -> dict[str, float]:
    """Each named consumer's fraction of the usable usage (what a failed query falls back to)."""
    good, _ = usable(usage)
    total = exact_sum(good.values())
    return {c: v / total for c, v in sorted(good.items()) if c} if total > 0 else {}


def split_by_usage(service: str, owner: str, cost: float, usage: Mapping[str, float]) -> Split:
    """Split `cost` by `usage` (consumer -> amount; "" is usage no consumer is named for)."""
    good, refused = usable(usage)
    total = exact_sum(good.values())
    if total <= 0 or cost <= 0 or not math.isfinite(cost):
        return Split(service, owner, cost, {}, cost, UNSPLIT, refused)
    shares = {c: cost * v / total for c, v in sorted(good.items()) if c}
    remainder = cost - exact_sum(shares.values())
    return Split(service, owner, cost, shares, remainder, BY_USAGE, refused)


def split_by_fractions(
    service: str, owner: str, cost: float, fractions: Mapping[str, float]
) -> Split:
    """The last good split's fractions applied to this collect's cost."""
    if not fractions or cost <= 0 or not math.isfinite(cost):
        return Split(service, owner, cost, {}, cost, UNSPLIT)
    shares = {c: cost * f for c, f in sorted(fractions.items())}
    return Split(service, owner, cost, shares, cost - exact_sum(shares.values()), LAST_GOOD)


def by_team(split: Split) -> dict[str, float]:
    """Dollars per hour per team: consumers' shares, the remainder on the owner."""
    out = dict(split.shares)
    out[split.owner] = out.get(split.owner, 0.0) + split.remainder
    return out
