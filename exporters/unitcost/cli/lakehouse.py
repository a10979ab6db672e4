"""`unitcost chargeback --format iceberg`: the flags and the write (docs/lakehouse.md).

The flags are stored on the click context (`expose_value=False`), so the chargeback command
carries them with one decorator and one call, whatever else it grows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from unitcost.base.errors import InputError
from unitcost.cli.options import fail, require_extra
from unitcost.config.file import load_config
from unitcost.config.lakehouse import (
    CATALOG_TYPES,
    LakehouseSettings,
    check_complete,
    with_overrides,
)

F = TypeVar("F", bound=Callable[..., Any])
_KEY = "unitcost.lakehouse"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_KEY, {})[param.name] = value


def lakehouse_options(command: F) -> F:
    """`--config`, `--catalog-type`, `--catalog-uri`, `--warehouse`, `--namespace`, `--table`:
    used by `--format iceberg`, each overriding the config's `lakehouse:` field."""
    options = [
        click.option(
            "--table",
            "table",
            callback=_store,
            expose_value=False,
            help="Iceberg table name (lakehouse.table; default focus_chargeback).",
        ),
        click.option(
            "--namespace",
            "namespace",
            callback=_store,
            expose_value=False,
            help="Iceberg namespace (lakehouse.namespace; default finops).",
        ),
        click.option(
            "--warehouse",
            "warehouse",
            callback=_store,
            expose_value=False,
            help="Warehouse location, e.g. s3://bucket/path or file:///path "
            "(lakehouse.catalog.warehouse).",
        ),
        click.option(
            "--catalog-uri",
            "uri",
            callback=_store,
            expose_value=False,
            help="Catalog URI: REST URL, thrift://, or an SQLAlchemy URL (lakehouse.catalog.uri).",
        ),
        click.option(
            "--catalog-type",
            "type",
            type=click.Choice(CATALOG_TYPES),
            callback=_store,
            expose_value=False,
            help="pyiceberg catalog type (lakehouse.catalog.type; default sql).",
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path),
            callback=_store,
            expose_value=False,
            help="Config file whose lakehouse: block says where --format iceberg writes "
            "(docs/config.md).",
        ),
    ]
    for option in options:
        command = option(command)
    return command


def lakehouse_settings() -> LakehouseSettings:
    """The config's `lakehouse:` block with the flags over it; exits 2 naming the field."""
    flags: dict[str, Any] = dict(click.get_current_context().meta.get(_KEY, {}))
    path = flags.pop("config_path", None)
    source = str(path) if path is not None else "command line"
    try:
        base = load_config(path).lakehouse
        settings = with_overrides(base, flags, source)
        check_complete(settings, source)
    except InputError as exc:
        fail(str(exc), prog="unitcost chargeback")
    return settings


def check_iceberg(output: Path | None) -> LakehouseSettings:
    """Before Prometheus is read: the extra is installed, the settings are complete and the
    catalog answers (so a wrong URI fails at once, naming the field, with nothing written)."""
    if output is not None:
        raise click.UsageError("--format iceberg writes to the catalog's table: drop --output")
    require_extra("lakehouse")
    settings = lakehouse_settings()
    from unitcost.history.chargeback.iceberg import LakehouseError, open_catalog

    try:
        open_catalog(settings)
    except LakehouseError as exc:
        fail(f"{exc} (nothing written)", prog="unitcost chargeback")
    return settings


def write_iceberg(data: Any, settings: LakehouseSettings, team: str | None) -> None:
    """Write the period's rows (a pyarrow Table); one line on stderr saying what was replaced,
    or exit 2."""
    from unitcost.history.chargeback.iceberg import LakehouseError, write_arrow

    try:
        written = write_arrow(data, settings, team=team)
    except LakehouseError as exc:
        fail(f"{exc} (nothing written)", prog="unitcost chargeback")
    except Exception as exc:  # a failed commit leaves the table at its previous snapshot
        fail(
            f"writing {settings.namespace}.{settings.table} failed, the table is left as it "
            f"was: {type(exc).__name__}: {exc}",
            prog="unitcost chargeback",
        )
    clusters = ", ".join(c or "(no cluster label)" for c in written.clusters)
    added = f"; added columns {', '.join(written.added_columns)}" if written.added_columns else ""
    click.echo(
        f"unitcost chargeback: wrote {written.rows} rows for cluster(s) {clusters} to "
        f"{written.table} (snapshot {written.snapshot_id}){added}",
        err=True,
    )
