"""The FOCUS 1.3 Contract Commitment dataset: one row per spend commitment the price book
declares (`providers.<p>.commitments`), with its period and how much of it the estimates
applied in the billing period.

"Applied" is what the nodes the estimates price at the provider's `committed_discount`
(capacity type `committed`) cost in the part of the billing period the commitment covers, read
from Prometheus as the chargeback reads everything else: each whole hour's average of the
node cost, plus the hour in progress. An hour's applied dollars are shared among the
provider's commitments active in it in proportion to their hourly amounts.
docs/chargeback.md, "Contract commitments".
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from unitcost.history.chargeback.focus import CURRENCY, Column, money
from unitcost.history.chargeback.period import HOUR, Period, iso
from unitcost.pricing.schema import Commitment, PriceBookFile
from unitcost.sources.promapi import PrometheusAPI

#: What the committed nodes cost, per provider ($/h): node cost joined to node info.
COMMITTED_RATE = (
    "sum by (provider) (sum by (cluster, node) ("
    "max by (cluster, node, resource) (unitcost_node_cost_dollars_per_hour))"
    " * on (cluster, node) group_left (provider)"
    ' topk by (cluster, node) (1, unitcost_node_info{capacity_type="committed"}))'
)

#: The Contract Commitment dataset's columns in FOCUS 1.3 (all of them Mandatory), then ours.
COLUMNS: tuple[Column, ...] = (
    Column("BillingCurrency", "Mandatory", since="1.3"),
    Column("ContractCommitmentCategory", "Mandatory", since="1.3"),
    Column("ContractCommitmentCost", "Mandatory", "decimal", since="1.3", nullable=True),
    Column("ContractCommitmentDescription", "Mandatory", since="1.3"),
    Column("ContractCommitmentId", "Mandatory", since="1.3"),
    Column("ContractCommitmentPeriodEnd", "Mandatory", "datetime", since="1.3"),
    Column("ContractCommitmentPeriodStart", "Mandatory", "datetime", since="1.3"),
    Column("ContractCommitmentQuantity", "Mandatory", "decimal", since="1.3", nullable=True),
    Column("ContractCommitmentType", "Mandatory", since="1.3"),
    Column("ContractCommitmentUnit", "Mandatory", since="1.3"),
    Column("ContractId", "Mandatory", since="1.3"),
    Column("ContractPeriodEnd", "Mandatory", "datetime", since="1.3"),
    Column("ContractPeriodStart", "Mandatory", "datetime", since="1.3"),
    Column("x_Provider", "Custom"),
    Column("x_PeriodCommittedCost", "Custom", "decimal"),
    Column("x_AppliedCost", "Custom", "decimal"),
    Column("x_AppliedRatio", "Custom", "decimal", nullable=True),
)


class NoCommitments(ValueError):
    """The price book declares no commitment."""


def declared(book: PriceBookFile) -> list[tuple[str, Commitment]]:
    """(provider, commitment) for each commitment of the price book, by provider and id."""
    out = [
        (provider, commitment)
        for provider, prices in sorted(book.providers.items())
        for commitment in sorted(prices.commitments, key=lambda c: c.id)
    ]
    if not out:
        raise NoCommitments(
            "the price book declares no commitments (providers.<aws|gcp>.commitments: "
            "docs/pricebook.md)"
        )
    return out


def _unix(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def read_committed(api: PrometheusAPI, period: Period, end: float) -> dict[str, dict[float, float]]:
    """Per provider: dollars of committed nodes per hour start in the period (the hour in
    progress as rate x elapsed fraction)."""
    out: dict[str, dict[float, float]] = defaultdict(dict)
    last_full_hour = int(end) // HOUR * HOUR
    if last_full_hour >= period.start + HOUR:
        promql = f"avg_over_time(({COMMITTED_RATE})[1h:1m])"
        for series in api.query_range(
            promql, start=period.start + HOUR, end=last_full_hour, step_s=HOUR
        ):
            points = out[series.labels.get("provider", "")]
            for t, v in series.points:
                points[t - HOUR] = points.get(t - HOUR, 0.0) + v
    if end > last_full_hour:
        fraction = (end - last_full_hour) / HOUR
        for sample in api.query(COMMITTED_RATE, at=end):
            points = out[sample.labels.get("provider", "")]
            points[last_full_hour] = points.get(last_full_hour, 0.0) + sample.value * fraction
    return {k: dict(v) for k, v in out.items()}


def rows(
    commitments: list[tuple[str, Commitment]],
    committed: dict[str, dict[float, float]],
    period: Period,
    end: float,
) -> list[dict[str, Any]]:
    """One Contract Commitment row per commitment; `committed` from `read_committed`."""
    active: dict[tuple[str, float], list[Commitment]] = defaultdict(list)
    for provider, commitment in commitments:
        for hour in committed.get(provider, {}):
            if _unix(commitment.start) <= hour < _unix(commitment.end):
                active[(provider, hour)].append(commitment)
    applied: dict[str, float] = defaultdict(float)
    for (provider, hour), sharing in active.items():
        dollars = committed[provider][hour]
        total = sum(c.hourly_commitment for c in sharing)
        for commitment in sharing:
            applied[commitment.id] += dollars * commitment.hourly_commitment / total
    out = []
    for provider, commitment in commitments:
        start, stop = _unix(commitment.start), _unix(commitment.end)
        overlap = max(0.0, min(stop, end) - max(start, period.start)) / HOUR
        period_cost = money(commitment.hourly_commitment * overlap)
        used = money(applied.get(commitment.id, 0.0))
        ratio = (used / period_cost).quantize(Decimal("0.000001")) if period_cost else None
        out.append(
            {
                "BillingCurrency": CURRENCY,
                "ContractCommitmentCategory": "Spend",
                "ContractCommitmentCost": money(
                    commitment.hourly_commitment * (stop - start) / HOUR
                ),
                "ContractCommitmentDescription": commitment.description
                or f"{commitment.type} {commitment.id}: ${commitment.hourly_commitment:g}/h",
                "ContractCommitmentId": commitment.id,
                "ContractCommitmentPeriodEnd": iso(stop),
                "ContractCommitmentPeriodStart": iso(start),
                "ContractCommitmentQuantity": None,  # a spend commitment: no quantity
                "ContractCommitmentType": commitment.type,
                "ContractCommitmentUnit": None,
                "ContractId": commitment.contract_id or commitment.id,
                "ContractPeriodEnd": iso(stop),
                "ContractPeriodStart": iso(start),
                "x_Provider": provider,
                "x_PeriodCommittedCost": period_cost,
                "x_AppliedCost": used,
                "x_AppliedRatio": ratio,
            }
        )
    return out
