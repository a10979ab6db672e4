"""Actual AWS cost from Cost Explorer: daily, grouped by service and a cost allocation tag.

Cost Explorer bills every request (USD 0.01), so it is polled rarely (default 6 h) and only
complete UTC days are read (today's figures move all day).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from unitcost.config.clouds import AwsBillingSettings
from unitcost.sources.cloud.aws import describe_error
from unitcost.sources.poller import Poller

SOURCE_NAME = "aws-billing"
ALL_ACCOUNTS = "all"
UNTAGGED = "unassigned"


class BillingError(ValueError):
    """A Cost Explorer answer unitcost cannot use (another currency, a missing field)."""


@dataclass(frozen=True, slots=True)
class BillRow:
    #: The UTC day, YYYY-MM-DD.
    day: str
    account: str
    service: str
    team: str
    dollars: float


@dataclass(frozen=True, slots=True)
class Bill:
    rows: tuple[BillRow, ...]

    def days(self) -> list[str]:
        return sorted({r.day for r in self.rows})

    def on(self, day: str) -> list[BillRow]:
        return [r for r in self.rows if r.day == day]

    def total(self, day: str, services: Iterable[str]) -> float:
        wanted = set(services)
        return sum(r.dollars for r in self.rows if r.day == day and r.service in wanted)


def tag_value(key: str, tag: str) -> str:
    """Cost Explorer writes a tag group key as `tag$value` (`tag$` when untagged)."""
    prefix = f"{tag}$"
    value = key[len(prefix) :] if key.startswith(prefix) else key
    return value or UNTAGGED


def parse_results(
    results: Iterable[Mapping[str, Any]], metric: str, tag: str, account: str
) -> list[BillRow]:
    """ResultsByTime grouped by [SERVICE, TAG] -> rows; an error names the day and field."""
    rows = []
    for period in results:
        try:
            day = str(period["TimePeriod"]["Start"])
        except (KeyError, TypeError) as exc:
            raise BillingError(f"Cost Explorer result without TimePeriod.Start: {exc}") from exc
        for group in period.get("Groups", []):
            keys = group.get("Keys", [])
            amount = group.get("Metrics", {}).get(metric)
            if len(keys) != 2 or amount is None:
                raise BillingError(f"{day}: group {keys} has no 2 keys and {metric}")
            if amount.get("Unit", "USD") != "USD":
                raise BillingError(
                    f"{day}: {metric} is in {amount.get('Unit')!r}; unitcost needs USD "
                    "(set the billing currency of the payer account)"
                )
            try:
                dollars = float(amount["Amount"])
            except (KeyError, ValueError) as exc:
                raise BillingError(f"{day}: {keys}: {metric}.Amount {amount!r}") from exc
            rows.append(BillRow(day, account, str(keys[0]), tag_value(str(keys[1]), tag), dollars))
    return rows


class AwsBillingSource:
    """Polls Cost Explorer for the last `lookback_days` complete UTC days."""

    name = SOURCE_NAME

    def __init__(
        self,
        settings: AwsBillingSettings,
        *,
        ce_client: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._ce = ce_client
        self._clock = clock
        self.poller: Poller[Bill] = Poller(
            SOURCE_NAME,
            self.fetch,
            settings.poll_interval_seconds,
            describe=describe_error,
            clock=clock,
        )

    def _filter(self, account: str | None) -> dict[str, Any] | None:
        parts: list[dict[str, Any]] = []
        if account is not None:
            parts.append({"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [account]}})
        for key, value in sorted(self.settings.scope_tags.items()):
            parts.append({"Tags": {"Key": key, "Values": [value], "MatchOptions": ["EQUALS"]}})
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"And": parts}

    def fetch(self) -> Bill:
        s = self.settings
        today = datetime.fromtimestamp(self._clock(), UTC).date()
        request: dict[str, Any] = {
            "TimePeriod": {
                "Start": (today - timedelta(days=s.lookback_days)).isoformat(),
                "End": today.isoformat(),  # exclusive: complete days only
            },
            "Granularity": "DAILY",
            "Metrics": [s.metric],
            "GroupBy": [
                {"Type": "DIMENSION", "Key": "SERVICE"},
                {"Type": "TAG", "Key": s.team_tag},
            ],
        }
        rows: list[BillRow] = []
        # Cost Explorer groups by two keys at most: accounts are one query each.
        accounts: list[str | None] = list(s.accounts) or [None]
        for account in accounts:
            query = dict(request)
            where = self._filter(account)
            if where is not None:
                query["Filter"] = where
            while True:
                response = self._ce.get_cost_and_usage(**query)
                rows += parse_results(
                    response.get("ResultsByTime", []),
                    s.metric,
                    s.team_tag,
                    account or ALL_ACCOUNTS,
                )
                token = response.get("NextPageToken")
                if not token:
                    break
                query["NextPageToken"] = token
        return Bill(tuple(rows))
