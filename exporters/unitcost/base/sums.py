"""Exactly rounded sums of money that may hold bad values."""

from __future__ import annotations

import math
from collections.abc import Iterable


def exact_sum(amounts: Iterable[float]) -> float:
    """math.fsum, or what plain addition gives where fsum raises (inf + -inf, or finite values
    whose sum overflows): one bad amount must not fail a whole collect, and NaN or infinities
    propagate as they would in plain addition."""
    values = list(amounts)
    try:
        return math.fsum(values)
    except (ValueError, OverflowError):
        return sum(values, 0.0)
