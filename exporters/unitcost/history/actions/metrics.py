"""The controller's metric families (`unitcost controller`)."""

from __future__ import annotations

from collections.abc import Iterable

from unitcost.metrics.family import MetricFamily


def action_families(counts: Iterable[tuple[tuple[str, str, str], float]]) -> list[MetricFamily]:
    """`unitcost controller`: every action taken or skipped, by action, result and mode."""
    total = MetricFamily(
        "unitcost_actions_total",
        "Actions the controller decided on, by action, result and dry-run mode.",
        ("action", "result", "dry_run"),
        kind="counter",
    )
    for labels, value in sorted(counts):
        total.add(labels, value)
    return [total]
