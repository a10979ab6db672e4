"""Charges as FOCUS 1.2 rows (FinOps Open Cost and Usage Specification), CSV or Parquet.

Every Mandatory column of FOCUS 1.2 is present, then the Conditional ones that apply to a
Kubernetes platform charging its teams (SubAccount = team, Resource = namespace, Tags), then
the custom `x_` columns. The mapping and its reasons: docs/chargeback.md.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from unitcost.history.chargeback.period import DAY, HOUR, day_start, iso
from unitcost.history.chargeback.query import OWNED, Charge, ChargeKey, Charges

DEFAULT_ACCOUNT_ID = "kubernetes-platform"
DEFAULT_ACCOUNT_NAME = "Kubernetes platform"
DEFAULT_PROVIDER = "Kubernetes platform"
CURRENCY = "USD"  # docs/design.md: money is US dollars everywhere
#: Decimal places written for money and quantities: micro-dollars, so summing thousands of
#: rows still reconciles to the cent.
SCALE = 6

SERVICES = {
    # component -> (ServiceName, ServiceCategory, what the line is)
    "compute": ("Kubernetes Compute", "Compute", "allocated compute"),
    "shared": ("Kubernetes Shared Services", "Compute", "shared platform cost received"),
    "storage": ("Kubernetes Persistent Storage", "Storage", "persistent volume"),
    "network": ("Kubernetes Network", "Networking", "data transfer"),
    "shared-service": ("Kubernetes Shared Services", "Compute", "shared service split by usage"),
}

MANDATORY = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)
CONDITIONAL = (
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "SubAccountId",
    "SubAccountName",
    "Tags",
)
RECOMMENDED = ("ChargeFrequency",)
CUSTOM = (
    "x_Cluster",
    "x_Team",
    "x_Org",
    "x_CostCenter",
    "x_Namespace",
    "x_Queue",
    "x_App",
    "x_CostComponent",
)
COLUMNS = MANDATORY + CONDITIONAL + RECOMMENDED + CUSTOM
DECIMAL_COLUMNS = ("BilledCost", "ContractedCost", "EffectiveCost", "ListCost", "PricingQuantity")
DATETIME_COLUMNS = (
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargePeriodEnd",
    "ChargePeriodStart",
)


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who bills: the platform that runs the clusters (FOCUS provider, publisher, issuer)."""

    billing_account_id: str = DEFAULT_ACCOUNT_ID
    billing_account_name: str = DEFAULT_ACCOUNT_NAME
    provider: str = DEFAULT_PROVIDER


def money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-SCALE))


def rows(charges: Charges, issuer: Issuer) -> list[dict[str, Any]]:
    """One FOCUS row per line and UTC day; money and quantities as Decimal, times as ISO."""
    period = charges.period
    out: list[dict[str, Any]] = []
    for charge in charges.charges:
        out.append(_row(charge, charges, issuer, period.start, period.end))
    # Data transfer: a row per team and day (component "network"), on top of the allocated
    # cost, which it is not part of (docs/network.md).
    for (cluster, team), days in sorted(charges.network.items()):
        for day, dollars in sorted(days.items()):
            if dollars <= 0:
                continue
            start = day_start(day)
            hours = (min(start + DAY, charges.end) - start) / HOUR
            key = ChargeKey(cluster, team, "", "", "", "", "", "network")
            out.append(
                _row(Charge(key, day, dollars, hours), charges, issuer, period.start, period.end)
            )
    out.extend(_shared_service_rows(charges, issuer))
    return out


def _shared_service_rows(charges: Charges, issuer: Issuer) -> list[dict[str, Any]]:
    """Shared services split by usage (FOCUS split-cost allocation, docs/shared-services.md):
    per service, team and day, what the team was allocated (the owner's unattributed remainder
    included), and for the owner a Credit row taking its service's cost back. Over all teams
    the rows cancel: the split moves dollars, it adds none. The service and the allocation
    method are in the description and Tags (`shared_service`, `allocation_method`)."""
    period = charges.period
    out = []
    for (cluster, team, service, method), days in sorted(charges.shared_services.items()):
        for day, dollars in sorted(days.items()):
            if dollars == 0:
                continue
            start = day_start(day)
            hours = (min(start + DAY, charges.end) - start) / HOUR
            key = ChargeKey(cluster, team, "", "", "", "", "", "shared-service")
            row = _row(Charge(key, day, dollars, hours), charges, issuer, period.start, period.end)
            if method == OWNED:
                row["ChargeCategory"] = "Credit"
                what = f"Cost of shared service {service}, owned by team {team}, split to its users"
            else:
                what = f"Shared service {service} allocated to team {team} by {method}"
            row["ChargeDescription"] = f"{what}, on {day.isoformat()} ({hours:g} h)"
            tags = {"team": team, "shared_service": service, "allocation_method": method}
            row["Tags"] = json.dumps(tags, sort_keys=True, separators=(",", ":"))
            out.append(row)
    return out


def _row(
    charge: Charge, charges: Charges, issuer: Issuer, period_start: int, period_end: int
) -> dict[str, Any]:
    k = charge.key
    service, category, what = SERVICES[k.component]
    start = day_start(charge.day)
    end = min(start + DAY, charges.end)
    cost = money(charge.dollars)
    where = f"namespace {k.namespace}" if k.namespace else "no namespace detail"
    tags = {
        name: value
        for name, value in (
            ("team", k.team),
            ("org", k.org),
            ("cost_center", k.cost_center),
            ("namespace", k.namespace),
            ("queue", k.queue),
            ("app", k.app),
        )
        if value
    }
    resource_id = f"k8s://{k.cluster or 'cluster'}/namespaces/{k.namespace}" if k.namespace else ""
    return {
        "BilledCost": cost,
        "BillingAccountId": issuer.billing_account_id,
        "BillingAccountName": issuer.billing_account_name,
        "BillingCurrency": CURRENCY,
        "BillingPeriodEnd": iso(period_end),
        "BillingPeriodStart": iso(period_start),
        "ChargeCategory": "Usage",
        "ChargeClass": None,  # not a correction of an earlier period
        "ChargeDescription": (
            f"{what.capitalize()} cost of team {k.team}, {where}"
            + (f", queue {k.queue}" if k.queue else "")
            + (f", app {k.app}" if k.app else "")
            + f", on {charge.day.isoformat()} ({charge.hours:g} h)"
        ),
        "ChargePeriodEnd": iso(end),
        "ChargePeriodStart": iso(start),
        # No contract or list price separate from the allocated cost: FOCUS then requires
        # these to equal BilledCost.
        "ContractedCost": cost,
        "EffectiveCost": cost,
        "InvoiceIssuerName": issuer.provider,
        "ListCost": cost,
        "PricingQuantity": money(charge.hours),
        "PricingUnit": "Hours",
        "ProviderName": issuer.provider,
        "PublisherName": issuer.provider,
        "ServiceCategory": category,
        "ServiceName": service,
        "ResourceId": resource_id or None,
        "ResourceName": k.namespace or None,
        "ResourceType": "Kubernetes Namespace" if k.namespace else None,
        "SubAccountId": k.team,
        "SubAccountName": k.team,
        "Tags": json.dumps(tags, sort_keys=True, separators=(",", ":")),
        "ChargeFrequency": "Usage-Based",
        "x_Cluster": k.cluster,
        "x_Team": k.team,
        "x_Org": k.org,
        "x_CostCenter": k.cost_center,
        "x_Namespace": k.namespace,
        "x_Queue": k.queue,
        "x_App": k.app,
        "x_CostComponent": k.component,
    }


def to_csv(table: list[dict[str, Any]]) -> str:
    """CSV with a header; null is the empty field, decimals in plain notation."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: "" if v is None else str(v) for k, v in row.items()})
    return buffer.getvalue()


def write_parquet(table: list[dict[str, Any]], path: Path) -> None:
    """Parquet with typed columns: decimal128 money, UTC timestamps, nullable strings."""
    # Imported here: only this format needs pyarrow (which ships no type information).
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    fields = []
    for name in COLUMNS:
        if name in DECIMAL_COLUMNS:
            fields.append(pa.field(name, pa.decimal128(24, SCALE), nullable=False))
        elif name in DATETIME_COLUMNS:
            fields.append(pa.field(name, pa.timestamp("ms", tz="UTC"), nullable=False))
        else:
            fields.append(pa.field(name, pa.string()))
    schema = pa.schema(fields, metadata={"focus_version": "1.2"})
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for row in table:
        for name in COLUMNS:
            value = row[name]
            if name in DATETIME_COLUMNS:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            columns[name].append(value)
    pq.write_table(pa.Table.from_pydict(columns, schema=schema), path)
