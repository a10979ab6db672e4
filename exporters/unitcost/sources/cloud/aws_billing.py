"""Actual AWS cost from Cost Explorer: daily, grouped by service and a cost allocation tag,
and the data-transfer lines grouped by usage type (docs/network.md, "Reconciliation").

Cost Explorer bills every request (USD 0.01), so it is polled rarely (default 6 h) and only
complete UTC days are read (today's figures move all day).
"""

from __future__ import annotations

import re
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

#: AWS usage types of data transfer -> the destination class of unitcost's network metrics.
#: The region prefix (`USE1-`, `USW2-`, none for us-east-1 on older lines) is ignored.
TRANSFER_TYPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:^|-)DataTransfer-Regional-Bytes$"), "other-zone"),
    (re.compile(r"(?:^|-)DataTransfer-(?:Out|In)-Bytes$"), "internet"),
    (re.compile(r"^[A-Z0-9]+-[A-Z0-9]+-AWS-(?:Out|In)-Bytes$"), "other-region"),
    (re.compile(r"(?:^|-)NatGateway-Bytes$"), "nat"),
)
TRANSFER_CLASSES = ("other-zone", "other-region", "internet", "nat")


def transfer_class(usage_type: str) -> str | None:
    """The destination class of a data-transfer usage type; None for any other usage."""
    for pattern, destination in TRANSFER_TYPES:
        if pattern.search(usage_type):
            return destination
    return None


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
class TransferRow:
    """The data-transfer lines of one day and account, summed per destination class."""

    day: str
    account: str
    destination: str
    dollars: float


@dataclass(frozen=True, slots=True)
class Bill:
    rows: tuple[BillRow, ...]
    transfer: tuple[TransferRow, ...] = ()

    def days(self) -> list[str]:
        return sorted({r.day for r in self.rows})

    def on(self, day: str) -> list[BillRow]:
        return [r for r in self.rows if r.day == day]

    def total(self, day: str, services: Iterable[str]) -> float:
        wanted = set(services)
        return sum(r.dollars for r in self.rows if r.day == day and r.service in wanted)

    def transfer_on(self, day: str) -> list[TransferRow]:
        return [r for r in self.transfer if r.day == day]


def tag_value(key: str, tag: str) -> str:
    """Cost Explorer writes a tag group key as `tag$value` (`tag$` when untagged)."""
    prefix = f"{tag}$"
    value = key[len(prefix) :] if key.startswith(prefix) else key
    return value or UNTAGGED


def _groups(
    results: Iterable[Mapping[str, Any]], metric: str, nkeys: int
) -> Iterable[tuple[str, list[str], float]]:
    """(day, keys, dollars) of each group; an error names the day and field."""
    for period in results:
        try:
            day = str(period["TimePeriod"]["Start"])
        except (KeyError, TypeError) as exc:
            raise BillingError(f"Cost Explorer result without TimePeriod.Start: {exc}") from exc
        for group in period.get("Groups", []):
            keys = group.get("Keys", [])
            amount = group.get("Metrics", {}).get(metric)
            if len(keys) != nkeys or amount is None:
                raise BillingError(f"{day}: group {keys} has no {nkeys} keys and {metric}")
            if amount.get("Unit", "USD") != "USD":
                raise BillingError(
                    f"{day}: {metric} is in {amount.get('Unit')!r}; unitcost needs USD "
                    "(set the billing currency of the payer account)"
                )
            try:
                dollars = float(amount["Amount"])
            except (KeyError, ValueError) as exc:
                raise BillingError(f"{day}: {keys}: {metric}.Amount {amount!r}") from exc
            yield day, [str(k) for k in keys], dollars


def parse_results(
    results: Iterable[Mapping[str, Any]], metric: str, tag: str, account: str
) -> list[BillRow]:
    """ResultsByTime grouped by [SERVICE, TAG] -> rows; an error names the day and field."""
    return [
        BillRow(day, account, keys[0], tag_value(keys[1], tag), dollars)
        for day, keys, dollars in _groups(results, metric, 2)
    ]


def parse_transfer(
    results: Iterable[Mapping[str, Any]], metric: str, account: str
) -> list[TransferRow]:
    """ResultsByTime grouped by [USAGE_TYPE] -> the data-transfer lines summed per day and
    destination class; other usage types are left out."""
    sums: dict[tuple[str, str], float] = {}
    for day, keys, dollars in _groups(results, metric, 1):
        destination = transfer_class(keys[0])
        if destination is not None:
            sums[(day, destination)] = sums.get((day, destination), 0.0) + dollars
    return [TransferRow(day, account, dest, dollars) for (day, dest), dollars in sums.items()]


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
        transfer: list[TransferRow] = []
        # Cost Explorer groups by two keys at most: accounts are one query each.
        accounts: list[str | None] = list(s.accounts) or [None]
        for account in accounts:
            name = account or ALL_ACCOUNTS
            for results in self._pages(request, account):
                rows += parse_results(results, s.metric, s.team_tag, name)
            if s.data_transfer:
                by_usage = {**request, "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}]}
                for results in self._pages(by_usage, account):
                    transfer += parse_transfer(results, s.metric, name)
        return Bill(tuple(rows), tuple(transfer))

    def _pages(self, request: dict[str, Any], account: str | None) -> Iterable[Any]:
        """ResultsByTime of each page of one request, scoped to the account and tags."""
        query = dict(request)
        where = self._filter(account)
        if where is not None:
            query["Filter"] = where
        while True:
            response = self._ce.get_cost_and_usage(**query)
            yield response.get("ResultsByTime", [])
            token = response.get("NextPageToken")
            if not token:
                return
            query["NextPageToken"] = token
