"""The cloud parts the collector consults: the live price book, the bill, reconciliation.

`with_clouds()` builds them from the `clouds:` config; the collector calls `pricebook()` before
allocating, `observe()` after, and serves `latest_billing()` and `health()`.
"""

from __future__ import annotations

from typing import Any

from unitcost.base.errors import deep_merge
from unitcost.config.clouds import CloudsSettings
from unitcost.data.frame import CostFrame
from unitcost.data.model import Provider
from unitcost.data.records import (
    BilledCost,
    BilledTransfer,
    CloudBilling,
    Reconciliation,
    SourceHealth,
)
from unitcost.pricing import PriceBook
from unitcost.pricing.schema import PriceBookFile
from unitcost.sources.base import Source
from unitcost.sources.cloud import aws as aws_api
from unitcost.sources.cloud.aws_billing import AwsBillingSource
from unitcost.sources.cloud.aws_prices import AwsPriceSource, price_layer
from unitcost.sources.cloud.gcp_usage import GkeUsageReader, GkeUsageSource
from unitcost.sources.cloud.reconcile import CorrectedPriceBook, Reconciler, day_start
from unitcost.sources.poller import Poller


class CloudServices:
    def __init__(
        self,
        settings: CloudsSettings,
        *,
        collect_interval: float,
        prices: AwsPriceSource | None = None,
        billing: AwsBillingSource | None = None,
        gke: GkeUsageSource | None = None,
    ) -> None:
        self.settings = settings
        self.prices = prices
        self.billing = billing
        #: Started here; its health and close go through the source it wraps.
        self.gke = gke
        aws = settings.aws
        self.reconciler = Reconciler(
            Provider.AWS,
            aws.correction,
            aws.billing.reconcile_services,
            # A gap longer than a few missed collects is time the exporter did not see.
            max_gap=max(3 * collect_interval, 120.0),
        )
        self._book: PriceBook | None = None
        self._book_key: tuple[object, object, float] = (None, None, 1.0)

    def pollers(self) -> list[Poller[Any]]:
        """The AWS pollers (the GKE one is the wrapped source's)."""
        out: list[Poller[Any]] = []
        if self.prices is not None:
            out.append(self.prices.poller)
        if self.billing is not None:
            out.append(self.billing.poller)
        return out

    def start(self, wait_seconds: float = 0.0) -> None:
        everything: list[Poller[Any]] = [*self.pollers()]
        if self.gke is not None:
            everything.append(self.gke.reader.poller)
        for poller in everything:
            poller.start()
        for poller in everything:  # serve live prices from the first collect if quick
            poller.polled.wait(wait_seconds)

    def close(self) -> None:
        for poller in self.pollers():
            poller.stop(timeout=0)
        for poller in self.pollers():
            poller.stop()

    # -- prices ---------------------------------------------------------------------------
    def _live_book(self, base: PriceBook) -> PriceBook:
        live = self.prices.poller.value if self.prices is not None else None
        if live is None or not (live.on_demand or live.spot):
            return base
        known = base.book.providers.get("aws")
        layer = price_layer(live, known.instance_types if known else {})
        merged = deep_merge(base.book.model_dump(), layer)
        source = f"live AWS prices {self.settings.aws.pricing.region} {live.as_of}"
        return PriceBook(PriceBookFile.model_validate(merged), (*base.sources, source))

    def pricebook(self, base: PriceBook) -> PriceBook:
        """`base` (bundled < files) < live AWS prices, with the correction factor on top.
        Rebuilt only when the base (a hot reload), the live prices or the factor change."""
        live = self.prices.poller.value if self.prices is not None else None
        factor = self.reconciler.factor(self.reconciliation())
        old_base, old_live, old_factor = self._book_key  # kept alive, so `is` is safe
        if (
            self._book is None
            or old_base is not base
            or old_live is not live
            or old_factor != factor
        ):
            book = self._live_book(base)
            self._book = CorrectedPriceBook(book, Provider.AWS, factor) if factor != 1.0 else book
            self._book_key = (base, live, factor)
        return self._book

    # -- after each collect ---------------------------------------------------------------
    def observe(self, frame: CostFrame | None, book: PriceBook) -> None:
        if frame is None:
            return
        if self.prices is not None:
            self.prices.want(
                n.node.instance_type for n in frame.nodes if n.node.provider is Provider.AWS
            )
        self.reconciler.observe(frame, book)

    def reconciliation(self) -> Reconciliation | None:
        bill = self.billing.poller.value if self.billing is not None else None
        return self.reconciler.reconcile(bill)

    def latest_billing(self) -> CloudBilling:
        bill = self.billing.poller.value if self.billing is not None else None
        billed: list[BilledCost] = []
        billed_day: dict[str, float] = {}
        transfer: dict[tuple[str, str], float] = {}
        if bill is not None and bill.days():
            latest = bill.days()[-1]
            billed_day["aws"] = day_start(latest)
            billed = [
                BilledCost("aws", r.account, r.service, r.team, r.dollars) for r in bill.on(latest)
            ]
            for t in bill.transfer_on(latest):  # pages may split a day's class: summed here
                transfer[(t.account, t.destination)] = (
                    transfer.get((t.account, t.destination), 0.0) + t.dollars
                )
        reconciliation = self.reconciliation()
        corrections = {}
        if self.settings.aws.correction.mode != "off":
            corrections["aws"] = self.reconciler.factor(reconciliation)
        return CloudBilling(
            tuple(billed),
            billed_day,
            (reconciliation,) if reconciliation else (),
            corrections,
            tuple(BilledTransfer("aws", a, d, v) for (a, d), v in sorted(transfer.items())),
        )

    def health(self) -> list[SourceHealth]:
        return [poller.health() for poller in self.pollers()]


def with_clouds(
    settings: CloudsSettings,
    source: Source,
    *,
    collect_interval: float,
    stale_after: float,
) -> tuple[Source, CloudServices | None]:
    """The source (wrapped for GKE usage when configured) and the cloud services (None when
    no cloud part is enabled). Nothing is started: `CloudServices.start()` does that."""
    if not settings.any_enabled:
        return source, None
    gke = None
    if settings.gcp.monitoring.enabled:
        gke = GkeUsageSource(
            source, GkeUsageReader(settings.gcp.monitoring), stale_after=stale_after
        )
        source = gke
    aws = settings.aws
    prices = billing = None
    if aws.pricing.enabled:
        prices = AwsPriceSource(
            aws,
            pricing_client=aws_api.client("pricing", aws.pricing.pricing_api_region, aws),
            ec2_client=aws_api.client("ec2", aws.pricing.region, aws),
        )
    if aws.billing.enabled:
        # Cost Explorer has one endpoint, in us-east-1.
        billing = AwsBillingSource(aws.billing, ce_client=aws_api.client("ce", "us-east-1", aws))
    cloud = CloudServices(
        settings,
        collect_interval=collect_interval,
        prices=prices,
        billing=billing,
        gke=gke,
    )
    return source, cloud
