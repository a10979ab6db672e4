"""Charges read from the real Prometheus reconcile with the month-to-date rule to the cent."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from support import cost_history as history
from support.prometheus import Prometheus
from unitcost.history.chargeback.period import Period, parse_time
from unitcost.history.chargeback.query import read_charges
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
    assert train_day1["train-a"].dollars == pytest.approx(12.5 * 24, rel=0.01)
    assert train_day1["train-b"].dollars == pytest.approx(30.0 * 6.5, rel=0.01)
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
