"""Reading providers' FOCUS exports: AWS, Azure and GCP shapes (1.2, 1.3, 1.4 columns), CSV,
gzip CSV and Parquet; wrong or missing columns, bad values and an empty month."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from support.focus_bills import generated, in_month, moved, total, write_csv, write_parquet
from unitcost.history.chargeback.bill import BillError, read_bill
from unitcost.history.chargeback.period import Period

MONTH = "2025-03"
PERIOD = Period.parse(MONTH)


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_reads_each_providers_shape(tmp_path: Path, provider: str, version: str) -> None:
    rows = moved(generated(provider, version), MONTH)
    bill = read_bill(write_csv(rows, tmp_path / "bill.csv"), PERIOD)
    wanted = in_month(rows, MONTH)
    assert bill.rows_read == len(rows) and len(bill.lines) == len(wanted) > 0
    assert bill.shape == ("1.2" if version == "1.2" else "1.3+")
    assert sum(line.effective for line in bill.lines) == total(wanted, "EffectiveCost")
    assert sum(line.billed for line in bill.lines) == total(wanted, "BilledCost")
    names = {"aws": "AWS", "azure": "Microsoft Azure", "gcp": "Google Cloud"}
    assert {line.provider for line in bill.lines} == {names[provider]}
    first = bill.lines[0]
    assert first.tags == json.loads(wanted[0]["Tags"])
    assert first.resource_id == wanted[0]["ResourceId"]


def test_focus_1_4_has_no_provider_name(tmp_path: Path) -> None:
    rows = moved(generated("gcp", "1.3"), MONTH)
    columns = [c for c in rows[0] if c not in ("ProviderName", "PublisherName")]
    bill = read_bill(write_csv(rows, tmp_path / "bill.csv", columns), PERIOD)
    assert bill.shape == "1.3+"
    assert {line.provider for line in bill.lines} == {"Google Cloud"}


def test_aws_focus_with_aws_columns(tmp_path: Path) -> None:
    """AWS Data Exports' "FOCUS 1.2 with AWS columns": extra x_ columns, and user tags keyed
    `user:...` beside AWS-generated `aws:...` ones."""
    rows = moved(generated("aws", "1.2"), MONTH)
    for row in rows:
        tags = json.loads(row["Tags"] or "{}")
        row["Tags"] = json.dumps(
            {f"user:{k}": v for k, v in tags.items()} | {"aws:eks:cluster-name": "prod"}
        )
        row["x_ServiceCode"] = "AmazonEC2"
        row["x_UsageType"] = "USE1-BoxUsage:m6i.large"
        row["x_Operation"] = "RunInstances"
    bill = read_bill(write_csv(rows, tmp_path / "aws.csv"), PERIOD)
    tags = bill.lines[0].tags
    assert tags["aws:eks:cluster-name"] == "prod"
    assert "Environment" in tags and not any(k.startswith("user:") for k in tags)


def test_parquet_and_gzip_csv(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    rows = moved(generated("aws", "1.3"), MONTH)
    wanted = in_month(rows, MONTH)
    parquet = read_bill(write_parquet(rows, tmp_path / "bill.parquet"), PERIOD)
    assert len(parquet.lines) == len(wanted)
    assert sum(line.effective for line in parquet.lines) == total(wanted, "EffectiveCost")
    assert parquet.lines[0].tags == json.loads(wanted[0]["Tags"])
    plain = write_csv(rows, tmp_path / "bill.csv")
    packed = tmp_path / "bill.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_bill(packed, PERIOD).lines == read_bill(plain, PERIOD).lines


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    rows = moved(generated("azure", "1.2"), MONTH)
    path = write_csv(rows, tmp_path / "azure.csv", [c for c in rows[0] if c != "EffectiveCost"])
    with pytest.raises(BillError, match=rf"{path}: .*no column 'EffectiveCost'"):
        read_bill(path, PERIOD)
    neither = [c for c in rows[0] if c not in ("ProviderName", "ServiceProviderName")]
    path = write_csv(rows, tmp_path / "noprovider.csv", neither)
    with pytest.raises(BillError, match=rf"{path}: no provider column.*'ServiceProviderName'"):
        read_bill(path, PERIOD)
    unmatched = [c for c in rows[0] if c not in ("ResourceId", "Tags")]
    path = write_csv(rows, tmp_path / "nomatch.csv", unmatched)
    with pytest.raises(BillError, match=rf"{path}: no column 'ResourceId' nor 'Tags'"):
        read_bill(path, PERIOD)


def test_wrong_columns(tmp_path: Path) -> None:
    """A legacy AWS Cost and Usage Report is not FOCUS: refused, naming the first column."""
    path = tmp_path / "cur.csv"
    path.write_text(
        "identity/LineItemId,lineItem/UsageStartDate,lineItem/UnblendedCost\n"
        "abc,2025-03-01T00:00:00Z,1.5\n"
    )
    with pytest.raises(BillError, match=rf"{path}: not a FOCUS .*no column 'BilledCost'"):
        read_bill(path, PERIOD)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(BillError, match=rf"{empty}: empty file"):
        read_bill(empty, PERIOD)


def test_bad_values_name_row_and_column(tmp_path: Path) -> None:
    rows = moved(generated("gcp", "1.2"), MONTH)
    rows[3]["BilledCost"] = "12,50"
    path = write_csv(rows, tmp_path / "gcp.csv")
    with pytest.raises(BillError, match=rf"{path}: row 5: column 'BilledCost' is '12,50'"):
        read_bill(path, PERIOD)
    rows = moved(generated("gcp", "1.2"), MONTH)
    rows[0]["ChargePeriodStart"] = "yesterday"
    with pytest.raises(BillError, match=r"row 2: column 'ChargePeriodStart' is 'yesterday'"):
        read_bill(write_csv(rows, tmp_path / "when.csv"), PERIOD)
    rows = moved(generated("gcp", "1.2"), MONTH)
    rows[1]["BillingCurrency"] = "EUR"
    with pytest.raises(BillError, match=r"row 3: column 'BillingCurrency' is 'EUR'"):
        read_bill(write_csv(rows, tmp_path / "eur.csv"), PERIOD)
    rows = moved(generated("gcp", "1.2"), MONTH)
    rows[0]["Tags"] = "team=ml"
    with pytest.raises(BillError, match=r"row 2: column 'Tags' is 'team=ml', not a JSON"):
        read_bill(write_csv(rows, tmp_path / "tags.csv"), PERIOD)


def test_empty_month(tmp_path: Path) -> None:
    """A bill of another month, or a header only: read, with no lines in the period."""
    rows = moved(generated("aws", "1.3"), "2025-01")
    bill = read_bill(write_csv(rows, tmp_path / "january.csv"), PERIOD)
    assert bill.rows_read == len(rows) and bill.lines == []
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(rows[0]) + "\n")
    bill = read_bill(header_only, PERIOD)
    assert bill.rows_read == 0 and bill.lines == []


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.parquet"
    with pytest.raises(BillError, match=rf"{missing}: cannot read the bill"):
        read_bill(missing, PERIOD)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\0" * 64)
    pytest.importorskip("pyarrow")
    with pytest.raises(BillError, match=rf"{broken}: not a readable Parquet file"):
        read_bill(broken, PERIOD)
