"""HTTP serving: /metrics (cached exposition, gzip on request), / (landing page), /healthz,
and any extra read-only endpoints the composition root adds (the demo's simulated vLLM
counters)."""

from __future__ import annotations

import contextlib
import html
import logging
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Protocol

from unitcost import __version__
from unitcost.runtime.collected import Collected
from unitcost.runtime.webconfig import WebConfig
from unitcost.sinks.exposition import CONTENT_TYPE

log = logging.getLogger(__name__)

LANDING = """<!doctype html>
<html><head><title>unitcost exporter{title_note}</title></head>
<body>{warning}<h1>unitcost {version}</h1>
<p>Cost-enriched metrics for Kubernetes data and AI batch platforms.</p>
<ul><li><a href="/metrics">/metrics</a>: the Prometheus exposition</li>
{extra}<li><a href="/healthz">/healthz</a>: liveness</li></ul>
<p>Source: {source}</p></body></html>
"""
#: The landing page's first line while the costs are the simulator's (Collected.simulated).
SIMULATED_WARNING = (
    "<p><strong>Simulated data:</strong> every cost served here is made up by the built-in "
    "simulator (<code>unitcost demo</code> or <code>source.kind: simulator</code>), not read "
    "from a cluster; <code>unitcost_simulated_data</code> says so on every scrape.</p>\n"
)


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


#: A TLS handshake must finish within this, so a silent client cannot hold a thread.
HANDSHAKE_TIMEOUT_SECONDS = 10.0
#: On SIGTERM, scrapes in flight get this long to finish (Kubernetes waits 30 s by default).
DRAIN_SECONDS = 10.0


#: An extra endpoint's body: exposition text made when scraped (CONTENT_TYPE).
Endpoint = Callable[[], bytes]
_OWN_PATHS = frozenset({"/", "/metrics", "/healthz"})


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        collector: Serving,
        web: WebConfig | None = None,
        endpoints: Mapping[str, Endpoint] | None = None,
    ) -> None:
        """`endpoints`: more read-only paths (path -> exposition bytes), behind the same
        authentication as /metrics."""
        extra = dict(endpoints or {})
        taken = sorted(p for p in extra if p in _OWN_PATHS or not p.startswith("/"))
        if taken:
            raise ValueError(f"extra endpoints must be new absolute paths, got {taken}")
        self.collector = collector
        self.web = web
        self.endpoints = extra
        self.draining = False
        self._in_flight = 0
        self._idle = threading.Condition()
        super().__init__(address, _Handler)

    def finish_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        # The handshake runs here, in the connection's own thread, not in the accept loop.
        if self.web is not None and self.web.tls is not None and isinstance(request, socket.socket):
            request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            try:
                request = self.web.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake with %s failed: %s", client_address, exc)
                with contextlib.suppress(OSError):
                    request.close()
                return
            request.settimeout(None)
        super().finish_request(request, client_address)

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        with self._idle:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Let responses being written finish (new ones are told to close the connection);
        True if all did within `timeout`. Call after shutdown() stopped accepting."""
        self.draining = True
        deadline = time.monotonic() + timeout
        with self._idle:
            if self._in_flight:
                log.info("draining %d scrapes in flight", self._in_flight)
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("%d scrapes still in flight after %.0fs", self._in_flight, timeout)
                    return False
                self._idle.wait(left)
        return True


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
        web = self.server.web
        for name, value in web.headers.items() if web is not None else ():
            self.send_header(name, value)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="unitcost"')
        if self.server.draining:  # stopping: no keep-alive past this response
            self.send_header("Connection", "close")
            self.close_connection = True
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        with self.server.in_flight():
            self._get()

    def _get(self) -> None:
        path = self.path.split("?", 1)[0]
        web = self.server.web
        # /healthz stays open for kubelet probes; it tells nothing but "the process answers".
        if (
            path != "/healthz"
            and web is not None
            and not web.authorized(self.headers.get("Authorization"))
        ):
            self._send(401, b"unauthorized\n", "text/plain")
            return
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
        elif path in self.server.endpoints:
            try:
                body = self.server.endpoints[path]()
            except Exception:  # a broken extra endpoint must not take the server down
                log.exception("endpoint %s failed", path)
                self._send(500, b"internal error\n", "text/plain")
                return
            self._send(200, body, CONTENT_TYPE)
        elif path == "/":
            extra = "".join(
                f'<li><a href="{html.escape(p)}">{html.escape(p)}</a></li>\n'
                for p in sorted(self.server.endpoints)
            )
            current = self.server.collector.current
            simulated = current is not None and current.simulated
            page = LANDING.format(
                title_note=" (simulated data)" if simulated else "",
                warning=SIMULATED_WARNING if simulated else "",
                version=html.escape(__version__),
                source=html.escape(self.server.collector.source.name),
                extra=extra,
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


@contextlib.contextmanager
def serving_until_stopped(
    server: ExporterServer, duration: float = 0.0
) -> Iterator[threading.Event]:
    """Serve in the background and yield the event that SIGTERM, SIGINT or `duration` seconds
    (when > 0) set; on exit stop listening, then let scrapes being written finish.

    Every long-running command (serve, demo, gpu-agent, forecast/recommend --serve, controller)
    runs its loop inside this, so they all stop the same way within the pod's grace period.
    """
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():  # signals only reach main
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    serve_in_background(server)
    timer = threading.Timer(duration, stop.set) if duration > 0 else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        yield stop
    finally:
        if timer is not None:
            timer.cancel()
        server.shutdown()
        server.server_close()  # no new connections; scrapes being written get to finish
        server.drain()
