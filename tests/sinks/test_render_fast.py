"""The fast render() against the line-by-line reference renderer (tests/support/reference.py):
the same bytes, on simulator frames and on hypothesis-generated families."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from support.reference import render_reference
from unitcost.config.file import demo_config
from unitcost.costmodel.allocation import allocate
from unitcost.costmodel.policy import allocation_policy
from unitcost.metrics.family import MetricFamily
from unitcost.pricing import PriceBook
from unitcost.sinks.exposition import render
from unitcost.sinks.metrics import cost_families
from unitcost.sources.simulator import SimulatedCluster

VALUES = st.one_of(
    st.floats(),  # NaN and both infinities included
    st.sampled_from([0.0, -0.0, 1.0, -3.0, 1e15, 1e15 - 1, 1e16, 2.0**53, 0.1, 1e-300]),
    st.integers(-(2**60), 2**60).map(float),
)
LABEL_VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", 'q"', "b\\s", "n\nl", "%s", "%(x)s", "ünï ☃", "\x00"]),
)


@st.composite
def families(draw: st.DrawFn) -> MetricFamily:
    names = draw(st.lists(st.sampled_from(["a", "b", "pod", "le"]), max_size=3, unique=True))
    family = MetricFamily(
        draw(st.sampled_from(["unitcost_x", "unitcost_y_total"])),
        draw(st.text(max_size=20)),
        tuple(names),
        draw(st.sampled_from(["gauge", "counter"])),
    )
    for _ in range(draw(st.integers(0, 8))):
        family.add(tuple(draw(LABEL_VALUES) for _ in names), draw(VALUES))
    return family


@settings(max_examples=300, deadline=None)
@given(st.lists(families(), max_size=4))
def test_fast_render_equals_the_reference(generated: list[MetricFamily]) -> None:
    assert render(generated) == render_reference(generated)


def test_fast_render_equals_the_reference_on_a_simulated_cluster() -> None:
    cluster = SimulatedCluster(seed=3, nodes=30, pods=900)
    frame = allocate(cluster.snapshot(), PriceBook.load(), allocation_policy(demo_config()))
    generated = cost_families(frame, "pod")  # every family, per-pod detail included
    assert sum(len(f.samples) for f in generated) > 3000
    assert render(generated) == render_reference(generated)


def test_integral_and_special_values_take_the_exact_path() -> None:
    family = MetricFamily("unitcost_v", "v", ())
    for value in (1.0, -0.0, math.nan, -math.inf, 1e15, 123456789012345.0, 0.5):
        family.add((), value)
    assert render([family]).decode().splitlines()[2:] == [
        "unitcost_v 1",
        "unitcost_v 0",
        "unitcost_v NaN",
        "unitcost_v -Inf",
        "unitcost_v 1000000000000000.0",
        "unitcost_v 123456789012345",
        "unitcost_v 0.5",
    ]
