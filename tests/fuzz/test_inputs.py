"""Property-based fuzzing (hypothesis) of what comes from outside: quantities, label values
in the exposition, price book and config files. Each either works or fails with the module's
own error naming the input; no other exception ever escapes."""

from __future__ import annotations

import math
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from unitcost.base.errors import InputError
from unitcost.base.labelvalues import MAX_LABEL_VALUE_BYTES, bound_label_value
from unitcost.base.yamlfile import parse_yaml_mapping
from unitcost.config.file import parse_config
from unitcost.costmodel.policy import allocation_policy
from unitcost.costmodel.quantity import QuantityError, parse_quantity
from unitcost.metrics.family import MetricFamily
from unitcost.pricing import PriceBook
from unitcost.sinks.exposition import render

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUFFIXES = {
    "": 1,
    "m": Decimal("1e-3"),
    "k": 1000,
    "M": 10**6,
    "G": 10**9,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


@FAST
@given(
    whole=st.integers(0, 10**12),
    fraction=st.one_of(st.none(), st.integers(0, 999)),
    suffix=st.sampled_from(sorted(SUFFIXES)),
)
def test_valid_quantities_parse_to_their_exact_value(
    whole: int, fraction: int | None, suffix: str
) -> None:
    number = f"{whole}.{fraction:03d}" if fraction is not None else str(whole)
    expected = Decimal(number) * Decimal(SUFFIXES[suffix])
    assert math.isclose(parse_quantity(number + suffix), float(expected), rel_tol=1e-12)


@FAST
@given(st.text(max_size=30))
def test_any_text_is_a_quantity_or_a_quantity_error(text: str) -> None:
    try:
        value = parse_quantity(text)
    except QuantityError as exc:
        assert repr(text) in str(exc)
    else:
        assert math.isfinite(value) and value >= 0


@FAST
@given(st.lists(st.text(max_size=2000), min_size=1, max_size=5, unique=True))
def test_label_values_round_trip_through_the_exposition(values: list[str]) -> None:
    """Whatever a label holds, once bounded where it enters the model, the exposition escapes it
    so that a parser reads back exactly the bounded value."""
    family = MetricFamily("unitcost_fuzz_info", "Fuzzed label values.", ("value", "index"))
    bounded = [bound_label_value(v) for v in values]
    for i, value in enumerate(bounded):
        family.add((value, str(i)), 1.0)
    text = render([family]).decode("utf-8")
    parsed = {
        s.labels["index"]: s.labels["value"]
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert parsed == {str(i): v for i, v in enumerate(bounded)}
    for original, value in zip(values, bounded, strict=True):
        assert len(value.encode("utf-8")) <= MAX_LABEL_VALUE_BYTES
        if len(original.encode("utf-8", "replace")) <= MAX_LABEL_VALUE_BYTES:
            assert value == original.encode("utf-8", "replace").decode("utf-8")


# YAML-ish data: the shapes a hand-edited file can take.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
data = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=12,
)
PRICEBOOK_KEYS = ["currency", "usd_per_currency_unit", "fallback", "providers", "onprem"]
CONFIG_KEYS = ["source", "pricebooks", "budgets", "policy", "attribution", "shared_cost"]


def _documents(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), data, max_size=4)


@FAST
@given(_documents(PRICEBOOK_KEYS))
def test_price_books_load_or_fail_with_an_input_error(document: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_text(yaml.safe_dump(document))
        try:
            book = PriceBook.load([path])
        except InputError as exc:
            assert str(path) in str(exc)
        else:
            for rate in book.book.fallback.model_dump().values():
                assert not isinstance(rate, float) or (math.isfinite(rate) and rate >= 0)


@FAST
@given(_documents(CONFIG_KEYS))
def test_configs_load_or_fail_with_an_input_error(document: dict[str, Any]) -> None:
    try:
        config = parse_config(document, "fuzz.yaml", Path("."))
    except InputError as exc:
        assert str(exc).startswith("fuzz.yaml")
    else:
        allocation_policy(config)  # a config that loads is usable


@FAST
@given(st.text(max_size=200))
def test_any_text_is_a_yaml_mapping_or_an_input_error(text: str) -> None:
    try:
        result = parse_yaml_mapping(text, "fuzz.yaml")
    except InputError as exc:
        assert str(exc).startswith("fuzz.yaml")
    else:
        assert isinstance(result, dict)
