"""Chargeback rows into an Apache Iceberg table through pyiceberg (docs/lakehouse.md).

The table holds the FOCUS rows of history/chargeback/focus.py, typed as `--format
focus-parquet` types them (decimal money, UTC timestamps, strings), whatever columns the rows
carry: a column the table lacks (a newer FOCUS version's, a new `x_` one) is added by name
before the write (schema evolution), a column the rows lack stays null.

Partitioned by billing period (identity on `BillingPeriodStart`, a month start, so one
partition per month; no Rust transform extension needed) and cluster (`x_Cluster`). A write
replaces the (period, cluster) rows it covers (and only that team's with `--team`): one
transaction deletes them and appends the new ones, committed at once, so re-running a month
never duplicates it and a write that fails leaves the table at its previous snapshot.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from unitcost.config.lakehouse import LakehouseSettings, catalog_properties
from unitcost.history.chargeback.focus import SCALE, TABLE, Column

PERIOD_COLUMN = "BillingPeriodStart"
CLUSTER_COLUMN = "x_Cluster"
TEAM_COLUMN = "x_Team"
#: Decimal(24, 6): micro-dollars up to 10^18 dollars, as the Parquet export writes them.
PRECISION = 24
#: Every FOCUS column of every version the export knows: its storage kind and nullability.
KNOWN: dict[str, Column] = {c.name: c for c in TABLE}


class LakehouseError(Exception):
    """The catalog or table cannot be used; `str()` names the config field. Nothing written."""


@dataclass(frozen=True, slots=True)
class Written:
    """What one write did."""

    table: str
    rows: int
    clusters: tuple[str, ...]
    snapshot_id: int | None
    #: The snapshot the table was at before (None: the table was new or empty).
    previous_snapshot_id: int | None
    added_columns: tuple[str, ...]


def arrow_table(rows: Sequence[dict[str, Any]]) -> Any:
    """The rows as a pyarrow Table: columns in the rows' own order (first row first, then any
    column a later row adds), typed by focus.TABLE as the Parquet export types them (decimal
    money and quantities, UTC timestamps, strings, JSON as text; decimal and date-time columns
    required unless the table says they may be null); a column focus.TABLE does not know is
    decimal when its values are Decimal, else a nullable string."""
    import pyarrow as pa  # type: ignore[import-untyped]

    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    fields = []
    columns: dict[str, list[Any]] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        column = KNOWN.get(name)
        if column is not None:
            kind = column.kind
        else:
            kind = "decimal" if isinstance(_first(values), Decimal) else "string"
        required = column is not None and not column.nullable and kind in ("decimal", "datetime")
        if kind == "datetime":
            parsed: dict[Any, datetime | None] = {}  # a month has few distinct instants
            values = [
                parsed[v] if v in parsed else parsed.setdefault(v, _timestamp(v)) for v in values
            ]
            field = pa.field(name, pa.timestamp("ms", tz="UTC"), nullable=not required)
        elif kind == "decimal":
            field = pa.field(name, pa.decimal128(PRECISION, SCALE), nullable=not required)
        else:
            values = [None if v is None else str(v) for v in values]
            field = pa.field(name, pa.string())
        fields.append(field)
        columns[name] = values
    return pa.Table.from_pydict(columns, schema=pa.schema(fields))


def _first(values: list[Any]) -> Any:
    """The column's first non-null value: what its type is read from."""
    return next((v for v in values if v is not None), None)


def _timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def open_catalog(settings: LakehouseSettings) -> Any:
    """pyiceberg's catalog for the block; LakehouseError naming the field when it cannot be
    loaded or reached (pyiceberg reaches a REST catalog, or creates an SQL one's tables, here)."""
    from pyiceberg.catalog import load_catalog
    from pyiceberg.exceptions import NotInstalledError

    catalog = settings.catalog
    try:
        with _quiet():
            return load_catalog(catalog.name, **catalog_properties(catalog))
    except NotInstalledError as exc:
        raise LakehouseError(
            f"lakehouse.catalog.type: a {catalog.type!r} catalog needs a pyiceberg extra "
            f"that is not installed: {exc}"
        ) from exc
    except Exception as exc:
        raise _unreachable(settings, exc) from exc


def _unreachable(settings: LakehouseSettings, exc: BaseException) -> LakehouseError:
    catalog = settings.catalog
    where = f" at {catalog.uri!r}" if catalog.uri else ""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return LakehouseError(
        f"lakehouse.catalog.uri: cannot reach the {catalog.type!r} catalog{where}: {detail}"
    )


def write_rows(
    rows: Sequence[dict[str, Any]],
    settings: LakehouseSettings,
    *,
    team: str | None = None,
) -> Written:
    """Replace the (billing period, cluster) rows these rows cover with them, in one commit."""
    if not rows:
        raise ValueError("no chargeback rows to write")
    return write_arrow(arrow_table(rows), settings, team=team)


def write_arrow(data: Any, settings: LakehouseSettings, *, team: str | None = None) -> Written:
    """`write_rows` for rows already in a pyarrow Table (the CLI's, built column by column;
    the benchmark's month). Rows without a cluster get `settings.cluster`, when set."""
    from pyiceberg import expressions

    # pyiceberg's predicates are pydantic models whose generated signatures mypy reads
    # instead of their own __init__(term, literal): called through Any.
    ops: Any = expressions
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    if not data.num_rows:
        raise ValueError("no chargeback rows to write")
    if settings.cluster:
        if CLUSTER_COLUMN in data.schema.names:
            column = data.column(CLUSTER_COLUMN)
            named = pc.and_(pc.is_valid(column), pc.not_equal(column, ""))
            filled = pc.if_else(pc.fill_null(named, False), column, settings.cluster)
            data = data.set_column(
                data.schema.get_field_index(CLUSTER_COLUMN), CLUSTER_COLUMN, filled
            )
        else:
            data = data.append_column(
                pa.field(CLUSTER_COLUMN, pa.string()),
                pa.array([settings.cluster] * data.num_rows, pa.string()),
            )

    periods = pc.unique(data.column(PERIOD_COLUMN)).to_pylist()
    if len(periods) != 1:
        raise ValueError(f"rows span {len(periods)} billing periods; write one period at a time")
    [period] = periods
    clusters = tuple(sorted({c or "" for c in pc.unique(data.column(CLUSTER_COLUMN)).to_pylist()}))
    catalog = open_catalog(settings)
    table = _table(catalog, settings, data.schema)
    previous = table.current_snapshot()
    known = {field.name for field in table.schema().fields}
    added = tuple(name for name in data.schema.names if name not in known)
    condition = ops.And(
        ops.EqualTo(PERIOD_COLUMN, period.isoformat()), ops.In(CLUSTER_COLUMN, set(clusters))
    )
    if team is not None:
        condition = ops.And(condition, ops.EqualTo(TEAM_COLUMN, team))
    properties = {
        "unitcost.billing-period": period.strftime("%Y-%m"),
        "unitcost.clusters": ",".join(clusters),
    }
    with _quiet(), table.transaction() as transaction:
        if added:
            with transaction.update_schema() as update:
                update.union_by_name(data.schema)
        transaction.overwrite(data, overwrite_filter=condition, snapshot_properties=properties)
    table = catalog.load_table(_identifier(settings))
    snapshot = table.current_snapshot()
    return Written(
        table=_identifier(settings),
        rows=data.num_rows,
        clusters=clusters,
        snapshot_id=None if snapshot is None else snapshot.snapshot_id,
        previous_snapshot_id=None if previous is None else previous.snapshot_id,
        added_columns=added,
    )


def _identifier(settings: LakehouseSettings) -> str:
    return f"{settings.namespace}.{settings.table}"


def _table(catalog: Any, settings: LakehouseSettings, schema: Any) -> Any:
    """Load the table, or create it (namespace too) partitioned by period and cluster."""
    from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError

    identifier = _identifier(settings)
    try:
        with _quiet():
            try:
                return catalog.load_table(identifier)
            except NoSuchTableError:
                pass
            catalog.create_namespace_if_not_exists(settings.namespace)
            try:
                creating = catalog.create_table_transaction(identifier, schema=schema)
                with creating.update_spec() as spec:
                    spec.add_identity(PERIOD_COLUMN)
                    spec.add_identity(CLUSTER_COLUMN)
                creating.commit_transaction()
            except TableAlreadyExistsError:  # another writer created it meanwhile
                pass
            return catalog.load_table(identifier)
    except Exception as exc:
        raise _unreachable(settings, exc) from exc


@contextmanager
def _quiet() -> Iterator[None]:
    """pyiceberg warns when an overwrite's delete matches nothing: the first write of a
    period, expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Delete operation did not match any records")
        yield


def read_table(settings: LakehouseSettings) -> Any:
    """The whole table as a pyarrow Table (the demo, the tests)."""
    catalog = open_catalog(settings)
    return catalog.load_table(_identifier(settings)).scan().to_arrow()
