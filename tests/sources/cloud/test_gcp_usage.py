"""GKE usage through the real google-cloud-monitoring client, talking gRPC to a loopback
MetricService that answers ListTimeSeries with real monitoring_v3 messages."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.api import metric_pb2, monitored_resource_pb2
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import (
    MetricServiceGrpcTransport,
)

from unitcost.config.clouds import GcpMonitoringSettings
from unitcost.data.model import Pod, PodPhase, Resources, Snapshot
from unitcost.sources.cloud.gcp_usage import CPU, DUTY_CYCLE, MEMORY, GkeUsageReader, GkeUsageSource

NOW = 1_792_000_000.0
GIB = 2.0**30


def series(metric: str, pod: str, container: str, *values: float, **metric_labels: str) -> Any:
    """One container's time series, newest point first, as Cloud Monitoring returns it."""
    ts = monitoring_v3.TimeSeries(
        metric=metric_pb2.Metric(type=metric, labels=metric_labels),
        resource=monitored_resource_pb2.MonitoredResource(
            type="k8s_container",
            labels={
                "project_id": "acme-ml-prod",
                "location": "us-central1",
                "cluster_name": "batch",
                "namespace_name": "ml",
                "pod_name": pod,
                "container_name": container,
            },
        ),
    )
    for i, value in enumerate(values):
        point = monitoring_v3.Point(
            interval=monitoring_v3.TimeInterval(end_time={"seconds": int(NOW) - 60 * i}),
            value=(
                monitoring_v3.TypedValue(double_value=value)
                if metric == CPU
                else monitoring_v3.TypedValue(int64_value=int(value))
            ),
        )
        ts.points.append(point)
    return ts


@dataclass
class FakeMetricService:
    """ListTimeSeries over real protobuf messages; two pages per metric, to test paging."""

    answers: dict[str, list[Any]]
    requests: list[Any] = field(default_factory=list)
    status: grpc.StatusCode | None = None

    def list_time_series(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.requests.append(request)
        if self.status is not None:
            context.abort(self.status, "caller does not have permission monitoring.timeSeries.list")
        metric = request.filter.split('"')[1]
        found = self.answers.get(metric, [])
        start = int(request.page_token or 0)
        page = found[start : start + 1]
        token = str(start + 1) if start + 1 < len(found) else ""
        return monitoring_v3.ListTimeSeriesResponse(time_series=page, next_page_token=token)

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            "google.monitoring.v3.MetricService",
            {
                "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                    self.list_time_series,
                    request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
                    response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize,
                )
            },
        )


@pytest.fixture
def service() -> FakeMetricService:
    return FakeMetricService(
        {
            CPU: [
                series(CPU, "trainer-0", "main", 3.5, 3.0),
                series(CPU, "trainer-0", "sidecar", 0.25),
                series(CPU, "loader-1", "main", 0.5),
            ],
            MEMORY: [
                series(MEMORY, "trainer-0", "main", 20 * GIB, memory_type="non-evictable"),
                series(MEMORY, "loader-1", "main", 2 * GIB, memory_type="non-evictable"),
            ],
            DUTY_CYCLE: [
                series(DUTY_CYCLE, "trainer-0", "main", 60, 100, accelerator_id="0"),
                series(DUTY_CYCLE, "trainer-0", "main", 20, accelerator_id="1"),
            ],
        }
    )


@pytest.fixture
def monitoring_client(service: FakeMetricService) -> Iterator[Any]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((service.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=channel)
        )
    finally:
        channel.close()
        server.stop(grace=None)


def settings(**extra: Any) -> GcpMonitoringSettings:
    return GcpMonitoringSettings(
        enabled=True, project="acme-ml-prod", cluster_name="batch", location="us-central1", **extra
    )


@dataclass
class Cluster:
    name: str = "kubernetes"

    def snapshot(self) -> Snapshot:
        def pod(name: str, requests: Resources) -> Pod:
            return Pod("ml", name, name, "gke-node-1", PodPhase.RUNNING, requests)

        return Snapshot(
            timestamp=NOW,
            pods=(
                pod("trainer-0", Resources(cpu=8, memory=32 * GIB, gpu=2)),
                pod("loader-1", Resources(cpu=1, memory=4 * GIB)),
                pod("unmeasured", Resources(cpu=1, memory=GIB)),
            ),
        )

    def close(self) -> None:
        pass


def test_usage_per_pod_from_cloud_monitoring(
    service: FakeMetricService, monitoring_client: Any
) -> None:
    reader = GkeUsageReader(settings(gpu_usage="duty_cycle"), monitoring_client, clock=lambda: NOW)
    assert reader.poller.poll_once(), reader.poller.last_error
    usage = reader.poller.value
    assert usage is not None
    trainer, loader = usage[("ml", "trainer-0")], usage[("ml", "loader-1")]
    assert (trainer.cpu, trainer.memory, trainer.gpu) == (3.75, 20 * GIB, pytest.approx(0.8))
    assert (loader.cpu, loader.memory, loader.gpu) == (0.5, 2 * GIB, None)

    # What was asked: the cluster's containers, the last window, cpu as a rate (cores).
    cpu_request = next(r for r in service.requests if CPU in r.filter)
    assert cpu_request.name == "projects/acme-ml-prod"
    assert 'resource.labels.cluster_name = "batch"' in cpu_request.filter
    assert 'resource.labels.location = "us-central1"' in cpu_request.filter
    assert (
        cpu_request.aggregation.per_series_aligner == monitoring_v3.Aggregation.Aligner.ALIGN_RATE
    )
    assert cpu_request.interval.end_time.timestamp() == NOW
    assert cpu_request.interval.start_time.timestamp() == NOW - 300
    memory_request = next(r for r in service.requests if MEMORY in r.filter)
    assert 'metric.labels.memory_type = "non-evictable"' in memory_request.filter
    assert sum(1 for r in service.requests if CPU in r.filter) == 3  # paged, three pages

    source = GkeUsageSource(Cluster(), reader, stale_after=180)
    pods = {p.name: p for p in source.snapshot().pods}
    assert pods["trainer-0"].usage == Resources(cpu=3.75, memory=20 * GIB, gpu=0.8)
    assert pods["loader-1"].usage == Resources(cpu=0.5, memory=2 * GIB)
    assert pods["unmeasured"].usage is None  # costs fall back to requests
    assert [(h.source, h.up) for h in source.health()] == [("gcp-monitoring", True)]


def test_gpus_count_as_requested_by_default(monitoring_client: Any) -> None:
    reader = GkeUsageReader(settings(), monitoring_client, clock=lambda: NOW)
    assert reader.poller.poll_once()
    pods = {p.name: p for p in GkeUsageSource(Cluster(), reader, stale_after=180).snapshot().pods}
    assert pods["trainer-0"].usage == Resources(cpu=3.75, memory=20 * GIB, gpu=2)


def test_permission_denied_is_a_clear_source_error(
    service: FakeMetricService, monitoring_client: Any
) -> None:
    clock = [NOW]
    reader = GkeUsageReader(settings(), monitoring_client, clock=lambda: clock[0])
    assert reader.poller.poll_once()
    service.status = grpc.StatusCode.PERMISSION_DENIED
    clock[0] += 120
    assert not reader.poller.poll_once()
    assert reader.poller.last_error.startswith("Cloud Monitoring denied")
    assert "roles/monitoring.viewer" in reader.poller.last_error
    source = GkeUsageSource(Cluster(), reader, stale_after=180)
    assert source.health()[0].up is False
    # The last good usage is served until it is stale, then costs fall back to requests.
    assert {p.name: p.usage for p in source.snapshot().pods}["loader-1"] is not None
    clock[0] += 120
    assert all(p.usage is None for p in source.snapshot().pods)
