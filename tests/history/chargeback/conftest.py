"""One real Prometheus for the chargeback tests, backfilled with days of recorded cost series
(tests/support/cost_history.py) spanning February -> March 2025."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
