"""Charges as FOCUS 1.2, 1.3 or 1.4 rows (FinOps Open Cost and Usage Specification), CSV or
Parquet.

One column table (`TABLE`) says which version has which column: every Mandatory column of
the version, then the Conditional ones that apply to a Kubernetes platform charging its teams
(SubAccount = team, Resource = namespace, Tags, and from 1.3 split-cost allocation), then the
custom `x_` columns. The mapping and its reasons: docs/chargeback.md.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from unitcost.history.chargeback.period import DAY, HOUR, day_start, iso
from unitcost.history.chargeback.query import OWNED, Charge, ChargeKey, Charges

DEFAULT_ACCOUNT_ID = "kubernetes-platform"
DEFAULT_ACCOUNT_NAME = "Kubernetes platform"
DEFAULT_PROVIDER = "Kubernetes platform"
CURRENCY = "USD"  # docs/design.md: money is US dollars everywhere
#: Decimal places written for money and quantities: micro-dollars, so summing thousands of
#: rows still reconciles to the cent.
SCALE = 6
#: Rows per Parquet row group: what `write_parquet` holds in memory at once.
PARQUET_BATCH_ROWS = 16_384

VERSIONS = ("1.2", "1.3", "1.4")
DEFAULT_VERSION = "1.3"

SERVICES = {
    # component -> (ServiceName, ServiceCategory, ServiceSubcategory, what the line is)
    "compute": ("Kubernetes Compute", "Compute", "Containers", "allocated compute"),
    "shared": (
        "Kubernetes Shared Services",
        "Compute",
        "Containers",
        "shared platform cost received",
    ),
    "storage": ("Kubernetes Persistent Storage", "Storage", "Block Storage", "persistent volume"),
    "network": ("Kubernetes Network", "Networking", "Network Infrastructure", "data transfer"),
    "idle": ("Kubernetes Cluster Capacity", "Compute", "Containers", "idle node capacity"),
    "unattributed": (
        "Kubernetes Unattributed",
        "Compute",
        "Containers",
        "unattributed cluster cost",
    ),
    "shared-service": (
        "Kubernetes Shared Services",
        "Compute",
        "Containers",
        "shared service split by usage",
    ),
}

#: Split-cost allocation (FOCUS 1.3 AllocatedMethodId): how each component's rows were cut
#: from the resource they name in AllocatedResourceId. docs/chargeback.md describes each.
METHODS = {
    "compute": "unitcost/max-request-usage-v1",
    "shared": "unitcost/shared-proportional-v1",
    "storage": "unitcost/volume-claim-v1",
    "network": "unitcost/network-usage-v1",
    "idle": "unitcost/idle-v1",
    "unattributed": "unitcost/unattributed-v1",
    "shared-service": "unitcost/shared-service-usage-v1",
}
#: What each method's share is of (the AllocatedMethodDetails `x_Basis`).
BASES = {
    "compute": "max(request, usage) x node price, per pod, summed per line",
    "shared": "shared services' cost spread over teams by their strategy (docs/shared-services.md)",
    "storage": "bound persistent volumes' price, per claim",
    "network": "data-transfer dollars per flow (docs/network.md)",
    "idle": "node capacity allocated to no pod",
    "unattributed": "cluster cost less team lines and idle (unbound volumes, unowned pods)",
    "shared-service": "a shared service's cost split by each team's measured usage",
}
#: Rows that belong to the cluster, not to a team.
CLUSTER_COMPONENTS = ("idle", "unattributed")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the export: its FOCUS feature level, storage type and the versions that
    have it ([since, removed) of VERSIONS)."""

    name: str
    level: str  # Mandatory, Conditional, Recommended, Custom
    kind: str = "string"  # string, decimal, datetime, json
    since: str = "1.0"
    removed: str | None = None
    #: Whether a decimal or date-time column may be null (string columns always may).
    nullable: bool = False

    def in_version(self, version: str) -> bool:
        v = _v(version)
        return _v(self.since) <= v and (self.removed is None or v < _v(self.removed))


def _v(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


#: The one column table. Levels and versions from the FOCUS specification's columns (v1.2,
#: v1.3, v1.4): ProviderName / PublisherName are deprecated in 1.3 (still present) and
#: removed in 1.4, where ServiceProviderName / HostProviderName (new in 1.3) replace them.
TABLE: tuple[Column, ...] = (
    Column("BilledCost", "Mandatory", "decimal"),
    Column("BillingAccountId", "Mandatory"),
    Column("BillingAccountName", "Mandatory"),
    Column("BillingCurrency", "Mandatory"),
    Column("BillingPeriodEnd", "Mandatory", "datetime"),
    Column("BillingPeriodStart", "Mandatory", "datetime"),
    Column("ChargeCategory", "Mandatory"),
    Column("ChargeClass", "Mandatory"),
    Column("ChargeDescription", "Mandatory"),
    Column("ChargePeriodEnd", "Mandatory", "datetime"),
    Column("ChargePeriodStart", "Mandatory", "datetime"),
    Column("ContractedCost", "Mandatory", "decimal"),
    Column("EffectiveCost", "Mandatory", "decimal"),
    Column("HostProviderName", "Mandatory", since="1.3"),
    Column("InvoiceIssuerName", "Mandatory"),
    Column("ListCost", "Mandatory", "decimal"),
    Column("PricingQuantity", "Mandatory", "decimal"),
    Column("PricingUnit", "Mandatory"),
    Column("ProviderName", "Mandatory", removed="1.4"),
    Column("PublisherName", "Mandatory", removed="1.4"),
    Column("ServiceCategory", "Mandatory"),
    Column("ServiceName", "Mandatory"),
    Column("ServiceProviderName", "Mandatory", since="1.3"),
    Column("AllocatedMethodId", "Conditional", since="1.3"),
    Column("AllocatedMethodDetails", "Recommended", "json", since="1.3"),
    Column("AllocatedResourceId", "Conditional", since="1.3"),
    Column("AllocatedResourceName", "Conditional", since="1.3"),
    Column("AllocatedTags", "Conditional", "json", since="1.3"),
    Column("InvoiceId", "Conditional", since="1.2"),
    Column("ResourceId", "Conditional"),
    Column("ResourceName", "Conditional"),
    Column("ResourceType", "Conditional"),
    Column("SubAccountId", "Conditional"),
    Column("SubAccountName", "Conditional"),
    Column("Tags", "Conditional", "json"),
    Column("ChargeFrequency", "Recommended"),
    Column("ServiceSubcategory", "Recommended", since="1.1"),
    Column("x_Cluster", "Custom"),
    Column("x_Team", "Custom"),
    Column("x_Org", "Custom"),
    Column("x_CostCenter", "Custom"),
    Column("x_Namespace", "Custom"),
    Column("x_Queue", "Custom"),
    Column("x_App", "Custom"),
    Column("x_CostComponent", "Custom"),
)


def columns(version: str = DEFAULT_VERSION) -> tuple[Column, ...]:
    """The export's columns for a FOCUS version: FOCUS ones first, then the `x_` ones."""
    if version not in VERSIONS:
        raise ValueError(f"FOCUS version must be one of {', '.join(VERSIONS)}, got {version!r}")
    return tuple(c for c in TABLE if c.in_version(version))


def column_names(version: str = DEFAULT_VERSION) -> tuple[str, ...]:
    return tuple(c.name for c in columns(version))


def of_level(level: str, version: str = DEFAULT_VERSION) -> tuple[str, ...]:
    return tuple(c.name for c in columns(version) if c.level == level)


# The FOCUS 1.2 column sets, as before (the CLI's former only version).
MANDATORY = of_level("Mandatory", "1.2")
CONDITIONAL = of_level("Conditional", "1.2")
RECOMMENDED = of_level("Recommended", "1.2")
CUSTOM = of_level("Custom", "1.2")
COLUMNS = column_names("1.2")
DECIMAL_COLUMNS = tuple(c.name for c in TABLE if c.kind == "decimal")
DATETIME_COLUMNS = tuple(c.name for c in TABLE if c.kind == "datetime")


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who bills: the platform that runs the clusters (FOCUS provider, publisher, issuer), and
    optionally who hosts it (FOCUS 1.3 HostProviderName: the cloud under the nodes)."""

    billing_account_id: str = DEFAULT_ACCOUNT_ID
    billing_account_name: str = DEFAULT_ACCOUNT_NAME
    provider: str = DEFAULT_PROVIDER
    host_provider: str | None = None


def money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-SCALE))


def rows(charges: Charges, issuer: Issuer) -> list[dict[str, Any]]:
    """One row per line and UTC day, every column of every version (`project` picks a
    version's); money and quantities as Decimal, times as ISO. All of `iter_rows` at once."""
    return list(iter_rows(charges, issuer))


def iter_rows(charges: Charges, issuer: Issuer) -> Iterator[dict[str, Any]]:
    """The rows of `rows`, one at a time, so that a writer can stream them (`write_parquet`
    converts them batch by batch and never holds a month of row dicts).

    When the cluster's own totals were read (no team filter), each cluster and day also gets
    an idle row and an unattributed row, so that the rows other than network sum to the
    cluster's cost (`cluster:unitcost_cost_dollars_per_hour:sum`) to the micro-dollar.
    """
    period = charges.period
    day_totals: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for charge in charges.charges:
        row = _row(charge, charges, issuer, period.start, period.end)
        day_totals[(charge.key.cluster, charge.day)] += row["BilledCost"]
        yield row
    # Data transfer: a row per team and day (component "network"), on top of the allocated
    # cost, which it is not part of (docs/network.md).
    for (cluster, team), days in sorted(charges.network.items()):
        for day, dollars in sorted(days.items()):
            if dollars <= 0:
                continue
            key = ChargeKey(cluster, team, "", "", "", "", "", "network")
            yield _row(
                Charge(key, day, dollars, _hours(day, charges.end)),
                charges,
                issuer,
                period.start,
                period.end,
            )
    # Idle capacity and the unattributed rest: explicit rows per cluster and day.
    for cluster, days in sorted(charges.cluster_total.items()):
        idle_days = charges.idle.get(cluster, {})
        for day, total in sorted(days.items()):
            idle_cost = money(idle_days.get(day, 0.0))
            rest = money(total) - idle_cost - day_totals.get((cluster, day), Decimal(0))
            for component, amount in (("idle", idle_cost), ("unattributed", rest)):
                if amount == 0:
                    continue
                key = ChargeKey(cluster, "", "", "", "", "", "", component)
                charge = Charge(key, day, float(amount), _hours(day, charges.end))
                row = _row(charge, charges, issuer, period.start, period.end)
                row["BilledCost"] = row["ContractedCost"] = row["EffectiveCost"] = amount
                row["ListCost"] = amount
                yield row
    yield from _shared_service_rows(charges, issuer)


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
            hours = _hours(day, charges.end)
            key = ChargeKey(cluster, team, "", "", "", "", "", "shared-service")
            row = _row(Charge(key, day, dollars, hours), charges, issuer, period.start, period.end)
            if method == OWNED:
                row["ChargeCategory"] = "Credit"
                what = f"Cost of shared service {service}, owned by team {team}, split to its users"
            else:
                what = f"Shared service {service} allocated to team {team} by {method}"
            row["ChargeDescription"] = f"{what}, on {day.isoformat()} ({hours:g} h)"
            tags = {"team": team, "shared_service": service, "allocation_method": method}
            row["Tags"] = row["AllocatedTags"] = _json(tags)
            # Cut from the service itself, not from the cluster's nodes.
            row["AllocatedResourceId"] = f"k8s://{cluster or 'cluster'}/shared-services/{service}"
            row["AllocatedResourceName"] = f"shared service {service}"
            out.append(row)
    return out


def _hours(day: date, end: float) -> float:
    start = day_start(day)
    return (min(start + DAY, end) - start) / HOUR


def project(table: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """The rows with only `version`'s columns, in its order."""
    names = column_names(version)
    return [{name: row[name] for name in names} for row in table]


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class _KeyParts(NamedTuple):
    """What a row takes from its line alone, the same on each of its days."""

    service: str
    category: str
    subcategory: str
    #: The description before its day (a cluster row) or before ", on DAY (N h)".
    description: str
    resource_id: str | None
    resource_name: str | None
    resource_type: str | None
    allocated_id: str
    allocated_name: str
    tags: str
    method: str
    #: The method details' `"x_Basis"` member, as JSON writes it.
    basis: str


@functools.lru_cache(maxsize=1 << 17)
def _key_parts(k: ChargeKey) -> _KeyParts:
    """A line's row parts, built once per line, not once per day (a month is 31 days of the
    same lines: docs/performance.md, "Chargeback")."""
    service, category, subcategory, what = SERVICES[k.component]
    cluster = k.cluster or "cluster"
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
    if k.component in CLUSTER_COMPONENTS:
        description = f"{what.capitalize()} of cluster {cluster}"
        resource_id = f"k8s://{cluster}"
        resource_name: str | None = cluster
        resource_type: str | None = "Kubernetes Cluster"
        tags = {"cluster": k.cluster} if k.cluster else {}
    else:
        where = f"namespace {k.namespace}" if k.namespace else "no namespace detail"
        description = (
            f"{what.capitalize()} cost of team {k.team}, {where}"
            + (f", queue {k.queue}" if k.queue else "")
            + (f", app {k.app}" if k.app else "")
        )
        resource_id = f"k8s://{cluster}/namespaces/{k.namespace}" if k.namespace else ""
        resource_name = k.namespace or None
        resource_type = "Kubernetes Namespace" if k.namespace else None
    allocated_id, allocated_name = _allocated_resource(k, cluster)
    return _KeyParts(
        service,
        category,
        subcategory,
        description,
        resource_id or None,
        resource_name,
        resource_type,
        allocated_id,
        allocated_name,
        _json(tags),
        METHODS[k.component],
        json.dumps(BASES[k.component]),
    )


@functools.lru_cache(maxsize=1 << 12)
def _day_parts(day: date, end: float) -> tuple[str, str, str]:
    """A day's ISO date and its charge period's start and end (FOCUS Date/Time)."""
    start = day_start(day)
    return day.isoformat(), iso(start), iso(min(start + DAY, end))


def _row(
    charge: Charge, charges: Charges, issuer: Issuer, period_start: int, period_end: int
) -> dict[str, Any]:
    k = charge.key
    parts = _key_parts(k)
    day, period_start_iso, period_end_iso = _day_parts(charge.day, charges.end)
    cost = money(charge.dollars)
    if k.component in CLUSTER_COMPONENTS:
        description = f"{parts.description} on {day}"
    else:
        description = f"{parts.description}, on {day} ({charge.hours:g} h)"
    # The share of the cluster's cost that day (of the team's, where the cluster's own total
    # was not read: a --team export).
    base = charges.cluster_total.get(k.cluster, {}).get(charge.day)
    basis = "cluster"
    if not base:
        base = charges.team_day_total(k.team_key, charge.day)
        basis = "team"
    ratio = min(max(charge.dollars / base, 0.0), 1.0) if base and base > 0 else 0.0
    # AllocatedMethodDetails as `_json` writes {"Elements": [{"AllocatedRatio", "UsageQuantity",
    # "UsageUnit", "x_Basis"}], "x_RatioOf", "x_RatioOfDollars"} (sorted keys, no spaces),
    # formatted directly (JSON writes a finite float as its repr).
    details = (
        f'{{"Elements":[{{"AllocatedRatio":{_number(round(ratio, 9))},'
        f'"UsageQuantity":{_number(round(charge.hours, 6))},"UsageUnit":"Hours",'
        f'"x_Basis":{parts.basis}}}],"x_RatioOf":"{basis} cost of the day",'
        f'"x_RatioOfDollars":"{money(base or 0.0)}"}}'
    )
    return {
        "BilledCost": cost,
        "BillingAccountId": issuer.billing_account_id,
        "BillingAccountName": issuer.billing_account_name,
        "BillingCurrency": CURRENCY,
        "BillingPeriodEnd": _iso(period_end),
        "BillingPeriodStart": _iso(period_start),
        "ChargeCategory": "Usage",
        "ChargeClass": None,  # not a correction of an earlier period
        "ChargeDescription": description,
        "ChargePeriodEnd": period_end_iso,
        "ChargePeriodStart": period_start_iso,
        # No contract or list price separate from the allocated cost: FOCUS then requires
        # these to equal BilledCost.
        "ContractedCost": cost,
        "EffectiveCost": cost,
        "HostProviderName": issuer.host_provider,
        "InvoiceIssuerName": issuer.provider,
        "ListCost": cost,
        "PricingQuantity": money(charge.hours),
        "PricingUnit": "Hours",
        "ProviderName": issuer.provider,
        "PublisherName": issuer.provider,
        "ServiceCategory": parts.category,
        "ServiceName": parts.service,
        "ServiceProviderName": issuer.provider,
        "AllocatedMethodId": parts.method,
        "AllocatedMethodDetails": details,
        "AllocatedResourceId": parts.allocated_id,
        "AllocatedResourceName": parts.allocated_name,
        "AllocatedTags": parts.tags,
        # An estimate, not a line of an issued or provisional invoice: null (FOCUS InvoiceId).
        "InvoiceId": None,
        "ResourceId": parts.resource_id,
        "ResourceName": parts.resource_name,
        "ResourceType": parts.resource_type,
        "SubAccountId": k.team or None,
        "SubAccountName": k.team or None,
        "Tags": parts.tags,
        "ChargeFrequency": "Usage-Based",
        "ServiceSubcategory": parts.subcategory,
        "x_Cluster": k.cluster,
        "x_Team": k.team,
        "x_Org": k.org,
        "x_CostCenter": k.cost_center,
        "x_Namespace": k.namespace,
        "x_Queue": k.queue,
        "x_App": k.app,
        "x_CostComponent": k.component,
    }


def _number(value: float) -> str:
    """A float as `json.dumps` writes it."""
    return repr(value) if math.isfinite(value) else json.dumps(value)


@functools.lru_cache(maxsize=64)
def _iso(unix_s: float) -> str:
    return iso(unix_s)


def _allocated_resource(k: ChargeKey, cluster: str) -> tuple[str, str]:
    """The resource a row's cost was split from (FOCUS 1.3 AllocatedResourceId / Name)."""
    if k.component == "storage":
        ns = k.namespace or "(no namespace)"
        return (
            f"k8s://{cluster}/namespaces/{ns}/persistentvolumeclaims",
            f"persistent volumes of {ns} in {cluster}",
        )
    if k.component == "shared":
        return f"k8s://{cluster}/shared-services", f"shared services of {cluster}"
    if k.component == "network":
        return f"k8s://{cluster}/network", f"network of {cluster}"
    if k.component == "unattributed":
        return f"k8s://{cluster}", f"cluster {cluster}"
    return f"k8s://{cluster}/nodes", f"nodes of {cluster}"


def to_csv(
    table: list[dict[str, Any]],
    version: str = DEFAULT_VERSION,
    cols: Sequence[Column] | None = None,
) -> str:
    """CSV of `version`'s columns (or `cols`: another dataset's) with a header; null is the
    empty field, decimals in plain notation."""
    names = tuple(c.name for c in cols) if cols is not None else column_names(version)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in table:
        writer.writerow(["" if row[n] is None else str(row[n]) for n in names])
    return buffer.getvalue()


def write_parquet(
    table: Iterable[Mapping[str, Any]],
    path: Path,
    version: str = DEFAULT_VERSION,
    cols: Sequence[Column] | None = None,
    batch_rows: int = PARQUET_BATCH_ROWS,
) -> None:
    """Parquet of `version`'s columns (or `cols`): decimal128 money, UTC timestamps, nullable
    strings (JSON columns as JSON text). Streamed: every `batch_rows` rows become one row
    group, written before the next batch is read, so memory holds one batch of rows."""
    # Imported here: only this format needs pyarrow (which ships no type information).
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    if batch_rows < 1:
        raise ValueError(f"write_parquet: batch_rows must be at least 1, got {batch_rows}")
    chosen = tuple(cols) if cols is not None else columns(version)
    fields = []
    for column in chosen:
        if column.kind == "decimal":
            fields.append(pa.field(column.name, pa.decimal128(24, SCALE), nullable=column.nullable))
        elif column.kind == "datetime":
            fields.append(
                pa.field(column.name, pa.timestamp("ms", tz="UTC"), nullable=column.nullable)
            )
        else:
            fields.append(pa.field(column.name, pa.string()))
    schema = pa.schema(fields, metadata={"focus_version": version})
    names = tuple(c.name for c in chosen)
    datetimes = {c.name for c in chosen if c.kind == "datetime"}
    # A month has few distinct instants (days, the period's edges): parse each once.
    parsed: dict[str, datetime] = {}

    def instant(value: str) -> datetime:
        when = parsed.get(value)
        if when is None:
            when = parsed[value] = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return when

    def empty() -> dict[str, list[Any]]:
        return {name: [] for name in names}

    with pq.ParquetWriter(path, schema) as writer:
        data = empty()
        count = 0
        written = False
        for row in table:
            for name in names:
                value = row[name]
                if value is not None and name in datetimes:
                    value = instant(value)
                data[name].append(value)
            count += 1
            if count == batch_rows:
                writer.write_table(pa.Table.from_pydict(data, schema=schema))
                written = True
                data, count = empty(), 0
        if count or not written:
            writer.write_table(pa.Table.from_pydict(data, schema=schema))
