"""The `clouds:` config block: off by default, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from unitcost.base.errors import InputError
from unitcost.config.file import load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_clouds_are_off_by_default(tmp_path: Path) -> None:
    assert not load_config(write(tmp_path, "collect_interval_seconds: 30\n")).clouds.any_enabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "clouds: {gcp: {monitoring: {enabled: true, project: acme-ml-prod}}}",
            "clouds.gcp.monitoring",
        ),
        ("clouds: {aws: {pricing: {region: mars-1}}}", "clouds.aws.pricing.region"),
        ("clouds: {aws: {billing: {poll_interval_seconds: 60}}}", "poll_interval_seconds"),
        ("clouds: {aws: {correction: {mode: from_bill}}}", "needs billing.enabled"),
        ("clouds: {aws: {billing: {accounts: ['12']}}}", "clouds.aws.billing.accounts[0]"),
        ("clouds: {aws: {retries: {mode: legacy}}}", "clouds.aws.retries.mode"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(InputError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
