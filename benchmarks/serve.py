"""The exporter as Prometheus meets it: `unitcost serve` in its own process on a simulated
cluster, /metrics scraped over HTTP, its peak RSS (VmHWM) read from /proc; and the baseline,
prometheus-client serving the same series over HTTP (it renders on every scrape)."""

from __future__ import annotations

import gzip
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from support.prometheus import exporter
from unitcost.metrics.family import MetricFamily


def fetch(url: str, gzipped: bool = False, timeout: float = 300.0) -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzipped else {})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
    return time.perf_counter() - started, body


def _length(url: str) -> str:
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request, timeout=60) as response:
        return str(response.headers.get("Content-Length"))


def quantiles(runs: list[float]) -> tuple[float, float]:
    runs = sorted(runs)
    return statistics.median(runs), runs[min(len(runs) - 1, int(0.95 * len(runs)))]


def vm_hwm_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def bench_serve(pods: int, nodes: int, scrapes: int, gpu_share: float = 0.0) -> dict[str, float]:
    simulator = {"seed": 1, "nodes": nodes, "pods": pods, "gpu_holder_share": gpu_share}
    config = {
        "source": {"kind": "simulator", "simulator": simulator},
        # The default interval: scrapes mostly fall between collects, as in production.
        "collect_interval_seconds": 30,
    }
    with tempfile.TemporaryDirectory(prefix="unitcost-bench-") as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(config))
        with exporter(path, timeout=600) as proc:
            url = f"{proc.url}/metrics"
            fetch(url)  # warm: the first request pays the connection setup only
            # The exporter collects again as soon as it serves; wait for that second collect
            # to land, so the scrapes fall between collects (as in production, and whatever
            # the process's start-up time) and the peak includes old + new state side by side.
            first = _length(url)
            deadline = time.monotonic() + 180
            while _length(url) == first and time.monotonic() < deadline:
                time.sleep(0.2)
            plain = [fetch(url) for _ in range(scrapes)]
            zipped = [fetch(url, gzipped=True) for _ in range(scrapes)]
            body = plain[-1][1]
            rss = vm_hwm_bytes(proc.popen.pid)
    median, p95 = quantiles([t for t, _ in plain])
    gz_median, gz_p95 = quantiles([t for t, _ in zipped])
    assert gzip.decompress(zipped[-1][1]).count(b"\n") > 0
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return {
        "scrape_median_s": median,
        "scrape_p95_s": p95,
        "scrape_gzip_median_s": gz_median,
        "scrape_gzip_p95_s": gz_p95,
        "payload_bytes": len(body),
        "payload_gzip_bytes": len(zipped[-1][1]),
        "scraped_series": series,
        "peak_rss_bytes": rss,
    }


class _Families(Collector):
    def __init__(self, families: Iterable[MetricFamily]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for family in self.families:
            gauge = GaugeMetricFamily(family.name, family.help, labels=list(family.labels))
            for values, value in family.samples:
                gauge.add_metric(list(values), value)
            yield gauge


def bench_baseline(families: list[MetricFamily], scrapes: int) -> dict[str, float]:
    """prometheus-client's GaugeMetricFamily + generate_latest over its own HTTP server."""
    registry = CollectorRegistry()
    registry.register(_Families(families))
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        runs = [fetch(url)[0] for _ in range(scrapes)]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    median, p95 = quantiles(runs)
    return {"baseline_scrape_median_s": median, "baseline_scrape_p95_s": p95}
