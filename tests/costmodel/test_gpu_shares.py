"""device_shares: each pod's share of one GPU among the pods the agent sees on it."""

from __future__ import annotations

import pytest

from unitcost.costmodel.gpu_shares import device_shares


def test_by_measure() -> None:
    assert device_shares({"a": 2.0, "b": 6.0}) == {"a": 0.25, "b": 0.75}


def test_evenly_when_a_measure_is_unknown_or_all_zero() -> None:
    assert device_shares({"a": 2.0, "b": None}) == {"a": 0.5, "b": 0.5}
    assert device_shares({"a": 0.0, "b": 0.0, "c": 0.0}) == dict.fromkeys("abc", 1 / 3)


def test_one_pod_and_none() -> None:
    assert device_shares({"a": 0.0}) == {"a": 1.0}
    assert device_shares({}) == {}


def test_negative_measure_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"-1\.0"):
        device_shares({"a": -1.0, "b": 1.0})
