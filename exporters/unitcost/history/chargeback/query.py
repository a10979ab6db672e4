"""Read a period's charges from the recorded cost series (Prometheus HTTP API only).

Totals are the month-to-date rule's own numbers (recording-rules/budget.yml): each whole UTC
hour of a team costs `team:unitcost_cost_dollars_per_hour:avg1h` sampled at the hour's end,
and the hour in progress costs `team:unitcost_cost_dollars_per_hour:sum` x the elapsed
fraction. So a team's charges sum to `team:unitcost_cost_dollars:month_to_date` to the cent.

Each team-hour is then split onto (namespace, queue, app, component) in proportion to what
those series summed to in that hour (`sum_over_time(...[1h])`): the split only says where the
money went, never how much there was (docs/chargeback.md, "How totals reconcile").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple, TypeVar

from unitcost.history.chargeback.period import DAY, HOUR, Period, utc_date
from unitcost.sources.promapi import PrometheusAPI, PrometheusError

#: What a team is charged for, by the attribution rules' parts (docs/rules.md). The
#: per-workload records carry every ROW_LABELS label and are few (workloads, not pods), so
#: the hourly `sum_over_time` over them stays cheap at 150,000 pods.
COMPONENTS: dict[str, str] = {
    "compute": "workload:unitcost_workload_cost_dollars_per_hour:max",
    "shared": "workload:unitcost_workload_shared_cost_dollars_per_hour:max",
    "storage": "namespace:unitcost_volume_cost_dollars_per_hour:sum",
}
ROW_LABELS = ("cluster", "team", "org", "cost_center", "namespace", "queue", "app")
TEAM_HOURLY = "team:unitcost_cost_dollars_per_hour:avg1h"
TEAM_RATE = "team:unitcost_cost_dollars_per_hour:sum"
WASTE_RATE = "team:unitcost_workload_unused_cost_dollars_per_hour:sum"
GPU_IDLE_RATE = "team:unitcost_gpu_idle_cost_dollars_per_hour:sum"
#: Data transfer (docs/network.md): a layer of its own, on top of the allocated cost.
NETWORK_RATE = "team:unitcost_network_cost_dollars_per_hour:sum"
#: The cluster's whole cost (every node and volume) and its idle node capacity: the export's
#: idle and unattributed rows (recording-rules/attribution.yml, waste.yml).
CLUSTER_RATE = "cluster:unitcost_cost_dollars_per_hour:sum"
CLUSTER_IDLE_RATE = "cluster:unitcost_node_idle_cost_dollars_per_hour:sum"
#: Shared services split by usage (docs/shared-services.md): what each team was allocated per
#: service and method (the owner's unattributed remainder included), and the services' own cost,
#: which moves off their owners. Summed over teams the two cancel.
SHARED_ALLOCATED_RATE = "service_team:unitcost_shared_service_allocated_cost_dollars_per_hour:max"
SHARED_OWNED_RATE = "service_team:unitcost_shared_service_cost_dollars_per_hour:max"
#: The method of the owner's rows: its service's cost, moved to the allocations.
OWNED = "owned"

TeamKey = tuple[str, str]  # (cluster, team)
ServiceKey = tuple[str, str, str, str]  # (cluster, team, service, method)
K = TypeVar("K")


class ChargeKey(NamedTuple):
    """One chargeable line: who (cluster, team, org, cost centre), where (namespace, queue,
    app) and what (component: compute, shared, storage). A NamedTuple, not a dataclass:
    hashed millions of times in a month's split (benchmarks/chargeback.py), and a tuple
    hashes in C."""

    cluster: str
    team: str
    org: str
    cost_center: str
    namespace: str
    queue: str
    app: str
    component: str

    @property
    def team_key(self) -> TeamKey:
        return (self.cluster, self.team)


@dataclass(slots=True)
class Charge:
    """A line's cost on one UTC day, and the hours in which it had any."""

    key: ChargeKey
    day: date
    dollars: float = 0.0
    hours: float = 0.0


@dataclass(slots=True)
class Charges:
    """Everything a period's exports need, read once."""

    period: Period
    #: Unix time the charges run to: the period's end, or `at` for a period in progress.
    end: float
    charges: list[Charge]
    #: Per team and day: requested-but-unused cost (part of the charges) and idle GPU cost.
    waste: dict[TeamKey, dict[date, float]] = field(default_factory=dict)
    gpu_idle: dict[TeamKey, dict[date, float]] = field(default_factory=dict)
    #: Per team and day: network (data-transfer) dollars, billed on rows of their own.
    network: dict[TeamKey, dict[date, float]] = field(default_factory=dict)
    #: Per cluster and day: the cluster's whole cost and its idle node capacity (read only
    #: for a whole-platform export, not for one team).
    cluster_total: dict[str, dict[date, float]] = field(default_factory=dict)
    idle: dict[str, dict[date, float]] = field(default_factory=dict)
    _team_days: dict[tuple[TeamKey, date], float] | None = field(default=None, repr=False)

    def team_day_total(self, team_key: TeamKey, day: date) -> float:
        """A team's charges on one day (network rows aside)."""
        if self._team_days is None:
            days: dict[tuple[TeamKey, date], float] = defaultdict(float)
            for charge in self.charges:
                days[(charge.key.team_key, charge.day)] += charge.dollars
            self._team_days = dict(days)
        return self._team_days.get((team_key, day), 0.0)

    #: Per (cluster, team, service, method) and day: shared-service dollars split by usage,
    #: positive for what a team was allocated, negative (method `owned`) for its own
    #: services' cost moved to them. Rows of their own; over all teams they sum to 0.
    shared_services: dict[ServiceKey, dict[date, float]] = field(default_factory=dict)

    def team_totals(self) -> dict[TeamKey, float]:
        totals: dict[TeamKey, float] = defaultdict(float)
        for charge in self.charges:
            totals[charge.key.team_key] += charge.dollars
        return dict(totals)


def team_selector(team: str | None) -> str:
    if team is None:
        return ""
    escaped = team.replace("\\", "\\\\").replace('"', '\\"')
    return f'{{team="{escaped}"}}'


def read_charges(api: PrometheusAPI, period: Period, at: float, team: str | None = None) -> Charges:
    """The period's charges as Prometheus recorded them, up to `at` (unix time)."""
    if at <= period.start:
        raise PrometheusError(f"period {period.label} has not started at the given time")
    end = min(float(period.end), at)
    last_full_hour = int(end) // HOUR * HOUR
    selector = team_selector(team)
    lines: dict[tuple[ChargeKey, date], Charge] = {}
    hour_days: dict[float, date] = {}

    def day_of(hour_start: float) -> date:
        day = hour_days.get(hour_start)
        if day is None:
            day = hour_days[hour_start] = utc_date(hour_start)
        return day

    def book_day(key: ChargeKey, day: date, dollars: float, hours: float) -> None:
        charge = lines.get((key, day))
        if charge is None:
            charge = lines[(key, day)] = Charge(key, day)
        charge.dollars += dollars
        charge.hours += hours

    def book(key: ChargeKey, hour_start: float, dollars: float, hours: float) -> None:
        day = day_of(hour_start)
        charge = lines.get((key, day))
        if charge is None:
            charge = lines[(key, day)] = Charge(key, day)
        charge.dollars += dollars
        charge.hours += hours

    # Whole hours: the hour (s - 1h, s] at every hour end s of the period.
    first_end = period.start + HOUR
    if last_full_hour >= first_end:
        hourly = _range_by_team(api, TEAM_HOURLY + selector, first_end, last_full_hour, _team_key)
        _split_hours(api, selector, first_end, last_full_hour, hourly, day_of, book_day)

    # The hour in progress, at the current rate (as the month-to-date rule adds it).
    if end < period.end and end > last_full_hour:
        fraction = (end - last_full_hour) / HOUR
        rates = {
            _team_key(sample.labels): sample.value
            for sample in api.query(TEAM_RATE + selector, at=end)
        }
        shares: dict[TeamKey, dict[ChargeKey, float]] = defaultdict(dict)
        for component, metric in COMPONENTS.items():
            promql = f"sum by ({', '.join(ROW_LABELS)}) ({metric}{selector})"
            for sample in api.query(promql, at=end):
                key = _charge_key(sample.labels, component)
                shares[key.team_key][key] = sample.value
        for team_key, rate in rates.items():
            _split(team_key, rate * fraction, shares.get(team_key, {}), end, fraction, book)

    if not lines:
        scope = f" for team {team!r}" if team else ""
        raise PrometheusError(
            f"{api.base_url}: no {TEAM_HOURLY} or {TEAM_RATE} series{scope} in {period.label}: "
            "is recording-rules/budget.yml loaded, and did an exporter run in that period?"
        )
    charges = Charges(period, end, sorted(lines.values(), key=lambda c: (c.day, c.key)))
    charges.waste = _daily(api, WASTE_RATE + selector, period, end, last_full_hour, _team_key)
    charges.gpu_idle = _daily(api, GPU_IDLE_RATE + selector, period, end, last_full_hour, _team_key)
    charges.network = _daily(api, NETWORK_RATE + selector, period, end, last_full_hour, _team_key)
    shared = _daily(
        api, SHARED_ALLOCATED_RATE + selector, period, end, last_full_hour, _service_key
    )
    owned = _daily(api, SHARED_OWNED_RATE + selector, period, end, last_full_hour, _service_key)
    for (cluster, owner, service, _), days in owned.items():
        shared[(cluster, owner, service, OWNED)] = {day: -v for day, v in days.items()}
    charges.shared_services = shared
    if team is None:
        for target, series in (
            (charges.cluster_total, CLUSTER_RATE),
            (charges.idle, CLUSTER_IDLE_RATE),
        ):
            for (cluster, _), days in _daily(
                api, series, period, end, last_full_hour, _team_key
            ).items():
                target[cluster] = days
    return charges


def _split(
    team_key: TeamKey,
    dollars: float,
    weights: Mapping[ChargeKey, float],
    hour_start: float,
    hours: float,
    book: Callable[[ChargeKey, float, float, float], None],
) -> None:
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        # The team has a cost but no per-namespace detail in that hour (its series began or
        # ended at the hour's edge): charged to the team itself, never dropped.
        book(ChargeKey(*team_key, "", "", "", "", "", "compute"), hour_start, dollars, hours)
        return
    for key, weight in weights.items():
        if weight > 0:
            book(key, hour_start, dollars * weight / total, hours)


def _team_key(labels: Mapping[str, str]) -> TeamKey:
    return (labels.get("cluster", ""), labels.get("team", ""))


def _service_key(labels: Mapping[str, str]) -> ServiceKey:
    get = labels.get
    return (get("cluster", ""), get("team", ""), get("service", ""), get("method", ""))


def _charge_key(labels: Mapping[str, str], component: str) -> ChargeKey:
    get = labels.get
    return ChargeKey(
        cluster=get("cluster", ""),
        team=get("team", ""),
        org=get("org", ""),
        cost_center=get("cost_center", ""),
        namespace=get("namespace", ""),
        queue=get("queue", ""),
        app=get("app", ""),
        component=component,
    )


def _range_by_team(
    api: PrometheusAPI,
    promql: str,
    start: float,
    end: float,
    key: Callable[[Mapping[str, str]], K],
) -> dict[K, dict[float, float]]:
    out: dict[K, dict[float, float]] = defaultdict(dict)
    for series in api.query_range(promql, start=start, end=end, step_s=HOUR):
        points = out[key(series.labels)]
        for t, v in series.points:
            points[t] = points.get(t, 0.0) + v
    return dict(out)


def _split_hours(
    api: PrometheusAPI,
    selector: str,
    start: float,
    end: float,
    hourly: Mapping[TeamKey, Mapping[float, float]],
    day_of: Callable[[float], date],
    book_day: Callable[[ChargeKey, date, float, float], None],
) -> None:
    """Each team-hour's dollars onto its lines in proportion to what each line's series summed
    to over that hour (as `_split`), one UTC day at a time: the day's range queries (its hour
    ends only), the hour's weight totals, then every line's share summed over the day and
    booked once. Only one day of per-hour points is held at a time, so memory stays that of a
    day whatever the period's length (docs/performance.md, "Chargeback")."""
    window_start = start
    while window_start <= end:
        # Hour ends s of one UTC day: the hours (s - 1h, s] that start on that day.
        day_end = (int(window_start - HOUR) // DAY + 1) * DAY
        window_end = min(float(day_end), end)
        _split_window(api, selector, window_start, window_end, hourly, day_of, book_day)
        window_start = window_end + HOUR


def _split_window(
    api: PrometheusAPI,
    selector: str,
    start: float,
    end: float,
    hourly: Mapping[TeamKey, Mapping[float, float]],
    day_of: Callable[[float], date],
    book_day: Callable[[ChargeKey, date, float, float], None],
) -> None:
    """`_split_hours` for the hour ends `start`..`end` of one UTC day. The hours are indexed
    (0 for `start`), the values read straight from the API's text, and each line's share is
    summed in the order of its points, so the sums are those of a per-hour table."""
    day = day_of(start - HOUR)
    hours = int((end - start) // HOUR) + 1
    lines: list[tuple[ChargeKey, list[tuple[int, float]]]] = []
    totals: dict[TeamKey, list[float]] = {}
    for component, metric in COMPONENTS.items():
        promql = f"sum by ({', '.join(ROW_LABELS)}) (sum_over_time({metric}{selector}[1h]))"
        for labels, values in api.query_range_raw(promql, start=start, end=end, step_s=HOUR):
            key = _charge_key(labels, component)
            team_key = key.team_key
            team_totals = totals.get(team_key)
            if team_totals is None:
                team_totals = totals[team_key] = [0.0] * hours
            points = []
            for t, raw in values:
                v = float(raw)
                if v > 0:
                    i = int((t - start) // HOUR)
                    team_totals[i] += v
                    points.append((i, v))
            lines.append((key, points))
    for key, points in lines:
        team_key = key.team_key
        team = hourly.get(team_key)
        if team is None:
            continue
        team_totals = totals[team_key]
        dollars = 0.0
        booked = 0
        for i, v in points:
            cost = team.get(start + i * HOUR)
            if cost is not None:
                dollars += cost * v / team_totals[i]
                booked += 1
        if booked:
            book_day(key, day, dollars, float(booked))
    for team_key, team in hourly.items():
        team_totals = totals.get(team_key, [])
        for t, cost in team.items():
            if start <= t <= end:
                i = int((t - start) // HOUR)
                if i >= len(team_totals) or team_totals[i] <= 0:
                    # No per-namespace detail in that hour: charged to the team, never dropped.
                    key = ChargeKey(*team_key, "", "", "", "", "", "compute")
                    book_day(key, day, cost, 1.0)


def _daily(
    api: PrometheusAPI,
    rate: str,
    period: Period,
    end: float,
    last_full_hour: int,
    key: Callable[[Mapping[str, str]], K],
) -> dict[K, dict[date, float]]:
    """Dollars per team (or `key`) and day of a $/h series: hourly averages, plus the hour in
    progress."""
    out: dict[K, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    if last_full_hour >= period.start + HOUR:
        hourly = _range_by_team(
            api, f"avg_over_time({rate}[1h])", period.start + HOUR, last_full_hour, key
        )
        for team_key, points in hourly.items():
            for s, dollars in points.items():
                out[team_key][utc_date(s - HOUR)] += dollars
    if end < period.end and end > last_full_hour:
        for sample in api.query(rate, at=end):
            fraction = (end - last_full_hour) / HOUR
            out[key(sample.labels)][utc_date(end)] += sample.value * fraction
    return {k: dict(v) for k, v in out.items()}


def teams_of(charges: Iterable[Charge]) -> list[TeamKey]:
    return sorted({c.key.team_key for c in charges})
