"""The Prometheus text exposition format (version 0.0.4), written directly.

Families are built fresh from each CostFrame (no registry, no per-series objects kept
between scrapes); the text is rendered once per collect and served as cached bytes.
render() does no Python-level work per label value: a family's label values are scanned once
for characters that need escaping (almost never), values are formatted with map(repr), and
each line is one %-format (docs/performance.md).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable

from unitcost.metrics.family import MetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _format_values(values: list[float]) -> list[str]:
    """format_value over a family's values, at C speed: repr() all of them, then fix the few
    that format_value writes otherwise (integral, NaN, infinite; all "1" in an info family)."""
    texts = list(map(repr, values))
    for i, text in enumerate(texts):
        # repr of a non-integral finite float has a digit other than a lone trailing "0"
        # after its ".", or an exponent: only "...0", "nan" and "inf" endings need a look.
        if text[-1] in "0nf":
            texts[i] = format_value(values[i])
    return texts


#: Characters that make a label value need escaping; checked once per family, not per value.
_SPECIAL = ("\\", '"', "\n")


def _family_lines(family: MetricFamily) -> list[str]:
    samples = family.samples
    name = family.name
    values = _format_values([value for _, value in samples])
    if not family.labels:
        return [f"{name} {text}" for text in values]
    label_sets = [labels for labels, _ in samples]
    # One C-speed scan of every label value of the family: nearly always clean, and then no
    # value needs a per-value escape.
    blob = "\x00".join(map("\x00".join, label_sets))
    if any(char in blob for char in _SPECIAL):
        label_sets = [tuple(map(escape_label_value, labels)) for labels in label_sets]
    # Names cannot hold "%" (the exposition format forbids it), so the template is safe.
    template = name + "{" + ",".join(f'{n}="%s"' for n in family.labels) + "} %s"
    return list(map(template.__mod__, map(operator.add, label_sets, zip(values))))


def render(families: Iterable[MetricFamily]) -> bytes:
    """The families as exposition text, identical to writing each sample line by line (the
    reference in tests/support/reference.py) but with no Python-level work per label value."""
    chunks: list[bytes] = []
    for family in families:
        name = family.name
        head = f"# HELP {name} {_escape_help(family.help)}\n# TYPE {name} {family.kind}\n"
        lines = _family_lines(family)
        if lines:
            lines.append("")
        # Encode family by family, so the peak holds one family's lines, not all of them.
        chunks.append((head + "\n".join(lines)).encode("utf-8"))
    return b"".join(chunks)
