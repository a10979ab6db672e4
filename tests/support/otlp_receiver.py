"""Loopback OTLP receivers speaking the real protocols: a grpcio server implementing
`MetricsService.Export`, and an http.server endpoint for `POST /v1/metrics` (protobuf).

Both decode into `Received`: resource attributes, and per metric its unit and data points
as {sorted attribute items: value}, for comparison with the /metrics exposition.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

Points = dict[tuple[tuple[str, str], ...], float]


def _attrs(items: Any) -> dict[str, str]:
    out = {}
    for kv in items:
        assert isinstance(kv, KeyValue)
        out[kv.key] = kv.value.string_value
    return out


@dataclass
class Received:
    requests: int = 0
    resources: list[dict[str, str]] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    #: The latest export's points per metric name.
    metrics: dict[str, Points] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        with self.lock:
            self.requests += 1
            for rm in request.resource_metrics:
                self.resources.append(_attrs(rm.resource.attributes))
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        kind = metric.WhichOneof("data")
                        data = getattr(metric, kind)
                        self.units[metric.name] = metric.unit
                        self.kinds[metric.name] = kind
                        self.metrics[metric.name] = {
                            tuple(sorted(_attrs(p.attributes).items())): p.as_double
                            if p.WhichOneof("value") == "as_double"
                            else float(p.as_int)
                            for p in data.data_points
                        }


class _Service(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: Any
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        self.received.add(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


@contextmanager
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    """A gRPC OTLP receiver on 127.0.0.1; yields (endpoint URL, Received)."""
    received = Received()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Service(received), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None).wait(5)


class _Handler(BaseHTTPRequestHandler):
    received: Received

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/metrics" or self.headers.get("Content-Type") != (
            "application/x-protobuf"
        ):
            self.send_response(404)
            self.end_headers()
            return
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = metrics_service_pb2.ExportMetricsServiceRequest()
        request.ParseFromString(body)
        self.received.add(request)
        reply = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def http_receiver() -> Iterator[tuple[str, Received]]:
    """An OTLP/HTTP receiver on 127.0.0.1; yields (base URL, Received)."""
    received = Received()
    handler = type("Handler", (_Handler,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
