"""The HTML statement, rendered by headless Chromium: a real screenshot, and the totals in the
rendered DOM equal the FOCUS CSV's."""

from __future__ import annotations

import csv
import io
import re
import struct
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from support.prometheus import Prometheus
from support.tools import tool
from unitcost.cli.main import main
from unitcost.history.chargeback.statement import column_chart, row_chart

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("chargeback")]

CHROMIUM = tool("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]  # fmt: skip
ARGS = ["--period", "2025-03", "--at", "2025-03-02T10:20:34Z"]


def chargeback(prom: Prometheus, *args: str) -> str:
    result = CliRunner().invoke(main, ["chargeback", "--prometheus", prom.url, *ARGS, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def chromium(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_statement_renders_with_totals_equal_to_the_csv(prom: Prometheus, tmp_path: Path) -> None:
    page = tmp_path / "statement.html"
    chargeback(prom, "--format", "html", "--output", str(page))
    shot = tmp_path / "statement.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri(), cwd=tmp_path)
    assert png_size(shot) == (1200, 2400)
    # Non-trivial: a real page compresses far worse than a blank one of the same size.
    assert shot.stat().st_size > 40_000

    dom = chromium("--dump-dom", page.as_uri(), cwd=tmp_path)
    totals = {
        m.group(1): Decimal(m.group(2))
        for m in re.finditer(r'data-total="([^"]+)" data-value="([^"]+)"', dom)
    }
    rows = list(csv.DictReader(io.StringIO(chargeback(prom))))
    expected: dict[str, Decimal] = defaultdict(Decimal)
    parts: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        component = row["x_CostComponent"]
        if component in ("idle", "unattributed"):
            parts[component] += Decimal(row["BilledCost"])
            continue
        expected[row["x_Team"]] += Decimal(row["BilledCost"])
        if component != "network":
            parts["allocated"] += Decimal(row["BilledCost"])
    assert totals == {**expected, "all": sum(expected.values(), Decimal(0))}
    # The cluster table: allocated, idle, unattributed side by side, adding up to the
    # cluster's cost (75 $/h in the history: 24 h of March 1 + 10:20:34 of March 2).
    shown = {
        m.group(1): Decimal(m.group(2))
        for m in re.finditer(r'data-part="([a-z]+)" data-value="([^"]+)"', dom)
    }
    assert shown == {**parts, "total": Decimal("2575.708333")}
    assert shown["idle"] == Decimal("206.056667")  # 6 $/h over the same 34.342778 h
    assert 'data-part="billed">not read<' in dom
    # One section per team, with its four charts drawn (bars present), and a shown total
    # that is the CSV total rounded to the cent.
    for team, dollars in expected.items():
        section = dom.split(f'<section id="team-{team}"', 1)[1].split("</section>", 1)[0]
        assert section.count("<svg") == 4 and section.count("<rect") >= 4
        assert f"${dollars:,.2f}" in section
    for name in ("Spend by day", "Spend by namespace", "Waste by day", "Idle GPU cost by day"):
        assert name in dom


def test_team_statement_has_only_that_team(prom: Prometheus) -> None:
    html = chargeback(prom, "--format", "html", "--team", "ml")
    assert 'data-team="ml"' in html and 'data-team="data"' not in html
    assert "data-cluster=" not in html  # one team's export reads no cluster totals


def test_chart_geometry() -> None:
    chart = column_chart("Spend by day", [("03-01", 10.0), ("03-02", 5.0), ("03-03", 0.0)])
    tallest, half, empty = chart.bars
    assert tallest.height == pytest.approx(2 * half.height) and empty.height == 0
    assert tallest.y + tallest.height == pytest.approx(half.y + half.height)  # one baseline
    ordered = row_chart("Spend by namespace", [("a", 1.0), ("b", 3.0)]).bars
    assert [b.label for b in ordered] == ["b", "a"] and ordered[0].width > ordered[1].width
    assert column_chart("Nothing", []).bars == ()
