"""Showback rows per team: what `unitcost demo` and `unitcost report` print. Pure."""

from __future__ import annotations

import calendar
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from unitcost.config.file import BudgetsConfig
from unitcost.data.frame import CostFrame


@dataclass(frozen=True, slots=True)
class TeamRow:
    team: str
    org: str
    cost_per_hour: float
    waste_per_hour: float
    gpu_idle_per_hour: float
    #: Spend from the first of the month to now, had the current rate held all month.
    month_to_date_at_rate: float
    month_at_rate: float
    budget: float  # 0: no budget

    @property
    def waste_ratio(self) -> float:
        return self.waste_per_hour / self.cost_per_hour if self.cost_per_hour > 0 else 0.0

    @property
    def budget_used_ratio(self) -> float | None:
        return self.month_at_rate / self.budget if self.budget > 0 else None

    def as_dict(self) -> dict[str, float | str | None]:
        out: dict[str, float | str | None] = dict(asdict(self))
        out["waste_ratio"] = self.waste_ratio
        out["budget_used_ratio"] = self.budget_used_ratio
        return out


def month_hours(timestamp: float) -> tuple[float, float]:
    """(hours elapsed in the month so far, hours in the month), in UTC."""
    now = datetime.fromtimestamp(timestamp, UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(now.year, now.month)[1]
    return (now - start).total_seconds() / 3600.0, days * 24.0


def team_rows(frame: CostFrame, budgets: BudgetsConfig) -> list[TeamRow]:
    """Per team: allocated + redistributed shared + volume cost, waste, idle GPU dollars."""
    cost: dict[str, float] = defaultdict(float)
    waste: dict[str, float] = defaultdict(float)
    gpu_idle: dict[str, float] = defaultdict(float)
    org: dict[str, str] = {}
    team_of_pod: dict[tuple[str, str], str] = {}
    for pod in frame.pods:
        team = pod.owner.team
        org.setdefault(team, pod.owner.org)
        team_of_pod[(pod.namespace, pod.name)] = team
        cost[team] += math.fsum(pod.allocated.values()) + math.fsum(pod.shared.values())
        waste[team] += math.fsum(pod.unused.values())
    for volume in frame.volumes:
        owner = frame.namespaces.get(volume.namespace) if volume.namespace else None
        team = owner.team if owner else "unassigned"
        if owner:
            org.setdefault(team, owner.org)
        cost[team] += volume.hourly
    for gpu in frame.gpus:
        gpu_idle[team_of_pod.get((gpu.namespace, gpu.pod), "unassigned")] += gpu.idle_hourly
    elapsed, month = month_hours(frame.timestamp)
    teams = set(cost) | {t for t, b in budgets.teams.items() if b > 0}
    rows = [
        TeamRow(
            team,
            org.get(team, ""),
            cost[team],
            waste[team],
            gpu_idle[team],
            cost[team] * elapsed,
            cost[team] * month,
            budgets.for_team(team),
        )
        for team in teams
    ]
    return sorted(rows, key=lambda r: (-r.cost_per_hour, r.team))
