"""One real Prometheus for the chargeback tests, backfilled with days of recorded cost series
(tests/support/cost_history.py) spanning February -> March 2025."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import cost_history
from support.prometheus import Prometheus, prometheus

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def prom() -> Iterator[Prometheus]:
    with prometheus([], history=cost_history.openmetrics()) as server:
        yield server


@pytest.fixture(scope="session")
def month_to_date_expr() -> str:
    """The month-to-date rule's expression as recording-rules/budget.yml has it: evaluated at
    a time, it is what the rule records at that time."""
    groups = yaml.safe_load((ROOT / "recording-rules" / "budget.yml").read_text())["groups"]
    [expr] = [
        r["expr"]
        for g in groups
        for r in g["rules"]
        if r.get("record") == "team:unitcost_cost_dollars:month_to_date"
    ]
    return str(expr)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """One local Ray (a head process on this machine, 1 CPU, no dashboard) for every test
    that reads the Iceberg table through Ray Data; started once, stopped at the end."""
    import ray

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()
