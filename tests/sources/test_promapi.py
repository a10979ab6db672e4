"""The Prometheus HTTP API client against the real Prometheus, with backfilled history."""

from __future__ import annotations

import itertools
import math
import time

import pytest

from support.prometheus import free_port, prometheus
from unitcost.sources.promapi import PrometheusAPI, PrometheusError

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prometheus")]

DAY = 86400


def _history(now: float) -> str:
    # Two days of hourly samples ending two hours ago: a counter rising by 3 per hour.
    start = int(now) - 2 * DAY - 2 * 3600
    lines = ["# TYPE demo_total counter"]
    lines += [f'demo_total{{team="a"}} {3 * i} {start + 3600 * i}' for i in range(49)]
    return "\n".join(lines) + "\n# EOF\n"


def test_instant_range_and_errors_against_real_prometheus() -> None:
    now = time.time()
    with prometheus([], history=_history(now)) as prom, PrometheusAPI(prom.url) as api:
        [scalar] = api.query("scalar(vector(2.5))")
        assert scalar.value == 2.5
        [vector] = api.query('label_replace(vector(1), "team", "b", "", "")')
        assert vector.labels == {"team": "b"} and vector.value == 1

        series = api.query_range("demo_total", start=now - 2 * DAY, end=now - 3 * 3600, step_s=3600)
        assert len(series) == 1 and series[0].labels["team"] == "a"
        values = [v for _, v in series[0].points]
        assert len(values) >= 40
        assert all(b - a == pytest.approx(3) for a, b in itertools.pairwise(values))

        [rate] = api.query("increase(demo_total[1d])", at=now - 3 * 3600)
        assert rate.value == pytest.approx(72, rel=0.05)
        [nan] = api.query("vector(NaN)")
        assert math.isnan(nan.value)

        with pytest.raises(PrometheusError, match=r"query 'sum\(' failed: HTTP 400, bad_data"):
            api.query("sum(")


def test_unreachable_and_bad_url_name_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        PrometheusAPI(url, retries=0, timeout_s=2) as api,
        pytest.raises(PrometheusError, match=rf"{url}/api/v1/query: query 'up' failed"),
    ):
        api.query("up")
    with pytest.raises(PrometheusError, match="must start with http"):
        PrometheusAPI("localhost:9090")
