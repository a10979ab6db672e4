"""A fleet of simulated clusters in one view (tests/support/fleet.py, docs/fleet.md).

    python benchmarks/fleet.py demo            # make fleet: three clusters until Ctrl-C
    python benchmarks/fleet.py bench           # make bench-fleet: 10 clusters x 5,000 pods

`bench` remote-writes N clusters into both global tiers (Prometheus 3.5 receiver with the
rules, VictoriaMetrics with vmalert) and reports what each holds and costs: head series,
resident memory, samples ingested per second, and the slowest rule group's evaluation time;
beside the baseline in the same run, one cluster's own Prometheus with the same rules.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.fleet import CLUSTERS, ClusterSpec, Fleet, Store, fleet  # noqa: E402
from support.prometheus import http_get, wait_until  # noqa: E402
from support.rulefiles import rule_files  # noqa: E402


def _metric(url: str, name: str) -> float:
    """Sum of one metric family's samples on a /metrics endpoint (0 when absent)."""
    total = 0.0
    for line in http_get(f"{url}/metrics", timeout=30).decode().splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _slowest_group(prometheus_url: str) -> tuple[str, float]:
    """Prometheus' last evaluation time per rule group, the slowest one."""
    groups = json.loads(http_get(f"{prometheus_url}/api/v1/rules", timeout=30))["data"]["groups"]
    timed = [(g["name"], float(g["evaluationTime"])) for g in groups]
    return max(timed, key=lambda x: x[1]) if timed else ("-", 0.0)


def demo() -> None:
    with fleet(CLUSTERS, rule_files(), frozen=False, local_views=False) as f:
        print("unitcost fleet: three simulated clusters, each scraped by a Prometheus 3.5 agent")
        for c in f.clusters:
            print(f"  {c.spec.name:18} exporter {c.exporter.url}/metrics  agent {c.agent.url}")
        print(f"global tier A (Prometheus 3.5 receiver + rules): {f.tier_a.url}")
        print(f"global tier B (VictoriaMetrics): {f.tier_b.url}  vmalert: {f.vmalert.url}")
        print("Point a Grafana Prometheus datasource at either tier and import the dashboards")
        print("(helm/unitcost/files/dashboards/); the Cluster variable lists the three.")
        print("Ctrl-C stops everything.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def bench(clusters: int, pods: int, settle: float) -> None:
    specs = [
        ClusterSpec(f"bench-{i:02d}", seed=100 + i, nodes=max(4, pods // 25), pods=pods)
        for i in range(clusters)
    ]
    started = time.perf_counter()
    with fleet(
        specs,
        rule_files(),
        scrape_interval="15s",
        evaluation_interval="15s",
        frozen=False,
        local_views=False,
    ) as f:
        up = time.perf_counter() - started
        print(f"{clusters} clusters x {pods:,} pods up in {up:.0f} s; settling {settle:.0f} s")
        wait_until(
            lambda: (
                len(f.tier_a.by("count by (cluster) (unitcost_build_info)", "cluster")) == clusters
                or None
            ),
            timeout=600,
            what="every cluster on tier A",
        )
        time.sleep(settle)
        report(f, clusters, pods, settle)


def _baseline(spec: ClusterSpec, settle: float) -> tuple[float, float]:
    """One cluster's own Prometheus 3.5 with the rules, after the same settling time:
    (head series, RSS bytes)."""
    with fleet(
        [spec],
        rule_files(),
        scrape_interval="15s",
        evaluation_interval="15s",
        frozen=False,
        local_views=True,
    ) as f:
        own = f.clusters[0].local
        wait_until(
            lambda: own.query("team:unitcost_cost_dollars_per_hour:sum") or None,
            timeout=300,
            what="the baseline's rules",
        )
        time.sleep(settle)
        return (
            _metric(own.url, "prometheus_tsdb_head_series"),
            _metric(own.url, "process_resident_memory_bytes"),
        )


def _vmalert_slowest_group(url: str) -> tuple[str, float]:
    """vmalert's mean evaluation time per group (its /metrics summary), the slowest one."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in http_get(f"{url}/metrics", timeout=30).decode().splitlines():
        for suffix, into in (("_sum", sums), ("_count", counts)):
            name = f"vmalert_iteration_duration_seconds{suffix}{{"
            if line.startswith(name):
                group = line.split('group="', 1)[1].split('"', 1)[0]
                into[group] = float(line.rsplit(" ", 1)[1])
    means = {g: sums[g] / counts[g] for g in sums if counts.get(g)}
    return max(means.items(), key=lambda x: x[1]) if means else ("-", 0.0)


def _rate(url: str, metric: str, seconds: float = 30.0) -> float:
    """Per-second increase of a counter on a /metrics endpoint over `seconds`."""
    before = _metric(url, metric)
    time.sleep(seconds)
    return (_metric(url, metric) - before) / seconds


def report(f: Fleet, clusters: int, pods: int, settle: float) -> None:
    a: Store = f.tier_a
    a_series = _metric(a.url, "prometheus_tsdb_head_series")
    a_rss = _metric(a.url, "process_resident_memory_bytes")
    a_rate = _rate(a.url, "prometheus_tsdb_head_samples_appended_total")
    a_group, a_time = _slowest_group(a.url)
    b = f.tier_b
    # The series VictoriaMetrics holds today (a count() over every series would time out).
    status = json.loads(http_get(f"{b.url}/api/v1/status/tsdb", timeout=120))
    b_series = float(status["data"]["totalSeries"])
    b_rss = _metric(b.url, "process_resident_memory_bytes")
    b_rate = _rate(b.url, "vm_rows_inserted_total")
    b_group, b_time = _vmalert_slowest_group(f.vmalert.url)
    base_series, base_rss = _baseline(f.clusters[0].spec, settle)
    print()
    print(f"{clusters} clusters x {pods:,} pods, scrape and rule interval 15 s")
    header = f"{'store':42} {'series':>9} {'per cluster':>11} {'RSS MiB':>8} {'samples/s':>10}"
    print(f"{header}  slowest rule group (mean)")
    print(
        f"{'one cluster: its own Prometheus 3.5 (baseline)':42} {base_series:>9,.0f} "
        f"{base_series:>11,.0f} {base_rss / 2**20:>8,.0f}"
    )
    print(
        f"{'tier A: Prometheus 3.5 receiver + rules':42} {a_series:>9,.0f} "
        f"{a_series / clusters:>11,.0f} {a_rss / 2**20:>8,.0f} {a_rate:>10,.0f}  "
        f"{a_group} {a_time:.2f} s"
    )
    print(
        f"{'tier B: VictoriaMetrics + vmalert':42} {b_series:>9,.0f} "
        f"{b_series / clusters:>11,.0f} {b_rss / 2**20:>8,.0f} {b_rate:>10,.0f}  "
        f"{b_group} {b_time:.2f} s"
    )
    print(
        f"per cluster, tier A holds {a_series / clusters / base_series:.2f}x and uses "
        f"{a_rss / clusters / base_rss:.2f}x the memory of the cluster's own Prometheus; "
        f"VictoriaMetrics uses {b_rss / a_rss:.2f}x tier A's memory"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("demo", help="three clusters and both global tiers until Ctrl-C")
    b = sub.add_parser("bench", help="N clusters into both global tiers, with figures")
    b.add_argument("--clusters", type=int, default=10)
    b.add_argument("--pods", type=int, default=5000)
    b.add_argument("--settle", type=float, default=120.0, help="seconds of steady state")
    args = parser.parse_args()
    if args.mode == "demo":
        demo()
    else:
        bench(args.clusters, args.pods, args.settle)


if __name__ == "__main__":
    main()
