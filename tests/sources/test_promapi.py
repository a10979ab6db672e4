"""The Prometheus HTTP API client against the real Prometheus, with backfilled history."""

from __future__ import annotations

import itertools
import json
import math
import sys
import time
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest

from support.loopback import loopback_server
from support.prometheus import free_port, prometheus
from unitcost.sources import promapi
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


def _awkward_history(now: float) -> str:
    # Label values holding the answer's own punctuation, a gap, and values that end as
    # NaN and ±Inf once divided: what the array reader must read as the JSON reader does.
    start = int(now) - DAY
    lines = ["# TYPE odd_total gauge"]
    labelsets = (
        'team="a",note="x\\"},\\"values\\":[[1,\\"2\\"]]}"',
        'team="b",note="back\\\\slash ],[ ü"',
        'team="c"',
    )
    for n, labels in enumerate(labelsets):
        for i in range(24):
            if n == 2 and 8 <= i < 12:
                continue  # a gap: fewer points for this series
            value = 0 if n == 1 and i % 5 == 0 else (i + 1) * (n + 1) / 7
            lines.append(f"odd_total{{{labels}}} {value!r} {start + 3600 * i}")
    return "\n".join(lines) + "\n# EOF\n"


def _not_as_json(*_args: object) -> list[dict[str, object]]:
    raise AssertionError("the answer was decoded as JSON: its bytes were not read")


@pytest.mark.parametrize("reader", ["pyarrow", "numpy"])
def test_range_arrays_read_what_the_json_reader_reads(
    reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if reader == "numpy":  # as without the chargeback extra: pyarrow cannot be imported
        monkeypatch.setitem(sys.modules, "pyarrow", None)
        monkeypatch.setitem(sys.modules, "pyarrow.csv", None)
    now = time.time()
    start, end = now - DAY + 1800, now - 1800
    with prometheus([], history=_awkward_history(now)) as prom, PrometheusAPI(prom.url) as api:
        odd = "last_over_time(odd_total[1h])"
        for promql in (odd, f"{odd} / ({odd} - {odd})", f"{odd} > 1e9"):
            expected = api.query_range(promql, start=start, end=end, step_s=3600)
            with monkeypatch.context() as patch:
                if expected:  # Prometheus' own answer is read from its bytes, never as JSON
                    patch.setattr(PrometheusAPI, "_matrix", _not_as_json)
                matrix = api.query_range_arrays(promql, start=start, end=end, step_s=3600)
            assert matrix.labels() == [dict(s.labels) for s in expected]
            assert matrix.counts.tolist() == [len(s.points) for s in expected]
            times = [t for s in expected for t, _ in s.points]
            values = [v for s in expected for _, v in s.points]
            assert matrix.times.tolist() == times
            # Bit for bit, NaN where NaN (0/0) and ±Inf where the division made them.
            assert np.array_equal(matrix.values, np.array(values), equal_nan=True)
        every = api.query_range_arrays(odd, start=start, end=end, step_s=3600)
        assert len(every.label_json) == 3 and 60 <= sum(every.counts) < 72  # c's gap
        notes = {labels.get("note") for labels in every.labels()}
        assert notes == {'x"},"values":[[1,"2"]]}', "back\\slash ],[ ü", None}
        divided = api.query_range_arrays(
            f"{odd} / ({odd} - {odd})", start=start, end=end, step_s=3600
        )
        assert np.isinf(divided.values).any() and np.isnan(divided.values).any()
        nothing = api.query_range_arrays(f"{odd} > 1e9", start=start, end=end, step_s=3600)
        assert nothing.label_json == [] and nothing.values.size == 0
        with pytest.raises(PrometheusError, match=r"query 'sum\(' failed: HTTP 400"):
            api.query_range_arrays("sum(", start=start, end=end, step_s=3600)
        with pytest.raises(PrometheusError, match="need start <= end"):
            api.query_range_arrays(odd, start=end, end=start, step_s=3600)


def test_an_answer_laid_out_otherwise_is_left_to_the_json_reader() -> None:
    """Prometheus' compact layout is read from its bytes; another encoder's (spaces after the
    separators) is not recognised there, and `query_range_arrays` decodes it as JSON."""
    answer = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {"team": "a"}, "values": [[1, "0.5"], [2, "1.5"]]}],
        },
    }
    compact = json.dumps(answer, separators=(",", ":")).encode()
    parsed = promapi._matrix_from_bytes(compact)
    assert parsed is not None
    assert parsed.labels() == [{"team": "a"}]
    assert parsed.times.tolist() == [1.0, 2.0] and parsed.values.tolist() == [0.5, 1.5]
    spaced = json.dumps(answer).encode()
    assert promapi._matrix_from_bytes(spaced) is None

    class Spaced(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(spaced)

        def log_message(self, *args: object) -> None:
            pass

    with loopback_server(Spaced) as address, PrometheusAPI(f"http://{address}") as api:
        matrix = api.query_range_arrays("x", start=0, end=2, step_s=1)
    assert matrix.labels() == [{"team": "a"}] and matrix.counts.tolist() == [2]
    assert matrix.times.tolist() == [1.0, 2.0] and matrix.values.tolist() == [0.5, 1.5]
