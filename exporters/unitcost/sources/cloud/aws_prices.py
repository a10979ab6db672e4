"""Live EC2 prices: on-demand from the AWS Pricing API, spot from EC2 spot price history.

They become a price book layer above the bundled defaults and the user's files
(docs/pricebook.md): `hourly` and `spot_hourly` of the instance types read; everything else
(on-prem classes, spot and committed discounts, storage) still comes from the files below.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import fmean
from typing import Any

from unitcost.config.clouds import AwsSettings
from unitcost.sources.cloud.aws import describe_error
from unitcost.sources.poller import Poller

log = logging.getLogger(__name__)
SOURCE_NAME = "aws-pricing"

#: Pricing API `operatingSystem` -> spot `ProductDescription`.
SPOT_PRODUCT = {
    "Linux": "Linux/UNIX",
    "Windows": "Windows",
    "RHEL": "Red Hat Enterprise Linux",
    "SUSE": "SUSE Linux",
}


class PriceListError(ValueError):
    """A Pricing API answer that does not have the documented shape."""


@dataclass(frozen=True, slots=True)
class LivePrices:
    #: Instance type -> on-demand dollars per hour.
    on_demand: dict[str, float] = field(default_factory=dict)
    #: Instance type -> spot dollars per hour (mean of the latest price in each zone).
    spot: dict[str, float] = field(default_factory=dict)
    #: The UTC day the prices were read (the price book's `as_of`).
    as_of: str = ""


def on_demand_hourly(item: str | Mapping[str, Any]) -> tuple[str, float] | None:
    """One PriceList entry (a JSON string, as get_products returns it) -> (instance type,
    USD per hour); None when it has no positive hourly USD price."""
    try:
        product = json.loads(item) if isinstance(item, str) else item
        instance_type = str(product["product"]["attributes"]["instanceType"])
        terms = product["terms"].get("OnDemand", {})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PriceListError(f"PriceList entry without product.attributes / terms: {exc}") from exc
    prices = []
    for term in terms.values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if dimension.get("unit") not in {"Hrs", "Hours"} or usd is None:
                continue
            try:
                value = float(usd)
            except ValueError as exc:
                raise PriceListError(f"{instance_type}: pricePerUnit.USD {usd!r}") from exc
            if value > 0:
                prices.append(value)
    return (instance_type, min(prices)) if prices else None


def latest_spot(history: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """SpotPriceHistory entries -> instance type -> mean over zones of each zone's latest price."""
    latest: dict[tuple[str, str], tuple[datetime, float]] = {}
    for entry in history:
        key = (str(entry["InstanceType"]), str(entry["AvailabilityZone"]))
        stamp: datetime = entry["Timestamp"]
        price = float(entry["SpotPrice"])
        if key not in latest or stamp > latest[key][0]:
            latest[key] = (stamp, price)
    by_type: dict[str, list[float]] = {}
    for (instance_type, _zone), (_stamp, price) in latest.items():
        if price > 0:
            by_type.setdefault(instance_type, []).append(price)
    return {t: fmean(prices) for t, prices in by_type.items()}


def price_layer(prices: LivePrices, known: Mapping[str, Any]) -> dict[str, Any]:
    """The price book layer for `prices`. A spot price for a type with no on-demand price in
    this layer or below (`known`: the aws instance types already priced) is left out, since a
    price book entry needs `hourly`."""
    types: dict[str, dict[str, Any]] = {}
    for instance_type in sorted(set(prices.on_demand) | set(prices.spot)):
        entry: dict[str, Any] = {"as_of": prices.as_of}
        if instance_type in prices.on_demand:
            entry["hourly"] = prices.on_demand[instance_type]
        elif instance_type not in known:
            continue
        if instance_type in prices.spot:
            entry["spot_hourly"] = prices.spot[instance_type]
        types[instance_type] = entry
    return {"providers": {"aws": {"instance_types": types}}}


class AwsPriceSource:
    """Reads the prices of the wanted instance types every `ttl_seconds`, in the background."""

    name = SOURCE_NAME

    def __init__(
        self,
        settings: AwsSettings,
        *,
        pricing_client: Any,
        ec2_client: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings.pricing
        self._pricing = pricing_client
        self._ec2 = ec2_client
        self._clock = clock
        self._lock = threading.Lock()
        self._wanted: set[str] = set(self.settings.instance_types)
        self.poller: Poller[LivePrices] = Poller(
            SOURCE_NAME, self.fetch, self.settings.ttl_seconds, describe=describe_error, clock=clock
        )

    def want(self, instance_types: Iterable[str]) -> None:
        """Add the instance types of the cluster's AWS nodes; new ones are read at once."""
        with self._lock:
            new = set(instance_types) - self._wanted
            self._wanted |= new
        if new:
            log.info("aws-pricing: reading prices for %s", ", ".join(sorted(new)))
            self.poller.wake()

    @property
    def wanted(self) -> list[str]:
        with self._lock:
            return sorted(self._wanted)

    def fetch(self) -> LivePrices:
        wanted = self.wanted
        on_demand: dict[str, float] = {}
        for instance_type in wanted:
            hourly = self._on_demand(instance_type)
            if hourly is None:
                log.warning(
                    "aws-pricing: no on-demand %s price for %s in %s",
                    self.settings.operating_system,
                    instance_type,
                    self.settings.region,
                )
            else:
                on_demand[instance_type] = hourly
        spot = self._spot(wanted) if self.settings.spot and wanted else {}
        day = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%d")
        return LivePrices(on_demand, spot, day)

    def _on_demand(self, instance_type: str) -> float | None:
        s = self.settings
        filters = [
            ("instanceType", instance_type),
            ("regionCode", s.region),
            ("operatingSystem", s.operating_system),
            ("tenancy", s.tenancy),
            ("preInstalledSw", "NA"),
            ("capacitystatus", "Used"),
        ]
        request: dict[str, Any] = {
            "ServiceCode": "AmazonEC2",
            "FormatVersion": "aws_v1",
            "Filters": [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in filters],
        }
        found: list[float] = []
        while True:
            response = self._pricing.get_products(**request)
            for item in response.get("PriceList", []):
                parsed = on_demand_hourly(item)
                if parsed is not None and parsed[0] == instance_type:
                    found.append(parsed[1])
            token = response.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
        # Several SKUs only when license models differ: the cheapest is the plain one.
        return min(found) if found else None

    def _spot(self, instance_types: list[str]) -> dict[str, float]:
        request: dict[str, Any] = {
            "InstanceTypes": instance_types,
            "ProductDescriptions": [SPOT_PRODUCT[self.settings.operating_system]],
            # A start time of now returns the price in force now, one entry per zone.
            "StartTime": datetime.fromtimestamp(self._clock(), UTC),
        }
        history: list[dict[str, Any]] = []
        while True:
            response = self._ec2.describe_spot_price_history(**request)
            history += response.get("SpotPriceHistory", [])
            token = response.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
        return latest_spot(history)
