"""The FOCUS 1.3 Contract Commitment dataset: one row per commitment of the price book, with
how much of it the committed nodes applied (the history's committed node costs 2 $/h,
tests/support/cost_history.py), computed by hand; linted by focus-data-toolkit."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from support.prometheus import Prometheus
from support.tools import focus_python
from unitcost.cli.main import main

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("chargeback")]

AT = "2025-03-02T10:20:34Z"
HOURS_MAR_2 = Decimal(10 * 3600 + 20 * 60 + 34) / 3600  # 10:20:34 of March 2
BOOK = """
providers:
  aws:
    committed_discount: 0.3
    commitments:
      - id: sp-1
        type: Savings Plan
        description: Compute Savings Plan, 1 year
        contract_id: ea-2025
        start: "2025-01-01"
        end: "2026-01-01"
        hourly_commitment: 3.0
      - id: sp-2
        type: Savings Plan
        start: "2025-03-02"
        end: "2025-04-01"
        hourly_commitment: 1.0
"""


def run(prom: Prometheus, tmp_path: Path, *args: str) -> tuple[int, str]:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    result = CliRunner().invoke(
        main,
        ["chargeback", "--prometheus", prom.url, "--period", "2025-03", "--at", AT,
         "--dataset", "contract-commitment", "--pricebook", str(book), *args],
    )  # fmt: skip
    return result.exit_code, result.output


def test_one_row_per_commitment_with_what_was_applied(prom: Prometheus, tmp_path: Path) -> None:
    code, out = run(prom, tmp_path)
    assert code == 0, out
    rows = {r["ContractCommitmentId"]: r for r in csv.DictReader(io.StringIO(out))}
    assert set(rows) == {"sp-1", "sp-2"}
    one, two = rows["sp-1"], rows["sp-2"]
    assert one["ContractCommitmentCategory"] == two["ContractCommitmentCategory"] == "Spend"
    assert one["ContractCommitmentType"] == "Savings Plan" and one["ContractId"] == "ea-2025"
    assert two["ContractId"] == "sp-2"  # its own id without a contract
    assert (one["ContractCommitmentPeriodStart"], one["ContractCommitmentPeriodEnd"]) == (
        "2025-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
    )
    assert Decimal(one["ContractCommitmentCost"]) == 3 * 8760  # the whole term
    assert Decimal(two["ContractCommitmentCost"]) == 1 * 30 * 24
    assert one["ContractCommitmentQuantity"] == one["ContractCommitmentUnit"] == ""
    q = Decimal("0.000001")
    # March 1: sp-1 alone takes the committed node's 24 h x 2 $/h; March 2 (both active)
    # splits 2 $/h 3:1 between them.
    assert Decimal(one["x_AppliedCost"]) == (48 + Decimal("1.5") * HOURS_MAR_2).quantize(q)
    assert Decimal(two["x_AppliedCost"]) == (Decimal("0.5") * HOURS_MAR_2).quantize(q)
    assert Decimal(one["x_PeriodCommittedCost"]) == (3 * (24 + HOURS_MAR_2)).quantize(q)
    assert Decimal(two["x_PeriodCommittedCost"]) == HOURS_MAR_2.quantize(q)
    assert Decimal(two["x_AppliedRatio"]) == Decimal("0.5")
    assert one["x_Provider"] == "aws" and one["BillingCurrency"] == "USD"


def test_parquet_has_the_same_rows_typed(prom: Prometheus, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "commitments.parquet"
    code, output = run(prom, tmp_path, "--format", "focus-parquet", "--output", str(out))
    assert code == 0, output
    table = pq.read_table(out)
    assert table.schema.metadata[b"focus_version"] == b"1.3"
    assert str(table.schema.field("ContractCommitmentCost").type) == "decimal128(24, 6)"
    assert str(table.schema.field("ContractCommitmentPeriodStart").type) == "timestamp[ms, tz=UTC]"
    assert table.column("ContractCommitmentQuantity").to_pylist() == [None, None]
    assert table.column("ContractCommitmentId").to_pylist() == ["sp-1", "sp-2"]


def test_errors_name_what_is_wrong(prom: Prometheus, tmp_path: Path) -> None:
    code, out = run(prom, tmp_path, "--focus-version", "1.4")
    assert code == 2 and "FOCUS 1.3" in out and "1.4" in out
    code, out = run(prom, tmp_path, "--format", "html")
    assert code == 2 and "focus-csv or focus-parquet" in out
    bare = tmp_path / "bare.yaml"
    bare.write_text("providers: {aws: {committed_discount: 0.2}}\n")
    result = CliRunner().invoke(
        main,
        ["chargeback", "--prometheus", prom.url, "--period", "2025-03", "--at", AT,
         "--dataset", "contract-commitment", "--pricebook", str(bare)],
    )  # fmt: skip
    assert result.exit_code == 2 and "declares no commitments" in result.output
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(BOOK.replace('end: "2026-01-01"', 'end: "2024-01-01"'))
    result = CliRunner().invoke(
        main,
        ["chargeback", "--prometheus", prom.url, "--period", "2025-03", "--at", AT,
         "--dataset", "contract-commitment", "--pricebook", str(wrong)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert str(wrong) in result.output and "sp-1" in result.output and "2024-01-01" in result.output


LINT = """
import csv, json, sys
from focus_data_toolkit.model.validator import lint_focus_1_4_structure, load_model
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
columns = load_model()["datasets"]["Contract Commitment"]["columns"]
report = lint_focus_1_4_structure("Contract Commitment", rows)
print(json.dumps({
    "violations": sorted({(v.rule, v.column) for v in report.violations}),
    "since_14": sorted(n for n, c in columns.items() if c["version"] == "1.4"),
}))
"""


def test_focus_data_toolkit_lints_the_dataset(prom: Prometheus, tmp_path: Path) -> None:
    """Against the FOCUS 1.4 model: types, date-times, allowed values, nulls of every 1.3
    column are clean; what it reports missing is exactly the columns 1.4 added."""
    code, out = run(prom, tmp_path)
    assert code == 0, out
    path = tmp_path / "commitments.csv"
    path.write_text(out)
    done = subprocess.run(
        [focus_python(), "-c", LINT, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    print("focus-data-toolkit on the Contract Commitment rows:", result["violations"])
    assert result["violations"]
    for rule, column in result["violations"]:
        assert rule == "missing_mandatory_column" and column in result["since_14"], (rule, column)
