"""Billing periods: one calendar month in UTC, read from `YYYY-MM`, or `yesterday`: the month
that yesterday (UTC) belongs to, read up to the end of yesterday (the daily job's period)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

HOUR = 3600
DAY = 86400
_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) of one UTC calendar month, as unix times."""

    label: str
    start: int
    end: int
    #: `yesterday`: read the period up to this time (today's 00:00 UTC), not up to now.
    until: int | None = None

    @classmethod
    def parse(cls, text: str, now: float | None = None) -> Period:
        """`2026-10` -> October 2026; `yesterday` -> the month holding yesterday (UTC, at
        `now`, default the clock), until today's 00:00. Raises ValueError naming the value."""
        if text.strip() == "yesterday":
            today = utc_date(time.time() if now is None else now)
            until = day_start(today)
            yesterday = utc_date(until - DAY)
            holding = cls.parse(f"{yesterday.year:04d}-{yesterday.month:02d}")
            return cls(holding.label, holding.start, holding.end, until)
        found = _MONTH.fullmatch(text.strip())
        if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1970:
            raise ValueError(
                f"period must be a month as YYYY-MM (e.g. 2026-10) or 'yesterday', got {text!r}"
            )
        year, month = int(found.group(1)), int(found.group(2))
        first = datetime(year, month, 1, tzinfo=UTC)
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return cls(f"{year:04d}-{month:02d}", int(first.timestamp()), int(following.timestamp()))

    def days(self) -> list[date]:
        first = utc_date(self.start)
        return [first + timedelta(days=i) for i in range((self.end - self.start) // DAY)]


def utc_date(unix_s: float) -> date:
    return datetime.fromtimestamp(unix_s, UTC).date()


def day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def iso(unix_s: float) -> str:
    """FOCUS Date/Time format: extended ISO 8601 in UTC, whole seconds, `Z` suffix."""
    return datetime.fromtimestamp(int(unix_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    """A unix time or an ISO 8601 date-time (UTC when no offset is given)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"time must be unix seconds or ISO 8601 (e.g. 2026-10-15T12:00:00Z), got {text!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
