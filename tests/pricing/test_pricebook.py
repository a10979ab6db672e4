"""The price book: bundled defaults, layering, currency, discounts and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.builders import node, res
from unitcost.base.errors import InputError
from unitcost.data.model import CapacityType, Provider, Volume
from unitcost.pricing import PriceBook


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bundled_defaults_are_valid_and_dated() -> None:
    prices = PriceBook.load()
    assert prices.book.currency == "USD"
    for provider in ("aws", "gcp"):
        types = prices.book.providers[provider].instance_types
        assert len(types) >= 10
        assert all(p.as_of for p in types.values())
    gpu_types = {"p4d.24xlarge", "p5.48xlarge", "g5.xlarge"}
    assert gpu_types <= set(prices.book.providers["aws"].instance_types)
    assert {"a2-highgpu-1g", "a3-highgpu-8g"} <= set(prices.book.providers["gcp"].instance_types)
    assert prices.book.onprem.node_classes


def test_layering_overrides_one_entry_and_keeps_the_rest(tmp_path: Path) -> None:
    override = write(
        tmp_path,
        "mine.yaml",
        """
providers:
  aws:
    instance_types:
      m5.xlarge: {hourly: 0.10, as_of: 2026-10}
""",
    )
    prices = PriceBook.load([override])
    aws = prices.book.providers["aws"]
    assert aws.instance_types["m5.xlarge"].hourly == 0.10
    assert aws.instance_types["m5.2xlarge"].hourly == 0.384  # untouched default
    assert aws.spot_discount == 0.65
    assert prices.sources == ("bundled defaults.yaml", str(override))


def test_spot_and_committed_discounts_and_explicit_spot_price(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
providers:
  aws:
    spot_discount: 0.6
    committed_discount: 0.25
    instance_types:
      t.one: {hourly: 1.0, as_of: 2026-01}
      t.two: {hourly: 1.0, spot_hourly: 0.33, as_of: 2026-01}
""",
    )
    prices = PriceBook.load([path], with_defaults=False)

    def total(instance: str, capacity: CapacityType) -> float:
        n = node("n", res(4, 16), instance_type=instance, capacity_type=capacity)
        return (
            prices.node_price(n).dollars_per_hour["cpu"]
            + prices.node_price(n).dollars_per_hour["memory"]
        )

    assert total("t.one", CapacityType.ON_DEMAND) == pytest.approx(1.0)
    assert total("t.one", CapacityType.SPOT) == pytest.approx(0.4)
    assert total("t.one", CapacityType.COMMITTED) == pytest.approx(0.75)
    assert total("t.two", CapacityType.SPOT) == pytest.approx(0.33)


def test_other_currency_converts_at_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "eur.yaml",
        """
currency: EUR
usd_per_currency_unit: 1.10
storage_classes: {default: 0.10}
onprem:
  node_classes:
    box: {purchase_price: 7300, amortization_months: 10, weights: {cpu: 1}}
""",
    )
    prices = PriceBook.load([path])
    n = node("n", res(4, 16), provider=Provider.ONPREM, instance_type="box")
    # 7,300 EUR over 10 x 730 h = 1 EUR/h = 1.10 USD/h
    assert prices.node_price(n).total == pytest.approx(1.10)
    volume = Volume("pv", "unknown", 730 * 2.0**30, Provider.ONPREM)
    assert prices.volume_hourly(volume) == pytest.approx(0.11)


def test_tco_formula() -> None:
    prices = PriceBook.load()
    dgx = prices.book.onprem.node_classes["dgx-a100-80g"]
    expected = 199000 / (48 * 730) + 6.5 * 0.11 * 1.5 + (900 + 1200) / 730
    assert prices.node_class_hourly(dgx) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "providers:\n  aws:\n    instance_types:\n      m5.xlarge: {hourly: -1, as_of: 2025-01}\n",
            "providers.aws.instance_types['m5.xlarge'].hourly: Input should be greater than 0 (got -1)",
        ),
        ("providers:\n  azure: {}\n", "unknown provider(s) ['azure']"),
        ("currency: EUR\n", "set usd_per_currency_unit"),
        ("fallback: {cpu_core_hour: .nan}\n", "fallback.cpu_core_hour"),
        (
            "onprem:\n  node_classes:\n    x: {purchase_price: 1, amortization_months: 0, weights: {cpu: 1}}\n",
            "onprem.node_classes.x.amortization_months: Input should be greater than 0 (got 0)",
        ),
        (
            "onprem:\n  node_classes:\n    x: {purchase_price: 1, amortization_months: 1, weights: {}}\n",
            "at least one weight must be above 0",
        ),
        ("hourly_rates: 3\n", "hourly_rates: Extra inputs are not permitted (got 3)"),
        ("providers: [1, 2\n", "line 2, column 1: invalid YAML"),
        ("- a list\n", "the top level must be a mapping"),
    ],
)
def test_bad_price_books_name_file_field_and_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(InputError) as info:
        PriceBook.load([path])
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.yaml: cannot read"):
        PriceBook.load([tmp_path / "nope.yaml"])


COMMITMENT = (
    "{id: sp-1, type: Savings Plan, start: '2025-01-01', end: '2026-01-01', hourly_commitment: 2}"
)


def test_commitments_load_and_convert_to_usd(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        f"currency: EUR\nusd_per_currency_unit: 1.10\nproviders: {{aws: {{commitments: [{COMMITMENT}]}}}}\n",
    )
    [commitment] = PriceBook.load([path]).book.providers["aws"].commitments
    assert (commitment.id, commitment.type, commitment.start) == (
        "sp-1",
        "Savings Plan",
        "2025-01-01",
    )
    assert commitment.hourly_commitment == pytest.approx(2.2)  # 2 EUR/h


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            COMMITMENT.replace("2026-01-01", "2024-06-01"),
            "sp-1: end 2024-06-01 must be after start",
        ),
        (COMMITMENT.replace("'2025-01-01'", "'2025-01'"), "start"),
        (COMMITMENT.replace("hourly_commitment: 2", "hourly_commitment: 0"), "hourly_commitment"),
        (f"{COMMITMENT}, {COMMITMENT}", "id(s) ['sp-1'] appear more than once"),
        (COMMITMENT.replace("type: Savings Plan, ", ""), "type"),
    ],
)
def test_bad_commitments_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.yaml", f"providers: {{aws: {{commitments: [{text}]}}}}\n")
    with pytest.raises(InputError) as info:
        PriceBook.load([path])
    assert "bad.yaml" in str(info.value) and message in str(info.value)
