"""Commands whose extra is not installed exit 2 with one line naming it; their --help still
works. A missing module is simulated the way Python itself reports one: `sys.modules[name]`
set to None makes both `import name` and `find_spec(name)` fail."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from unitcost.cli.main import main
from unitcost.cli.options import EXTRAS

REPO = Path(__file__).resolve().parents[2]
CLOUD_CONFIG = "clouds: {aws: {pricing: {enabled: true}}}\n"
CHARGEBACK = ["chargeback", "--prometheus", "http://127.0.0.1:9", "--period", "2025-03"]


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize(
    ("args", "extra", "missing"),
    [
        (["forecast", "--prometheus", "http://127.0.0.1:9"], "forecast", "statsmodels"),
        (
            ["forecast", "--prometheus", "http://127.0.0.1:9", "--plot", "OUT"],
            "forecast",
            "matplotlib",
        ),
        (
            [*CHARGEBACK, "--format", "focus-parquet", "--output", "OUT"],
            "chargeback",
            "pyarrow",
        ),
        (
            [*CHARGEBACK, "--format", "html"],
            "chargeback",
            "jinja2",
        ),
        ([*CHARGEBACK, "--format", "iceberg"], "lakehouse", "pyiceberg"),
        (["gpu-agent", "--node-name", "n1"], "gpu", "pynvml"),
        (["serve", "--config", "CONFIG", "--duration", "1"], "cloud", "boto3"),
        (
            ["serve", "--config", "CONFIG", "--duration", "1"],
            "cloud",
            "google.cloud.monitoring_v3",
        ),
        (
            ["serve", "--otlp-endpoint", "http://127.0.0.1:4317", "--duration", "1"],
            "otlp",
            "opentelemetry.sdk.metrics",
        ),
        (
            ["demo", "--otlp-endpoint", "http://127.0.0.1:4317", "--duration", "1"],
            "otlp",
            "opentelemetry.exporter.otlp.proto.grpc",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else v[0],
)
def test_missing_extra_is_one_line_and_exit_2(
    args: list[str], extra: str, missing: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without(monkeypatch, missing)
    config = tmp_path / "clouds.yaml"
    config.write_text(CLOUD_CONFIG)
    paths = {"CONFIG": str(config), "OUT": str(tmp_path / "out")}
    result = CliRunner().invoke(main, [paths.get(a, a) for a in args])
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"unitcost {args[0]}: error: needs the '{extra}' extra: pip install 'unitcost[{extra}]'\n"
    )


@pytest.mark.parametrize(
    ("command", "extra"),
    [("forecast", "forecast"), ("chargeback", "chargeback"), ("gpu-agent", "gpu")],
)
def test_help_works_without_the_extra(
    command: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without(monkeypatch, *EXTRAS[extra])
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: unitcost {command} [OPTIONS]" in result.output


def test_extras_match_pyproject() -> None:
    """Every extra that `require_extra` can name is one pip can install, and `all` has them."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(extras) - {"all", "dev"} == set(EXTRAS)
    assert extras["all"] == [f"unitcost[{','.join(EXTRAS)}]"]
