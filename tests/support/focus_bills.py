"""Provider-shaped FOCUS bills for the tests, from focus-data-toolkit's AWS, Azure and GCP
generators (FOCUS 1.2 and 1.3), moved to a test month and written as CSV or Parquet."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from focus_data_toolkit.generators import get_generator

Row = dict[str, str]
TIME_COLUMNS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
GENERATED_MONTH = "2026-05"  # the month the generators write


def generated(provider: str, version: str, rows: int = 120, seed: int = 7) -> list[Row]:
    data = get_generator(provider, version).generate_csv_bytes(rows, seed)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def moved(rows: Iterable[Row], month: str) -> list[Row]:
    """The rows with their periods moved from the generators' month to `month` (YYYY-MM);
    a period ending on the next month's first moves with it."""
    year, mon = (int(p) for p in month.split("-"))
    following = f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"
    out = []
    for row in rows:
        row = dict(row)
        for column in TIME_COLUMNS:
            value = row[column]
            if value.startswith(GENERATED_MONTH):
                row[column] = month + value[len(GENERATED_MONTH) :]
            elif value.startswith("2026-06-01"):
                row[column] = following + value[7:]
        out.append(row)
    return out


def write_csv(rows: list[Row], path: Path, columns: Iterable[str] | None = None) -> Path:
    header = list(columns if columns is not None else rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(rows: list[Row], path: Path) -> Path:
    """Typed as providers write Parquet: decimal money, UTC timestamps, Tags as a map."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    columns: dict[str, list[object]] = {name: [] for name in rows[0]}
    fields = []
    for name in rows[0]:
        if name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
            fields.append(pa.field(name, pa.decimal128(38, 18)))
        elif name in TIME_COLUMNS:
            fields.append(pa.field(name, pa.timestamp("ms", tz="UTC")))
        elif name == "Tags":
            fields.append(pa.field(name, pa.map_(pa.string(), pa.string())))
        else:
            fields.append(pa.field(name, pa.string()))
    for row in rows:
        for name, value in row.items():
            if name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
                columns[name].append(Decimal(value) if value else None)
            elif name in TIME_COLUMNS:
                columns[name].append(
                    datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
                )
            elif name == "Tags":
                tags = json.loads(value) if value else {}
                columns[name].append([(k, str(v)) for k, v in tags.items()])
            else:
                columns[name].append(value or None)
    pq.write_table(pa.Table.from_pydict(columns, schema=pa.schema(fields)), path)
    return path


def in_month(rows: Iterable[Row], month: str) -> list[Row]:
    return [r for r in rows if r["ChargePeriodStart"].startswith(month)]


def total(rows: Iterable[Row], column: str) -> Decimal:
    return sum((Decimal(r[column]) for r in rows), Decimal(0))
