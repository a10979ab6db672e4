"""`make bench`: cost-model and exposition speed on the simulator, against a baseline measured
in the same run (the same series rendered by prometheus-client's GaugeMetricFamily +
generate_latest). Prints a table and writes benchmarks/results.json.

Sizes: `--sizes 1000,10000` pods (nodes = pods / 30, as at Kubernetes' documented limits).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rich.console import Console
from rich.table import Table

from unitcost.allocation import allocate
from unitcost.config import demo_config
from unitcost.pricing import PriceBook
from unitcost.sinks.exposition import MetricFamily, render
from unitcost.sinks.metrics import cost_families
from unitcost.sources.simulator import SimulatedCluster

RESULTS = Path(__file__).resolve().parent / "results.json"


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, p95) seconds over `repeat` runs."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    runs.sort()
    return statistics.median(runs), runs[min(len(runs) - 1, int(0.95 * len(runs)))]


class _Families(Collector):
    def __init__(self, families: Iterable[MetricFamily]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for family in self.families:
            gauge = GaugeMetricFamily(family.name, family.help, labels=list(family.labels))
            for values, value in family.samples:
                gauge.add_metric(list(values), value)
            yield gauge


def bench(pods: int, repeat: int) -> dict[str, float]:
    nodes = max(10, pods // 30)
    cluster = SimulatedCluster(seed=1, nodes=nodes, pods=pods)
    prices, policy = PriceBook.load(), demo_config().allocation_policy()
    snapshot_s, _ = timed(cluster.snapshot, max(3, repeat // 3))
    snapshot = cluster.snapshot()
    allocate_s, _ = timed(lambda: allocate(snapshot, prices, policy), max(3, repeat // 3))
    families = cost_families(allocate(snapshot, prices, policy))
    render_med, render_p95 = timed(lambda: render(families), repeat)
    registry = CollectorRegistry()
    registry.register(_Families(families))
    base_med, base_p95 = timed(lambda: generate_latest(registry), repeat)
    payload = render(families)
    return {
        "pods": pods,
        "nodes": nodes,
        "series": sum(len(f.samples) for f in families),
        "payload_bytes": len(payload),
        "bytes_per_pod": len(payload) / pods,
        "snapshot_s": snapshot_s,
        "allocate_s": allocate_s,
        "render_median_s": render_med,
        "render_p95_s": render_p95,
        "baseline_render_median_s": base_med,
        "baseline_render_p95_s": base_p95,
        "baseline_over_unitcost": base_med / render_med,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000", help="pod counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per figure")
    args = parser.parse_args()
    results = [bench(int(s), args.repeat) for s in args.sizes.split(",")]
    table = Table(
        title=f"unitcost bench ({platform.processor() or platform.machine()}, "
        f"python {platform.python_version()})"
    )
    columns = (
        "pods",
        "nodes",
        "series",
        "payload_bytes",
        "bytes_per_pod",
        "snapshot_s",
        "allocate_s",
        "render_median_s",
        "baseline_render_median_s",
        "baseline_over_unitcost",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for row in results:
        table.add_row(
            *(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in columns)
        )
    Console(width=200).print(table)
    RESULTS.write_text(json.dumps({"machine": platform.node(), "results": results}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
