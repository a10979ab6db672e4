"""`unitcost demo` as a user runs it: a real process, scraped over HTTP."""

from __future__ import annotations

import gzip
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.invariant import assert_scraped_invariant
from support.prometheus import Promtool
from unitcost.cli.exporter import SIMULATED_VLLM_PATH
from unitcost.data.records import CollectStats
from unitcost.metrics.family import MetricFamily
from unitcost.runtime.collected import Collected
from unitcost.runtime.server import ExporterServer, parse_listen, serve_in_background
from unitcost.sinks.exposition import CONTENT_TYPE, render


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), dict(response.headers)


@pytest.fixture(scope="module")
def demo_process() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "unitcost",
            "demo",
            "--listen",
            f"127.0.0.1:{port}",
            "--no-table",
            "--interval",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30  # the promise: /metrics within 30 s
    while True:
        try:
            fetch(base + "/healthz")
            break
        except OSError:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "demo did not serve within 30 s"
            time.sleep(0.2)
    yield base, process
    if process.poll() is None:
        process.kill()
    process.wait(10)


def scrape(base: str) -> str:
    body, _ = fetch(base + "/metrics")
    return body.decode()


def test_metrics_satisfy_the_invariant_for_every_node_and_resource(
    demo_process: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, _ = demo_process
    text = scrape(base)
    samples = [
        (s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples
    ]
    assert assert_scraped_invariant(samples) >= 60 * 2
    # The demo reads the simulated cluster, its dcgm-exporter and its shared services' usage:
    # each source reports once, and every one is up.
    up = [(labels["source"], v) for n, labels, v in samples if n == "unitcost_source_up"]
    assert len(up) == len({source for source, _ in up})
    assert "simulator" in {source for source, _ in up}
    assert all(v == 1.0 for _, v in up), up


def test_gzip_landing_and_not_found(demo_process: tuple[str, subprocess.Popen[bytes]]) -> None:
    base, _ = demo_process
    body, headers = fetch(base + "/metrics", {"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert b"unitcost_pod_total_cost_dollars_per_hour" in gzip.decompress(body)
    page, headers = fetch(base + "/")
    assert b'href="/metrics"' in page and headers["Content-Type"].startswith("text/html")
    with pytest.raises(urllib.error.HTTPError) as info:
        fetch(base + "/nope")
    assert info.value.code == 404


def test_promtool_checks_the_live_exposition(
    demo_process: tuple[str, subprocess.Popen[bytes]], promtool: Promtool
) -> None:
    base, _ = demo_process
    result = promtool(scrape(base))
    output = (result.stdout + result.stderr).decode()
    # Not a single lint complaint: /metrics holds only unitcost_* families (the simulated
    # vLLM counters, whose names promtool flags, are on their own path).
    assert output == "", output[:2000]
    assert result.returncode == 0


def test_simulated_vllm_counters_have_their_own_path(
    demo_process: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, _ = demo_process
    names = {f.name for f in text_string_to_metric_families(scrape(base))}
    assert names and all(n.startswith("unitcost_") for n in names), sorted(names)
    body, headers = fetch(base + SIMULATED_VLLM_PATH)
    assert headers["Content-Type"] == CONTENT_TYPE
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    # The parser drops a counter's _total suffix from the family name, not from samples.
    assert set(families) == {"vllm:prompt_tokens", "vllm:generation_tokens"}
    for family in families.values():
        assert family.type == "counter" and family.samples
        assert {s.labels["namespace"] for s in family.samples} == {"batch-inference"}
    page, _ = fetch(base + "/")
    assert f'href="{SIMULATED_VLLM_PATH}"'.encode() in page


def test_demo_says_its_costs_are_simulated_on_every_scrape_and_first_on_its_page(
    demo_process: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, _ = demo_process
    for _ in range(2):
        marker = [
            s.value
            for f in text_string_to_metric_families(scrape(base))
            for s in f.samples
            if s.name == "unitcost_simulated_data"
        ]
        assert marker == [1.0]
    page = fetch(base + "/")[0].decode()
    assert page.split("<body>", 1)[1].startswith("<p><strong>Simulated data:</strong>")
    assert "<title>unitcost exporter (simulated data)</title>" in page


def test_the_simulation_moves_between_scrapes(
    demo_process: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, _ = demo_process
    first = scrape(base)
    time.sleep(2.5)  # > 2 collect intervals; the demo runs simulated time 60x
    assert scrape(base) != first


def test_sigterm_stops_gracefully(demo_process: tuple[str, subprocess.Popen[bytes]]) -> None:
    _, process = demo_process
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.0.0.0:9810", ("0.0.0.0", 9810)), ("[::1]:80", ("::1", 80)), (":9", ("0.0.0.0", 9))],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9810", "host:", "host:99999", "host:http"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(text)


class _Stub:
    name = "stub"


class _NoCollect:
    """A server's collector before its first collect (the extra endpoints do not need one)."""

    current: Collected | None = None
    source = _Stub()


class _Collected:
    """A server's collector after a collect of simulated or real data."""

    source = _Stub()

    def __init__(self, simulated: bool) -> None:
        self.current = Collected(None, CollectStats(0.0, ()), b"", simulated=simulated)


@pytest.mark.parametrize("simulated", [True, False])
def test_the_landing_page_warns_first_only_of_simulated_data(simulated: bool) -> None:
    server = ExporterServer(("127.0.0.1", 0), _Collected(simulated))
    serve_in_background(server)
    host, port = server.server_address[:2]
    try:
        page = fetch(f"http://{host}:{port}/")[0].decode()
    finally:
        server.shutdown()
        server.server_close()
    first = page.split("<body>", 1)[1]
    assert first.startswith("<p><strong>Simulated data:</strong>") is simulated
    assert first.startswith("<h1>unitcost ") is not simulated
    assert ("simulated" in page.lower()) is simulated


@pytest.fixture
def with_endpoints() -> Iterator[tuple[str, list[int]]]:
    """A live server with two extra endpoints: one counting its calls, one that fails."""
    calls = [0]

    def counted() -> bytes:
        calls[0] += 1
        family = MetricFamily("demo_calls_total", "Calls.", ("path",), kind="counter")
        family.add(("/extra/metrics",), calls[0])
        return render([family])

    def broken() -> bytes:
        raise RuntimeError("no data")

    endpoints = {"/extra/metrics": counted, "/broken/metrics": broken}
    server = ExporterServer(("127.0.0.1", 0), _NoCollect(), endpoints=endpoints)
    serve_in_background(server)
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}", calls
    server.shutdown()
    server.server_close()


def test_extra_endpoints_render_on_each_request(with_endpoints: tuple[str, list[int]]) -> None:
    base, calls = with_endpoints
    for expected in (1, 2):
        body, headers = fetch(base + "/extra/metrics")
        assert headers["Content-Type"] == CONTENT_TYPE
        (family,) = text_string_to_metric_families(body.decode())
        assert [s.value for s in family.samples] == [expected]
    assert calls == [2]
    page, _ = fetch(base + "/")
    assert b'href="/extra/metrics"' in page and b'href="/broken/metrics"' in page


def test_a_failing_endpoint_answers_500_and_the_server_goes_on(
    with_endpoints: tuple[str, list[int]],
) -> None:
    base, _ = with_endpoints
    with pytest.raises(urllib.error.HTTPError) as info:
        fetch(base + "/broken/metrics")
    assert info.value.code == 500
    assert fetch(base + "/healthz")[0] == b"ok\n"


@pytest.mark.parametrize("path", ["/metrics", "/", "/healthz", "relative"])
def test_extra_endpoints_cannot_shadow_the_servers_own(path: str) -> None:
    with pytest.raises(ValueError, match="new absolute paths"):
        ExporterServer(("127.0.0.1", 0), _NoCollect(), endpoints={path: lambda: b""})
