"""exact_sum: exactly rounded, and bad values propagate instead of raising."""

from __future__ import annotations

import math

from unitcost.base.sums import exact_sum


def test_exact_sum_is_exactly_rounded() -> None:
    assert exact_sum([0.1] * 10) == 1.0  # plain sum() gives 0.9999999999999999
    assert exact_sum([]) == 0.0


def test_exact_sum_propagates_bad_values_like_addition() -> None:
    assert math.isnan(exact_sum([math.inf, -math.inf]))  # fsum raises ValueError here
    assert exact_sum([1e308, 1e308]) == math.inf  # fsum raises OverflowError here
    assert math.isnan(exact_sum([1.0, math.nan]))
