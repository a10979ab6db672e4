"""Network prices: bytes of one traffic class and direction into US dollars (docs/network.md).

Rates are per GiB (2^30 bytes) and per provider of the node that sends or receives. Internet
egress is tiered by the month's volume: the pricer is told how much this node has already sent
this month and prices the increment across the tiers it spans. Pure once built.
"""

from __future__ import annotations

from collections.abc import Sequence

from unitcost.data.network import GIB, NAT_CLASSES, Direction, TrafficClass
from unitcost.pricing.pricebook import PriceBook
from unitcost.pricing.schema import EgressTier, NetworkRates

#: Classes priced by the internet tiers when the book has them.
TIERED = frozenset({TrafficClass.INTERNET, TrafficClass.OTHER_CLOUD})


def tiered_cost(start_gb: float, gb: float, tiers: Sequence[EgressTier]) -> float:
    """Dollars for `gb` more GiB when `start_gb` were already sent this month."""
    cost = 0.0
    position = start_gb
    remaining = gb
    for tier in tiers:
        if remaining <= 0:
            break
        top = tier.up_to_gb if tier.up_to_gb is not None else float("inf")
        if position >= top:
            continue
        take = min(remaining, top - position)
        cost += take * tier.per_gb
        position += take
        remaining -= take
    return cost


class NetworkPricer:
    """The rates of one node's provider. A provider the book has no rates for prices at 0."""

    def __init__(self, book: PriceBook, provider: str) -> None:
        self.provider = provider
        self.rates: NetworkRates | None = book.book.network.get(provider)

    @property
    def as_of(self) -> str:
        return self.rates.as_of if self.rates is not None else ""

    def dollars(
        self,
        traffic_class: TrafficClass,
        direction: Direction,
        nat: bool,
        nbytes: float,
        month_to_date_bytes: float = 0.0,
    ) -> float:
        """Cost of `nbytes` of one class and direction; `month_to_date_bytes` is this node's
        tiered egress (internet and other clouds) before these bytes."""
        rates = self.rates
        if rates is None or nbytes <= 0:
            return 0.0
        gb = nbytes / GIB
        cost = 0.0
        if nat and traffic_class in NAT_CLASSES:
            cost += gb * rates.nat_per_gb
        if direction is Direction.TRANSMIT:
            if traffic_class in TIERED and rates.internet_tiers:
                cost += tiered_cost(month_to_date_bytes / GIB, gb, rates.internet_tiers)
            else:
                cost += gb * rates.transmit_per_gb.get(traffic_class.value, 0.0)
        else:
            cost += gb * rates.receive_per_gb.get(traffic_class.value, 0.0)
        return cost
