"""HTTP serving: /metrics (cached exposition, gzip on request), / (landing page), /healthz."""

from __future__ import annotations

import html
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from unitcost import __version__
from unitcost.collector import Collected
from unitcost.sinks.exposition import CONTENT_TYPE

log = logging.getLogger(__name__)

LANDING = """<!doctype html>
<html><head><title>unitcost exporter</title></head>
<body><h1>unitcost {version}</h1>
<p>Cost-enriched metrics for Kubernetes data and AI batch platforms.</p>
<ul><li><a href="/metrics">/metrics</a>: the Prometheus exposition</li>
<li><a href="/healthz">/healthz</a>: liveness</li></ul>
<p>Source: {source}</p></body></html>
"""


def parse_listen(listen: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' to (host, port); raises ValueError with the bad value."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class Serving(Protocol):
    """What the server reads: the latest collect and its source's name (the cluster
    exporter's Collector, the GPU agent)."""

    @property
    def current(self) -> Collected | None: ...

    @property
    def source(self) -> _Named: ...


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], collector: Serving) -> None:
        self.collector = collector
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: ExporterServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, encoding: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            current = self.server.collector.current
            if current is None:
                self._send(503, b"first collect not finished\n", "text/plain")
                return
            body = current.exposition
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                self._send(200, current.gzipped(), CONTENT_TYPE, "gzip")
            else:
                self._send(200, body, CONTENT_TYPE)
        elif path == "/":
            page = LANDING.format(
                version=html.escape(__version__),
                source=html.escape(self.server.collector.source.name),
            )
            self._send(200, page.encode(), "text/html; charset=utf-8")
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
        else:
            self._send(404, b"not found\n", "text/plain")


def serve_in_background(server: ExporterServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread
