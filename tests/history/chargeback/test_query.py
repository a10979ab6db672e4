"""Charges read from the real Prometheus reconcile with the month-to-date rule to the cent."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from support import cost_history as history
from support.prometheus import Prometheus
from unitcost.history.chargeback import query
from unitcost.history.chargeback.period import Period, parse_time
from unitcost.history.chargeback.query import Charge, ChargeKey, Charges, read_charges
from unitcost.sources.promapi import PrometheusAPI, PrometheusError

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("chargeback")]

MARCH, FEBRUARY = Period.parse("2025-03"), Period.parse("2025-02")


@pytest.mark.parametrize(
    ("period", "at"),
    [
        (MARCH, "2025-03-02T10:20:34.5Z"),  # mid-hour: whole hours + the hour so far
        (MARCH, "2025-03-01T00:40:00Z"),  # the first hour of the month: no whole hour yet
        (MARCH, "2025-03-01T07:00:00Z"),  # on the hour
        (FEBRUARY, "2025-02-28T23:59:30Z"),  # the last moment of a short month
    ],
)
def test_team_totals_equal_the_month_to_date_rule_to_the_cent(
    prom: Prometheus, month_to_date_expr: str, period: Period, at: str
) -> None:
    when = parse_time(at)
    with PrometheusAPI(prom.url) as api:
        charges = read_charges(api, period, when)
        rule = {
            (s.labels.get("cluster", ""), s.labels["team"]): s.value
            for s in api.query(month_to_date_expr, at=when)
        }
    totals = charges.team_totals()
    assert set(totals) == set(rule) == {("", "ml"), ("", "data")}
    for team, dollars in totals.items():
        assert abs(dollars - rule[team]) < 0.005, (team, dollars, rule[team])
        assert dollars > 0
    assert charges.end == when


def test_whole_hours_match_the_raw_samples(prom: Prometheus) -> None:
    # An independent check on the method: on an hour boundary, the hourly averages summed
    # agree with integrating every recorded sample (each standing for its 2 minutes).
    at = parse_time("2025-03-02T06:00:00Z")
    with PrometheusAPI(prom.url) as api:
        totals = read_charges(api, MARCH, at).team_totals()
    for team in ("ml", "data"):
        expected = history.integral(team, MARCH.start, int(at))
        assert totals[("", team)] == pytest.approx(expected, rel=0.005)


def test_rows_split_by_namespace_component_and_day(prom: Prometheus) -> None:
    at = parse_time("2025-03-02T10:20:34Z")
    with PrometheusAPI(prom.url) as api:
        charges = read_charges(api, MARCH, at)
    by_line: dict[tuple[str, str, str, str], float] = defaultdict(float)
    days = set()
    for c in charges.charges:
        by_line[(c.key.team, c.key.namespace, c.key.component, c.key.app)] += c.dollars
        days.add(c.day)
        assert 0 < c.hours <= 24 and c.dollars > 0
    assert days == {date(2025, 3, 1), date(2025, 3, 2)}
    # Day one is whole: Job train-a runs all 24 hours, Job train-b 03:20-09:50 (touching the
    # 7 hours 03-09); each is its own line, weighted by its own sum in each hour.
    train_day1 = {
        c.key.app: c
        for c in charges.charges
        if c.day == date(2025, 3, 1)
        and c.key.namespace == "ml-train"
        and c.key.component == "compute"
    }
    assert set(train_day1) == {"train-a", "train-b"}
    assert train_day1["train-a"].hours == 24 and train_day1["train-b"].hours == 7
    # Less their GPUs' dollars, which are rows of their own (test_gpu_rows_... below).
    assert train_day1["train-a"].dollars == pytest.approx((12.5 - 5.0 - 3.0) * 24, rel=0.01)
    assert train_day1["train-b"].dollars == pytest.approx((30.0 - 10.0) * 6.5, rel=0.01)
    # The Spark application's driver and executor are one workload: one line per day.
    [etl_day1] = [
        c
        for c in charges.charges
        if c.day == date(2025, 3, 1) and c.key.app == "etl-daily" and c.key.component == "compute"
    ]
    assert etl_day1.dollars == pytest.approx((2.0 + 6.0 * 0.5) * 24, rel=0.01)
    # Storage and shared lines exist where the history has them, not elsewhere.
    assert by_line[("ml", "ml-train", "storage", "")] == pytest.approx(
        0.8 * 34 + 0.8 * 20.6 / 60, rel=0.01
    )
    assert by_line[("data", "etl", "shared", "etl-daily")] > 0
    assert ("ml", "ml-serve", "storage", "") not in by_line
    # Waste and idle GPU per team and day.
    assert sum(charges.waste[("", "ml")].values()) == pytest.approx(
        5.0 * (34 + 20.5 / 60), rel=0.01
    )
    assert sum(charges.gpu_idle[("", "ml")].values()) == pytest.approx(
        12.5 * (34 + 20.5 / 60), rel=0.01
    )
    assert ("", "data") not in charges.gpu_idle


def test_team_filter_and_empty_results(prom: Prometheus) -> None:
    at = parse_time("2025-03-02T10:20:34Z")
    with PrometheusAPI(prom.url) as api:
        only = read_charges(api, MARCH, at, team="data")
        everyone = read_charges(api, MARCH, at)
        assert {c.key.team for c in only.charges} == {"data"}
        assert only.team_totals() == {("", "data"): everyone.team_totals()[("", "data")]}
        with pytest.raises(
            PrometheusError,
            match=r"no team:unitcost_cost_dollars_per_hour:avg1h.*team 'nobody' in 2025-03.*budget.yml",
        ):
            read_charges(api, MARCH, at, team="nobody")
        with pytest.raises(PrometheusError, match="in 2024-06"):
            read_charges(api, Period.parse("2024-06"), at)
        with pytest.raises(PrometheusError, match="2025-04 has not started"):
            read_charges(api, Period.parse("2025-04"), at)


def test_quotes_in_team_names_are_escaped(prom: Prometheus) -> None:
    with PrometheusAPI(prom.url) as api, pytest.raises(PrometheusError, match="no team"):
        read_charges(api, MARCH, parse_time("2025-03-02T00:00:00Z"), team='a"b\\c')


def _by_day_and_key(charges: Charges) -> dict[tuple[date, ChargeKey], Charge]:
    out = {(c.day, c.key): c for c in charges.charges}
    assert len(out) == len(charges.charges)
    return out


@pytest.mark.parametrize(
    "at",
    [
        "2025-03-02T10:20:34Z",  # mid-hour: the hour in progress carves too
        "2025-03-02T06:00:00Z",  # on the hour
    ],
)
def test_gpu_rows_are_carved_out_of_their_lines_compute(
    prom: Prometheus, monkeypatch: pytest.MonkeyPatch, at: str
) -> None:
    """Each line's GPU holdings (node_gpu_line:...) become `gpu` rows naming the device, at
    the same team-hour factor as the line's compute share, taken out of its compute row: the
    read without the GPU series (the record renamed to one Prometheus does not have) is
    what the lines were before."""
    when = parse_time(at)
    with PrometheusAPI(prom.url) as api:
        charges = read_charges(api, MARCH, when)
        monkeypatch.setattr(query, "GPU_HOLDING", "no_such_gpu_record")
        before = read_charges(api, MARCH, when)
    after, former = _by_day_and_key(charges), _by_day_and_key(before)
    assert not any(key.component == "gpu" for _, key in former)
    gpu = {(day, key.app, key.gpu): c for (day, key), c in after.items() if key.component == "gpu"}
    days = {date(2025, 3, 1), date(2025, 3, 2)}
    # train-b runs 03:20-09:50: on day 2 only once the read reaches 03:00.
    assert set(gpu) == {
        (day, app, uuid)
        for day in days
        for app, uuid in (
            ("train-a", history.GPU_A),
            ("train-a", history.GPU_B),
            ("train-b", history.GPU_C),
        )
    }
    for (_, _, uuid), c in gpu.items():
        assert (c.key.node, c.key.gpu) == (history.GPU_NODE, uuid)
        assert c.key.compute_key == ChargeKey(*c.key[:7], "compute")
    # The line with a GPU series and no workload series has no compute to carve from.
    assert not any(key.app == "ghost" for _, key in after)
    for day in days:
        a, b, c = (gpu[(day, app, uuid)] for app, uuid in (
            ("train-a", history.GPU_A), ("train-a", history.GPU_B), ("train-b", history.GPU_C)
        ))  # fmt: skip
        compute_a = after[(day, a.key.compute_key)]
        compute_b = after[(day, c.key.compute_key)]
        was_a = former[(day, a.key.compute_key)]
        was_b = former[(day, c.key.compute_key)]
        # By hand: train-a's series is $12.5/h and its GPUs $5 + $3 at the same samples, so
        # each hour its GPU A row gets 5/12.5 of what the line got, GPU B 3/12.5; train-b's
        # GPU $10 of its $30 at the same samples while it runs: 1/3.
        assert a.dollars == pytest.approx(was_a.dollars * 5.0 / 12.5, rel=1e-12)
        assert b.dollars == pytest.approx(was_a.dollars * 3.0 / 12.5, rel=1e-12)
        assert c.dollars == pytest.approx(was_b.dollars * 10.0 / 30.0, rel=1e-12)
        assert compute_a.dollars == pytest.approx(was_a.dollars * 4.5 / 12.5, rel=1e-12)
        # compute + gpu rows of a line are the line's former compute total.
        assert compute_a.dollars + a.dollars + b.dollars == pytest.approx(was_a.dollars, abs=1e-9)
        assert compute_b.dollars + c.dollars == pytest.approx(was_b.dollars, abs=1e-9)
        assert a.hours == b.hours == compute_a.hours == was_a.hours
        assert c.hours == compute_b.hours == was_b.hours
    whole_day = date(2025, 3, 1)
    assert gpu[(whole_day, "train-a", history.GPU_A)].dollars == pytest.approx(5.0 * 24, rel=0.01)
    assert gpu[(whole_day, "train-b", history.GPU_C)].hours == 7
    assert gpu[(whole_day, "train-b", history.GPU_C)].dollars == pytest.approx(10.0 * 6.5, rel=0.01)
    # Every other line is untouched, and so is every team's total.
    untouched = {k: c.dollars for k, c in former.items() if k[1].app not in ("train-a", "train-b")}
    assert untouched == {k: after[k].dollars for k in untouched}
    totals, was = charges.team_totals(), before.team_totals()
    assert set(totals) == set(was)
    for team, dollars in totals.items():
        assert dollars == pytest.approx(was[team], abs=1e-9)
    # Each day's lines stay in key order, the GPU rows among them.
    for day in days:
        keys = [c.key for c in charges.charges if c.day == day]
        assert keys == sorted(keys)


def test_gpu_dollars_beyond_a_lines_compute_are_capped() -> None:
    """A line's GPU parts never take more than its compute charge (a GPU series that outran
    its workload's): they are scaled to it, the compute row goes to 0, the day's total stays."""
    compute = ChargeKey("", "ml", "", "", "ml", "", "a", "compute")
    gpu_1 = ChargeKey("", "ml", "", "", "ml", "", "a", "gpu", "n", "GPU-1")
    gpu_2 = ChargeKey("", "ml", "", "", "ml", "", "a", "gpu", "n", "GPU-2")
    ghost = ChargeKey("", "ml", "", "", "ml", "", "ghost", "gpu", "n", "GPU-3")
    day = date(2025, 3, 1)
    lines = {compute: Charge(compute, day, 6.0, 3.0)}
    query._carve(lines, day, [(gpu_1, 6.0, 2.0), (gpu_2, 2.0, 3.0), (ghost, 4.0, 3.0)])
    assert set(lines) == {compute, gpu_1, gpu_2}
    assert (lines[gpu_1].dollars, lines[gpu_1].hours) == (4.5, 2.0)
    assert (lines[gpu_2].dollars, lines[gpu_2].hours) == (1.5, 3.0)
    assert lines[compute].dollars == 0.0
    # Within the compute charge: moved, nothing more.
    query._carve(lines, day, [(gpu_1, 1.0, 1.0)])
    assert lines[gpu_1].dollars == 4.5 and lines[compute].dollars == 0.0
    lines[compute].dollars = 2.0
    query._carve(lines, day, [(gpu_1, 0.5, 1.0)])
    assert (lines[gpu_1].dollars, lines[gpu_1].hours, lines[compute].dollars) == (5.0, 3.0, 1.5)
