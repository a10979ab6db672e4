"""FOCUS export (default version 1.3; 1.2 columns checked here, each version in
test_focus_versions.py): every Mandatory column, valid types, ISO 4217 currency, UTC periods,
and team totals equal to the charges read from the real Prometheus."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from support.focus_spec import MANDATORY as SPEC_MANDATORY
from support.prometheus import Prometheus
from unitcost.cli.main import main
from unitcost.history.chargeback.focus import (
    CLUSTER_COMPONENTS,
    COLUMNS,
    CONDITIONAL,
    MANDATORY,
    Issuer,
    column_names,
    iter_rows,
    rows,
    write_parquet,
    write_parquet_batches,
)
from unitcost.history.chargeback.period import Period, parse_time
from unitcost.history.chargeback.query import read_charges
from unitcost.sources.promapi import PrometheusAPI, PrometheusError

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("chargeback")]

AT = "2025-03-02T10:20:34Z"
SERVICE_CATEGORIES = {
    "AI and Machine Learning",
    "Analytics",
    "Compute",
    "Databases",
    "Storage",
    "Other",
}
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def export(prom: Prometheus, *args: str) -> str:
    result = CliRunner().invoke(
        main, ["chargeback", "--prometheus", prom.url, "--period", "2025-03", "--at", AT, *args]
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_csv_has_every_mandatory_column_with_valid_values(prom: Prometheus) -> None:
    table = list(csv.DictReader(io.StringIO(export(prom, "--focus-version", "1.2"))))
    assert table
    header = list(table[0])
    assert header == list(COLUMNS)
    assert set(MANDATORY) == SPEC_MANDATORY["1.2"] <= set(header)
    # FOCUS columns first, then the x_ custom ones, never intermixed.
    custom = [i for i, name in enumerate(header) if name.startswith("x_")]
    assert custom == list(range(len(header) - len(custom), len(header)))
    assert all(re.fullmatch(r"[A-Z][A-Za-z]+", n) for n in header if not n.startswith("x_"))
    for row in table:
        for name in (
            "BilledCost",
            "ContractedCost",
            "EffectiveCost",
            "ListCost",
            "PricingQuantity",
        ):
            assert NUMBER.fullmatch(row[name]), (name, row[name])
        # Only a shared service's owner has a negative row: a Credit, its service's cost moved
        # to the teams that used it.
        if row["ChargeCategory"] == "Credit":
            assert row["x_CostComponent"] == "shared-service"
            assert Decimal(row["BilledCost"]) < 0
        else:
            assert row["ChargeCategory"] == "Usage" and Decimal(row["BilledCost"]) > 0
        assert row["InvoiceId"] == ""  # an estimate: on no invoice
        assert row["ListCost"] == row["ContractedCost"] == row["EffectiveCost"] == row["BilledCost"]
        assert row["BillingCurrency"] == "USD"  # ISO 4217
        assert row["ChargeClass"] == ""
        assert row["ServiceCategory"] in SERVICE_CATEGORIES and row["ServiceName"]
        assert row["PricingUnit"] == "Hours" and 0 < Decimal(row["PricingQuantity"]) <= 24
        for name in (
            "BillingPeriodStart",
            "BillingPeriodEnd",
            "ChargePeriodStart",
            "ChargePeriodEnd",
        ):
            assert DATETIME.fullmatch(row[name]), (name, row[name])
        assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == (
            "2025-03-01T00:00:00Z",
            "2025-04-01T00:00:00Z",
        )
        start = datetime.fromisoformat(row["ChargePeriodStart"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(row["ChargePeriodEnd"].replace("Z", "+00:00"))
        assert start.tzinfo == UTC and start.hour == 0 and start < end
        assert (end - start).total_seconds() <= 86400
        for name in ("BillingAccountId", "ProviderName", "PublisherName", "InvoiceIssuerName"):
            assert row[name]
        assert row["SubAccountId"] == row["SubAccountName"] == row["x_Team"]
        if row["x_CostComponent"] in CLUSTER_COMPONENTS:  # the cluster's own rows
            assert row["x_Team"] == "" and row["ResourceType"] == "Kubernetes Cluster"
            continue
        tags = json.loads(row["Tags"])
        assert tags["team"] == row["x_Team"]
        assert tags.get("namespace", "") == row["x_Namespace"] == row["ResourceName"]
        assert row["x_CostComponent"] in {
            "compute",
            "gpu",
            "shared",
            "storage",
            "network",
            "shared-service",
        }
        assert row["ServiceSubcategory"] in {"Containers", "Block Storage"}
    # The hour in progress ends the last day's charge period.
    assert max(r["ChargePeriodEnd"] for r in table) == "2025-03-02T10:20:34Z"
    assert {r["x_Queue"] for r in table} >= {"gpu-q", "batch", ""}
    assert set(CONDITIONAL) <= set(header)


def test_totals_equal_the_source_series(prom: Prometheus) -> None:
    table = list(csv.DictReader(io.StringIO(export(prom))))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in table:
        # The cluster's own rows and the shared-service split (it moves dollars between teams).
        if row["x_CostComponent"] not in {*CLUSTER_COMPONENTS, "shared-service"}:
            totals[row["x_Team"]] += Decimal(row["BilledCost"])
    with PrometheusAPI(prom.url) as api:
        source = read_charges(api, Period.parse("2025-03"), parse_time(AT)).team_totals()
    assert set(totals) == {team for _, team in source}
    for (_, team), dollars in source.items():
        assert abs(float(totals[team]) - dollars) < 0.005


def test_parquet_has_typed_columns_and_the_same_rows(prom: Prometheus, tmp_path: Path) -> None:
    out = tmp_path / "march.parquet"
    assert export(prom, "--format", "focus-parquet", "--output", str(out)) == ""
    table = pq.read_table(out)
    assert table.column_names == list(column_names("1.3"))
    assert table.schema.metadata[b"focus_version"] == b"1.3"
    schema = table.schema
    assert str(schema.field("BilledCost").type) == "decimal128(24, 6)"
    assert str(schema.field("ChargePeriodStart").type) == "timestamp[ms, tz=UTC]"
    assert str(schema.field("ChargeClass").type) == "string"
    csv_rows = list(csv.DictReader(io.StringIO(export(prom))))
    assert table.num_rows == len(csv_rows)
    assert sum(table.column("BilledCost").to_pylist()) == sum(
        Decimal(r["BilledCost"]) for r in csv_rows
    )
    assert set(table.column("ChargeClass").to_pylist()) == {None}


def test_team_filter_writes_only_that_team(prom: Prometheus, tmp_path: Path) -> None:
    out = tmp_path / "data.csv"
    export(prom, "--team", "data", "--output", str(out))
    teams = {r["x_Team"] for r in csv.DictReader(out.open())}
    assert teams == {"data"}


def test_network_dollars_are_rows_of_their_own() -> None:
    """Data transfer is billed beside the allocated cost (not part of it): one row per team and
    day, ServiceCategory Networking, component network (docs/network.md)."""
    from datetime import date

    from unitcost.history.chargeback.focus import Issuer, rows
    from unitcost.history.chargeback.query import Charges

    period = Period.parse("2025-03")
    end = parse_time("2025-03-02T12:00:00Z")
    charges = Charges(
        period, end, [], network={("", "data"): {date(2025, 3, 1): 4.25, date(2025, 3, 2): 0.5}}
    )
    table = rows(charges, Issuer())
    assert [(r["x_Team"], r["x_CostComponent"], r["ServiceCategory"]) for r in table] == [
        ("data", "network", "Networking"),
        ("data", "network", "Networking"),
    ]
    assert [r["BilledCost"] for r in table] == [Decimal("4.250000"), Decimal("0.500000")]
    # the second day is in progress: 12 hours of it
    assert [r["PricingQuantity"] for r in table] == [Decimal("24.000000"), Decimal("12.000000")]
    assert table[1]["ChargePeriodEnd"] == "2025-03-02T12:00:00Z"
    assert table[0]["ServiceName"] == "Kubernetes Network"


def test_shared_services_are_split_cost_rows_that_cancel(prom: Prometheus) -> None:
    """The cache ml owns ($3/h) split by usage: data is allocated $2.25/h, ml keeps $0.75/h
    unattributed and gets a Credit row of the cache's whole cost (docs/shared-services.md).
    2025-03-01 is a whole day: 24 h of each."""
    table = [
        r
        for r in csv.DictReader(io.StringIO(export(prom)))
        if r["x_CostComponent"] == "shared-service"
    ]
    day = [r for r in table if r["ChargePeriodStart"] == "2025-03-01T00:00:00Z"]
    found = {
        (r["x_Team"], json.loads(r["Tags"])["allocation_method"], r["ChargeCategory"]): r[
            "BilledCost"
        ]
        for r in day
    }
    assert found == {
        ("data", "usage", "Usage"): "54.000000",
        ("ml", "unattributed", "Usage"): "18.000000",
        ("ml", "owned", "Credit"): "-72.000000",
    }
    assert all(json.loads(r["Tags"])["shared_service"] == "cache" for r in table)
    assert all(r["ServiceName"] == "Kubernetes Shared Services" for r in table)
    assert "allocated to team data by usage" in next(
        r["ChargeDescription"] for r in day if r["x_Team"] == "data"
    )
    # Every day, the split moves dollars between teams and adds none.
    by_day: dict[str, Decimal] = defaultdict(Decimal)
    for row in table:
        by_day[row["ChargePeriodStart"]] += Decimal(row["BilledCost"])
    assert len(by_day) == 2  # March 1, and March 2 up to the export time
    assert all(abs(total) <= Decimal("0.000003") for total in by_day.values()), by_day


def test_parquet_streamed_in_batches_holds_the_same_values(
    prom: Prometheus, tmp_path: Path
) -> None:
    # The CLI streams rows into row groups; however they are cut, the values are the rows'.
    with PrometheusAPI(prom.url) as api:
        charges = read_charges(api, Period.parse("2025-03"), parse_time(AT))
    table = rows(charges, Issuer())
    assert len(table) > 3
    whole, batched = tmp_path / "whole.parquet", tmp_path / "batched.parquet"
    write_parquet(table, whole, "1.3")
    write_parquet(iter_rows(charges, Issuer()), batched, "1.3", batch_rows=3)
    assert pq.ParquetFile(whole).num_row_groups == 1
    assert pq.ParquetFile(batched).num_row_groups == -(-len(table) // 3)
    assert pq.read_table(batched).equals(pq.read_table(whole))
    assert pq.read_table(whole).column("BilledCost").to_pylist() == [r["BilledCost"] for r in table]
    with pytest.raises(ValueError, match="batch_rows must be at least 1, got 0"):
        write_parquet(table, tmp_path / "none.parquet", "1.3", batch_rows=0)


def test_parquet_of_no_rows_has_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "empty.parquet"
    write_parquet([], out, "1.2")
    table = pq.read_table(out)
    assert table.num_rows == 0
    assert table.column_names == list(column_names("1.2"))


@pytest.mark.parametrize("at", [AT, "2025-03-02T00:30:00Z", "2025-03-02T06:00:00Z"])
def test_the_streamed_parquet_is_the_rows_of_the_whole_read(
    prom: Prometheus, tmp_path: Path, at: str
) -> None:
    # The CLI writes each day while the next is read (query.iter_days into
    # focus.column_batches); the file holds exactly the rows read whole, in their order,
    # the day in progress (mid-hour, on a day's first hour, on the hour) included.
    streamed = tmp_path / "streamed.parquet"
    argv = ["chargeback", "--prometheus", prom.url, "--period", "2025-03", "--at", at]
    result = CliRunner().invoke(
        main, [*argv, "--format", "focus-parquet", "--output", str(streamed)]
    )
    assert result.exit_code == 0, result.output
    with PrometheusAPI(prom.url) as api:
        charges = read_charges(api, Period.parse("2025-03"), parse_time(at))
    whole = tmp_path / "whole.parquet"
    write_parquet(rows(charges, Issuer()), whole, "1.3")
    assert pq.read_table(streamed).equals(pq.read_table(whole))
    assert pq.read_table(whole).num_rows > len(charges.charges)  # idle, unattributed rows too
    assert {r["x_CostComponent"] for r in pq.read_table(streamed).to_pylist()} >= {
        "compute",
        "storage",
        "idle",
    }


def test_a_read_failing_mid_stream_leaves_the_earlier_export(tmp_path: Path) -> None:
    # The file is written beside the target and moved onto it only when complete.
    out = tmp_path / "march.parquet"
    write_parquet([], out, "1.3")
    before = out.read_bytes()

    def failing() -> Iterator[dict[str, list[Any]]]:
        yield {name: [] for name in column_names("1.3")}
        raise PrometheusError("http://prometheus: query failed: HTTP 503")

    with pytest.raises(PrometheusError, match="HTTP 503"):
        write_parquet_batches(failing(), out, "1.3")
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["march.parquet"]
