"""`make bench`: speed and memory at 1k, 10k and 150k pods (5,000 nodes at the top), against
a baseline measured in the same run: the same series rendered and served by prometheus-client
(GaugeMetricFamily + generate_latest). Prints a table and writes benchmarks/results.json.

Per size: simulator build and snapshot; allocate() cold (no attribution cache) and warm (the
Collector's cache from the previous collect, after ~1% pod churn); render(); one watch event
(pod added, modified, deleted) and one pod's usage update in the Kubernetes source; /metrics
scraped over HTTP from `unitcost serve` in its own process (median and p95, plain and gzip),
payload bytes and series, the exporter's peak RSS; the baseline's scrape over HTTP.
`make bench-prometheus` (benchmarks/prometheus.py) adds the Prometheus side. The network
collector over 250,000 conntrack entries beside a naive /proc parse: benchmarks/network.py
(root).
`--gpu-mix` adds, beside each size, the same size with 5% more pods holding GPUs (a third
through DRA claims, the rest MIG slices, time-slicing replicas and HAMi fractions).
Method: docs/performance.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from unitcost.costmodel.policy import allocation_policy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from events import bench_events  # noqa: E402
from network import bench_network  # noqa: E402
from network import report as network_report  # noqa: E402
from serve import bench_baseline, bench_serve  # noqa: E402

from unitcost.config.file import demo_config  # noqa: E402
from unitcost.costmodel.allocation import AllocationPolicy, allocate  # noqa: E402
from unitcost.costmodel.attribution import AttributionCache  # noqa: E402
from unitcost.data.model import PodPhase, Snapshot  # noqa: E402
from unitcost.metrics.family import MetricFamily  # noqa: E402
from unitcost.pricing import PriceBook  # noqa: E402
from unitcost.sinks.exposition import render  # noqa: E402
from unitcost.sinks.metrics import cost_families  # noqa: E402
from unitcost.sources.simulator import SimulatedCluster  # noqa: E402
from unitcost.sources.simulator.gpu_holders import with_gpu_holders  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results.json"


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, p95) seconds over `repeat` runs, the cyclic GC paused as in a collect."""
    runs = []
    for _ in range(repeat):
        gc.disable()
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
        gc.enable()
    runs.sort()
    return statistics.median(runs), runs[min(len(runs) - 1, int(0.95 * len(runs)))]


#: `--gpu-mix`: this share of the pods is added as GPU holders, a third through DRA claims
#: (the issue's scale target: allocation <= 2 s and scrape <= 1 s at 150k pods).
GPU_MIX_SHARE = 0.05


def snapshot_of(cluster: SimulatedCluster, holders: int) -> Snapshot:
    snapshot = cluster.snapshot()
    return with_gpu_holders(snapshot, holders) if holders else snapshot


def in_process(
    pods: int, nodes: int, repeat: int, holders: int = 0
) -> tuple[dict[str, Any], list[MetricFamily]]:
    started = time.perf_counter()
    cluster = SimulatedCluster(seed=1, nodes=nodes, pods=pods)
    build_s = time.perf_counter() - started
    prices, policy = PriceBook.load(), allocation_policy(demo_config())
    snapshot_s, _ = timed(partial(snapshot_of, cluster, holders), 3)
    snapshot = snapshot_of(cluster, holders)
    allocate_s, allocate_p95 = timed(lambda: allocate(snapshot, prices, policy), 3)
    families = cost_families(allocate(snapshot, prices, policy))
    families_s, _ = timed(lambda: cost_families(allocate(snapshot, prices, policy)), 1)
    render_s, render_p95 = timed(lambda: render(families), repeat)
    gpu_devices = len(allocate(snapshot, prices, policy).gpu_devices)
    warm = allocate_warm(cluster, prices, policy, holders)  # after: it advances the cluster
    row: dict[str, Any] = {
        "pods": pods,
        "gpu_holders": holders,
        "gpu_devices": gpu_devices,
        "nodes": nodes,
        "series": sum(len(f.samples) for f in families),
        "build_s": build_s,
        "snapshot_s": snapshot_s,
        "allocate_s": allocate_s,
        "allocate_p95_s": allocate_p95,
        **warm,
        "allocate_and_families_s": families_s,
        "render_median_s": render_s,
        "render_p95_s": render_p95,
    }
    return row, families


#: Simulated seconds between the two collects of the warm recompute: about 1% of the running
#: pods are then new (finished workloads replaced by new ones), about the churn of a
#: 2-minute collect interval in the simulator.
WARM_CHURN_SECONDS = 120.0


def allocate_warm(
    cluster: SimulatedCluster, prices: PriceBook, policy: AllocationPolicy, holders: int = 0
) -> dict[str, Any]:
    """The recompute a collect does: allocate() with the Collector's AttributionCache warm
    from the previous collect, after the simulator's own churn. Each of 3 runs warms a fresh
    cache on the previous snapshot (untimed), then times the next snapshot's allocate()."""
    cluster.advance(600)  # past the start, when many workloads begin at once
    previous = snapshot_of(cluster, holders)
    cluster.advance(WARM_CHURN_SECONDS)
    current = snapshot_of(cluster, holders)
    runs, attributed = [], 0
    for _ in range(3):
        cache = AttributionCache()
        allocate(previous, prices, policy, cache)
        seconds, _ = timed(partial(allocate, current, prices, policy, cache), 1)
        runs.append(seconds)
        attributed = cache.computed
    before, after = _running_keys(previous), _running_keys(current)
    return {
        "allocate_warm_s": statistics.median(runs),
        "allocate_warm_new_pods_ratio": len(after - before) / max(1, len(after)),
        "allocate_warm_attributed": attributed,
        "allocate_warm_cached": len(cache),
    }


def _running_keys(snapshot: Snapshot) -> set[tuple[str, str]]:
    return {p.key for p in snapshot.pods if p.phase is PodPhase.RUNNING}


def bench(pods: int, repeat: int, scrapes: int, gpu_mix: bool = False) -> dict[str, Any]:
    """One size; with `gpu_mix`, 5% more pods hold GPUs (a third through DRA claims), in
    process and in the served exporter (source.simulator.gpu_holder_share)."""
    nodes = max(10, pods // 30)
    share = GPU_MIX_SHARE if gpu_mix else 0.0
    row, families = in_process(pods, nodes, repeat, round(pods * share))
    row |= bench_events(pods)
    row |= bench_baseline(families, max(3, scrapes // 3) if pods > 20_000 else scrapes)
    del families
    gc.collect()
    row |= bench_serve(pods, nodes, scrapes, share)
    row["bytes_per_pod"] = row["payload_bytes"] / pods
    row["baseline_over_unitcost_scrape"] = row["baseline_scrape_median_s"] / row["scrape_median_s"]
    row["baseline_over_unitcost_render"] = row["baseline_scrape_median_s"] / row["render_median_s"]
    return row


COLUMNS = (
    ("pods", "pods"),
    ("gpu_holders", "GPU holders"),
    ("series", "series"),
    ("allocate_s", "allocate s"),
    ("allocate_warm_s", "allocate warm s"),
    ("render_median_s", "render s"),
    ("scrape_median_s", "scrape med s"),
    ("scrape_p95_s", "scrape p95 s"),
    ("scrape_gzip_median_s", "gzip scrape s"),
    ("baseline_scrape_median_s", "baseline scrape s"),
    ("baseline_over_unitcost_scrape", "baseline / unitcost"),
    ("event_added_median_s", "event add ms"),
    ("event_modified_median_s", "event mod ms"),
    ("event_deleted_median_s", "event del ms"),
    ("peak_rss_bytes", "peak RSS MB"),
    ("bytes_per_pod", "B/pod"),
)


def _cell(key: str, value: Any) -> str:
    if key.startswith("event_"):
        return f"{value * 1000:.3f}"
    if key == "peak_rss_bytes":
        return f"{value / 2**20:.0f}"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.0f}"
    return str(value)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,150000", help="pod counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="timed in-process runs per figure")
    parser.add_argument("--scrapes", type=int, default=10, help="HTTP scrapes per figure")
    parser.add_argument(
        "--gpu-mix",
        action="store_true",
        help="beside each size, the same size with 5%% more pods holding GPUs (a third "
        "through DRA claims, the rest MIG, replicas, fractions): allocation and scrape",
    )
    parser.add_argument(
        "--network-entries",
        type=int,
        default=250_000,
        help="conntrack entries for the network collector's figure (0: skip; needs root)",
    )
    args = parser.parse_args()
    about = machine()
    results = []
    for size in args.sizes.split(","):
        results.append(bench(int(size), args.repeat, args.scrapes))
        print(f"{size} pods done", flush=True)
        if args.gpu_mix:
            results.append(bench(int(size), args.repeat, args.scrapes, gpu_mix=True))
            print(f"{size} pods with the GPU mix done", flush=True)
    table = Table(title=f"unitcost bench: {about['cpu']}, {about['cores']} cores")
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    for row in results:
        table.add_row(*(_cell(key, row[key]) for key, _ in COLUMNS))
    Console(width=240).print(table)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data |= {"machine": about, "results": results}
    if args.network_entries:
        if os.geteuid() == 0:
            network = bench_network(args.network_entries)
            print(network_report(network))
            data["network"] = network
        else:
            print("network collector: skipped (needs root for a network namespace)")
    RESULTS.write_text(json.dumps(data, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
