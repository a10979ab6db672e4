"""DCGM as the activity source: a real Prometheus scrapes a fake dcgm-exporter endpoint that
writes the real metric names and label sets (whole GPUs by index and UUID, MIG instances,
DRA-attributed devices, a GPU without the profiling field), and the DCGM reader and join
turn them into each holder's activity, state and usage-basis dollars."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support.builders import node, pod, res
from support.prometheus import prometheus, wait_until
from unitcost.costmodel.gpu_activity import join_activity
from unitcost.costmodel.gpu_ledger import gpu_ledgers
from unitcost.data.activity import HoldingUse
from unitcost.data.devices import DeviceRef, GpuClaim, GpuDevice
from unitcost.data.model import Pod
from unitcost.sources.dcgm import GPU_UTIL, PROF_ACTIVE, DcgmReader
from unitcost.sources.promapi import PrometheusAPI

BASE = 'DCGM_FI_DRIVER_VERSION="570.124.06",device="nvidia{i}",pci_bus_id="00000000:{i:02d}:00.0"'


def labels(node_name: str, i: int, uuid: str, model: str, **extra: str) -> str:
    common = BASE.format(i=i)
    more = "".join(f',{k}="{v}"' for k, v in extra.items())
    return f'gpu="{i}",UUID="{uuid}",{common},modelName="{model}",Hostname="{node_name}"{more}'


def exposition() -> str:
    """What dcgm-exporter 4.x writes (with Kubernetes pod attribution on)."""
    h100 = "NVIDIA H100 80GB HBM3"
    a10g = "NVIDIA A10G"
    # dgx: GPU 0 whole, held by ml/train (busy); GPU 1 MIG, ml/small on a 3g.40gb (idle, model
    # loaded), ml/tiny on a 1g.10gb (idle, nothing loaded).
    train = labels("dgx", 0, "GPU-0000", h100, container="main", namespace="ml", pod="train")
    small = labels(
        "dgx", 1, "GPU-1111", h100, GPU_I_PROFILE="3g.40gb", GPU_I_ID="1",
        container="main", namespace="ml", pod="small",
    )  # fmt: skip
    tiny = labels(
        "dgx", 1, "GPU-1111", h100, GPU_I_PROFILE="1g.10gb", GPU_I_ID="9",
        container="main", namespace="ml", pod="tiny",
    )  # fmt: skip
    gpu1 = labels("dgx", 1, "GPU-1111", h100)
    # p5 (DRA): gpu-3 held by claim serve/shared, dcgm-exporter's DRA labels, no pod labels.
    dra = labels(
        "p5", 3, "GPU-P5-3", h100, dra_claim_name="shared", dra_claim_namespace="serve",
        dra_driver_name="gpu.nvidia.com", dra_pool_name="p5", dra_device_name="gpu-3",
    )  # fmt: skip
    # g5 (time-sliced A10G without profiling metrics): only DCGM_FI_DEV_GPU_UTIL, 40%.
    g5 = labels("g5", 0, "GPU-5555", a10g)
    lines = [
        "# HELP DCGM_FI_PROF_GR_ENGINE_ACTIVE Ratio of time the graphics engine is active.",
        "# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge",
        f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{train}}} 0.875",
        f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{small}}} 0.000000",
        f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{tiny}}} 0.000000",
        f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{dra}}} 0.5",
        "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).",
        "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
        f"DCGM_FI_DEV_GPU_UTIL{{{train}}} 93",
        f"DCGM_FI_DEV_GPU_UTIL{{{dra}}} 55",
        f"DCGM_FI_DEV_GPU_UTIL{{{g5}}} 40",
        "# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).",
        "# TYPE DCGM_FI_DEV_FB_USED gauge",
        f"DCGM_FI_DEV_FB_USED{{{train}}} 61440",
        f"DCGM_FI_DEV_FB_USED{{{small}}} 30720",
        f"DCGM_FI_DEV_FB_USED{{{tiny}}} 12",
        f"DCGM_FI_DEV_FB_USED{{{dra}}} 20480",
        f"DCGM_FI_DEV_FB_USED{{{g5}}} 8192",
        "# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).",
        "# TYPE DCGM_FI_DEV_POWER_USAGE gauge",
        f"DCGM_FI_DEV_POWER_USAGE{{{train}}} 612.5",
        f"DCGM_FI_DEV_POWER_USAGE{{{gpu1}}} 95.25",
        f"DCGM_FI_DEV_POWER_USAGE{{{dra}}} 300",
        f"DCGM_FI_DEV_POWER_USAGE{{{g5}}} 120",
    ]
    return "\n".join(lines) + "\n"


@contextmanager
def fake_dcgm_exporter() -> Iterator[str]:
    body = exposition().encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def mig_pod(name: str, node_name: str, profile: str) -> Pod:
    from dataclasses import replace

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
