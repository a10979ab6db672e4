"""GPU agent smoke test and cost figures.

Real NVML (a GPU machine): runs the agent with the GPU idle, then under load (a PyTorch
matrix-multiply loop in a child process, when torch is installed), and prints what the
metrics showed, the /metrics scrape latency, and the agent's CPU use.

    python benchmarks/gpu_smoke.py [--seconds 20] [--out results.json]

Fake NVML (anywhere): the agent's own cost per collect (read + map + idle rule + render) and
per HTTP scrape, on the scripted scenarios from tests/support/fake_nvml.py.

    python benchmarks/gpu_smoke.py --fake [--collects 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from unitcost.pricing import PriceBook
from unitcost.pricing.gpu import GpuPricer
from unitcost.runtime.gpu_agent import GpuAgent
from unitcost.runtime.server import ExporterServer, serve_in_background
from unitcost.sources.gpu.nvml import NvmlReader, NvmlUnavailable

REPO = Path(__file__).resolve().parent.parent
LOAD = """
import sys, time, torch
a = torch.randn(8192, 8192, device="cuda"); b = torch.randn(8192, 8192, device="cuda")
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for _ in range(10):
        c = a @ b
    torch.cuda.synchronize()
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _scrape(url: str) -> tuple[float, bytes]:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read()
    return time.perf_counter() - began, body


def _measure(agent: GpuAgent, collects: int, interval: float) -> dict[str, Any]:
    """Collect `collects` times, `interval` apart; time each collect and its CPU."""
    wall, cpu = [], []
    for _ in range(collects):
        w0, c0 = time.perf_counter(), time.process_time()
        agent.collect_once()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        if interval:
            time.sleep(interval)
    return {
        "collects": collects,
        "collect_ms_median": statistics.median(wall) * 1e3,
        "collect_ms_p95": _percentile(wall, 0.95) * 1e3,
        "collect_cpu_ms_median": statistics.median(cpu) * 1e3,
    }


def _serve(agent: GpuAgent) -> tuple[ExporterServer, str]:
    server = ExporterServer(("127.0.0.1", 0), agent)
    serve_in_background(server)
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}/metrics"


def _gpu_lines(body: bytes) -> list[str]:
    keep = (
        "unitcost_gpu_up",
        "unitcost_gpu_utilization_ratio",
        "unitcost_gpu_power_watts",
        "unitcost_gpu_memory_used_bytes",
        "unitcost_gpu_energy_joules_total",
        "unitcost_gpu_idle_cost_dollars_per_hour",
    )
    return [line for line in body.decode().splitlines() if line.startswith(keep)]


def run_fake(collects: int) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "tests"))
    from support.fake_nvml import scenario_eight_gpus, scenario_mig_h100

    results: dict[str, Any] = {"mode": "fake"}
    for name, build in (("8 x A100", scenario_eight_gpus), ("H100 MIG + H100", scenario_mig_h100)):
        scenario = build()
        with tempfile.TemporaryDirectory() as tmp:
            reader = NvmlReader(scenario.nvml)
            reader.start()
            agent = GpuAgent(
                reader,
                GpuPricer(PriceBook.load()),
                "bench",
                proc_root=scenario.write_proc(Path(tmp)),
            )
            server, url = _serve(agent)
            try:
                figures = _measure(agent, collects, 0.0)
                latencies = [_scrape(url)[0] for _ in range(200)]
                figures["scrape_ms_median"] = statistics.median(latencies) * 1e3
                figures["exposition_bytes"] = len(_scrape(url)[1])
            finally:
                server.shutdown()
                server.server_close()
                agent.close()
        results[name] = figures
    return results


def run_real(seconds: float, interval: float) -> dict[str, Any]:
    try:
        reader = NvmlReader()
        count = reader.start()
    except NvmlUnavailable as exc:
        sys.exit(f"gpu_smoke: {exc}")
    agent = GpuAgent(reader, GpuPricer(PriceBook.load()), os.uname().nodename, interval=interval)
    server, url = _serve(agent)
    results: dict[str, Any] = {"mode": "real", "gpus": count}
    try:
        for phase in ("idle", "load"):
            child = None
            if phase == "load":
                try:
                    import torch  # noqa: F401
                except ImportError:
                    results["load"] = "skipped: torch is not installed"
                    break
                child = subprocess.Popen([sys.executable, "-c", LOAD, str(seconds + 5)])
                time.sleep(5)  # CUDA context and first kernels
            c0, w0 = time.process_time(), time.perf_counter()
            figures = _measure(agent, max(1, int(seconds / interval)), interval)
            figures["agent_cpu_percent"] = (
                100 * (time.process_time() - c0) / (time.perf_counter() - w0)
            )
            latencies = []
            for _ in range(20):
                latency, body = _scrape(url)
                latencies.append(latency)
            figures["scrape_ms_median"] = statistics.median(latencies) * 1e3
            figures["metrics"] = _gpu_lines(body)
            results[phase] = figures
            if child is not None:
                child.wait(timeout=seconds + 60)
    finally:
        server.shutdown()
        server.server_close()
        agent.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fake", action="store_true", help="use the fake NVML (no GPU needed)")
    parser.add_argument("--collects", type=int, default=2000, help="fake mode: collects to time")
    parser.add_argument("--seconds", type=float, default=20.0, help="real mode: seconds per phase")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="real mode: seconds between collects"
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    results = run_fake(args.collects) if args.fake else run_real(args.seconds, args.interval)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
