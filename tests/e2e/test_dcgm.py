"""DCGM as the activity source: a real Prometheus scrapes a fake dcgm-exporter endpoint that
writes the real metric names and label sets (whole GPUs by index and UUID, MIG instances,
DRA-attributed devices, a GPU without the profiling field), and the DCGM reader and join
turn them into each holder's activity, state and usage-basis dollars."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.builders import node, pod, res
from support.loopback import loopback_server
from support.prometheus import prometheus, wait_until
from unitcost.base.errors import InputError
from unitcost.cli.exporter import SIMULATED_DCGM_PATH, source_endpoints
from unitcost.config.file import Config, GpuActivityConfig, demo_config, parse_config
from unitcost.costmodel.gpu_activity import join_activity
from unitcost.costmodel.gpu_ledger import gpu_ledgers
from unitcost.data.activity import HoldingUse
from unitcost.data.devices import DeviceRef, GpuClaim, GpuDevice
from unitcost.data.model import Pod, Snapshot
from unitcost.metrics.catalogue import GPU_IDLE_COST
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.sources.dcgm import GPU_UTIL, PROF_ACTIVE, DcgmReader, dcgm_poller
from unitcost.sources.promapi import PrometheusAPI
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource
from unitcost.sources.simulator.dcgm_exporter import DcgmDevice, render

T0 = 1_700_000_000.0
GPU_IDLE = GPU_IDLE_COST.name

H100 = "NVIDIA H100 80GB HBM3"
A10G = "NVIDIA A10G"


def devices() -> list[DcgmDevice]:
    """What dcgm-exporter 4.x writes (with Kubernetes pod attribution on), in the one
    definition of its names and labels the demo serves too (sources/simulator/dcgm_exporter)."""
    pod = {"container": "main", "namespace": "ml"}
    return [
        # dgx: GPU 0 whole, held by ml/train (busy)
        DcgmDevice("dgx", 0, "GPU-0000", H100, 0.875, 93, 61440, 612.5, pod="train", **pod),
        # GPU 1 MIG: ml/small on a 3g.40gb (idle, model loaded), ml/tiny on a 1g.10gb (idle,
        # nothing loaded); power is per GPU
        DcgmDevice(
            "dgx", 1, "GPU-1111", H100, 0.0, None, 30720, None, "3g.40gb", "1", pod="small", **pod
        ),
        DcgmDevice(
            "dgx", 1, "GPU-1111", H100, 0.0, None, 12, None, "1g.10gb", "9", pod="tiny", **pod
        ),
        DcgmDevice("dgx", 1, "GPU-1111", H100, power_watts=95.25),
        # p5 (DRA): gpu-3 held by claim serve/shared, dcgm-exporter's DRA labels, no pod labels
        DcgmDevice(
            "p5",
            3,
            "GPU-P5-3",
            H100,
            0.5,
            55,
            20480,
            300,
            dra_claim_namespace="serve",
            dra_claim_name="shared",
            dra_driver="gpu.nvidia.com",
            dra_pool="p5",
            dra_device="gpu-3",
        ),
        # g5 (time-sliced A10G without profiling metrics): only DCGM_FI_DEV_GPU_UTIL, 40%
        DcgmDevice("g5", 0, "GPU-5555", A10G, None, 40, 8192, 120),
    ]


def exposition() -> str:
    return render(devices())


@contextmanager
def fake_dcgm_exporter(serve: Callable[[], bytes] | None = None) -> Iterator[str]:
    """An HTTP endpoint serving `serve()` (default: `exposition()`) as dcgm-exporter would."""
    body_of: Callable[[], bytes] = serve or (lambda: exposition().encode())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = body_of()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    with loopback_server(Handler) as address:
        yield address


def mig_pod(name: str, node_name: str, profile: str) -> Pod:
    return replace(
        pod(name, node_name, res(1, 1), namespace="ml"),
        gpu_requests=((f"nvidia.com/mig-{profile}", 1.0),),
    )


def test_dcgm_through_a_real_prometheus_joins_to_holders() -> None:
    labels_h100 = {"nvidia.com/gpu.memory": "81559"}
    dgx = node("dgx", res(64, 512, 2), gpu_model="H100", labels=labels_h100)
    p5 = node("p5", res(192, 2048), gpu_model="H100")
    g5 = node("g5", res(4, 16, 1), gpu_model="A10G", labels={"nvidia.com/gpu.replicas": "4"})
    # dgx devices come from its capacity ("0", "1"), with the UUIDs the agent would not know:
    # the join there is by (Hostname, gpu).
    p5_devices = tuple(
        GpuDevice("p5", f"gpu-{i}", "gpu.nvidia.com", "p5", f"GPU-P5-{i}", "H100") for i in range(4)
    )
    claim = GpuClaim(
        "serve", "shared", (DeviceRef("p5", "gpu.nvidia.com", "p5", "gpu-3"),), ("ra", "rb")
    )
    pods = [
        pod("train", "dgx", res(8, 64, 1), namespace="ml"),
        mig_pod("small", "dgx", "3g.40gb"),
        mig_pod("tiny", "dgx", "1g.10gb"),
        pod("ra", "p5", res(1, 1), namespace="serve"),
        pod("rb", "p5", res(1, 1), namespace="serve"),
        pod("infer-0", "g5", res(1, 4, 1), namespace="serve"),
        pod("infer-1", "g5", res(1, 4, 1), namespace="serve"),
    ]
    hourly = {"dgx": 14.0, "p5": 32.0, "g5": 0.8}
    ledgers = gpu_ledgers([dgx, p5, g5], hourly, pods, p5_devices, (claim,))

    with fake_dcgm_exporter() as target, prometheus([target]) as prom:
        api = PrometheusAPI(prom.url)
        wait_until(
            lambda: len(api.query(GPU_UTIL)) == 3 and len(api.query(PROF_ACTIVE)) == 4,
            timeout=30,
            what="dcgm series scraped",
        )
        readings = DcgmReader(api).read()
        api.close()

    fields = {(r.node, r.gpu, r.mig_profile): r.field for r in readings}
    assert fields[("g5", "0", "")] == GPU_UTIL  # no profiling field: the coarse one
    assert fields[("dgx", "0", "")] == PROF_ACTIVE
    (dra,) = [r for r in readings if r.dra_device]
    assert (dra.dra_claim, dra.dra_pool, dra.pod) == ("serve/shared", "p5", "")

    uses = join_activity(ledgers, readings, power_veto_watts=None)
    got: dict[tuple[str, str], HoldingUse] = {(u.namespace, u.pod): u for u in uses}
    assert got[("ml", "train")].state == "busy"
    assert got[("ml", "train")].used_hourly == 7.0 * 0.875  # $7 device, 87.5% active
    assert got[("ml", "small")].state == "warm-idle"  # 30 GiB held, engine idle
    assert got[("ml", "tiny")].state == "empty"  # 12 MiB: a context, no model
    assert math.isclose(got[("ml", "small")].hourly, 3.0, rel_tol=1e-12)
    assert got[("ml", "small")].used_hourly == 0.0
    # DRA claim shared by two pods, joined by the DRA labels: $8 device, $4 each, 50% active
    for name in ("ra", "rb"):
        assert got[("serve", name)].hourly == 4.0
        assert got[("serve", name)].used_hourly == 2.0
        assert got[("serve", name)].state == "busy"
    # time-sliced A10G: both replicas see the device's 40% (DCGM_FI_DEV_GPU_UTIL / 100)
    for name in ("infer-0", "infer-1"):
        assert got[("serve", name)].activity == 0.4
        assert got[("serve", name)].hourly == 0.2

    # a power veto: the MIG GPU draws 95.25 W: above a 90 W veto, its slices are not idle
    vetoed = join_activity(ledgers, readings, power_veto_watts=90.0)
    states = {(u.namespace, u.pod): u.state for u in vetoed}
    assert states[("ml", "small")] == "busy" and states[("ml", "tiny")] == "busy"


class StaticSource:
    """The test's cluster, at the clock's time."""

    name = "static"

    def __init__(self, snapshot: Snapshot, now: list[float]) -> None:
        self._snapshot, self._now = snapshot, now

    def snapshot(self) -> Snapshot:
        return replace(self._snapshot, timestamp=self._now[0])

    def close(self) -> None:
        return None


def _values(exposition: bytes, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(s.labels.get(k, "") for k in ("node", "gpu", "namespace", "pod")): s.value
        for f in text_string_to_metric_families(exposition.decode())
        for s in f.samples
        if s.name == name
    }


def test_dcgm_is_the_one_producer_of_idle_dollars() -> None:
    """gpu_idle.producer: dcgm: the cluster exporter runs the idle rule over dcgm-exporter's
    series read back from a real Prometheus; idle holdings' dollars become idle dollars once
    the window has passed, busy ones stay 0, and the GPU agent would write none."""
    dgx = node("dgx", res(64, 512, 2), gpu_model="H100", labels={"nvidia.com/gpu.memory": "81559"})
    g5 = node("g5", res(4, 16, 1), gpu_model="A10G", labels={"nvidia.com/gpu.replicas": "4"})
    snapshot = Snapshot(
        0.0,
        nodes=(dgx, g5),
        pods=(
            pod("train", "dgx", res(8, 64, 1), namespace="ml"),
            mig_pod("small", "dgx", "3g.40gb"),
            mig_pod("tiny", "dgx", "1g.10gb"),
            pod("infer-0", "g5", res(1, 4, 1), namespace="serve"),
            pod("infer-1", "g5", res(1, 4, 1), namespace="serve"),
        ),
    )
    now = [T0]
    with fake_dcgm_exporter() as target, prometheus([target]) as prom:
        config = Config.model_validate(
            {
                "gpu_idle": {"producer": "dcgm", "window_seconds": 600},
                "gpu_activity": {"source": "dcgm", "prometheus_url": prom.url},
            }
        )
        poller = dcgm_poller(config.gpu_activity)
        api = PrometheusAPI(prom.url)
        wait_until(lambda: len(api.query(PROF_ACTIVE)) == 4, timeout=30, what="dcgm scraped")
        api.close()
        assert poller.poll_once()
        collector = Collector(
            StaticSource(snapshot, now),
            PriceBook.load(),
            config,
            gpu_activity=poller,
            clock=lambda: now[0],
        )
        first = collector.collect_once()
        now[0] += 601
        later = collector.collect_once()
    assert first.frame is not None and later.frame is not None
    held = {(u.node, u.gpu, u.namespace, u.pod): u.hourly for u in later.frame.gpu_uses}
    assert set(held) == {
        ("dgx", "0", "ml", "train"),
        ("dgx", "1", "ml", "small"),
        ("dgx", "1", "ml", "tiny"),
        ("g5", "0", "serve", "infer-0"),  # two replicas of one time-sliced A10G
        ("g5", "0", "serve", "infer-1"),
    }
    assert all(v > 0 for v in held.values())
    # in the window: every holding has its series, none idle yet
    assert _values(first.exposition, GPU_IDLE) == dict.fromkeys(held, 0.0)
    # one info series per device and profile, whatever the number of pods on it
    info = [
        (x.labels["node"], x.labels["gpu"], x.labels["mig_profile"])
        for f in text_string_to_metric_families(later.exposition.decode())
        for x in f.samples
        if x.name == "unitcost_gpu_info"
    ]
    assert sorted(info) == [
        ("dgx", "0", ""),
        ("dgx", "1", "1g.10gb"),
        ("dgx", "1", "3g.40gb"),
        ("g5", "0", ""),
    ]
    # past it: the idle MIG slices' dollars are idle dollars; the busy GPU's stay 0
    idle = _values(later.exposition, GPU_IDLE)
    assert idle[("dgx", "0", "ml", "train")] == 0.0
    assert idle[("g5", "0", "serve", "infer-0")] == idle[("g5", "0", "serve", "infer-1")] == 0.0
    for key in (("dgx", "1", "ml", "small"), ("dgx", "1", "ml", "tiny")):
        assert math.isclose(idle[key], held[key], rel_tol=1e-12)
    # the GPU agent reading the same config writes none (tests/cli/test_gpu_agent.py)
    assert config.gpu_idle_producer == "dcgm" and Config().gpu_idle_producer == "agent"


def test_producers_are_exclusive() -> None:
    """The one producer per device is chosen in config: the cluster exporter writes idle
    dollars only as dcgm or simulator, the agent only as agent; the wrong pairs are errors."""
    with pytest.raises(InputError) as dcgm_without:
        parse_config({"gpu_idle": {"producer": "dcgm"}}, "unitcost.yaml", Path("."))
    assert "gpu_idle.producer dcgm" in str(dcgm_without.value)
    assert "gpu_activity.source: dcgm" in str(dcgm_without.value)
    with pytest.raises(InputError) as simulator_on_real:
        parse_config({"gpu_idle": {"producer": "simulator"}}, "unitcost.yaml", Path("."))
    assert "source.kind: simulator" in str(simulator_on_real.value)
    assert demo_config().gpu_idle_producer == "simulator"
    # the demo's simulated GPUs with the agent as the producer: the exporter writes none
    source = SimulatorSource(SimulatedCluster(seed=3, nodes=20, pods=300), gpu_pools=True)
    for producer, expected in (("simulator", True), ("agent", False)):
        config = demo_config().model_copy(
            update={"gpu_idle": demo_config().gpu_idle.model_copy(update={"producer": producer})}
        )
        collected = Collector(source, PriceBook.load(), config).collect_once()
        assert bool(_values(collected.exposition, GPU_IDLE)) is expected, producer
        assert config.gpu_idle_producer == producer


def test_the_demo_shows_every_gpu_state_through_dcgm() -> None:
    """The simulated cluster's dcgm-exporter endpoint, scraped by a real Prometheus and read
    back by the DCGM reader, gives the demo's holdings every state: busy, warm idle, empty;
    DRA devices join by their dra_* labels, MIG instances by pod and profile."""
    source = SimulatorSource(SimulatedCluster(seed=42, nodes=20, pods=300), gpu_pools=True)
    source.snapshot()
    endpoint = source_endpoints(source)[SIMULATED_DCGM_PATH]
    with fake_dcgm_exporter(endpoint) as target, prometheus([target]) as prom:
        api = PrometheusAPI(prom.url)
        wait_until(lambda: len(api.query(PROF_ACTIVE)) > 0, timeout=30, what="dcgm scraped")
        readings = DcgmReader(api).read()
        api.close()
        config = demo_config().model_copy(
            update={
                "gpu_activity": GpuActivityConfig(source="dcgm", prometheus_url=prom.url),
            }
        )
        poller = dcgm_poller(config.gpu_activity)
        assert poller.poll_once()
        collected = Collector(source, PriceBook.load(), config, gpu_activity=poller).collect_once()
    assert {r.field for r in readings} == {PROF_ACTIVE}
    assert any(r.dra_device for r in readings) and any(r.mig_profile for r in readings)
    assert collected.frame is not None
    uses = collected.frame.gpu_uses
    states = {u.state for u in uses}
    assert {"busy", "warm-idle", "empty"} <= states
    by_kind = {
        h.kind: (ledger.device.node, ledger.device.device, h.namespace, h.pod)
        for ledger in collected.frame.gpu_devices
        for h in ledger.holdings
    }
    joined = {(u.node, u.gpu, u.namespace, u.pod) for u in uses if u.state != "unknown"}
    for kind in ("dra", "mig", "replica", "fraction", "whole"):
        assert by_kind[kind] in joined, kind
