"""Chargeback rows in an Iceberg table (history/chargeback/iceberg.py): written through a real
pyiceberg SQL catalog (SQLite) and file warehouse in tmp_path, read back through pyiceberg and
Ray Data, replaced per (period, cluster), evolving its schema by name, and left as it was by a
write that fails half way."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from support.prometheus import Prometheus
from unitcost.cli.main import main
from unitcost.config.lakehouse import CatalogSettings, LakehouseSettings, catalog_properties
from unitcost.history.chargeback.focus import DEFAULT_VERSION, Issuer, column_names, project, rows
from unitcost.history.chargeback.iceberg import (
    LakehouseError,
    arrow_table,
    open_catalog,
    read_table,
    write_rows,
)
from unitcost.history.chargeback.period import Period
from unitcost.history.chargeback.query import Charge, ChargeKey, Charges

MARCH = Period.parse("2025-03")
AT = "2025-03-02T10:20:34Z"


@pytest.fixture
def lake(tmp_path: Path) -> LakehouseSettings:
    return LakehouseSettings(
        catalog=CatalogSettings(
            type="sql",
            uri=f"sqlite:///{tmp_path}/catalog.db",
            warehouse=f"file://{tmp_path}/warehouse",
        )
    )


def month_rows(cluster: str, scale: float = 1.0, version: str = "1.2") -> list[dict[str, Any]]:
    """A month of FOCUS rows as focus.rows() makes them and `--focus-version` projects them:
    two teams, two namespaces each, three components, every day of March 2025."""
    charges = []
    for day in MARCH.days():
        for t, team in enumerate(("ml", "data")):
            for n, namespace in enumerate((f"{team}-a", f"{team}-b")):
                for c, component in enumerate(("compute", "shared", "storage")):
                    key = ChargeKey(
                        cluster, team, "research", f"cc-{team}", namespace, "q", "app", component
                    )
                    dollars = scale * (1.234567 + t * 3.3 + n * 0.7 + c * 0.11 + day.day / 97)
                    charges.append(Charge(key, day, dollars, 24.0))
    return project(rows(Charges(MARCH, MARCH.end, charges), Issuer(host_provider="AWS")), version)


def totals(table: Iterable[dict[str, Any]]) -> dict[tuple[str, str], Decimal]:
    """BilledCost per (team, cluster), exact micro-dollars."""
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in table:
        out[(row["x_Team"], row["x_Cluster"])] += Decimal(str(row["BilledCost"]))
    return dict(out)


def scan(settings: LakehouseSettings) -> list[dict[str, Any]]:
    return list(read_table(settings).to_pylist())


def snapshot_id(settings: LakehouseSettings) -> int:
    table = open_catalog(settings).load_table(f"{settings.namespace}.{settings.table}")
    return int(table.current_snapshot().snapshot_id)


#: Ray Data's read in a Python of its own: Ray's threads in the pytest worker would make a later
#: fork in that worker (pyroute2's network-namespace sockets) hang.
RAY_READ = """
import json, sys
import ray
ray.data.DataContext.get_current().enable_progress_bars = False
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
try:
    table, catalog = json.loads(sys.argv[1])
    dataset = ray.data.read_iceberg(table_identifier=table, catalog_kwargs=catalog)
    grouped = dataset.groupby(["x_Team", "x_Cluster"], num_partitions=1).sum("BilledCost")
    rows = grouped.take_all()
finally:
    ray.shutdown()
print(json.dumps([[r["x_Team"], r["x_Cluster"], str(r["sum(BilledCost)"])] for r in rows]))
"""


def ray_totals(settings: LakehouseSettings) -> dict[tuple[str, str], Decimal]:
    """BilledCost per (team, cluster) as Ray Data (local, 1 CPU) reads the table."""
    catalog = {"name": settings.catalog.name, **catalog_properties(settings.catalog)}
    argument = json.dumps([f"{settings.namespace}.{settings.table}", catalog])
    done = subprocess.run(
        [sys.executable, "-c", RAY_READ, argument], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    grouped = json.loads(done.stdout.strip().splitlines()[-1])
    return {(team, cluster): Decimal(total) for team, cluster, total in grouped}


# --- round trip: the command's rows, read back by pyiceberg and by Ray Data --------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, ["chargeback", *args])


@pytest.mark.xdist_group("chargeback")
def test_round_trip_totals_equal_the_csv_export(prom: Prometheus, lake: LakehouseSettings) -> None:
    common = ["--prometheus", prom.url, "--period", "2025-03", "--at", AT]
    exported = invoke(*common)
    assert exported.exit_code == 0, exported.output
    csv_rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    catalog = ["--catalog-uri", lake.catalog.uri, "--warehouse", lake.catalog.warehouse]
    for _ in range(2):  # a second run replaces the first: one copy
        written = invoke(*common, "--format", "iceberg", *catalog)
        assert written.exit_code == 0, written.output
        assert f"wrote {len(csv_rows)} rows" in written.output
        assert "to finops.focus_chargeback" in written.output
    back = read_table(lake)
    assert back.schema.names == list(column_names(DEFAULT_VERSION))
    assert back.num_rows == len(csv_rows)
    expected = totals(csv_rows)
    assert len(expected) >= 2 and all(v > 0 for v in expected.values())
    assert totals(back.to_pylist()) == expected
    by_ray = ray_totals(lake)
    assert by_ray == expected
    cents = Decimal("0.01")
    assert {k: v.quantize(cents) for k, v in by_ray.items()} == {
        k: v.quantize(cents) for k, v in expected.items()
    }
    # Row by row, not only in total: the same lines, days and amounts.
    key = ("ChargePeriodStart", "x_Team", "x_Namespace", "x_App", "x_CostComponent")

    def lines(table: Iterable[dict[str, Any]]) -> list[tuple[str, ...]]:
        return sorted(
            (
                *(str(r[k])[:10] for k in key[:1]),
                *(str(r[k] or "") for k in key[1:]),
                str(Decimal(str(r["BilledCost"]))),
            )
            for r in table
        )

    assert lines(back.to_pylist()) == lines(csv_rows)


# --- idempotence -----------------------------------------------------------------------------


def test_same_month_twice_leaves_one_copy(lake: LakehouseSettings) -> None:
    first = write_rows(month_rows("a"), lake)
    again = write_rows(month_rows("a", scale=2.0), lake)
    assert again.previous_snapshot_id == first.snapshot_id != again.snapshot_id
    back = scan(lake)
    assert len(back) == len(month_rows("a"))
    assert totals(back) == totals(month_rows("a", scale=2.0))  # the second run's figures


def test_two_clusters_coexist_and_each_is_replaced_alone(lake: LakehouseSettings) -> None:
    write_rows(month_rows("a"), lake)
    write_rows(month_rows("b", scale=3.0), lake)
    write_rows(month_rows("a", scale=5.0), lake)
    expected = totals(month_rows("a", scale=5.0)) | totals(month_rows("b", scale=3.0))
    assert totals(scan(lake)) == expected
    assert len(scan(lake)) == 2 * len(month_rows("a"))
    # February of cluster a is another partition: March's rewrite never touches it.
    february = [
        {
            **r,
            "BillingPeriodStart": "2025-02-01T00:00:00Z",
            "BillingPeriodEnd": "2025-03-01T00:00:00Z",
        }
        for r in month_rows("a", scale=7.0)
    ]
    write_rows(february, lake)
    write_rows(month_rows("a", scale=5.0), lake)
    back = scan(lake)
    assert len(back) == 3 * len(month_rows("a"))
    months = {(str(r["BillingPeriodStart"])[:7], r["x_Cluster"]) for r in back}
    assert months == {("2025-02", "a"), ("2025-03", "a"), ("2025-03", "b")}


def test_rows_without_a_cluster_label_take_the_configured_cluster(
    lake: LakehouseSettings,
) -> None:
    east = lake.model_copy(update={"cluster": "east"})
    west = lake.model_copy(update={"cluster": "west"})
    write_rows(month_rows(""), east)
    write_rows(month_rows("", scale=2.0), west)
    write_rows(month_rows("", scale=3.0), east)  # replaces east's month, not west's
    back = totals(scan(lake))
    assert back == {
        **{(t, "east"): v for (t, _), v in totals(month_rows("", scale=3.0)).items()},
        **{(t, "west"): v for (t, _), v in totals(month_rows("", scale=2.0)).items()},
    }
    write_rows(month_rows("labelled"), east)  # a label on the series wins
    assert ("ml", "labelled") in totals(scan(lake))


def test_team_run_replaces_only_that_team(lake: LakehouseSettings) -> None:
    write_rows(month_rows("a"), lake)
    ml_only = [r for r in month_rows("a", scale=4.0) if r["x_Team"] == "ml"]
    write_rows(ml_only, lake, team="ml")
    back = totals(scan(lake))
    assert back[("ml", "a")] == totals(ml_only)[("ml", "a")]
    assert back[("data", "a")] == totals(month_rows("a"))[("data", "a")]


def test_table_is_partitioned_by_period_and_cluster(lake: LakehouseSettings) -> None:
    write_rows(month_rows("a") + month_rows("b"), lake)
    table = open_catalog(lake).load_table("finops.focus_chargeback")
    spec = [(f.name, str(f.transform)) for f in table.spec().fields]
    assert spec == [("BillingPeriodStart", "identity"), ("x_Cluster", "identity")]
    files = table.inspect.files().to_pylist()
    assert sorted(f["partition"]["x_Cluster"] for f in files) == ["a", "b"]


def test_a_write_failing_half_way_leaves_the_previous_snapshot(
    lake: LakehouseSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The writer dies after its first data file (of two: one per cluster) is on disk: the
    delete it staged and that file are never committed."""
    import pyiceberg.io.pyarrow as pyiceberg_arrow

    write_rows(month_rows("a") + month_rows("b"), lake)
    before, before_rows = snapshot_id(lake), sorted(map(repr, scan(lake)))
    files_before = set((tmp_path / "warehouse").rglob("*.parquet"))
    real_write_file = pyiceberg_arrow.write_file

    def dies_after_one_file(*args: Any, **kwargs: Any) -> Iterator[Any]:
        yield next(iter(real_write_file(*args, **kwargs)))
        raise OSError("No space left on device (injected after the first data file)")

    monkeypatch.setattr(pyiceberg_arrow, "write_file", dies_after_one_file)
    with pytest.raises(OSError, match="injected"):
        write_rows(month_rows("a", scale=9.0) + month_rows("b", scale=9.0), lake)
    assert set((tmp_path / "warehouse").rglob("*.parquet")) - files_before  # it got half way
    monkeypatch.undo()
    assert snapshot_id(lake) == before
    assert sorted(map(repr, scan(lake))) == before_rows


# --- schema evolution ------------------------------------------------------------------------


def test_a_12_table_takes_the_13_columns_by_name(lake: LakehouseSettings) -> None:
    write_rows(month_rows("a", version="1.2"), lake)  # created by the 1.2 export
    newer = month_rows("b", version="1.3")
    added = tuple(c for c in column_names("1.3") if c not in column_names("1.2"))
    assert {"ServiceProviderName", "HostProviderName", "AllocatedMethodId"} <= set(added)
    written = write_rows(newer, lake)
    assert written.added_columns == added
    back = read_table(lake)
    assert back.schema.names == [*column_names("1.2"), *added]
    by_cluster: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in back.to_pylist():
        by_cluster[row["x_Cluster"]].append(row)
    assert all(r[c] is None for r in by_cluster["a"] for c in added)
    assert {r["HostProviderName"] for r in by_cluster["b"]} == {"AWS"}
    assert all(r["AllocatedMethodId"] for r in by_cluster["b"])
    assert totals(by_cluster["b"]) == totals(newer)
    # A 1.4 export (ProviderName, PublisherName removed) and a 1.2 one still write into the
    # evolved table: what they lack stays null.
    assert write_rows(month_rows("c", version="1.4"), lake).added_columns == ()
    assert write_rows(month_rows("a", scale=2.0, version="1.2"), lake).added_columns == ()
    back_rows = scan(lake)
    assert {r["ProviderName"] for r in back_rows if r["x_Cluster"] == "c"} == {None}
    assert totals(back_rows)[("ml", "a")] == totals(month_rows("a", scale=2.0))[("ml", "a")]
    assert totals(back_rows)[("ml", "c")] == totals(month_rows("c", version="1.4"))[("ml", "c")]


def test_arrow_types_follow_the_parquet_export() -> None:
    table = arrow_table([{**r, "x_Extra": Decimal("1.5")} for r in month_rows("a")[:3]])
    types = {f.name: str(f.type) for f in table.schema}
    assert (
        types["BilledCost"] == types["PricingQuantity"] == types["x_Extra"] == "decimal128(24, 6)"
    )
    assert types["ChargePeriodStart"] == "timestamp[ms, tz=UTC]"
    assert types["x_Team"] == types["Tags"] == types["ChargeClass"] == "string"
    assert not table.schema.field("BilledCost").nullable
    assert table.schema.field("x_Extra").nullable  # a later run may leave it null


def test_rows_of_two_periods_are_refused(lake: LakehouseSettings) -> None:
    mixed = [
        *month_rows("a")[:1],
        {**month_rows("a")[0], "BillingPeriodStart": "2025-02-01T00:00:00Z"},
    ]
    with pytest.raises(ValueError, match="span 2 billing periods"):
        write_rows(mixed, lake)


# --- bad configuration: a clear error naming the field, nothing written ------------------------

OFFLINE = ["--prometheus", "http://127.0.0.1:9", "--period", "2025-03", "--format", "iceberg"]


def nothing_in(path: Path) -> bool:
    return not any(path.iterdir())


def test_unknown_catalog_type_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"lakehouse:\n  catalog:\n    type: mongo\n    uri: sqlite:///{tmp_path}/c.db\n"
    )
    result = invoke(*OFFLINE, "--config", str(config))
    assert result.exit_code == 2
    assert (
        f"{config}: lakehouse.catalog.type: Input should be 'rest', 'glue', 'hive' or 'sql'"
        in result.output
    )
    assert "'mongo'" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_unknown_catalog_type_flag() -> None:
    result = invoke(*OFFLINE, "--catalog-type", "mongo")
    assert (
        result.exit_code == 2 and "--catalog-type" in result.output and "'mongo'" in result.output
    )


def test_unreachable_rest_catalog_names_the_uri(tmp_path: Path) -> None:
    from support.prometheus import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    result = invoke(*OFFLINE, "--catalog-type", "rest", "--catalog-uri", uri)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(
        f"unitcost chargeback: error: lakehouse.catalog.uri: cannot reach the 'rest' catalog at '{uri}'"
    )
    assert result.output.rstrip().endswith("(nothing written)")


def test_sql_catalog_in_a_missing_directory(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/no/such/dir/catalog.db"
    result = invoke(*OFFLINE, "--catalog-uri", uri, "--warehouse", f"file://{tmp_path}/wh")
    assert result.exit_code == 2, result.output
    assert "lakehouse.catalog.uri: cannot reach the 'sql' catalog" in result.output
    assert nothing_in(tmp_path)


def test_missing_fields_are_named(tmp_path: Path) -> None:
    result = invoke(*OFFLINE)
    assert result.exit_code == 2
    assert (
        "command line: lakehouse.catalog.uri, lakehouse.catalog.warehouse: required for a 'sql' catalog"
        in result.output
    )
    result = invoke(
        *OFFLINE, "--catalog-uri", "x", "--warehouse", "y", "--table", "focus chargeback"
    )
    assert result.exit_code == 2
    assert "lakehouse.table: Value error, must be letters, digits and underscores" in result.output
    assert "'focus chargeback'" in result.output


def test_output_is_refused_with_iceberg(tmp_path: Path) -> None:
    result = invoke(*OFFLINE, "--output", str(tmp_path / "x.csv"))
    assert result.exit_code == 2 and "drop --output" in result.output


def test_write_to_an_unreachable_catalog_raises_naming_the_field(tmp_path: Path) -> None:
    from support.prometheus import free_port

    settings = LakehouseSettings(
        catalog=CatalogSettings(type="rest", uri=f"http://127.0.0.1:{free_port()}")
    )
    with pytest.raises(LakehouseError, match=r"^lakehouse\.catalog\.uri: cannot reach"):
        write_rows(month_rows("a"), settings)


def test_only_the_cost_and_usage_dataset_goes_to_iceberg() -> None:
    result = invoke(*OFFLINE, "--dataset", "contract-commitment")
    assert (
        result.exit_code == 2
        and "--format iceberg writes the cost-and-usage dataset" in result.output
    )
