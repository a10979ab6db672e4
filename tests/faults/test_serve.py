"""`unitcost serve` as a process under signals and load: SIGTERM mid-scrape drains the response
and exits 0 within the grace period; SIGHUP reloads (a broken file keeps the last good); 50
concurrent scrapes each get one internally consistent exposition."""

from __future__ import annotations

import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from support.exporter_stack import eventually, parse, value
from support.invariant import assert_scraped_invariant
from support.serving import serve
from unitcost.runtime.server import DRAIN_SECONDS

BIG = """
source:
  kind: simulator
  simulator: {{nodes: 120, pods: {pods}, speed: 600}}
collect_interval_seconds: {interval}
budgets:
  teams: {{ml-research: {budget}}}
"""


def _scrape(base: str) -> bytes:
    with urllib.request.urlopen(base + "/metrics", timeout=30) as response:
        body: bytes = response.read()
        assert len(body) == int(response.headers["Content-Length"])
        return body


def _read_response(sock: socket.socket, data: bytes) -> tuple[dict[str, str], bytes]:
    """The rest of a response whose first bytes were `data`, read slowly."""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line)
    length = int(headers["Content-Length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return headers, body


def test_sigterm_mid_scrape_finishes_the_response_then_exits(tmp_path: Path) -> None:
    config = tmp_path / "unitcost.yaml"
    # ~10 MB of exposition: more than the kernel buffers hold, so the write is in flight.
    config.write_text(BIG.format(pods=12000, interval=30, budget=1000))
    with serve(config) as (proc, _):
        host, port = proc.address.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # so the server blocks writing
        sock.sendall(f"GET /metrics HTTP/1.1\r\nHost: {proc.address}\r\n\r\n".encode())
        first = sock.recv(4096)  # the response has started
        assert first.startswith(b"HTTP/1.1 200")
        signalled = time.monotonic()
        proc.popen.send_signal(signal.SIGTERM)

        def refused() -> bool:  # the listener closes (after the collect in progress, if any)
            try:
                socket.create_connection((host, int(port)), timeout=2).close()
            except OSError:
                return True
            return False

        eventually(refused, timeout=DRAIN_SECONDS, what="new connections to be refused")
        rest_headers, body = _read_response(sock, first)
        sock.close()
        assert rest_headers.get("Content-Length") and len(body) == int(
            rest_headers["Content-Length"]
        )
        samples = parse(body.decode())
        assert assert_scraped_invariant(samples) > 100
        assert proc.popen.wait(DRAIN_SECONDS + 10) == 0
        assert time.monotonic() - signalled < DRAIN_SECONDS + 10
        log = proc.log_tail(100)
        assert "draining 1 scrapes in flight" in log and "stopped" in log


def test_sighup_reloads_and_a_broken_file_keeps_the_last_good(tmp_path: Path) -> None:
    config = tmp_path / "unitcost.yaml"
    config.write_text(BIG.format(pods=200, interval=0.2, budget=1000))
    with serve(config, "--reload-check-seconds", "0") as (proc, base):
        budget = {"team": "ml-research"}
        assert value(parse(_scrape(base).decode()), "unitcost_budget_dollars", **budget) == 1000
        config.write_text(BIG.format(pods=200, interval=0.2, budget=4000))
        proc.popen.send_signal(signal.SIGHUP)
        eventually(
            lambda: (
                value(parse(_scrape(base).decode()), "unitcost_budget_dollars", **budget) == 4000
            ),
            what="the reloaded budget",
        )
        config.write_text("budgets: {teams: {ml-research: -5}}\n")
        proc.popen.send_signal(signal.SIGHUP)
        samples = eventually(
            lambda: (
                (s := parse(_scrape(base).decode()))
                and value(s, "unitcost_config_reload_success", file=str(config.resolve())) == 0
                and s
            ),
            what="the failed reload to show",
        )
        assert value(samples, "unitcost_budget_dollars", **budget) == 4000
        assert value(samples, "unitcost_source_up", source="simulator") == 1
        assert "reload failed" in proc.log_tail() and "budgets" in proc.log_tail()
        assert proc.popen.poll() is None


def test_fifty_concurrent_scrapes_are_each_consistent(tmp_path: Path) -> None:
    config = tmp_path / "unitcost.yaml"
    # Collects every 0.2 s while scrapes overlap them: each must still see one whole collect.
    config.write_text(BIG.format(pods=600, interval=0.3, budget=1000))
    with serve(config) as (_, base):
        bodies: list[bytes] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        start = threading.Barrier(50)

        def scrape_twice() -> None:
            try:
                start.wait(30)
                for _ in range(2):
                    body = _scrape(base)
                    with lock:
                        bodies.append(body)
            except BaseException as exc:  # collected and asserted below
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=scrape_twice) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:3]
        assert len(bodies) == 100
        distinct = set(bodies)
        for body in distinct:
            text = body.decode()
            samples = [
                (s.name, s.labels, s.value)
                for f in text_string_to_metric_families(text)
                for s in f.samples
            ]
            assert assert_scraped_invariant(samples) > 100
        assert len(distinct) > 1, "the collects should have moved on during the scrapes"
