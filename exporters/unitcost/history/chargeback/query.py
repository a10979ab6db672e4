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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

from unitcost.history.chargeback.period import DAY, HOUR, Period, utc_date
from unitcost.sources.promapi import Matrix, PrometheusAPI, PrometheusError

#: What a team is charged for, by the attribution rules' parts (docs/rules.md). The
#: per-workload records carry every ROW_LABELS label and are few (workloads, not pods), so
#: the hourly `sum_over_time` over them stays cheap at 150,000 pods.
COMPONENTS: dict[str, str] = {
    "compute": "workload:unitcost_workload_cost_dollars_per_hour:max",
    "shared": "workload:unitcost_workload_shared_cost_dollars_per_hour:max",
    "storage": "namespace:unitcost_volume_cost_dollars_per_hour:sum",
}
ROW_LABELS = ("cluster", "team", "org", "cost_center", "namespace", "queue", "app")
#: GPU dollars held per device and line (recording-rules/waste.yml): the `gpu` rows, carved
#: out of their lines' compute rows (docs/chargeback.md, "GPU rows"). GPU holders only: few.
GPU_HOLDING = "node_gpu_line:unitcost_gpu_holding_cost_dollars_per_hour:sum"
GPU_LABELS = (*ROW_LABELS, "node", "gpu")
GPU = "gpu"
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
    app) and what (component: compute, shared, storage, gpu; a `gpu` line also names its
    device: node and GPU UUID). A NamedTuple, not a dataclass: hashed millions of times in a
    month's split (benchmarks/chargeback.py), and a tuple hashes in C."""

    cluster: str
    team: str
    org: str
    cost_center: str
    namespace: str
    queue: str
    app: str
    component: str
    node: str = ""
    gpu: str = ""

    @property
    def team_key(self) -> TeamKey:
        return (self.cluster, self.team)

    @property
    def compute_key(self) -> ChargeKey:
        """The compute line a `gpu` line is carved from: the same owners and place."""
        return self._replace(component="compute", node="", gpu="")


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
    charges = read_context(api, period, at, team)
    for lines in iter_days(api, period, at, team):
        charges.charges.extend(lines)
    return charges


def read_context(api: PrometheusAPI, period: Period, at: float, team: str | None = None) -> Charges:
    """Everything of `read_charges` but the lines' charges (`iter_days` streams those): the
    per-team and per-cluster daily series (waste, idle GPU, network, shared services, the
    cluster's total and idle capacity)."""
    end, last_full_hour = _bounds(period, at)
    selector = team_selector(team)
    charges = Charges(period, end, [])
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


def _bounds(period: Period, at: float) -> tuple[float, int]:
    """(the unix time the charges run to, the last whole hour's end before it)."""
    if at <= period.start:
        raise PrometheusError(f"period {period.label} has not started at the given time")
    end = min(float(period.end), at)
    return end, int(end) // HOUR * HOUR


def iter_days(
    api: PrometheusAPI, period: Period, at: float, team: str | None = None
) -> Iterator[list[Charge]]:
    """The lines' charges one UTC day at a time, days in order, each day's lines in key order
    (what `read_charges` holds whole), so that an export can write a day while the next is
    read (docs/performance.md, "Chargeback"). Raises PrometheusError, after the last day,
    when there was nothing to charge."""
    end, last_full_hour = _bounds(period, at)
    selector = team_selector(team)
    in_progress = end < period.end and end > last_full_hour
    # The hour in progress books onto its own day: that day waits for it.
    progress_day = utc_date(end) if in_progress else None
    held: dict[ChargeKey, Charge] = {}
    order: list[ChargeKey] = []
    any_day = False

    # Whole hours: the hour (s - 1h, s] at every hour end s of the period.
    first_end = period.start + HOUR
    if last_full_hour >= first_end:
        hourly = _range_by_team(api, TEAM_HOURLY + selector, first_end, last_full_hour, _team_key)
        for day, lines, order in _split_days(api, selector, first_end, last_full_hour, hourly):
            if day == progress_day:
                held = lines
            elif lines:
                any_day = True
                yield [lines[key] for key in order]

    # The hour in progress, at the current rate (as the month-to-date rule adds it).
    if progress_day is not None:
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

        def book(key: ChargeKey, _hour_start: float, dollars: float, hours: float) -> None:
            _book(held, key, progress_day, dollars, hours)

        for team_key, rate in rates.items():
            _split(team_key, rate * fraction, shares.get(team_key, {}), end, fraction, book)
        # The GPU rows' part of the hour: the same factor as the line's compute share.
        gpu_promql = f"sum by ({', '.join(GPU_LABELS)}) ({GPU_HOLDING}{selector})"
        totals = {
            team_key: sum(w for w in weights.values() if w > 0)
            for team_key, weights in shares.items()
        }
        gpu_parts: list[tuple[ChargeKey, float, float]] = []
        for sample in api.query(gpu_promql, at=end):
            key = _charge_key(sample.labels, GPU)
            team_rate = rates.get(key.team_key)
            total = totals.get(key.team_key, 0.0)
            if team_rate is None or total <= 0 or not sample.value > 0:
                continue
            gpu_parts.append((key, team_rate * fraction * sample.value / total, fraction))
        _carve(held, progress_day, gpu_parts)
    if held:
        any_day = True
        yield [held[key] for key in _sorted_keys(held, order)]

    if not any_day:
        scope = f" for team {team!r}" if team else ""
        raise PrometheusError(
            f"{api.base_url}: no {TEAM_HOURLY} or {TEAM_RATE} series{scope} in {period.label}: "
            "is recording-rules/budget.yml loaded, and did an exporter run in that period?"
        )


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
        book(_team_line(team_key), hour_start, dollars, hours)
        return
    for key, weight in weights.items():
        if weight > 0:
            book(key, hour_start, dollars * weight / total, hours)


def _team_line(team_key: TeamKey) -> ChargeKey:
    """The line of a team's hour that had no per-namespace detail: the team itself."""
    return ChargeKey(*team_key, "", "", "", "", "", "compute")


def _carve(
    lines: dict[ChargeKey, Charge], day: date, parts: Iterable[tuple[ChargeKey, float, float]]
) -> None:
    """Move each (gpu line, dollars, hours) of `parts` out of its line's compute charge into
    a `gpu` charge of its own, so that the day's total stays what it was. A line's GPU
    dollars are at most its compute dollars (GPU dollars are part of a pod's cost): where
    they would exceed them (a GPU series without its workload's), the GPU parts are scaled
    down to the compute dollars there are, never below zero."""
    by_line: dict[ChargeKey, list[tuple[ChargeKey, float, float]]] = defaultdict(list)
    for part in parts:
        if part[1] > 0:
            by_line[part[0].compute_key].append(part)
    for line_key, line_parts in by_line.items():
        compute = lines.get(line_key)
        if compute is None or compute.dollars <= 0:
            continue
        wanted = sum(dollars for _, dollars, _ in line_parts)
        if wanted > compute.dollars:  # scaled down to what the line has; it keeps nothing
            scale, compute.dollars = compute.dollars / wanted, 0.0
        else:
            scale, compute.dollars = 1.0, compute.dollars - wanted
        for key, dollars, hours in line_parts:
            _book(lines, key, day, dollars * scale, hours)


def _book(
    lines: dict[ChargeKey, Charge], key: ChargeKey, day: date, dollars: float, hours: float
) -> None:
    charge = lines.get(key)
    if charge is None:
        charge = lines[key] = Charge(key, day)
    charge.dollars += dollars
    charge.hours += hours


def _sorted_keys(lines: Mapping[ChargeKey, Charge], previous: list[ChargeKey]) -> list[ChargeKey]:
    """A day's line keys in order (the export's row order within a day). Most of them were
    lines the day before too: those come in the previous day's order, the new ones sorted
    after them, so the sort merges two runs (linear) instead of comparing every key anew."""
    kept = [key for key in previous if key in lines]
    seen = set(kept)
    new = sorted(key for key in lines if key not in seen)
    return sorted(kept + new)


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
        node=get("node", ""),
        gpu=get("gpu", ""),
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


def _split_days(
    api: PrometheusAPI,
    selector: str,
    start: float,
    end: float,
    hourly: Mapping[TeamKey, Mapping[float, float]],
) -> Iterator[tuple[date, dict[ChargeKey, Charge], list[ChargeKey]]]:
    """Each team-hour's dollars onto its lines in proportion to what each line's series summed
    to over that hour (as `_split`), one UTC day at a time: the day's range queries (its hour
    ends only), the hour's weight totals, then every line's share summed over the day and
    booked once. Yields (day, its charges, their keys in order). Two threads read the next
    day's answers while this one splits (Prometheus answers, and this process parses, on
    other cores), so only about two days of per-hour points are held whatever the period's
    length (docs/performance.md, "Chargeback")."""
    windows: list[tuple[float, float]] = []
    window_start = start
    while window_start <= end:
        # Hour ends s of one UTC day: the hours (s - 1h, s] that start on that day.
        day_end = (int(window_start - HOUR) // DAY + 1) * DAY
        window_end = min(float(day_end), end)
        windows.append((window_start, window_end))
        window_start = window_end + HOUR
    known: dict[tuple[str, bytes], ChargeKey] = {}
    order: list[ChargeKey] = []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="chargeback-read") as readers:

        def submit(window: tuple[float, float]) -> list[Future[Matrix]]:
            # The components' series, then the GPU rows' (GPU holders only: a small answer).
            queries = [
                f"sum by ({', '.join(ROW_LABELS)}) (sum_over_time({metric}{selector}[1h]))"
                for metric in COMPONENTS.values()
            ]
            queries.append(
                f"sum by ({', '.join(GPU_LABELS)}) (sum_over_time({GPU_HOLDING}{selector}[1h]))"
            )
            return [
                readers.submit(
                    api.query_range_arrays, promql, start=window[0], end=window[1], step_s=HOUR
                )
                for promql in queries
            ]

        ahead = submit(windows[0]) if windows else []
        for n, (window_start, window_end) in enumerate(windows):
            answers = [future.result() for future in ahead]
            ahead = submit(windows[n + 1]) if n + 1 < len(windows) else []
            points = _window_points(answers[:-1], known, tuple(COMPONENTS))
            gpu_points = _window_points(answers[-1:], known, (GPU,))
            day = utc_date(window_start - HOUR)
            lines: dict[ChargeKey, Charge] = {}
            _split_window(points, window_start, window_end, hourly, lines, day, gpu_points)
            order = _sorted_keys(lines, order)
            yield day, lines, order


class _WindowPoints(NamedTuple):
    """One day's line series as arrays: the lines, and per point its line, time and value."""

    keys: list[ChargeKey]
    line: npt.NDArray[np.int64]
    time: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]


def _window_points(
    answers: list[Matrix], known: dict[tuple[str, bytes], ChargeKey], components: Sequence[str]
) -> _WindowPoints:
    """One day's answers (one per component, `components`' order) as one set of arrays. A
    series' key is looked up by its labels' text, which is the same every day: a month of
    20,000 workloads is 1.3 million series-days but about 120,000 lines, each decoded and
    keyed once."""
    keys: list[ChargeKey] = []
    lines: list[npt.NDArray[np.int64]] = []
    for component, matrix in zip(components, answers, strict=True):
        first = len(keys)
        for text in matrix.label_json:
            key = known.get((component, text))
            if key is None:
                key = known[(component, text)] = _charge_key(orjson.loads(text), component)
            keys.append(key)
        lines.append(np.repeat(np.arange(first, len(keys), dtype=np.int64), matrix.counts))
    return _WindowPoints(
        keys,
        np.concatenate(lines),
        np.concatenate([m.times for m in answers]),
        np.concatenate([m.values for m in answers]),
    )


def _split_window(
    points: _WindowPoints,
    start: float,
    end: float,
    hourly: Mapping[TeamKey, Mapping[float, float]],
    lines: dict[ChargeKey, Charge],
    day: date,
    gpu: _WindowPoints | None = None,
) -> None:
    """`_split_days` for the hour ends `start`..`end` of one UTC day, vectorised: per team
    and hour the positive weights' total, then per point `cost x weight / total`, summed per
    line. numpy's `bincount` adds in the order of the points, the points are in the order of
    the answers, and the products are the same IEEE operations in the same order, so the sums
    are bit for bit those of a loop over the points.

    `gpu`, the GPU holdings' points per device and line (GPU_HOLDING), are then priced with
    the same team-hour factor `cost / total` as their line's compute share and carved out of
    it (`_carve`): only the team-hours that booked onto lines, never the hours charged to
    the team itself."""
    hours = int((end - start) // HOUR) + 1
    keys = points.keys
    teams: dict[TeamKey, int] = {}
    line_team = np.fromiter(
        (teams.setdefault(key.team_key, len(teams)) for key in keys), np.int64, len(keys)
    )
    positive = points.value > 0
    line = points.line[positive]
    weight = points.value[positive]
    cell = line_team[line] * hours + ((points.time[positive] - start) // HOUR).astype(np.int64)
    # Float already (weighted); astype without a copy tells the type checker so.
    totals = np.bincount(cell, weights=weight, minlength=len(teams) * hours).astype(
        np.float64, copy=False
    )
    # Each team-hour's dollars (team:...:avg1h), and whether the team had any that hour.
    cost = np.zeros(len(teams) * hours)
    has_cost = np.zeros(len(teams) * hours, dtype=bool)
    for team_key, index in teams.items():
        team = hourly.get(team_key)
        if team is None:
            continue
        for i in range(hours):
            value = team.get(start + i * HOUR)
            if value is not None:
                cost[index * hours + i] = value
                has_cost[index * hours + i] = True
    for key, line_dollars, line_hours in _priced(keys, line, cell, weight, cost, has_cost, totals):
        _book(lines, key, day, line_dollars, line_hours)
    for team_key, team in hourly.items():
        team_index = teams.get(team_key)
        for i in range(hours):
            value = team.get(start + i * HOUR)
            if value is None:
                continue
            if team_index is None or totals[team_index * hours + i] <= 0:
                # No per-namespace detail in that hour: charged to the team, never dropped.
                _book(lines, _team_line(team_key), day, value, 1.0)
    if gpu is not None and gpu.keys:
        _carve(lines, day, _gpu_parts(gpu, start, hours, teams, cost, has_cost, totals))


def _gpu_parts(
    gpu: _WindowPoints,
    start: float,
    hours: int,
    teams: Mapping[TeamKey, int],
    cost: npt.NDArray[np.float64],
    has_cost: npt.NDArray[np.bool_],
    totals: npt.NDArray[np.float64],
) -> list[tuple[ChargeKey, float, float]]:
    """(gpu line, dollars, hours) of one day: each GPU point `cost x held / total` with its
    team-hour's `cost` and weight `total` (`_split_window`'s, so the same factor as the
    line's compute share), summed per line. Hours without a team cost or line weights are
    left out (that hour's cost is charged to the team itself)."""
    keys = gpu.keys
    gpu_team = np.fromiter((teams.get(key.team_key, -1) for key in keys), np.int64, len(keys))
    point_team = gpu_team[gpu.line]
    hour = ((gpu.time - start) // HOUR).astype(np.int64)
    usable = (point_team >= 0) & (gpu.value > 0) & (hour >= 0) & (hour < hours)
    cell = point_team[usable] * hours + hour[usable]
    return _priced(keys, gpu.line[usable], cell, gpu.value[usable], cost, has_cost, totals)


def _priced(
    keys: Sequence[ChargeKey],
    line: npt.NDArray[np.int64],
    cell: npt.NDArray[np.int64],
    weight: npt.NDArray[np.float64],
    cost: npt.NDArray[np.float64],
    has_cost: npt.NDArray[np.bool_],
    totals: npt.NDArray[np.float64],
) -> list[tuple[ChargeKey, float, float]]:
    """(line, dollars, hours) of each line with a priced point: each point (a line's weight in
    a team-hour `cell`) costs `cost x weight / total` of its cell, where the team had a cost
    and weights that hour; summed per line in the points' order (`bincount` adds in input
    order, so the sums are bit for bit those of a loop over the points)."""
    booked = has_cost[cell] & (totals[cell] > 0)
    booked_cell = cell[booked]
    dollars = cost[booked_cell] * weight[booked] / totals[booked_cell]
    line_dollars = np.bincount(line[booked], weights=dollars, minlength=len(keys))
    line_hours = np.bincount(line[booked], minlength=len(keys))
    return [
        (keys[index], float(line_dollars[index]), float(line_hours[index]))
        for index in np.flatnonzero(line_hours).tolist()
    ]


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
