"""`unitcost forecast` against the real Prometheus, backfilled with five weeks of hourly
capacity history (promtool) for two pools: a GPU pool whose demand grows into its capacity,
and a CPU pool with room to spare."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from support.catalogue import assert_conforms
from support.prometheus import Prometheus, prometheus
from unitcost.cli.main import main
from unitcost.history.forecast.model import DAY
from unitcost.history.forecast.service import ForecastService
from unitcost.metrics.catalogue import Binary
from unitcost.sources.promapi import PrometheusAPI

pytestmark = pytest.mark.xdist_group("forecast")

HISTORY_DAYS = 35
GPU_CAPACITY = 64.0
GPU = ("aws", "aws-p4d", "NVIDIA A100-SXM4-40GB", "gpu", "gpus")
CPU = ("onprem", "onprem-cpu", "", "cpu", "cores")


def gpu_demand(day: float) -> float:
    """Requested GPUs: 30 growing by 0.6 a day, quieter at weekends (weekly season)."""
    return 30 + 0.6 * day + 4 * math.sin(2 * math.pi * day / 7)


def gpu_pending(day: float) -> float:
    return 2.0 + 0.05 * day


def cpu_demand(day: float) -> float:
    return 100 + 0.1 * day + 10 * math.sin(2 * math.pi * day / 7)


def true_gpu_exhaustion(start_day: int) -> float:
    """Unix time of the first day on which requested + pending reaches capacity."""
    day = next(d for d in range(HISTORY_DAYS, 400) if gpu_demand(d) + gpu_pending(d) >= 64)
    return (start_day + day) * DAY


def openmetrics(start_day: int) -> str:
    series = {
        "allocatable": {GPU: lambda d: GPU_CAPACITY, CPU: lambda d: 400.0},
        "requested": {GPU: gpu_demand, CPU: cpu_demand},
        "used": {GPU: lambda d: 0.8 * gpu_demand(d), CPU: lambda d: 0.5 * cpu_demand(d)},
        "pending": {GPU: gpu_pending, CPU: lambda d: 0.0},
    }
    lines = []
    for kind, pools in series.items():
        lines.append(f"# TYPE unitcost_capacity_{kind} gauge")
        for (provider, pool, model, resource, unit), fn in pools.items():
            labels = (
                f'provider="{provider}",node_pool="{pool}",gpu_model="{model}",'
                f'resource="{resource}",unit="{unit}"'
            )
            for hour in range(HISTORY_DAYS * 24):
                day = hour // 24  # one value a day: the daily peak is the formula
                t = (start_day + day) * DAY + (hour % 24) * 3600
                lines.append(f"unitcost_capacity_{kind}{{{labels}}} {fn(day):.6f} {t:.0f}")
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prom_history() -> Iterator[tuple[Prometheus, int]]:
    # History ends yesterday (UTC), so every day in it is a whole day.
    start_day = int(time.time() // DAY) - HISTORY_DAYS
    with prometheus([], history=openmetrics(start_day)) as prom:
        yield prom, start_day


def test_table_and_plot(prom_history: tuple[Prometheus, int], tmp_path: Path) -> None:
    prom, start_day = prom_history
    png = tmp_path / "forecast.png"
    result = CliRunner().invoke(
        main,
        ["forecast", "--prometheus", prom.url, "--horizon", "90d", "--plot", str(png)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    expected = time.strftime("%Y-%m-%d", time.gmtime(true_gpu_exhaustion(start_day)))
    gpu_row = next(line for line in result.output.splitlines() if "aws-p4d" in line)
    cpu_row = next(line for line in result.output.splitlines() if "onprem-cpu" in line)
    assert "not in 90d" in cpu_row
    # The printed date is within the stated error of the truth.
    printed = next(w for w in gpu_row.split() if w.count("-") == 2 and w[:2] == "20")
    gap = abs(
        time.mktime(time.strptime(printed, "%Y-%m-%d"))
        - time.mktime(time.strptime(expected, "%Y-%m-%d"))
    )
    assert gap <= 3 * DAY, (printed, expected)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in result.output and "(2 pools)" in result.output


def test_served_metrics(prom_history: tuple[Prometheus, int]) -> None:
    prom, start_day = prom_history
    service = ForecastService(PrometheusAPI(prom.url), lookback_days=56, resources=("cpu", "gpu"))
    collected = service.run_once()
    families = {
        f.name: f for f in text_string_to_metric_families(collected.exposition.decode("utf-8"))
    }
    exhaustion = families["unitcost_capacity_exhaustion_timestamp_seconds"].samples
    assert [s.labels["node_pool"] for s in exhaustion] == ["aws-p4d"]
    assert abs(exhaustion[0].value - true_gpu_exhaustion(start_day)) <= 3 * DAY
    requested = {
        (s.labels["node_pool"], s.labels["horizon"]): s.value
        for s in families["unitcost_capacity_forecast_requested"].samples
    }
    # Growth: the 90-day forecast of the GPU pool is above the 30-day one, both near the truth.
    for horizon in (30, 90):
        truth = gpu_demand(HISTORY_DAYS - 1 + horizon)
        assert requested[("aws-p4d", f"{horizon}d")] == pytest.approx(truth, rel=0.1)
    assert families["unitcost_source_up"].samples[0].value == 1
    assert_conforms(collected.exposition.decode("utf-8"), Binary.FORECAST)


def test_errors_name_the_problem(prom_history: tuple[Prometheus, int]) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["forecast", "--prometheus", "localhost:9090"])
    assert bad.exit_code == 2 and "must start with http://" in bad.output
    prom, _ = prom_history
    wrong = runner.invoke(main, ["forecast", "--prometheus", prom.url, "--horizon", "60d"])
    assert wrong.exit_code == 2 and "'60d' is not one of '30d', '90d'" in wrong.output
