"""Cost Explorer through moto in server mode on loopback (canned results), the bill as
metrics, and reconciliation of the exporter's own estimate against it through the collector."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer
from prometheus_client.parser import text_string_to_metric_families

from unitcost.config.clouds import AwsSettings, CloudsSettings
from unitcost.config.file import Config
from unitcost.data.model import CapacityType, Node, Provider, Resources, Snapshot
from unitcost.data.records import BilledTransfer
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.sources.cloud import aws
from unitcost.sources.cloud.aws_billing import (
    AwsBillingSource,
    BillingError,
    parse_results,
    parse_transfer,
    transfer_class,
)
from unitcost.sources.cloud.services import CloudServices

NOW = datetime(2026, 10, 14, 12, 0, tzinfo=UTC).timestamp()
DAY13 = datetime(2026, 10, 13, tzinfo=UTC).timestamp()
EC2 = "Amazon Elastic Compute Cloud - Compute"


def group(service: str, team: str, amount: str) -> dict[str, Any]:
    return {
        "Keys": [service, f"team${team}"],
        "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
    }


def usage(usage_type: str, amount: str) -> dict[str, Any]:
    return {"Keys": [usage_type], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}


def day(start: str, end: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Total": {},
        "Groups": groups,
        "Estimated": False,
    }


CANNED = {
    "results": [
        {
            "ResultsByTime": [
                day("2026-10-12", "2026-10-13", [group(EC2, "ml", "7.5")]),
                day(
                    "2026-10-13",
                    "2026-10-14",
                    [
                        group(EC2, "ml", "6.24"),
                        group(EC2, "", "4.0"),  # untagged
                        group("Amazon Simple Storage Service", "ml", "1.25"),
                    ],
                ),
            ],
            "GroupDefinitions": [
                {"Type": "DIMENSION", "Key": "SERVICE"},
                {"Type": "TAG", "Key": "team"},
            ],
            "DimensionValueAttributes": [],
        },
        # The second request: the same days grouped by usage type (data-transfer lines).
        {
            "ResultsByTime": [
                day("2026-10-12", "2026-10-13", [usage("USE1-DataTransfer-Regional-Bytes", "0.7")]),
                day(
                    "2026-10-13",
                    "2026-10-14",
                    [
                        usage("USE1-DataTransfer-Regional-Bytes", "1.2"),
                        usage("USW2-DataTransfer-Regional-Bytes", "0.3"),
                        usage("USE1-DataTransfer-Out-Bytes", "2.25"),
                        usage("USE1-DataTransfer-In-Bytes", "0"),
                        usage("USE1-USW2-AWS-Out-Bytes", "0.5"),
                        usage("USE1-NatGateway-Bytes", "0.9"),
                        # not data transfer: left out
                        usage("USE1-NatGateway-Hours", "1.08"),
                        usage("USE1-BoxUsage:m5.xlarge", "10.0"),
                        usage("USE1-DataProcessing-Bytes", "0.4"),
                    ],
                ),
            ],
            "GroupDefinitions": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            "DimensionValueAttributes": [],
        },
    ]
}
#: Day 13's data-transfer lines per class, summed by hand from the canned usage types.
TRANSFER13 = {"other-zone": 1.5, "internet": 2.25, "other-region": 0.5, "nat": 0.9}


@pytest.fixture
def moto_url(aws_credentials: None) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        request = urllib.request.Request(
            f"{url}/moto-api/static/ce/cost-and-usage-results",
            data=json.dumps(CANNED).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        yield url
    finally:
        server.stop()


def settings(**billing: Any) -> AwsSettings:
    return AwsSettings.model_validate(
        {
            "billing": {"enabled": True, **billing},
            "correction": {"mode": "from_bill"},
            "retries": {"mode": "standard", "max_attempts": 2},
        }
    )


def billing_source(url: str, s: AwsSettings) -> AwsBillingSource:
    ce = aws.client("ce", "us-east-1", s, endpoint_url=url)
    return AwsBillingSource(s.billing, ce_client=ce, clock=lambda: NOW)


def test_cost_explorer_daily_by_service_and_team(moto_url: str) -> None:
    source = billing_source(moto_url, settings())
    assert source.poller.poll_once(), source.poller.last_error
    bill = source.poller.value
    assert bill is not None
    assert bill.days() == ["2026-10-12", "2026-10-13"]
    assert {(r.service, r.team, r.dollars) for r in bill.on("2026-10-13")} == {
        (EC2, "ml", 6.24),
        (EC2, "unassigned", 4.0),
        ("Amazon Simple Storage Service", "ml", 1.25),
    }
    assert {r.account for r in bill.rows} == {"all"}
    assert bill.total("2026-10-13", [EC2]) == pytest.approx(10.24)
    # The data-transfer lines, by usage type, summed per class; other usage left out.
    transfer = {r.destination: r.dollars for r in bill.transfer_on("2026-10-13")}
    assert transfer == pytest.approx(TRANSFER13)
    assert {(r.destination, r.dollars) for r in bill.transfer_on("2026-10-12")} == {
        ("other-zone", 0.7)
    }


@pytest.mark.parametrize(
    ("usage_type", "destination"),
    [
        ("USE1-DataTransfer-Regional-Bytes", "other-zone"),
        ("DataTransfer-Regional-Bytes", "other-zone"),  # us-east-1 lines with no prefix
        ("EUC1-DataTransfer-Out-Bytes", "internet"),
        ("APS1-DataTransfer-In-Bytes", "internet"),
        ("USE1-USW2-AWS-Out-Bytes", "other-region"),
        ("EUW1-USE1-AWS-In-Bytes", "other-region"),
        ("USE2-NatGateway-Bytes", "nat"),
        ("NatGateway-Bytes", "nat"),
        ("USE1-NatGateway-Hours", None),
        ("USE1-BoxUsage:m5.xlarge", None),
        ("USE1-DataProcessing-Bytes", None),
        ("USE1-CloudFront-Out-Bytes", None),
        ("USE1-DataTransfer-Regional-Bytes-Extra", None),
    ],
)
def test_data_transfer_usage_types_map_to_classes(usage_type: str, destination: str | None) -> None:
    assert transfer_class(usage_type) == destination


def test_data_transfer_off_is_one_request(aws_credentials: None) -> None:
    s = settings(data_transfer=False)
    ce = aws.client("ce", "us-east-1", s)
    source = AwsBillingSource(s.billing, ce_client=ce, clock=lambda: NOW)
    with Stubber(ce) as stub:  # a second request would fail: nothing queued for it
        stub.add_response("get_cost_and_usage", CANNED["results"][0])
        assert source.poller.poll_once(), source.poller.last_error
        stub.assert_no_pending_responses()
    assert source.poller.value is not None and source.poller.value.transfer == ()


def test_transfer_pages_are_summed_per_class(aws_credentials: None) -> None:
    s = settings()
    ce = aws.client("ce", "us-east-1", s)
    source = AwsBillingSource(s.billing, ce_client=ce, clock=lambda: NOW)
    page1 = {
        "ResultsByTime": [
            day("2026-10-13", "2026-10-14", [usage("USE1-DataTransfer-Regional-Bytes", "1.0")])
        ],
        "NextPageToken": "next",
    }
    page2 = {
        "ResultsByTime": [
            day("2026-10-13", "2026-10-14", [usage("USW2-DataTransfer-Regional-Bytes", "0.5")])
        ],
    }
    with Stubber(ce) as stub:
        stub.add_response("get_cost_and_usage", CANNED["results"][0])
        stub.add_response("get_cost_and_usage", page1)
        stub.add_response("get_cost_and_usage", page2)
        assert source.poller.poll_once(), source.poller.last_error
    cloud = CloudServices(CloudsSettings(aws=s), collect_interval=600, billing=source)
    assert cloud.latest_billing().billed_transfer == (
        BilledTransfer("aws", "all", "other-zone", 1.5),
    )


@dataclass
class OneAwsCluster:
    """Two m5.xlarge on-demand nodes, read at whatever time the test says."""

    now: float
    name: str = "fixed"

    def snapshot(self) -> Snapshot:
        amount = Resources(cpu=4, memory=16 * 2**30)
        nodes = tuple(
            Node(
                f"ip-10-0-0-{i}",
                Provider.AWS,
                "m5.xlarge",
                "us-east-1",
                "us-east-1a",
                CapacityType.ON_DEMAND,
                "batch",
                amount,
                amount,
            )
            for i in (1, 2)
        )
        return Snapshot(timestamp=self.now, nodes=nodes)

    def close(self) -> None:
        pass


def scrape(collector: Collector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    current = collector.current
    assert current is not None
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(current.exposition.decode())
        for s in f.samples
    }


def test_reconciliation_ratio_and_correction_through_the_collector(moto_url: str) -> None:
    s = settings()
    billing = billing_source(moto_url, s)
    assert billing.poller.poll_once(), billing.poller.last_error
    cluster = OneAwsCluster(DAY13)
    base = PriceBook.load()
    cloud = CloudServices(CloudsSettings(aws=s), collect_interval=600, billing=billing)
    collector = Collector(cluster, base, Config(), cloud=cloud, clock=lambda: cluster.now)

    collector.collect_once()
    first = scrape(collector)
    assert ("unitcost_reconciliation_ratio", (("provider", "aws"),)) not in first  # day not seen
    assert first[("unitcost_source_up", (("source", "aws-billing"),))] == 1
    assert first[("unitcost_cloud_billed_day_timestamp_seconds", (("provider", "aws"),))] == DAY13
    billed = {
        dict(labels)["service"] + "/" + dict(labels)["team"]: value
        for (name, labels), value in first.items()
        if name == "unitcost_cloud_billed_cost_dollars"
    }
    assert billed == {
        f"{EC2}/ml": 6.24,
        f"{EC2}/unassigned": 4.0,
        "Amazon Simple Storage Service/ml": 1.25,
    }
    transfer = {
        dict(labels)["destination"]: value
        for (name, labels), value in first.items()
        if name == "unitcost_cloud_billed_data_transfer_cost_dollars"
    }
    assert transfer == pytest.approx(TRANSFER13)

    # The whole of 13 October, a collect every 10 minutes.
    while cluster.now < DAY13 + 86400:
        cluster.now += 600
        collector.collect_once()
    metrics = scrape(collector)
    # Estimate: two nodes at the bundled m5.xlarge price (compute part) for 24 hours.
    hourly = base.book.providers["aws"].instance_types["m5.xlarge"].hourly
    estimated = 2 * hourly * 24
    aws_label = (("provider", "aws"),)
    assert metrics[("unitcost_cloud_estimated_cost_dollars", aws_label)] == pytest.approx(estimated)
    assert metrics[("unitcost_reconciliation_ratio", aws_label)] == pytest.approx(estimated / 10.24)
    assert metrics[("unitcost_reconciliation_day_timestamp_seconds", aws_label)] == DAY13
    factor = 10.24 / estimated
    assert metrics[("unitcost_cost_correction_factor", aws_label)] == pytest.approx(factor)

    # From the next collect the node prices carry the factor; the ratio stays on raw estimates.
    cluster.now += 600
    collector.collect_once()
    after = scrape(collector)
    cpu = ("unitcost_node_cost_dollars_per_hour", (("node", "ip-10-0-0-1"), ("resource", "cpu")))
    raw_cpu = first[cpu]
    assert after[cpu] == pytest.approx(raw_cpu * factor)
    assert after[("unitcost_reconciliation_ratio", aws_label)] == pytest.approx(estimated / 10.24)


def test_throttled_cost_explorer_keeps_the_last_bill(aws_credentials: None) -> None:
    s = settings()
    ce = aws.client("ce", "us-east-1", s)
    source = AwsBillingSource(s.billing, ce_client=ce, clock=lambda: NOW)
    with Stubber(ce) as stub:
        stub.add_response("get_cost_and_usage", CANNED["results"][0])
        stub.add_response("get_cost_and_usage", CANNED["results"][1])
        assert source.poller.poll_once()
        stub.add_client_error(
            "get_cost_and_usage",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
        assert not source.poller.poll_once()
    assert "GetCostAndUsage throttled by AWS (ThrottlingException)" in source.poller.last_error
    assert source.poller.value is not None and len(source.poller.value.rows) == 4
    assert source.poller.health().up is False


def test_missing_credentials_are_a_source_error(no_aws_machine: None) -> None:
    s = settings()
    source = AwsBillingSource(
        s.billing, ce_client=aws.client("ce", "us-east-1", s), clock=lambda: NOW
    )
    assert not source.poller.poll_once()
    assert source.poller.last_error.startswith("no usable AWS credentials")


def test_filters_accounts_and_scope_tags(aws_credentials: None) -> None:
    s = settings(accounts=["111122223333"], scope_tags={"eks:cluster-name": "prod"})
    ce = aws.client("ce", "us-east-1", s)
    source = AwsBillingSource(s.billing, ce_client=ce, clock=lambda: NOW)
    expected = {
        "TimePeriod": {"Start": "2026-10-11", "End": "2026-10-14"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": "team"}],
        "Filter": {
            "And": [
                {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["111122223333"]}},
                {
                    "Tags": {
                        "Key": "eks:cluster-name",
                        "Values": ["prod"],
                        "MatchOptions": ["EQUALS"],
                    }
                },
            ]
        },
    }
    by_usage = {**expected, "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}]}
    with Stubber(ce) as stub:
        stub.add_response("get_cost_and_usage", CANNED["results"][0], expected)
        stub.add_response("get_cost_and_usage", CANNED["results"][1], by_usage)
        assert source.poller.poll_once(), source.poller.last_error
    assert source.poller.value is not None
    assert {r.account for r in source.poller.value.rows} == {"111122223333"}
    assert {r.account for r in source.poller.value.transfer} == {"111122223333"}


def test_another_currency_is_refused_by_name() -> None:
    result = day("2026-10-13", "2026-10-14", [group(EC2, "ml", "1")])
    result["Groups"][0]["Metrics"]["UnblendedCost"]["Unit"] = "EUR"
    with pytest.raises(BillingError, match=r"2026-10-13: UnblendedCost is in 'EUR'"):
        parse_results([result], "UnblendedCost", "team", "all")


def test_a_transfer_line_in_another_currency_is_refused_by_name() -> None:
    result = day("2026-10-13", "2026-10-14", [usage("USE1-NatGateway-Bytes", "1")])
    result["Groups"][0]["Metrics"]["UnblendedCost"]["Unit"] = "EUR"
    with pytest.raises(BillingError, match=r"2026-10-13: UnblendedCost is in 'EUR'"):
        parse_transfer([result], "UnblendedCost", "all")
