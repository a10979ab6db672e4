"""`unitcost chargeback` errors name the flag, the value or the URL."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from support.prometheus import free_port
from unitcost.cli.main import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["chargeback", *args])
    return result.exit_code, result.output


def test_bad_period_and_time() -> None:
    code, out = run("--prometheus", "http://127.0.0.1:1", "--period", "2026-13")
    assert code == 2 and "--period" in out and "'2026-13'" in out
    code, out = run("--prometheus", "http://x", "--period", "2026-10", "--at", "soon")
    assert code == 2 and "--at" in out and "'soon'" in out


def test_parquet_needs_an_output_file() -> None:
    code, out = run("--prometheus", "http://x", "--period", "2026-10", "--format", "focus-parquet")
    assert code == 2 and "--output" in out


@pytest.mark.timeout(60)
def test_unreachable_prometheus_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out = run("--prometheus", url, "--period", "2025-03", "--at", "2025-03-02T00:00:00Z")
    assert code == 2
    assert f"unitcost: error: {url}/api/v1/query_range" in out


def test_not_a_url() -> None:
    code, out = run("--prometheus", "prometheus:9090", "--period", "2025-03")
    assert code == 2 and "'prometheus:9090' must start with http://" in out
