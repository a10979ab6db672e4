"""Network dollars from the bundled AWS and GCP rates, computed by hand to the cent, and the
price book's errors on bad network rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from unitcost.base.errors import InputError
from unitcost.data.network import GIB, Direction, TrafficClass
from unitcost.pricing import PriceBook
from unitcost.pricing.network import NetworkPricer, tiered_cost

BOOK = PriceBook.load()
AWS = NetworkPricer(BOOK, "aws")
GCP = NetworkPricer(BOOK, "gcp")
TX, RX = Direction.TRANSMIT, Direction.RECEIVE
C = TrafficClass


def cents(dollars: float) -> float:
    return round(dollars, 2)


def test_bundled_rates_are_dated() -> None:
    assert AWS.as_of == "2025-05" and GCP.as_of == "2025-05"
    assert NetworkPricer(BOOK, "onprem").as_of == "2025-05"


def test_aws_inter_zone_is_billed_in_both_directions() -> None:
    # 10 GiB out x $0.01 = $0.10; 5 GiB in x $0.01 = $0.05.
    assert cents(AWS.dollars(C.OTHER_ZONE, TX, False, 10 * GIB)) == 0.10
    assert cents(AWS.dollars(C.OTHER_ZONE, RX, False, 5 * GIB)) == 0.05
    assert AWS.dollars(C.SAME_ZONE, TX, False, 10 * GIB) == 0.0
    assert AWS.dollars(C.SAME_NODE, RX, False, 10 * GIB) == 0.0


def test_gcp_inter_zone_is_billed_on_egress_only() -> None:
    # 10 GiB out x $0.01 = $0.10; ingress is free.
    assert cents(GCP.dollars(C.OTHER_ZONE, TX, False, 10 * GIB)) == 0.10
    assert GCP.dollars(C.OTHER_ZONE, RX, False, 5 * GIB) == 0.0


def test_inter_region() -> None:
    # 3 GiB x $0.02 = $0.06 on both clouds; what arrives is free.
    assert cents(AWS.dollars(C.OTHER_REGION, TX, False, 3 * GIB)) == 0.06
    assert cents(GCP.dollars(C.OTHER_REGION, TX, False, 3 * GIB)) == 0.06
    assert AWS.dollars(C.OTHER_REGION, RX, False, 3 * GIB) == 0.0


def test_aws_internet_tier_boundary() -> None:
    # 10,230 GiB sent this month, 20 GiB more: 10 GiB at $0.09 (to 10,240) + 10 at $0.085
    # = $0.90 + $0.85 = $1.75.
    assert cents(AWS.dollars(C.INTERNET, TX, False, 20 * GIB, 10_230 * GIB)) == 1.75
    # all in the first tier: 20 x 0.09 = $1.80; past the last boundary: 20 x 0.05 = $1.00
    assert cents(AWS.dollars(C.INTERNET, TX, False, 20 * GIB)) == 1.80
    assert cents(AWS.dollars(C.INTERNET, TX, False, 20 * GIB, 200_000 * GIB)) == 1.00
    # another cloud is internet egress too; what comes in is free
    assert cents(AWS.dollars(C.OTHER_CLOUD, TX, False, 20 * GIB)) == 1.80
    assert AWS.dollars(C.INTERNET, RX, False, 20 * GIB) == 0.0


def test_gcp_internet_tier_boundary() -> None:
    # 1,020 GiB sent, 10 more: 4 GiB at $0.12 (to 1,024) + 6 at $0.11 = $0.48 + $0.66 = $1.14.
    assert cents(GCP.dollars(C.INTERNET, TX, False, 10 * GIB, 1_020 * GIB)) == 1.14


def test_nat_processing_both_directions() -> None:
    # AWS: 100 GiB out through NAT: $0.045 x 100 = $4.50 processing + $0.09 x 100 = $9.00
    # egress = $13.50; 40 GiB back in: $0.045 x 40 = $1.80 processing, ingress free.
    assert cents(AWS.dollars(C.INTERNET, TX, True, 100 * GIB)) == 13.50
    assert cents(AWS.dollars(C.INTERNET, RX, True, 40 * GIB)) == 1.80
    # GCP Cloud NAT, 10 GiB out: $0.45 + $1.20 = $1.65
    assert cents(GCP.dollars(C.INTERNET, TX, True, 10 * GIB)) == 1.65
    # NAT does not apply inside the VPC
    assert AWS.dollars(C.OTHER_ZONE, TX, True, 10 * GIB) == pytest.approx(0.10)


def test_onprem_transit_defaults_to_zero_and_is_overridable(tmp_path: Path) -> None:
    assert NetworkPricer(BOOK, "onprem").dollars(C.INTERNET, TX, False, 10 * GIB) == 0.0
    path = tmp_path / "book.yaml"
    path.write_text(
        "network:\n  onprem:\n    as_of: 2026-01\n    transmit_per_gb: {internet: 0.005}\n"
    )
    onprem = NetworkPricer(PriceBook.load([path]), "onprem")
    # 200 GiB x $0.005 = $1.00
    assert cents(onprem.dollars(C.INTERNET, TX, False, 200 * GIB)) == 1.00
    # a provider with no rates at all prices at 0 rather than failing
    assert NetworkPricer(PriceBook.load(with_defaults=False), "aws").dollars(
        C.INTERNET, TX, False, GIB
    ) == (0.0)


def test_tiered_cost_across_several_tiers() -> None:
    tiers = AWS.rates.internet_tiers if AWS.rates else []
    # from 0: 10,240 x 0.09 + 40,960 x 0.085 + 1 x 0.07 = 921.60 + 3,481.60 + 0.07 = 4,403.27
    assert cents(tiered_cost(0, 51_201, tiers)) == 4403.27


def test_a_currency_converts_network_rates(tmp_path: Path) -> None:
    path = tmp_path / "eur.yaml"
    path.write_text(
        "currency: EUR\nusd_per_currency_unit: 1.1\nnetwork:\n  aws:\n    as_of: 2026-01\n"
        "    transmit_per_gb: {other-zone: 0.01}\n    nat_per_gb: 0.04\n"
    )
    aws = NetworkPricer(PriceBook.load([path], with_defaults=False), "aws")
    # 100 GiB x 0.01 EUR x 1.1 = $1.10 ; NAT 100 x 0.04 x 1.1 = $4.40 (internet has no rate)
    assert cents(aws.dollars(C.OTHER_ZONE, TX, False, 100 * GIB)) == 1.10
    assert cents(aws.dollars(C.INTERNET, TX, True, 100 * GIB)) == 4.40


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "    transmit_per_gb: {other-zone: -0.01}\n",
            "network.aws.transmit_per_gb.other-zone: Input should be greater than or equal "
            "to 0 (got -0.01)",
        ),
        ("    transmit_per_gb: {cross-az: 0.01}\n", "unknown traffic class(es) ['cross-az']"),
        (
            "    internet_tiers: [{per_gb: 0.09}, {up_to_gb: 10, per_gb: 0.08}]\n",
            "every tier but the last needs up_to_gb",
        ),
        ("    internet_tiers: [{up_to_gb: 10}]\n", "internet_tiers[0].per_gb: Field required"),
        ("    nat_per_gb: .nan\n", "network.aws.nat_per_gb: Input should be a finite number"),
    ],
)
def test_bad_network_rates_name_file_field_and_value(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("network:\n  aws:\n    as_of: 2026-01\n" + body)
    with pytest.raises(InputError) as raised:
        PriceBook.load([path])
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_missing_as_of_and_unknown_provider_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("network:\n  aws:\n    nat_per_gb: 0.045\n")
    with pytest.raises(InputError, match=r"bad.yaml: network.aws.as_of: Field required"):
        PriceBook.load([path])
    path.write_text("network:\n  azure:\n    as_of: 2026-01\n")
    with pytest.raises(InputError, match=r"network: unknown provider\(s\) \['azure'\]"):
        PriceBook.load([path])
