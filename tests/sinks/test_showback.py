"""Showback rows: team totals include shared shares and volumes; month maths in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from unitcost.config.file import BudgetsConfig
from unitcost.data.frame import Attribution, CostFrame, GpuCost, PodCost, VolumeCost
from unitcost.sinks.showback import month_hours, team_rows


def test_month_hours_in_utc() -> None:
    ts = datetime(2026, 2, 3, 12, tzinfo=UTC).timestamp()
    assert month_hours(ts) == (2 * 24 + 12, 28 * 24)


def test_team_rows_sum_pod_shared_and_volume_cost() -> None:
    owner = Attribution("ml", "research", "cc-1")
    ts = datetime(2026, 11, 11, tzinfo=UTC).timestamp()  # 10 days into a 30-day month
    frame = CostFrame(
        timestamp=ts,
        pods=[PodCost("ml", "p", "n", owner, {"cpu": 1.0, "gpu": 3.0}, {"cpu": 0.5}, {"cpu": 0.5})],
        volumes=[
            VolumeCost("pv", "gp3", "ml", "data", 0.5),
            VolumeCost("pv2", "gp3", "", "", 0.25),
        ],
        gpus=[GpuCost("n", "0", "A10G", "", "ml", "p", 3.0, True)],
        namespaces={"ml": owner},
    )
    rows = {r.team: r for r in team_rows(frame, BudgetsConfig(teams={"ml": 3000, "etl": 10}))}
    ml = rows["ml"]
    assert ml.cost_per_hour == pytest.approx(5.0)  # 1 + 3 + 0.5 shared + 0.5 volume
    assert ml.waste_ratio == pytest.approx(0.1)
    assert ml.gpu_idle_per_hour == 3.0
    assert ml.month_to_date_at_rate == pytest.approx(5.0 * 240)
    assert ml.budget_used_ratio == pytest.approx(5.0 * 720 / 3000)
    assert rows["unassigned"].cost_per_hour == 0.25  # the unbound volume
    assert rows["etl"].cost_per_hour == 0 and rows["etl"].budget == 10  # budgeted, no spend yet
