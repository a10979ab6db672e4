"""The text exposition: parses with prometheus_client, passes promtool, escapes everything."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from support.prometheus import Promtool
from unitcost.metrics.family import MetricFamily
from unitcost.sinks.exposition import escape_label_value, format_value, render

NASTY = ["plain", 'quote"d', "back\\slash", "new\nline", "ünïcødé ☃", "", "a\\n literal"]


def test_renders_help_type_and_samples() -> None:
    family = MetricFamily("unitcost_x_dollars_per_hour", "Help with \\ and\nnewline.", ("a", "b"))
    family.add(("1", "2"), 0.25)
    text = render([family]).decode()
    assert text.splitlines() == [
        "# HELP unitcost_x_dollars_per_hour Help with \\\\ and\\nnewline.",
        "# TYPE unitcost_x_dollars_per_hour gauge",
        'unitcost_x_dollars_per_hour{a="1",b="2"} 0.25',
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (1e-12, "1e-12"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-0.5, "-0.5"),
    ],
)
def test_format_value(value: float, text: str) -> None:
    assert format_value(value) == text


def test_nasty_label_values_round_trip_through_the_official_parser() -> None:
    family = MetricFamily("unitcost_test", "t", ("v",))
    for i, value in enumerate(NASTY):
        family.add((value,), float(i))
    parsed = list(text_string_to_metric_families(render([family]).decode()))
    assert [s.labels["v"] for s in parsed[0].samples] == NASTY
    assert escape_label_value('a"b') == 'a\\"b'


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(max_size=40), min_size=1, max_size=5),
    st.floats(allow_nan=False, allow_infinity=False),
)
def test_any_label_value_round_trips(values: list[str], number: float) -> None:
    family = MetricFamily("unitcost_fuzz", "f", ("v",))
    for value in values:
        family.add((value,), number)
    (parsed,) = text_string_to_metric_families(render([family]).decode())
    assert [s.labels["v"] for s in parsed.samples] == values
    assert all(s.value == number for s in parsed.samples)


def test_promtool_accepts_nasty_labels(promtool: Promtool) -> None:
    family = MetricFamily("unitcost_test_dollars_per_hour", "t", ("v",))
    for i, value in enumerate(NASTY):
        family.add((value,), float(i))
    result = promtool(render([family]))
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
