"""`unitcost demo` as a user runs it: a real process, scraped over HTTP."""

from __future__ import annotations

import gzip
import re
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
from unitcost.runtime.server import parse_listen


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
    up = [v for n, labels, v in samples if n == "unitcost_source_up"]
    assert up == [1.0]


def test_gzip_landing_and_not_found(demo_process: tuple[str, subprocess.Popen[bytes]]) -> None:
    base, _ = demo_process
    body, headers = fetch(base + "/metrics", {"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert b"unitcost_pod_cost_dollars_per_hour" in gzip.decompress(body)
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
    # The demo imitates vLLM's own counter names (vllm:*_tokens_total, sources/simulator/vllm.py), which
    # promtool's lint flags for the colon; that is the only complaint allowed.
    complaints = [line for line in output.splitlines() if line.strip()]
    unexpected = [
        line
        for line in complaints
        if not re.fullmatch(r"vllm:\w+ metric names should not contain ':'", line)
    ]
    assert unexpected == [], output[:2000]
    assert result.returncode == (3 if complaints else 0), output[:2000]


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
