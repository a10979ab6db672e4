"""`unitcost chargeback --bill`: a provider bill's compute lines matched to the clusters a real
Prometheus recorded (by node resource ID and by cluster tag), set beside unitcost's node cost
estimate, in the terminal and in the HTML statement."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from support import cost_history
from support.focus_bills import Row, generated, in_month, moved, total, write_csv, write_parquet
from support.prometheus import Prometheus, prometheus
from unitcost.cli.main import main
from unitcost.history.chargeback.bill import read_bill
from unitcost.history.chargeback.period import Period, parse_time
from unitcost.history.chargeback.reconcile import reconcile
from unitcost.sources.promapi import PrometheusAPI

pytestmark = pytest.mark.xdist_group("chargeback-bill")

MONTH = "2025-03"
AT = "2025-03-02T12:00:00Z"
HOURS = 36  # 2025-03-01T00:00Z to AT
# (cluster, provider label, node names, node $/h, idle $/h)
CLUSTERS = [
    ("prod-eks", "aws", ["i-0aaa1111.ec2.internal", "ip-10-0-1-2.ec2.internal"], 2.0, 0.5),
    ("gke-a", "gcp", ["gke-a-pool-1-abcd"], 1.25, 0.25),
]
EKS_INSTANCE = "arn:aws:ec2:us-east-1:200000000011:instance/i-0aaa1111"
GKE_INSTANCE = "//compute.googleapis.com/projects/p-1/zones/europe-west1-b/instances/gke-a-pool-1-abcd"  # fmt: skip


def node_history() -> str:
    """Node info and the provider node cost rules' series for the clusters, every 120 s."""
    start = int(parse_time("2025-03-01T00:00:00Z"))
    times = range(start + 17, int(parse_time(AT)) + 600, 120)
    out = ["# TYPE unitcost_node_info gauge"]
    for cluster, provider, nodes, _, _ in CLUSTERS:
        for node in nodes:
            labels = f'{{cluster="{cluster}",node="{node}",provider="{provider}"}}'
            out.extend(f"unitcost_node_info{labels} 1 {t}" for t in times)
    for metric, column in (
        ("provider:unitcost_node_cost_dollars_per_hour:sum", 3),
        ("provider:unitcost_node_idle_cost_dollars_per_hour:sum", 4),
    ):
        out.append(f"# TYPE {metric} gauge")
        for spec in CLUSTERS:
            labels = f'{{cluster="{spec[0]}",provider="{spec[1]}"}}'
            out.extend(f"{metric}{labels} {spec[column]!r} {t}" for t in times)
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def prom() -> Iterator[Prometheus]:
    history = cost_history.openmetrics().removesuffix("# EOF\n") + node_history() + "# EOF\n"
    with prometheus([], history=history) as server:
        yield server


def is_compute_before_at(row: Row) -> bool:
    """Reconciliation reads compute lines that start before `--at` (ISO strings compare)."""
    return row["ServiceCategory"] == "Compute" and row["ChargePeriodStart"] < AT


def provider_bill() -> tuple[list[Row], dict[tuple[str, str], list[Row]]]:
    """AWS 1.3 and GCP 1.3 rows from the toolkit in one file, some compute lines pointed at the
    clusters: by node resource ID, or by cluster tag (EKS names nodes by IP, so its line for
    that node only carries the tag). Returns the rows and the rows each cluster should match."""
    aws = moved(generated("aws", "1.3", rows=150, seed=11), MONTH)
    gcp = moved(generated("gcp", "1.3", rows=150, seed=12), MONTH)
    expected: dict[tuple[str, str], list[Row]] = {("prod-eks", "aws"): [], ("gke-a", "gcp"): []}

    def compute(rows: list[Row]) -> list[Row]:
        return [r for r in in_month(rows, MONTH) if is_compute_before_at(r)]

    aws_compute, gcp_compute = compute(aws), compute(gcp)
    for row in aws_compute[:10]:
        row["ResourceId"] = EKS_INSTANCE
        expected[("prod-eks", "aws")].append(row)
    for row in aws_compute[10:16]:
        row["Tags"] = json.dumps(json.loads(row["Tags"] or "{}") | {"eks:cluster-name": "prod-eks"})
        expected[("prod-eks", "aws")].append(row)
    for row in gcp_compute[:8]:
        row["ResourceId"] = GKE_INSTANCE
        expected[("gke-a", "gcp")].append(row)
    for row in gcp_compute[8:12]:
        row["Tags"] = json.dumps(
            json.loads(row["Tags"] or "{}") | {"goog-k8s-cluster-name": "gke-a"}
        )
        expected[("gke-a", "gcp")].append(row)
    return aws + gcp, expected


def test_reconcile_matches_by_resource_and_tag(prom: Prometheus, tmp_path: Path) -> None:
    rows, expected = provider_bill()
    bill = read_bill(write_csv(rows, tmp_path / "focus.csv"), Period.parse(MONTH))
    with PrometheusAPI(prom.url) as api:
        report = reconcile(api, bill, parse_time(AT))
    got = {(r.cluster, r.provider): r for r in report.rows}
    assert set(got) == {("prod-eks", "AWS"), ("gke-a", "Google Cloud")}
    for (cluster, label, _, rate, idle), name in zip(
        CLUSTERS, ("AWS", "Google Cloud"), strict=True
    ):
        row = got[(cluster, name)]
        matched = expected[(cluster, label)]
        assert row.lines == len(matched)
        assert (row.by_resource, row.by_tag) == ((10, 6) if label == "aws" else (8, 4))
        assert row.effective == total(matched, "EffectiveCost")
        assert row.billed == total(matched, "BilledCost")
        assert row.estimate == Decimal(repr(rate * HOURS))
        assert row.allocated == Decimal(repr((rate - idle) * HOURS))
        assert row.unallocated == row.effective - row.allocated
        assert row.ratio == (row.estimate / row.effective).quantize(Decimal("0.0001"))
    compute = [r for r in in_month(rows, MONTH) if is_compute_before_at(r)]
    assert report.compute_lines == len(compute)
    matched_total = sum(r.effective for r in report.rows)
    assert report.unmatched_compute == total(compute, "EffectiveCost") - matched_total


def chargeback(prom: Prometheus, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["chargeback", "--prometheus", prom.url, "--period", MONTH, "--at", AT, *args]
    )
    return result.exit_code, result.stdout, result.stderr


def test_command_prints_the_table_beside_the_csv(prom: Prometheus, tmp_path: Path) -> None:
    rows, expected = provider_bill()
    path = write_parquet(rows, tmp_path / "focus.parquet")
    code, out, err = chargeback(prom, "--bill", str(path))
    assert code == 0, err
    assert out.startswith("BilledCost,")  # stdout stays the FOCUS CSV
    assert f"Bill {path} (FOCUS 1.3+)" in err
    eks = total(expected[("prod-eks", "aws")], "EffectiveCost")
    line = next(x for x in err.splitlines() if x.startswith("prod-eks"))
    assert f"{Decimal(repr(2.0 * HOURS)):,.2f}" in line and f"{eks:,.2f}" in line
    assert f"{Decimal(repr(2.0 * HOURS)) / eks:.4f}" in line


def test_statement_shows_the_bill(prom: Prometheus, tmp_path: Path) -> None:
    rows, expected = provider_bill()
    path = write_csv(rows, tmp_path / "focus.csv")
    code, html, err = chargeback(prom, "--format", "html", "--bill", str(path))
    assert code == 0, err
    section = html[html.index('<section id="bill"') : html.index("</section>")]
    gke = re.search(
        r'<tr data-cluster="gke-a" data-provider="Google Cloud">(.*?)</tr>', section, re.S
    )
    assert gke is not None
    values = re.findall(r'data-value="([^"]+)"', gke.group(1))
    effective = total(expected[("gke-a", "gcp")], "EffectiveCost")
    assert Decimal(values[0]) == Decimal(repr(1.25 * HOURS))
    assert Decimal(values[2]) == effective
    assert Decimal(values[3]) == effective - Decimal(repr(1.0 * HOURS))


def test_empty_month_and_bad_bill(prom: Prometheus, tmp_path: Path) -> None:
    january = write_csv(moved(generated("aws", "1.2"), "2025-01"), tmp_path / "jan.csv")
    code, _, err = chargeback(prom, "--bill", str(january))
    assert code == 0, err
    assert "the bill has no charges in 2025-03" in err
    assert re.search(r"^prod-eks\s+aws\s+72\.00\s+54\.00\s+0\.00\s+0\.00\s+n/a", err, re.M)
    bad = tmp_path / "bad.csv"
    bad.write_text("BilledCost,EffectiveCost\n1,1\n")
    code, _, err = chargeback(prom, "--bill", str(bad))
    assert code == 2
    assert f"unitcost: error: --bill: {bad}: not a FOCUS cost and usage file" in err
    assert "'BillingCurrency'" in err
