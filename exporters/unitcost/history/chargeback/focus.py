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
import itertools
import json
import math
import operator
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from unitcost.history.chargeback.period import DAY, HOUR, day_start, iso
from unitcost.history.chargeback.query import OWNED, Charge, ChargeKey, Charges, TeamKey

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
    # A pod's hold on a GPU: still container compute (FOCUS has no GPU subcategory).
    "gpu": ("Kubernetes GPU", "Compute", "Containers", "GPU held"),
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
    "gpu": "unitcost/gpu-holding-v1",
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
    "gpu": "the device's price held by the line's pods (whole, MIG slice, replica, MPS, "
    "fraction, DRA claim), at the line's compute share of the team's cost",
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
#: Every column of every version, in TABLE's order (what `column_batches` yields).
ALL_COLUMNS = tuple(c.name for c in TABLE)
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
    """The rows of `column_batches`, one dict at a time (CSV, the HTML statement)."""
    for batch in column_batches(charges, issuer):
        names = tuple(batch)
        for values in zip(*(batch[name] for name in names), strict=True):
            yield dict(zip(names, values, strict=True))


def column_batches(
    charges: Charges,
    issuer: Issuer,
    batch_rows: int = PARQUET_BATCH_ROWS,
    stream: Iterable[list[Charge]] | None = None,
) -> Iterator[dict[str, list[Any]]]:
    """Every row of the export, as batches of at most `batch_rows` rows, column by column
    (every column of every version: `project` and the writers pick a version's). One row
    per line and UTC day (money and quantities as Decimal, times as ISO); the lines' rows are
    built a column at a time, which is what makes a month of 20,000 workloads fast
    (docs/performance.md, "Chargeback").

    When the cluster's own totals were read (no team filter), each cluster and day also gets
    an idle row and an unattributed row, so that the rows other than network sum to the
    cluster's cost (`cluster:unitcost_cost_dollars_per_hour:sum`) to the micro-dollar.

    `stream`, when given, streams the lines' charges (`query.iter_days`: a day's lines at a
    time, in order) in place of `charges.charges`; no row of it is kept.
    """
    if batch_rows < 1:
        raise ValueError(f"column_batches: batch_rows must be at least 1, got {batch_rows}")
    day_totals: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    # Each team's charges per day: what a row's ratio is of in a --team export (`_base`).
    team_days: dict[tuple[TeamKey, date], float] = {}
    any_line = False
    for lines in _by_day(charges.charges) if stream is None else stream:
        for charge in lines:
            day_key = (charge.key.team_key, charge.day)
            team_days[day_key] = team_days.get(day_key, 0.0) + charge.dollars
        for first in range(0, len(lines), batch_rows):
            batch = lines[first : first + batch_rows]
            columns = _columns(batch, charges, issuer, team_days)
            for charge, cost in zip(batch, columns["BilledCost"], strict=True):
                day_totals[(charge.key.cluster, charge.day)] += cost
            any_line = True
            yield columns
    extra: list[dict[str, Any]] = []
    # Data transfer: a row per team and day (component "network"), on top of the allocated
    # cost, which it is not part of (docs/network.md).
    for (cluster, team), days in sorted(charges.network.items()):
        for day, dollars in sorted(days.items()):
            if dollars <= 0:
                continue
            key = ChargeKey(cluster, team, "", "", "", "", "", "network")
            charge = Charge(key, day, dollars, _hours(day, charges.end))
            extra.append(_row(charge, charges, issuer, team_days))
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
                row = _row(charge, charges, issuer, team_days)
                row["BilledCost"] = row["ContractedCost"] = row["EffectiveCost"] = amount
                row["ListCost"] = amount
                extra.append(row)
    extra.extend(_shared_service_rows(charges, issuer, team_days))
    for first in range(0, len(extra), batch_rows):
        yield _to_columns(extra[first : first + batch_rows], ALL_COLUMNS)
    if not any_line and not extra:
        yield {name: [] for name in ALL_COLUMNS}


def _by_day(charges: list[Charge]) -> Iterator[list[Charge]]:
    """The charges (in day order) cut into days."""
    for _, lines in itertools.groupby(charges, key=operator.attrgetter("day")):
        yield list(lines)


def _to_columns(table: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in table] for name in names}


def _shared_service_rows(
    charges: Charges, issuer: Issuer, team_days: Mapping[tuple[TeamKey, date], float]
) -> list[dict[str, Any]]:
    """Shared services split by usage (FOCUS split-cost allocation, docs/shared-services.md):
    per service, team and day, what the team was allocated (the owner's unattributed remainder
    included), and for the owner a Credit row taking its service's cost back. Over all teams
    the rows cancel: the split moves dollars, it adds none. The service and the allocation
    method are in the description and Tags (`shared_service`, `allocation_method`)."""
    out = []
    for (cluster, team, service, method), days in sorted(charges.shared_services.items()):
        for day, dollars in sorted(days.items()):
            if dollars == 0:
                continue
            hours = _hours(day, charges.end)
            key = ChargeKey(cluster, team, "", "", "", "", "", "shared-service")
            row = _row(Charge(key, day, dollars, hours), charges, issuer, team_days)
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


@functools.cache  # one entry per line of the export (120,000 at 20k)
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
    if k.component == "gpu":
        # The device it was carved from, in the tags too (FOCUS 1.2 has no Allocated* columns).
        tags["node"] = k.node
        tags["gpu"] = k.gpu
    if k.component in CLUSTER_COMPONENTS:
        description = f"{what.capitalize()} of cluster {cluster}"
        resource_id = f"k8s://{cluster}"
        resource_name: str | None = cluster
        resource_type: str | None = "Kubernetes Cluster"
        tags = {"cluster": k.cluster} if k.cluster else {}
    else:
        where = f"namespace {k.namespace}" if k.namespace else "no namespace detail"
        owner = (
            f"Cost of GPU {k.gpu} on node {k.node} held by team {k.team}"
            if k.component == "gpu"
            else f"{what.capitalize()} cost of team {k.team}"
        )
        description = (
            f"{owner}, {where}"
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
        _basis_json(k.component),
    )


@functools.lru_cache(maxsize=16)
def _basis_json(component: str) -> str:
    return json.dumps(BASES[component])


@functools.lru_cache(maxsize=1 << 12)
def _day_parts(day: date, end: float) -> tuple[str, str, str]:
    """A day's ISO date and its charge period's start and end (FOCUS Date/Time)."""
    start = day_start(day)
    return day.isoformat(), iso(start), iso(min(start + DAY, end))


def _row(
    charge: Charge,
    charges: Charges,
    issuer: Issuer,
    team_days: Mapping[tuple[TeamKey, date], float],
) -> dict[str, Any]:
    """One line's row (the network, idle and shared-service rows, which then set their own
    columns): `_columns` of that line alone."""
    columns = _columns([charge], charges, issuer, team_days)
    return {name: values[0] for name, values in columns.items()}


def _columns(
    batch: Sequence[Charge],
    charges: Charges,
    issuer: Issuer,
    team_days: Mapping[tuple[TeamKey, date], float],
) -> dict[str, list[Any]]:
    """The rows of `batch`, column by column: what a line alone decides (`_key_parts`) is
    built once per line and repeated; what changes per row (cost, hours, day, its share of
    the day) is built in one pass."""
    n = len(batch)
    parts = [_key_parts(c.key) for c in batch]
    days = [_day_parts(c.day, charges.end) for c in batch]
    costs = [money(c.dollars) for c in batch]
    quantities = [_quantity(c.hours) for c in batch]
    descriptions = [
        p.description + _description_end(c.key.component in CLUSTER_COMPONENTS, d[0], c.hours)
        for c, p, d in zip(batch, parts, days, strict=True)
    ]
    # Each row's share of the cluster's cost that day (of the team's, where the cluster's
    # own total was not read: a --team export), with what it is a share of.
    bases: dict[tuple[str, str, date], tuple[float | None, str]] = {}
    details = []
    for c, p in zip(batch, parts, strict=True):
        k = c.key
        found = bases.get((k.cluster, k.team, c.day))
        if found is None:
            found = bases[(k.cluster, k.team, c.day)] = _base(c, charges, team_days)
        base, basis = found
        ratio = min(max(c.dollars / base, 0.0), 1.0) if base and base > 0 else 0.0
        details.append(
            f'{{"Elements":[{{"AllocatedRatio":{_number(round(ratio, 9))},'
            + _details_end(c.hours, p.basis, basis, base)
        )
    keys = [c.key for c in batch]
    period = charges.period

    def same(value: Any) -> list[Any]:
        return [value] * n

    return {
        "BilledCost": costs,
        "BillingAccountId": same(issuer.billing_account_id),
        "BillingAccountName": same(issuer.billing_account_name),
        "BillingCurrency": same(CURRENCY),
        "BillingPeriodEnd": same(_iso(period.end)),
        "BillingPeriodStart": same(_iso(period.start)),
        "ChargeCategory": same("Usage"),
        "ChargeClass": same(None),  # not a correction of an earlier period
        "ChargeDescription": descriptions,
        "ChargePeriodEnd": [d[2] for d in days],
        "ChargePeriodStart": [d[1] for d in days],
        # No contract or list price separate from the allocated cost: FOCUS then requires
        # these to equal BilledCost.
        "ContractedCost": costs,
        "EffectiveCost": costs,
        "HostProviderName": same(issuer.host_provider),
        "InvoiceIssuerName": same(issuer.provider),
        "ListCost": costs,
        "PricingQuantity": quantities,
        "PricingUnit": same("Hours"),
        "ProviderName": same(issuer.provider),
        "PublisherName": same(issuer.provider),
        "ServiceCategory": [p.category for p in parts],
        "ServiceName": [p.service for p in parts],
        "ServiceProviderName": same(issuer.provider),
        "AllocatedMethodId": [p.method for p in parts],
        "AllocatedMethodDetails": details,
        "AllocatedResourceId": [p.allocated_id for p in parts],
        "AllocatedResourceName": [p.allocated_name for p in parts],
        "AllocatedTags": [p.tags for p in parts],
        # An estimate, not a line of an issued or provisional invoice: null (FOCUS InvoiceId).
        "InvoiceId": same(None),
        "ResourceId": [p.resource_id for p in parts],
        "ResourceName": [p.resource_name for p in parts],
        "ResourceType": [p.resource_type for p in parts],
        "SubAccountId": [k.team or None for k in keys],
        "SubAccountName": [k.team or None for k in keys],
        "Tags": [p.tags for p in parts],
        "ChargeFrequency": same("Usage-Based"),
        "ServiceSubcategory": [p.subcategory for p in parts],
        "x_Cluster": [k.cluster for k in keys],
        "x_Team": [k.team for k in keys],
        "x_Org": [k.org for k in keys],
        "x_CostCenter": [k.cost_center for k in keys],
        "x_Namespace": [k.namespace for k in keys],
        "x_Queue": [k.queue for k in keys],
        "x_App": [k.app for k in keys],
        "x_CostComponent": [k.component for k in keys],
    }


def _base(
    charge: Charge, charges: Charges, team_days: Mapping[tuple[TeamKey, date], float]
) -> tuple[float | None, str]:
    """What a row's AllocatedRatio is a share of: the cluster's cost that day, or the team's
    (network rows aside) where the cluster's own total was not read (a --team export)."""
    k = charge.key
    base = charges.cluster_total.get(k.cluster, {}).get(charge.day)
    if base:
        return base, "cluster"
    return team_days.get((k.team_key, charge.day), 0.0), "team"


@functools.lru_cache(maxsize=1 << 14)
def _description_end(cluster_row: bool, day: str, hours: float) -> str:
    return f" on {day}" if cluster_row else f", on {day} ({hours:g} h)"


@functools.lru_cache(maxsize=1 << 16)
def _details_end(hours: float, basis_json: str, ratio_of: str, base: float | None) -> str:
    """AllocatedMethodDetails after its ratio. The whole is what `_json` writes for
    {"Elements": [{"AllocatedRatio", "UsageQuantity", "UsageUnit", "x_Basis"}], "x_RatioOf",
    "x_RatioOfDollars"} (sorted keys, no spaces), formatted directly (JSON writes a finite
    float as its repr); all but the ratio repeat across a day's rows."""
    return (
        f'"UsageQuantity":{_number(round(hours, 6))},"UsageUnit":"Hours",'
        f'"x_Basis":{basis_json}}}],"x_RatioOf":"{ratio_of} cost of the day",'
        f'"x_RatioOfDollars":"{money(base or 0.0)}"}}'
    )


@functools.lru_cache(maxsize=1 << 12)
def _quantity(hours: float) -> Decimal:
    """PricingQuantity: a line's hours that day (a few distinct values)."""
    return money(hours)


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
    if k.component == "gpu":
        return f"k8s://{cluster}/nodes/{k.node}/gpus/{k.gpu}", f"GPU {k.gpu} on {k.node}"
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
    """Parquet of rows (`write_parquet_batches`), `batch_rows` rows to a row group."""
    if batch_rows < 1:
        raise ValueError(f"write_parquet: batch_rows must be at least 1, got {batch_rows}")
    chosen = tuple(cols) if cols is not None else columns(version)
    names = tuple(c.name for c in chosen)

    def batches() -> Iterator[dict[str, list[Any]]]:
        batch: list[Mapping[str, Any]] = []
        for row in table:
            batch.append(row)
            if len(batch) == batch_rows:
                yield _to_columns(batch, names)
                batch = []
        if batch:
            yield _to_columns(batch, names)

    write_parquet_batches(batches(), path, version, cols)


def write_parquet_batches(
    batches: Iterable[Mapping[str, Sequence[Any]]],
    path: Path,
    version: str = DEFAULT_VERSION,
    cols: Sequence[Column] | None = None,
) -> None:
    """Parquet of `version`'s columns (or `cols`): decimal128 money, UTC timestamps, nullable
    strings (JSON columns as JSON text). Streamed: each batch of columns (`column_batches`)
    becomes one row group, written before the next is built, so memory holds one batch."""
    # Imported here: only this format needs pyarrow (which ships no type information).
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    schema = arrow_schema(version, cols)
    # Written beside the target and moved onto it once complete: a read that fails mid-way
    # (the batches are streamed from Prometheus) leaves no truncated export, nor clobbers
    # an earlier good one.
    partial = path.with_name(f".{path.name}.partial")
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            written = False
            for table in arrow_tables(batches, version, cols):
                if written and not table.num_rows:
                    continue
                writer.write_table(table)
                written = True
            if not written:
                writer.write_table(schema.empty_table())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def arrow_schema(version: str = DEFAULT_VERSION, cols: Sequence[Column] | None = None) -> Any:
    """The Arrow schema of `version`'s columns (or `cols`): decimal128 money, UTC timestamps,
    nullable strings (JSON columns as JSON text)."""
    import pyarrow as pa

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
    return pa.schema(fields, metadata={"focus_version": version})


def arrow_tables(
    batches: Iterable[Mapping[str, Sequence[Any]]],
    version: str = DEFAULT_VERSION,
    cols: Sequence[Column] | None = None,
) -> Iterator[Any]:
    """Each batch of columns (`column_batches`) as a pyarrow Table of `arrow_schema`."""
    import pyarrow as pa

    chosen = tuple(cols) if cols is not None else columns(version)
    schema = arrow_schema(version, cols)
    for batch in batches:
        # The four cost columns are one list (`_columns`): converted once.
        converted: dict[int, Any] = {}
        arrays = []
        for column, field in zip(chosen, schema, strict=True):
            values = batch[column.name]
            array = converted.get(id(values))
            if array is None:
                if column.kind == "datetime" or (column.kind == "decimal" and None not in values):
                    # ISO times and decimals as text: Arrow parses them in C, several times
                    # faster than it converts datetime or Decimal objects.
                    text = values if column.kind == "datetime" else [str(v) for v in values]
                    array = pa.array(text, pa.string()).cast(field.type)
                else:
                    array = pa.array(values, field.type)
                converted[id(values)] = array
            arrays.append(array)
        yield pa.Table.from_arrays(arrays, schema=schema)
