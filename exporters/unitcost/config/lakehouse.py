"""The `lakehouse:` config block: where `unitcost chargeback --format iceberg` writes
(docs/lakehouse.md). The `--catalog-*` / `--warehouse` / `--namespace` / `--table` flags of
cli/lakehouse.py override it field by field.

Kept apart from history/chargeback/iceberg.py so loading a config never imports pyiceberg.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from unitcost.base.errors import InputError, describe_validation_error

#: The pyiceberg catalog implementations unitcost is documented and tested against (the SQL
#: one in the tests and the demo); each is pyiceberg's `type` property of the same name.
CatalogType = Literal["rest", "glue", "hive", "sql"]
CATALOG_TYPES: tuple[str, ...] = ("rest", "glue", "hive", "sql")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class CatalogSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: pyiceberg catalog type: rest (Polaris, Nessie, Unity, Tabular...), glue, hive, sql.
    type: CatalogType = "sql"
    #: Name the catalog is known by (pyiceberg's catalog name; also its .pyiceberg.yaml key).
    name: str = "unitcost"
    #: REST: `https://host/api/catalog`; Hive: `thrift://host:9083`; SQL: an SQLAlchemy URL
    #: (`sqlite:////var/lib/unitcost/catalog.db`, `postgresql+psycopg2://...`); Glue: unused.
    uri: str = ""
    #: Where data files go: `s3://bucket/prefix`, `gs://...`, `file:///path` (REST catalogs
    #: usually name a warehouse, not a path).
    warehouse: str = ""
    #: Further pyiceberg catalog properties, passed as they are (`s3.endpoint`, `credential`,
    #: `token`, `glue.region`, `client.region`...): docs at py.iceberg.apache.org/configuration.
    properties: dict[str, str] = Field(default_factory=dict)


class LakehouseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    namespace: str = "finops"
    table: str = "focus_chargeback"
    #: `x_Cluster` for rows whose series carry no cluster label (a cluster's own Prometheus
    #: that does not add one). Set it when several such clusters write one table: their rows
    #: would otherwise share the empty cluster and replace each other's month.
    cluster: str = ""

    @field_validator("namespace", "table")
    @classmethod
    def _identifier(cls, value: str) -> str:
        for part in value.split("."):
            if not _IDENTIFIER.fullmatch(part):
                raise ValueError(
                    "must be letters, digits and underscores, not starting with a digit "
                    f"(dots separate nested namespaces), got {value!r}"
                )
        return value


def with_overrides(
    settings: LakehouseSettings, overrides: dict[str, Any], source: str = "command line"
) -> LakehouseSettings:
    """The block with flags laid over it: keys `type`, `uri`, `warehouse` (catalog fields),
    `namespace`, `table`; None values are left out. Raises InputError naming the field."""
    catalog = {k: v for k, v in overrides.items() if k in ("type", "uri", "warehouse") and v}
    top = {k: v for k, v in overrides.items() if k in ("namespace", "table") and v}
    data = settings.model_dump()
    data["catalog"].update(catalog)
    data.update(top)
    try:
        return _Block.model_validate({"lakehouse": data}).lakehouse
    except ValidationError as exc:
        raise describe_validation_error(source, exc) from exc


class _Block(BaseModel):
    """Validates the block under its own name, so errors read `lakehouse.catalog.type`."""

    lakehouse: LakehouseSettings


def catalog_properties(settings: CatalogSettings) -> dict[str, str]:
    """pyiceberg's `load_catalog(name, **properties)` properties for this block."""
    properties = dict(settings.properties)
    properties["type"] = settings.type
    if settings.uri:
        properties["uri"] = settings.uri
    if settings.warehouse:
        properties["warehouse"] = settings.warehouse
    return properties


def check_complete(settings: LakehouseSettings, source: str) -> None:
    """The fields a catalog type cannot do without, named when missing."""
    needs = {"rest": ("uri",), "hive": ("uri",), "sql": ("uri", "warehouse"), "glue": ()}
    missing = [f for f in needs[settings.catalog.type] if not getattr(settings.catalog, f)]
    if missing:
        fields = ", ".join(f"lakehouse.catalog.{f}" for f in missing)
        raise InputError(
            f"{source}: {fields}: required for a {settings.catalog.type!r} catalog "
            "(config file or --catalog-uri / --warehouse)"
        )
