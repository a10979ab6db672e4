"""A provider's FOCUS export (the bill), read for one billing month.

Reads the Cost and Usage data a cloud provider exports in FOCUS 1.2 or later, as CSV (plain or
gzip) or Parquet: AWS Data Exports ("FOCUS 1.2 with AWS columns": extra `x_` columns, user
tags keyed `user:...`), Azure Cost Management and GCP's FOCUS view. FOCUS 1.3 names the
provider `ServiceProviderName` (and `HostProviderName`) and 1.4 drops `ProviderName`; either
is accepted. Only the columns reconciliation needs are read (docs/chargeback.md, "Reading a
provider bill"); a file without one of them is refused with the file and the column named.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from unitcost.history.chargeback.period import Period

#: Columns every bill must have (FOCUS Mandatory in 1.2, 1.3 and 1.4).
REQUIRED = (
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargeCategory",
    "ServiceCategory",
)
#: Who provided the service: 1.3+ name first, then the 1.2 name (deprecated in 1.3, gone in 1.4).
PROVIDER_COLUMNS = ("ServiceProviderName", "ProviderName")
#: What a line can be matched to a cluster by: at least one must be present.
MATCH_COLUMNS = ("ResourceId", "Tags")
OPTIONAL = ("ResourceName",)
CURRENCY = "USD"


class BillError(ValueError):
    """A bill that cannot be read: the message names the file and the column or value."""


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line of the bill, reduced to what reconciliation reads."""

    provider: str
    service_category: str
    charge_category: str
    resource_id: str
    resource_name: str
    tags: Mapping[str, str]
    billed: Decimal
    effective: Decimal
    start: float


@dataclass(slots=True)
class Bill:
    """A bill's lines that fall in the period, and what was read."""

    path: Path
    period: Period
    #: "1.2" when the provider column is ProviderName only, "1.3+" with ServiceProviderName.
    shape: str
    rows_read: int
    lines: list[BillLine] = field(default_factory=list)


def read_bill(path: Path, period: Period) -> Bill:
    """The bill's lines whose ChargePeriodStart lies in `period`. Raises BillError naming the
    file and the column (missing, or a value that is not money, a time or USD)."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise BillError(f"{path}: cannot read the bill: {exc.strerror or exc}") from None
    if magic == b"PAR1":
        header, records = _parquet(path)
    else:
        header, records = _csv(path, gzipped=magic[:2] == b"\x1f\x8b")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise BillError(
            f"{path}: not a FOCUS cost and usage file: no column {missing[0]!r}"
            + (f" (nor {', '.join(repr(m) for m in missing[1:])})" if len(missing) > 1 else "")
        )
    provider_column = next((c for c in PROVIDER_COLUMNS if c in header), None)
    if provider_column is None:
        raise BillError(
            f"{path}: no provider column: FOCUS 1.3+ names it 'ServiceProviderName', "
            "1.2 'ProviderName'; the file has neither"
        )
    if not any(c in header for c in MATCH_COLUMNS):
        raise BillError(
            f"{path}: no column 'ResourceId' nor 'Tags': nothing to match the lines to a cluster by"
        )
    bill = Bill(path, period, "1.3+" if provider_column == "ServiceProviderName" else "1.2", 0)
    for number, record in enumerate(records, start=2 if magic != b"PAR1" else 1):
        bill.rows_read += 1
        where = f"{path}: row {number}"
        start = _time(record.get("ChargePeriodStart"), where, "ChargePeriodStart")
        if not period.start <= start < period.end:
            continue
        currency = _text(record.get("BillingCurrency"))
        if currency != CURRENCY:
            raise BillError(
                f"{where}: column 'BillingCurrency' is {currency!r}: unitcost's estimates are "
                f"in {CURRENCY}, so this bill cannot be compared with them"
            )
        bill.lines.append(
            BillLine(
                provider=_text(record.get(provider_column)),
                service_category=_text(record.get("ServiceCategory")),
                charge_category=_text(record.get("ChargeCategory")),
                resource_id=_text(record.get("ResourceId")),
                resource_name=_text(record.get("ResourceName")),
                tags=_tags(record.get("Tags"), where),
                billed=_money(record.get("BilledCost"), where, "BilledCost"),
                effective=_money(record.get("EffectiveCost"), where, "EffectiveCost"),
                start=start,
            )
        )
    return bill


def _csv(path: Path, *, gzipped: bool) -> tuple[list[str], Iterator[Mapping[str, Any]]]:
    raw = path.read_bytes()
    if gzipped:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise BillError(f"{path}: not a readable gzip file: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BillError(f"{path}: neither Parquet nor UTF-8 CSV") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        raise BillError(f"{path}: empty file: no header row")
    reader.fieldnames = header
    return header, iter(reader)


def _parquet(path: Path) -> tuple[list[str], Iterator[Mapping[str, Any]]]:
    # Imported here: only Parquet bills need pyarrow (the `chargeback` extra).
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise BillError(
            f"{path}: a Parquet bill needs pyarrow: pip install 'unitcost[chargeback]'"
        ) from None
    try:
        schema = pq.read_schema(path)
        header = list(schema.names)
        wanted = [
            c for c in (*REQUIRED, *PROVIDER_COLUMNS, *MATCH_COLUMNS, *OPTIONAL) if c in header
        ]
        table = pq.read_table(path, columns=wanted)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError variants
        raise BillError(f"{path}: not a readable Parquet file: {exc}") from None
    return header, _batches(table)


def _batches(table: Any) -> Iterator[Mapping[str, Any]]:
    for batch in table.to_batches(max_chunksize=65536):
        yield from batch.to_pylist()


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _money(value: Any, where: str, column: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(repr(value))
    text = _text(value)
    try:
        parsed = Decimal(text)
    except InvalidOperation:
        parsed = None
    if parsed is None or not parsed.is_finite():
        raise BillError(f"{where}: column {column!r} is {text!r}, not a decimal amount")
    return parsed


def _time(value: Any, where: str, column: str) -> float:
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BillError(
                f"{where}: column {column!r} is {text!r}, not an ISO 8601 date-time"
            ) from None
    if moment.tzinfo is None:  # FOCUS date-times are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _tags(value: Any, where: str) -> dict[str, str]:
    """FOCUS Tags: a JSON object in CSV, a map (list of pairs) or struct in Parquet. AWS
    prefixes user-defined tag keys with `user:`; that prefix is dropped."""
    if value is None or value == "":
        return {}
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(value, Mapping):
        pairs = value.items()
    elif isinstance(value, list):
        pairs = (tuple(p) if not isinstance(p, Mapping) else (p["key"], p["value"]) for p in value)
    else:
        try:
            parsed = json.loads(str(value))
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise BillError(f"{where}: column 'Tags' is {str(value)[:80]!r}, not a JSON object")
        pairs = parsed.items()
    out: dict[str, str] = {}
    for key, tag_value in pairs:
        name = str(key).removeprefix("user:")
        out[name] = "" if tag_value is None else str(tag_value)
    return out
