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
