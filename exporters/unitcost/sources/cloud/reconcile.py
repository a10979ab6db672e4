"""Estimates against the bill: the exporter integrates its own node cost per UTC day and
compares it with the billed cost of the same scope and day.

Estimated cost of a day = the integral over the day of the provider's node prices (cpu +
memory + gpu, before any correction factor), from the collects' cost frames. Time the
exporter did not see (a restart, a gap longer than `max_gap`) is filled at the day's observed
average rate, and a day is compared only once at least `min_coverage_ratio` of it was seen.
The estimates live in memory: after a restart the ratio returns once a whole day is covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from unitcost.config.clouds import CorrectionSettings
from unitcost.data.frame import CostFrame, NodePrice
from unitcost.data.model import Node, Provider
from unitcost.data.records import Reconciliation
from unitcost.pricing import PriceBook
from unitcost.sources.cloud.aws_billing import Bill

DAY = 86400.0
#: Days of estimates kept (Cost Explorer settles within ~2 days; lookback is at most 60).
KEEP_DAYS = 62


def day_of(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def day_start(day: str) -> float:
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()


@dataclass(slots=True)
class DayEstimate:
    dollars: float = 0.0
    covered_seconds: float = 0.0

    def full_day(self) -> float:
        """The day's estimate, unseen time filled at the observed average rate."""
        return self.dollars / self.covered_seconds * DAY if self.covered_seconds > 0 else 0.0


class CorrectedPriceBook(PriceBook):
    """The price book with one provider's node prices scaled by `factor`."""

    def __init__(self, base: PriceBook, provider: Provider, factor: float) -> None:
        super().__init__(base.book, base.sources)
        self.provider = provider
        self.factor = factor

    def node_price(self, node: Node) -> NodePrice:
        price = super().node_price(node)
        if node.provider is not self.provider or self.factor == 1.0:
            return price
        scaled = {r: v * self.factor for r, v in price.dollars_per_hour.items()}
        return NodePrice(scaled, price.priced, price.method)


def factor_of(book: PriceBook, provider: Provider) -> float:
    if isinstance(book, CorrectedPriceBook) and book.provider is provider:
        return book.factor
    return 1.0


class Reconciler:
    def __init__(
        self,
        provider: Provider,
        settings: CorrectionSettings,
        services: list[str],
        max_gap: float,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.services = services
        self.max_gap = max_gap
        self.days: dict[str, DayEstimate] = {}
        self._last: tuple[float, float] | None = None  # (timestamp, raw $/h) of the last frame

    def observe(self, frame: CostFrame, book: PriceBook) -> None:
        """Add the interval since the previous frame at the previous frame's rate."""
        factor = factor_of(book, self.provider)
        hourly = sum(
            n.price.dollars_per_hour["cpu"]
            + n.price.dollars_per_hour["memory"]
            + n.price.dollars_per_hour["gpu"]
            for n in frame.nodes
            if n.node.provider is self.provider
        )
        hourly /= factor  # the raw estimate, so a correction never feeds back into itself
        if self._last is not None:
            then, rate = self._last
            elapsed = frame.timestamp - then
            if 0 < elapsed <= self.max_gap:
                estimate = self.days.setdefault(day_of(then), DayEstimate())
                estimate.dollars += rate * elapsed / 3600.0
                estimate.covered_seconds += elapsed
        self._last = (frame.timestamp, hourly)
        for old in sorted(self.days)[:-KEEP_DAYS]:
            del self.days[old]

    def reconcile(self, bill: Bill | None) -> Reconciliation | None:
        """The latest billed day the exporter covered well enough, or None."""
        if bill is None:
            return None
        for day in reversed(bill.days()):
            estimate = self.days.get(day)
            if (
                estimate is None
                or estimate.covered_seconds < self.settings.min_coverage_ratio * DAY
            ):
                continue
            billed = bill.total(day, self.services)
            return Reconciliation(self.provider.value, day_start(day), estimate.full_day(), billed)
        return None

    def factor(self, reconciliation: Reconciliation | None) -> float:
        s = self.settings
        if s.mode == "fixed":
            return s.factor
        if (
            s.mode == "from_bill"
            and reconciliation is not None
            and reconciliation.estimated > 0
            and reconciliation.billed > 0
        ):
            # estimated x billed / estimated = billed: the factor is 1 / ratio, within bounds.
            wanted = reconciliation.billed / reconciliation.estimated
            return min(s.max_factor, max(s.min_factor, wanted))
        return 1.0
