"""Kubernetes quantities to numbers, and what is rejected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unitcost.costmodel.quantity import QuantityError, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", 0.1),
        ("1.5Gi", 1.5 * 2**30),
        ("1e3", 1000.0),
        ("0.1", 0.1),
        ("2", 2.0),
        ("128974848", 128974848.0),
        ("129e6", 129e6),
        ("123Mi", 123 * 2**20),
        ("1k", 1000.0),
        ("5E-3", 0.005),
        (".5", 0.5),
        ("+1Ki", 1024.0),
        ("250n", 250e-9),
        (3, 3.0),
    ],
)
def test_parses(text: str | int, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text", ["", " ", "-1", "1.5Gb", "abc", "1e999", "Gi", "1 Gi", "nan", "inf"]
)
def test_rejects(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@given(st.text(max_size=12))
def test_never_crashes_with_anything_but_quantity_error(text: str) -> None:
    try:
        value = parse_quantity(text)
    except QuantityError:
        return
    assert value >= 0
