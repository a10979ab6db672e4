"""Live AWS prices through the real boto3 clients, answered by botocore's Stubber with the
documented response shapes (PriceList entries are JSON strings)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from unitcost.config.clouds import AwsSettings, CloudsSettings
from unitcost.data.model import CapacityType, Node, Provider, Resources
from unitcost.pricing import PriceBook
from unitcost.sources.cloud import aws
from unitcost.sources.cloud.aws_prices import AwsPriceSource, PriceListError, on_demand_hourly
from unitcost.sources.cloud.services import CloudServices

NOW = datetime(2026, 10, 14, 12, 0, tzinfo=UTC).timestamp()


def price_list_entry(instance_type: str, usd: str, sku: str = "JRTCKXETXF") -> str:
    """A get_products PriceList item as AWS writes it (trimmed to the fields that matter)."""
    return json.dumps(
        {
            "product": {
                "productFamily": "Compute Instance",
                "attributes": {
                    "instanceType": instance_type,
                    "regionCode": "eu-west-1",
                    "operatingSystem": "Linux",
                    "tenancy": "Shared",
                    "preInstalledSw": "NA",
                    "capacitystatus": "Used",
                    "vcpu": "4",
                },
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "endRange": "Inf",
                                "description": f"${usd} per On Demand Linux {instance_type}",
                                "appliesTo": [],
                                "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
                                "beginRange": "0",
                                "pricePerUnit": {"USD": usd},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-10-01T00:00:00Z",
                        "offerTermCode": "JRTCKXETXF",
                        "termAttributes": {},
                    }
                }
            },
            "version": "20261001000000",
            "publicationDate": "2026-10-01T00:00:00Z",
        }
    )


def products_request(instance_type: str) -> dict[str, Any]:
    fields = {
        "instanceType": instance_type,
        "regionCode": "eu-west-1",
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    return {
        "ServiceCode": "AmazonEC2",
        "FormatVersion": "aws_v1",
        "Filters": [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in fields.items()],
    }


def spot_entry(instance_type: str, zone: str, price: str, hour: int) -> dict[str, Any]:
    return {
        "AvailabilityZone": zone,
        "InstanceType": instance_type,
        "ProductDescription": "Linux/UNIX",
        "SpotPrice": price,
        "Timestamp": datetime(2026, 10, 14, hour, 0, tzinfo=UTC),
    }


@pytest.fixture
def settings() -> AwsSettings:
    return AwsSettings.model_validate(
        {"pricing": {"enabled": True, "region": "eu-west-1", "instance_types": ["m5.xlarge"]}}
    )


@pytest.fixture
def clients(aws_credentials: None, settings: AwsSettings) -> tuple[Any, Any]:
    pricing = aws.client("pricing", "us-east-1", settings)
    ec2 = aws.client("ec2", "eu-west-1", settings)
    return pricing, ec2


def aws_node(name: str, instance_type: str, capacity: CapacityType) -> Node:
    amount = Resources(cpu=4, memory=16 * 2**30)
    return Node(
        name,
        Provider.AWS,
        instance_type,
        "eu-west-1",
        "eu-west-1a",
        capacity,
        "pool",
        amount,
        amount,
    )


def test_on_demand_and_spot_become_a_price_book_layer(
    clients: tuple[Any, Any], settings: AwsSettings
) -> None:
    pricing, ec2 = clients
    source = AwsPriceSource(settings, pricing_client=pricing, ec2_client=ec2, clock=lambda: NOW)
    source.want(["m5.xlarge", "g5.xlarge"])  # the second arrives from the cluster's nodes
    with Stubber(pricing) as p, Stubber(ec2) as e:
        # g5.xlarge comes in two pages, as get_products pages with NextToken.
        p.add_response(
            "get_products",
            {"PriceList": [], "NextToken": "page-2", "FormatVersion": "aws_v1"},
            products_request("g5.xlarge"),
        )
        p.add_response(
            "get_products",
            {"PriceList": [price_list_entry("g5.xlarge", "1.1240000000")]},
            {**products_request("g5.xlarge"), "NextToken": "page-2"},
        )
        p.add_response(
            "get_products",
            {"PriceList": [price_list_entry("m5.xlarge", "0.2140000000")]},
            products_request("m5.xlarge"),
        )
        e.add_response(
            "describe_spot_price_history",
            {
                "SpotPriceHistory": [
                    spot_entry("m5.xlarge", "eu-west-1a", "0.0800", 11),
                    spot_entry("m5.xlarge", "eu-west-1a", "0.0700", 9),  # older: ignored
                    spot_entry("m5.xlarge", "eu-west-1b", "0.0900", 10),
                ]
            },
            {
                "InstanceTypes": ["g5.xlarge", "m5.xlarge"],
                "ProductDescriptions": ["Linux/UNIX"],
                "StartTime": ANY,
            },
        )
        assert source.poller.poll_once(), source.poller.last_error
        p.assert_no_pending_responses()
        e.assert_no_pending_responses()
    live = source.poller.value
    assert live is not None
    assert live.on_demand == {"g5.xlarge": 1.124, "m5.xlarge": 0.214}
    assert live.spot == {"m5.xlarge": pytest.approx((0.08 + 0.09) / 2)}
    assert live.as_of == "2026-10-14"

    cloud = CloudServices(CloudsSettings(aws=settings), collect_interval=30, prices=source)
    base = PriceBook.load()
    book = cloud.pricebook(base)
    # The instance price covers cpu, memory and gpu; node-local disk is priced on top.
    on_demand = book.node_price(aws_node("a", "m5.xlarge", CapacityType.ON_DEMAND))
    assert on_demand.total - on_demand.dollars_per_hour["storage"] == pytest.approx(0.214)
    spot = book.node_price(aws_node("b", "m5.xlarge", CapacityType.SPOT))
    assert spot.total - spot.dollars_per_hour["storage"] == pytest.approx(0.085)
    # Bundled defaults still apply under the layer, and the committed discount on top of it.
    committed = book.node_price(aws_node("c", "m5.xlarge", CapacityType.COMMITTED))
    discount = base.book.providers["aws"].committed_discount
    assert committed.total - committed.dollars_per_hour["storage"] == pytest.approx(
        0.214 * (1 - discount)
    )
    assert book.sources[-1] == "live AWS prices eu-west-1 2026-10-14"
    assert cloud.pricebook(base) is book  # rebuilt only when something changed


def test_throttling_is_a_source_error_and_the_last_prices_stay(
    clients: tuple[Any, Any], settings: AwsSettings
) -> None:
    pricing, ec2 = clients
    quiet = settings.model_copy(
        update={"pricing": settings.pricing.model_copy(update={"spot": False})}
    )
    source = AwsPriceSource(quiet, pricing_client=pricing, ec2_client=ec2, clock=lambda: NOW)
    with Stubber(pricing) as p:
        p.add_response(
            "get_products",
            {"PriceList": [price_list_entry("m5.xlarge", "0.2140000000")]},
            products_request("m5.xlarge"),
        )
        assert source.poller.poll_once()
        p.add_client_error(
            "get_products",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
        assert not source.poller.poll_once()
    assert not source.poller.up
    assert source.poller.last_success == NOW
    assert "GetProducts throttled by AWS (ThrottlingException)" in source.poller.last_error
    assert source.poller.value is not None
    assert source.poller.value.on_demand == {"m5.xlarge": 0.214}
    assert source.poller.health().up is False


def test_missing_credentials_name_the_default_chain(
    no_aws_machine: None, settings: AwsSettings
) -> None:
    pricing = aws.client("pricing", "us-east-1", settings)
    ec2 = aws.client("ec2", "eu-west-1", settings)
    source = AwsPriceSource(settings, pricing_client=pricing, ec2_client=ec2, clock=lambda: NOW)
    assert not source.poller.poll_once()
    assert source.poller.value is None
    assert source.poller.last_error.startswith("no usable AWS credentials")
    assert "IRSA" in source.poller.last_error


def test_bad_price_list_entries_are_named() -> None:
    with pytest.raises(PriceListError, match=r"without product\.attributes"):
        on_demand_hourly('{"terms": {}}')
    bad = json.loads(price_list_entry("m5.xlarge", "x"))
    with pytest.raises(PriceListError, match=r"m5.xlarge: pricePerUnit.USD 'x'"):
        on_demand_hourly(bad)
    # A zero price (a reservation SKU) is no price.
    assert on_demand_hourly(price_list_entry("m5.xlarge", "0.0000000000")) is None
