"""Billing periods and times."""

from __future__ import annotations

from datetime import date

import pytest

from unitcost.history.chargeback.period import Period, iso, parse_time


def test_months_including_february_and_december() -> None:
    feb = Period.parse("2024-02")
    assert (iso(feb.start), iso(feb.end)) == ("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z")
    assert len(feb.days()) == 29 and feb.days()[-1] == date(2024, 2, 29)
    dec = Period.parse(" 2026-12 ")
    assert (dec.label, iso(dec.end)) == ("2026-12", "2027-01-01T00:00:00Z")
    assert len(Period.parse("2026-10").days()) == 31


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "26-10", "2026/10", "October", "1969-12"])
def test_bad_period_names_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match=f"YYYY-MM.*{bad!r}"):
        Period.parse(bad)


def test_times() -> None:
    assert parse_time("1740787200") == 1740787200.0
    assert parse_time("2025-03-01T00:00:00Z") == 1740787200.0
    assert parse_time("2025-03-01T01:00:00+01:00") == 1740787200.0
    assert parse_time("2025-03-01T00:00:00") == 1740787200.0  # UTC when no offset
    with pytest.raises(ValueError, match="'yesterday'"):
        parse_time("yesterday")


@pytest.mark.parametrize(
    ("now", "label", "until"),
    [
        # mid-month: this month, read up to today's 00:00
        ("2026-11-29T21:10:00Z", "2026-11", "2026-11-29T00:00:00Z"),
        # the 1st: yesterday closed the previous month, read whole
        ("2026-12-01T00:30:00Z", "2026-11", "2026-12-01T00:00:00Z"),
        # New Year's Day: December of the year before
        ("2027-01-01T05:00:00Z", "2026-12", "2027-01-01T00:00:00Z"),
        # the 2nd: one day of the new month
        ("2025-03-02T00:00:00Z", "2025-03", "2025-03-02T00:00:00Z"),
    ],
)
def test_yesterday_is_the_month_holding_it_up_to_today(now: str, label: str, until: str) -> None:
    period = Period.parse("yesterday", now=parse_time(now))
    assert period.label == label
    assert period.until is not None and iso(period.until) == until
    assert period.start <= period.until - 86400 < period.end
    assert Period.parse(label).until is None
