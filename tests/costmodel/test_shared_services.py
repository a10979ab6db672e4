"""Shared services split by usage: hand-computed cases, a consumer with no usage, usage with no
cost, refused usage values, and the conservation invariant as a property."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unitcost.base.errors import InputError
from unitcost.base.sums import exact_sum
from unitcost.config.file import parse_config
from unitcost.costmodel.shared_services import (
    by_team,
    split_by_fractions,
    split_by_usage,
    usage_fractions,
)
from unitcost.data.shared_services import BY_USAGE, LAST_GOOD, UNSPLIT


def test_a_cache_split_by_bytes_read() -> None:
    # Alluxio costs $12/h. Reads: data 700 GB, ml 200 GB, untagged 100 GB (no tenant label).
    # data 12 x 0.7 = 8.40, ml 12 x 0.2 = 2.40, platform keeps 12 x 0.1 = 1.20.
    split = split_by_usage("alluxio", "platform", 12.0, {"data": 700, "ml": 200, "": 100})
    assert split.method == BY_USAGE
    assert {k: round(v, 2) for k, v in split.shares.items()} == {"data": 8.40, "ml": 2.40}
    assert round(split.remainder, 2) == 1.20
    assert by_team(split) == {
        "data": split.shares["data"],
        "ml": split.shares["ml"],
        "platform": split.remainder,
    }


def test_a_broker_split_by_requests_with_a_consumer_that_used_nothing() -> None:
    # Kafka $5/h; requests: team-a 3, team-b 1, team-c 0 (listed, no usage): a $3.75, b $1.25
    split = split_by_usage("kafka", "platform", 5.0, {"team-a": 3, "team-b": 1, "team-c": 0})
    assert split.shares == {"team-a": 3.75, "team-b": 1.25}
    assert split.remainder == 0.0


def test_usage_with_no_cost_and_cost_with_no_usage() -> None:
    no_cost = split_by_usage("trino", "platform", 0.0, {"data": 10})
    assert (no_cost.shares, no_cost.remainder, no_cost.method) == ({}, 0.0, UNSPLIT)
    no_usage = split_by_usage("trino", "platform", 4.0, {})
    assert (no_usage.shares, no_usage.remainder, no_usage.method) == ({}, 4.0, UNSPLIT)
    only_untagged = split_by_usage("trino", "platform", 4.0, {"": 50})
    assert (only_untagged.shares, only_untagged.remainder) == ({}, 4.0)


def test_bad_usage_values_are_refused_not_used() -> None:
    split = split_by_usage(
        "redis", "platform", 10.0, {"a": 1, "b": -5, "c": math.nan, "d": math.inf}
    )
    assert split.shares == {"a": 10.0}
    assert set(split.refused) == {"b", "c", "d"}


def test_the_last_good_fractions_apply_to_the_current_cost() -> None:
    fractions = usage_fractions({"data": 3, "ml": 1, "": 4})
    assert fractions == {"data": 0.375, "ml": 0.125}
    split = split_by_fractions("alluxio", "platform", 16.0, fractions)
    assert (split.shares, split.remainder, split.method) == (
        {"data": 6.0, "ml": 2.0},
        8.0,
        LAST_GOOD,
    )
    assert split_by_fractions("alluxio", "platform", 16.0, {}).method == UNSPLIT


usage_values = st.floats(min_value=0, max_value=1e12, allow_nan=False)


@given(
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.dictionaries(st.sampled_from(["", "a", "b", "c", "d", "e"]), usage_values, max_size=6),
)
def test_property_shares_and_remainder_add_up_to_the_cost(
    cost: float, usage: dict[str, float]
) -> None:
    split = split_by_usage("svc", "owner", cost, usage)
    assert all(v >= 0 for v in split.shares.values())
    assert split.remainder >= -1e-9 * max(cost, 1.0)
    total = exact_sum([*split.shares.values(), split.remainder])
    assert abs(total - cost) <= 1e-9 * max(cost, 1.0)
    assert abs(exact_sum(by_team(split).values()) - cost) <= 1e-9 * max(cost, 1.0)


def test_a_bad_shared_services_block_names_file_field_and_value() -> None:
    block = {
        "shared_services": {
            "services": {
                "redis": {"namespace": "cache", "usage_query": "x", "consumer_label": "team-name"}
            }
        }
    }
    with pytest.raises(InputError) as raised:
        parse_config(block, "unitcost.yaml", Path("."))
    assert str(raised.value).startswith(
        "unitcost.yaml: shared_services.services.redis.consumer_label: String should match pattern"
    )
    assert "(got 'team-name')" in str(raised.value)
