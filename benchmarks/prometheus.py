"""`make bench-prometheus`: what unitcost costs the Prometheus that scrapes it, in both `detail`
modes, in one run.

For each mode, the real Prometheus 3.5 (tests/support/tools.py) scrapes a simulated exporter
(`unitcost serve`, 150,000 pods on 5,000 nodes unless told) with every file of
recording-rules/ and alerts/ loaded, waits for the first full scrape and for the head to settle
(head series steady over three readings 15 s apart), then reports: series scraped and in the
head (and per pod), Prometheus' RSS and Go heap (process_resident_memory_bytes,
go_memstats_heap_inuse_bytes) and those less an empty Prometheus' (the baseline, measured in
the same run: the same rules, no target), every rule group's evaluation time (median and worst
of 5 readings 20 s apart) and the slowest rules, the scrape's duration, the exporter's own RSS
(now and peak), the live heap after a forced garbage collection (`/debug/pprof/heap?gc=1`),
less the baseline's, and the head's largest metric names (`/api/v1/status/tsdb`). Then the
default mode once more with Prometheus in a memory cgroup (a pod's memory limit).
Targets, for the default mode: <= 2.2 series per pod (scraped, all families), Prometheus RSS
for unitcost's data <= 1 GiB in a pod whose memory limit gives it 1 GiB (the limited reading:
without a limit RSS holds Go's collection headroom, reported beside), every rule group <= 1 s
median, the exporter's scrape <= 1 s and RSS <= 1.5 GiB. Prints a table with the pod-mode
figures beside the default's (the ratio) and merges the figures into benchmarks/results.json.
Method: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.prometheus import Prometheus, exporter, http_get, prometheus, wait_until  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results.json"
RULES = sorted((ROOT / "recording-rules").glob("*.yml")) + [
    p for p in sorted((ROOT / "alerts").glob("*.yml")) if not p.name.startswith("alertmanager")
]
MODES = ("workload", "pod")
#: How many of the head's largest metric names (Prometheus' TSDB status) a run keeps.
TOP_NAMES = 20
#: How many of the slowest rules (worst evaluation time over the readings) a run keeps.
SLOWEST = 12
GIB = 2**30
TARGETS = {
    "series_per_pod": 2.2,
    "prometheus_rss_for_unitcost_bytes": 1.0 * GIB,
    "slowest_group_median_s": 1.0,
    "scrape_s": 1.0,
    "exporter_peak_rss_bytes": 1.5 * GIB,
}
#: The memory target, read in the pod-limited run when there is one (docs/performance.md).
MEMORY_TARGET = "prometheus_rss_for_unitcost_bytes"


def own_metrics(url: str) -> dict[str, float]:
    """Prometheus' own gauges that size it (unlabelled samples of its /metrics)."""
    wanted = {
        "prometheus_tsdb_head_series",
        "process_resident_memory_bytes",
        "go_memstats_heap_inuse_bytes",
        "go_memstats_heap_alloc_bytes",
        "process_cpu_seconds_total",
        "go_gc_gomemlimit_bytes",
    }
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(http_get(f"{url}/metrics", timeout=30).decode()):
        for s in family.samples:
            if s.name in wanted and not s.labels:
                out[s.name] = s.value
    return out


def rule_group_durations(url: str) -> dict[str, float]:
    """rule group -> its last evaluation time (s), from Prometheus' own metrics."""
    text = http_get(f"{url}/metrics", timeout=30).decode()
    return {
        s.labels.get("rule_group", "").split(";")[-1]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "prometheus_rule_group_last_duration_seconds"
    }


def rule_durations(url: str) -> dict[str, float]:
    """record or alert name -> its last evaluation time (s), from /api/v1/rules: which rule
    in a slow group is slow."""
    body = json.loads(http_get(f"{url}/api/v1/rules", timeout=30))
    out: dict[str, float] = {}
    for group in body["data"]["groups"]:
        for rule in group["rules"]:
            name = rule.get("name", "")
            out[name] = max(out.get(name, 0.0), float(rule.get("evaluationTime", 0.0)))
    return out


def rss(pid: int) -> tuple[float, float]:
    """(RSS now, peak RSS) of a process, in bytes, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = float(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def reload(prom: Prometheus, **changes: Any) -> None:
    path = prom.workdir / "prometheus.yml"
    config = yaml.safe_load(path.read_text())
    config["global"].update(changes)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    request = urllib.request.Request(f"{prom.url}/-/reload", method="POST")
    urllib.request.urlopen(request, timeout=30).close()


def settle(prom: Prometheus, minimum_s: float = 45.0, timeout_s: float = 600.0) -> float:
    """Wait until the head holds steady: three readings 15 s apart within 0.5% of each other,
    at least `minimum_s` after the call (several rule rounds). Returns the seconds waited."""
    started = time.monotonic()
    readings: list[float] = []
    while time.monotonic() - started < timeout_s:
        readings.append(own_metrics(prom.url)["prometheus_tsdb_head_series"])
        last = readings[-3:]
        steady = len(last) == 3 and (max(last) - min(last)) <= 0.005 * max(last)
        if steady and time.monotonic() - started >= minimum_s:
            return time.monotonic() - started
        time.sleep(15.0)
    raise TimeoutError(f"the head did not settle in {timeout_s:.0f} s: {readings[-5:]}")


@contextmanager
def empty_prometheus() -> Iterator[Prometheus]:
    with prometheus([], RULES, scrape_interval="30s", evaluation_interval="15s") as prom:
        yield prom


def baseline() -> dict[str, float]:
    """An empty Prometheus with every rule loaded: what any Prometheus costs before data."""
    with empty_prometheus() as prom:
        time.sleep(45.0)  # a few rule rounds
        figures = own_metrics(prom.url)
        http_get(f"{prom.url}/debug/pprof/heap?gc=1", timeout=120)
        live = own_metrics(prom.url)["go_memstats_heap_inuse_bytes"]
    return {
        "rss_bytes": figures["process_resident_memory_bytes"],
        "heap_inuse_bytes": figures["go_memstats_heap_inuse_bytes"],
        "live_heap_bytes": live,
    }


#: Prometheus 3's `--auto-gomemlimit.ratio` default: its Go memory limit is this share of the
#: container's memory limit.
AUTO_GOMEMLIMIT_RATIO = 0.9


@contextmanager
def memory_cgroup(limit_bytes: int) -> Iterator[Path | None]:
    """A child of this process' memory cgroup, limited to `limit_bytes`: a container's memory
    limit, enforced by the kernel (page cache included, as in a pod). Yields None where no
    cgroup can be made here (not root, no memory controller); removed afterwards."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        own[controllers] = path.lstrip("/")
    v1 = next((path for names, path in own.items() if "memory" in names.split(",")), None)
    if v1 is not None:
        parent, limit_file = Path("/sys/fs/cgroup/memory") / v1, "memory.limit_in_bytes"
    else:
        parent, limit_file = Path("/sys/fs/cgroup") / own.get("", ""), "memory.max"
    child = parent / f"unitcost-bench-prometheus-{os.getpid()}"
    try:
        child.mkdir()
        (child / limit_file).write_text(str(limit_bytes))
    except OSError as exc:
        print(f"no memory cgroup under {parent} ({exc}): GOMEMLIMIT alone", flush=True)
        if child.exists():
            child.rmdir()
        yield None
        return
    try:
        yield child
    finally:
        for _ in range(50):  # the stopped process leaves the cgroup a moment later
            try:
                child.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def cgroup_memory(cgroup: Path) -> dict[str, float]:
    """The cgroup's peak memory (RSS and page cache) and how often it hit its limit or killed."""
    if (cgroup / "memory.max_usage_in_bytes").exists():  # v1
        oom = dict(
            line.split() for line in (cgroup / "memory.oom_control").read_text().splitlines()
        )
        return {
            "peak_bytes": float((cgroup / "memory.max_usage_in_bytes").read_text()),
            "limit_hits": float((cgroup / "memory.failcnt").read_text()),
            "oom_kills": float(oom.get("oom_kill", 0)),
        }
    events = dict(line.split() for line in (cgroup / "memory.events").read_text().splitlines())
    return {
        "peak_bytes": float((cgroup / "memory.peak").read_text()),
        "limit_hits": float(events.get("max", 0)),
        "oom_kills": float(events.get("oom_kill", 0)),
    }


def bench_mode(
    detail: str,
    pods: int,
    rounds: int,
    base: dict[str, float],
    container_limit_bytes: int | None = None,
) -> dict[str, Any]:
    """One reading of `detail` mode; with `container_limit_bytes`, Prometheus runs in a memory
    cgroup of that limit, as in a pod with a memory limit: Prometheus 3's `--auto-gomemlimit`
    (on by default) sets its Go memory limit to 90% of it, and the kernel enforces the rest.
    Where no cgroup can be made, GOMEMLIMIT is set to what it would have set."""
    if container_limit_bytes is None:
        return _bench_mode(detail, pods, rounds, base, None, None)
    with memory_cgroup(container_limit_bytes) as cgroup:
        env = None
        if cgroup is None:
            env = {"GOMEMLIMIT": f"{int(container_limit_bytes * AUTO_GOMEMLIMIT_RATIO)}B"}
        result = _bench_mode(detail, pods, rounds, base, cgroup, env)
        result["container_limit_bytes"] = container_limit_bytes
        result["container_limit_enforced"] = cgroup is not None
        if cgroup is not None:
            result["cgroup"] = cgroup_memory(cgroup)
    return result


def _bench_mode(
    detail: str,
    pods: int,
    rounds: int,
    base: dict[str, float],
    cgroup: Path | None,
    env: dict[str, str] | None,
) -> dict[str, Any]:
    nodes = max(10, pods // 30)
    config = {
        "source": {"kind": "simulator", "simulator": {"seed": 1, "nodes": nodes, "pods": pods}},
        "collect_interval_seconds": 120,
        "detail": detail,
    }
    with tempfile.TemporaryDirectory(prefix="unitcost-bench-prometheus-") as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(config))
        with (
            exporter(path, timeout=900) as proc,
            prometheus(
                [proc.address],
                RULES,
                simulated_vllm=[proc.address],
                scrape_interval="30s",
                evaluation_interval="15s",
                timeout=120,
                env=env,
                cgroup=cgroup,
            ) as prom,
        ):
            # A 150k-pod scrape outlasts the default 10 s scrape timeout on a busy machine.
            reload(prom, scrape_timeout="30s")

            def scraped() -> float | None:
                found = prom.values('scrape_samples_scraped{job="unitcost"}')
                value = next(iter(found.values()), 0.0)
                return value if value > pods else None

            started = time.monotonic()
            series = wait_until(scraped, timeout=900, interval=2.0, what="the first full scrape")
            first_scrape_wait_s = time.monotonic() - started
            settled_s = settle(prom)
            load: list[float] = []
            readings: dict[str, list[float]] = {}
            scrapes: list[float] = []
            own: list[dict[str, float]] = []
            exporter_rss: list[tuple[float, float]] = []
            slowest_rules: dict[str, float] = {}
            for _ in range(rounds):
                for group, seconds in rule_group_durations(prom.url).items():
                    readings.setdefault(group, []).append(seconds)
                for name, seconds in rule_durations(prom.url).items():
                    slowest_rules[name] = max(slowest_rules.get(name, 0.0), seconds)
                scrapes += prom.values('scrape_duration_seconds{job="unitcost"}').values()
                own.append(own_metrics(prom.url))
                exporter_rss.append(rss(proc.popen.pid))
                load.append(os.getloadavg()[0])
                time.sleep(20.0)
            cpu_s = own[-1]["process_cpu_seconds_total"] - own[0]["process_cpu_seconds_total"]
            span_s = 20.0 * (rounds - 1)
            # RSS holds the Go heap's headroom (GOGC: up to twice the live heap) and what the
            # first full scrape left behind; the live heap is what the data needs. A heap
            # profile with gc=1 runs a full collection first.
            http_get(f"{prom.url}/debug/pprof/heap?gc=1", timeout=120)
            after_gc = own_metrics(prom.url)
            # Where the head series are: the largest metric names (families and records).
            tsdb_status = json.loads(
                http_get(f"{prom.url}/api/v1/status/tsdb?limit={TOP_NAMES}", timeout=120)
            )["data"]
    head = statistics.median(o["prometheus_tsdb_head_series"] for o in own)
    prom_rss = max(o["process_resident_memory_bytes"] for o in own)
    heap = max(o["go_memstats_heap_inuse_bytes"] for o in own)
    groups = {
        g: {"median_s": statistics.median(v), "max_s": max(v)} for g, v in sorted(readings.items())
    }
    return {
        "detail": detail,
        "pods": pods,
        "nodes": nodes,
        "scraped_series": series,
        "series_per_pod": series / pods,
        "head_series": head,
        "head_series_per_pod": head / pods,
        "prometheus_rss_bytes": prom_rss,
        "prometheus_heap_inuse_bytes": heap,
        "prometheus_rss_for_unitcost_bytes": prom_rss - base["rss_bytes"],
        "prometheus_heap_for_unitcost_bytes": heap - base["heap_inuse_bytes"],
        "prometheus_rss_per_10k_pods_bytes": (prom_rss - base["rss_bytes"]) * 10_000 / pods,
        "prometheus_live_heap_bytes": after_gc["go_memstats_heap_inuse_bytes"],
        "prometheus_live_heap_for_unitcost_bytes": (
            after_gc["go_memstats_heap_inuse_bytes"] - base["live_heap_bytes"]
        ),
        # Prometheus' CPU over the readings (scrapes, rule rounds, head upkeep) per second.
        "prometheus_cpu_cores": cpu_s / span_s if span_s > 0 else 0.0,
        "rule_groups": groups,
        "slowest_group_median_s": max(g["median_s"] for g in groups.values()),
        "slowest_group_max_s": max(g["max_s"] for g in groups.values()),
        "rule_time_per_round_s": sum(g["median_s"] for g in groups.values()),
        "slowest_rules_s": dict(sorted(slowest_rules.items(), key=lambda kv: -kv[1])[:SLOWEST]),
        "scrape_s": statistics.median(scrapes),
        "scrape_max_s": max(scrapes),
        "exporter_rss_bytes": exporter_rss[-1][0],
        "exporter_peak_rss_bytes": max(peak for _, peak in exporter_rss),
        "first_full_scrape_wait_s": first_scrape_wait_s,
        "settle_s": settled_s,
        "load_average_1m": load,
        "tsdb_status": tsdb_status,
        # The Go memory limit Prometheus ran under (math.MaxInt64 when none).
        "go_memory_limit_bytes": own[-1].get("go_gc_gomemlimit_bytes", float("nan")),
    }


ROWS = (
    ("scraped_series", "series scraped", "{:,.0f}"),
    ("series_per_pod", "series per pod (scraped)", "{:.2f}"),
    ("head_series", "head series", "{:,.0f}"),
    ("head_series_per_pod", "head series per pod", "{:.2f}"),
    ("prometheus_rss_bytes", "Prometheus RSS MiB", "mib"),
    ("prometheus_heap_inuse_bytes", "Prometheus heap in use MiB", "mib"),
    ("prometheus_rss_for_unitcost_bytes", "RSS for unitcost's data MiB", "mib"),
    ("prometheus_rss_per_10k_pods_bytes", "  per 10k pods MiB", "mib"),
    ("prometheus_live_heap_for_unitcost_bytes", "live heap for unitcost MiB", "mib"),
    ("prometheus_cpu_cores", "Prometheus CPU (cores)", "{:.3f}"),
    ("rule_time_per_round_s", "rule time per round s", "{:.3f}"),
    ("slowest_group_median_s", "slowest group median s", "{:.3f}"),
    ("slowest_group_max_s", "slowest group worst s", "{:.3f}"),
    ("scrape_s", "scrape s (median)", "{:.3f}"),
    ("exporter_peak_rss_bytes", "exporter peak RSS MiB", "mib"),
)


def _cell(fmt: str, value: float) -> str:
    return f"{value / 2**20:,.0f}" if fmt == "mib" else fmt.format(value)


def report(result: dict[str, Any]) -> str:
    runs = {r["detail"]: r for r in result["modes"]}
    default = runs.get("workload") or runs["pod"]
    pod = runs.get("pod") or default
    lines = [
        f"Prometheus 3.5 scraping {default['pods']:,} pods on {default['nodes']:,} nodes, "
        f"every rule loaded (baseline: an empty Prometheus with the rules, "
        f"{result['baseline']['rss_bytes'] / 2**20:.0f} MiB RSS)",
        f"  {'':30s} {'workload':>14s} {'pod':>14s} {'pod / workload':>15s}",
    ]
    for key, title, fmt in ROWS:
        ratio = pod[key] / default[key] if default[key] else float("nan")
        lines.append(
            f"  {title:30s} {_cell(fmt, default[key]):>14s} {_cell(fmt, pod[key]):>14s} "
            f"{ratio:15.2f}"
        )
    lines.append("  rule groups (median / worst s):")
    for group in sorted(default["rule_groups"]):
        d, p = default["rule_groups"][group], pod["rule_groups"].get(group, {})
        flag = "" if d["median_s"] <= TARGETS["slowest_group_median_s"] else "  SLOW (> 1 s)"
        lines.append(
            f"    {group:34s} {d['median_s']:7.3f} / {d['max_s']:7.3f}   "
            f"{p.get('median_s', float('nan')):7.3f} / {p.get('max_s', float('nan')):7.3f}{flag}"
        )
    limited = result.get("limited")
    lines.append("  targets (default mode):")
    for key, target in TARGETS.items():
        # Prometheus' memory is read as it runs in a pod: under a memory limit, its Go heap
        # collects instead of growing to GOGC's headroom (the unlimited figure, shown beside).
        measured = limited if key == MEMORY_TARGET and limited else default
        value = measured[key]
        ok = "ok" if value <= target else "MISSED"
        shown = f"{value / GIB:.2f} GiB" if key.endswith("bytes") else f"{value:.3f}"
        limit = f"{target / GIB:.2f} GiB" if key.endswith("bytes") else f"{target:g}"
        beside = (
            f" (in the pod limit; no limit: {default[key] / GIB:.2f} GiB)"
            if measured is not default
            else ""
        )
        lines.append(f"    {key:36s} {shown:>12s} <= {limit:<10s} {ok}{beside}")
    for mode in runs:
        lines.append(
            f"  load average (1 min) during the {mode} readings: {runs[mode]['load_average_1m']}"
        )
    if limited:
        how = (
            "a memory cgroup (the kernel's limit)"
            if limited["container_limit_enforced"]
            else "no cgroup could be made: GOMEMLIMIT alone"
        )
        lines.append(
            f"  default mode again, Prometheus in a container limit of "
            f"{limited['container_limit_bytes'] / 2**20:,.0f} MiB (1 GiB + the empty one's RSS; "
            f"{how}), Go memory limit {limited['go_memory_limit_bytes'] / 2**20:,.0f} MiB:"
        )
        if limited.get("cgroup"):
            c = limited["cgroup"]
            lines.append(
                f"    cgroup peak (RSS + page cache) {c['peak_bytes'] / 2**20:,.0f} MiB, "
                f"limit hit {c['limit_hits']:.0f} times, OOM kills {c['oom_kills']:.0f}"
            )
        for key, title, fmt in ROWS:
            if (
                key.startswith("prometheus")
                or key.startswith("slowest")
                or key == "rule_time_per_round_s"
            ):
                lines.append(
                    f"    {title:30s} {_cell(fmt, limited[key]):>14s} "
                    f"(unlimited {_cell(fmt, default[key])})"
                )
    for mode, run in runs.items():
        lines.append(f"  slowest rules ({mode}, worst of the readings):")
        lines.extend(
            f"    {name:70s} {sec:8.3f} s" for name, sec in run.get("slowest_rules_s", {}).items()
        )
        lines.append(f"  head series by metric name ({mode}, largest {TOP_NAMES}):")
        lines.extend(
            f"    {entry['name']:70s} {entry['value']:>10,}"
            for entry in run["tsdb_status"]["seriesCountByMetricName"]
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--rounds", type=int, default=5, help="rule-group readings, 20 s apart")
    parser.add_argument(
        "--modes", default=",".join(MODES), help="detail modes, comma-separated (default: both)"
    )
    parser.add_argument(
        "--limited",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also read the default mode with Prometheus in a memory cgroup of 1 GiB plus the "
        "empty Prometheus' RSS (a pod's memory limit; Prometheus 3 sets GOMEMLIMIT from it)",
    )
    args = parser.parse_args()
    about = {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    base = baseline()
    modes = []
    for detail in args.modes.split(","):
        modes.append(bench_mode(detail, args.pods, args.rounds, base))
        print(f"{detail}: done", flush=True)
    limited = None
    if args.limited:
        limit = int(TARGETS["prometheus_rss_for_unitcost_bytes"] + base["rss_bytes"])
        limited = bench_mode("workload", args.pods, args.rounds, base, container_limit_bytes=limit)
        print("workload under a memory limit: done", flush=True)
    result = {
        "machine": about,
        "baseline": base,
        "modes": modes,
        "limited": limited,
        "targets": TARGETS,
    }
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data["prometheus"] = result
    RESULTS.write_text(json.dumps(data, indent=2))  # before the report: figures kept whatever
    print(report(result))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
