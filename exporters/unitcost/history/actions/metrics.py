"""The controller's metric families (`unitcost controller`)."""

from __future__ import annotations

from collections.abc import Iterable

from unitcost.metrics.catalogue import ACTIONS
from unitcost.metrics.family import MetricFamily


def action_families(counts: Iterable[tuple[tuple[str, str, str], float]]) -> list[MetricFamily]:
    """`unitcost controller`: every action taken or skipped, by action, result and mode."""
    total = ACTIONS.family()
    for labels, value in sorted(counts):
        total.add(labels, value)
    return [total]
