"""`make bench-chargeback`: month-end close over a real Prometheus 3.5.

Per size (default 5k, 10k and 20k churning workloads; `--workloads 2000` for a quick run):
1. writes a 31-day month (October 2026) of the series `unitcost chargeback` reads
   (history/chargeback/query.py): the per-workload records
   `workload:unitcost_workload_cost_dollars_per_hour:max` and
   `workload:unitcost_workload_shared_cost_dollars_per_hour:max`, the GPU holdings of every
   20th workload (`node_gpu_line:...`, 1 to 4 devices each), the per-namespace volume record,
   and the per-team `avg1h`, waste, idle-GPU and network records, as OpenMetrics text;
   workloads churn (each slot's workload is replaced every 2 to 12 days, so a month holds
   several times N distinct workloads, N at any time);
2. backfills it with `promtool tsdb create-blocks-from openmetrics` (month-long blocks) and starts
   Prometheus 3.5 on it;
3. times `unitcost chargeback --format focus-parquet` over the month in its own process (wall
   time, peak RSS by wait4), and beside it the baseline: the same month exported by one plain
   `query_range` per series (every per-workload and per-team series, hourly), summed per line
   and day and written as Parquet, in its own process.

Samples are one per series per hour (`--interval`), the resolution chargeback reads after
`sum_over_time(...[1h])`; a Prometheus fed by rules every minute holds 60 times more samples
per series, which costs Prometheus more per query (not this process). The machine's load
average is printed before and after each size (the machine is shared). Method and figures:
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.prometheus import free_port  # noqa: E402
from support.tools import PROMETHEUS_3, tool  # noqa: E402
from unitcost.history.chargeback.period import HOUR, Period, utc_date  # noqa: E402
from unitcost.history.chargeback.query import COMPONENTS, GPU_HOLDING, ROW_LABELS  # noqa: E402
from unitcost.sources.promapi import PrometheusAPI  # noqa: E402

MONTH = "2026-10"
TEAMS = 60
NAMESPACES_PER_TEAM = 8
TEAM_SERIES = (
    "team:unitcost_cost_dollars_per_hour:avg1h",
    "team:unitcost_workload_unused_cost_dollars_per_hour:sum",
    "team:unitcost_gpu_idle_cost_dollars_per_hour:sum",
    "team:unitcost_network_cost_dollars_per_hour:sum",
)
VOLUME = COMPONENTS["storage"]
COMPUTE = COMPONENTS["compute"]
SHARED = COMPONENTS["shared"]


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def workloads(slots: int, period: Period) -> Iterator[tuple[dict[str, str], float, int, int]]:
    """(labels, $/h, first hour, last hour + 1) of every workload that lived in the month:
    `slots` run at any time, each slot's workload replaced every 7 to 31 days."""
    hours = (period.end - period.start) // HOUR
    for slot in range(slots):
        life = 168 + (slot * 37) % 577  # hours: 7 to 31 days
        phase = (slot * 13) % life
        team = slot % TEAMS
        namespace = f"t{team}-ns{(slot // TEAMS) % NAMESPACES_PER_TEAM}"
        rate = 0.02 + (slot % 17) * 0.011
        generation, first = 0, 0
        end = life - phase
        while first < hours:
            labels = {
                "cluster": "bench",
                "team": f"team-{team}",
                "org": f"org-{team % 6}",
                "cost_center": f"cc-{team % 12}",
                "namespace": namespace,
                "queue": f"q{slot % 4}" if slot % 3 == 0 else "",
                "app": f"app-{slot}-g{generation}",
                "workload_kind": "Deployment" if slot % 5 else "Job",
            }
            yield labels, rate, first, min(end, hours)
            generation, first, end = generation + 1, end, end + life


def write_history(path: Path, slots: int, period: Period, interval: int) -> tuple[int, int]:
    """The month as OpenMetrics text; returns (series, samples)."""
    hours = (period.end - period.start) // HOUR
    per_hour = HOUR // interval
    team_hourly: dict[str, list[float]] = defaultdict(lambda: [0.0] * hours)
    series = samples = 0

    def hourly_samples(text: str, first: int, last: int) -> list[str]:
        """`text` (series and value) at every sample time of hours first..last - 1."""
        return [
            f"{text}{period.start + h * HOUR + k * interval + 17}\n"
            for h in range(first, last)
            for k in range(per_hour)
        ]

    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        for metric, share in ((COMPUTE, 1.0), (SHARED, 0.1)):
            out.write(f"# TYPE {metric} gauge\n")
            for labels, rate, first, last in workloads(slots, period):
                value = rate * share
                lines = hourly_samples(f"{metric}{_labels(labels)} {value!r} ", first, last)
                out.writelines(lines)
                series, samples = series + 1, samples + len(lines)
                hourly = team_hourly[labels["team"]]
                for h in range(first, last):
                    hourly[h] += value
        # GPU holders (docs/chargeback.md, "GPU rows"): every 20th workload holds 1 to 4
        # devices, which take 60% of its compute dollars, split evenly.
        out.write(f"# TYPE {GPU_HOLDING} gauge\n")
        for labels, rate, first, last in workloads(slots, period):
            slot = int(labels["app"].split("-")[1])
            if slot % 20:
                continue
            devices = 1 + slot % 4
            line = {k: v for k, v in labels.items() if k != "workload_kind"}
            for device in range(devices):
                gpu = {"node": f"gpu-node-{slot % 300}", "gpu": f"GPU-{slot:06d}-{device}"}
                value = rate * 0.6 / devices
                lines = hourly_samples(
                    f"{GPU_HOLDING}{_labels(line | gpu)} {value!r} ", first, last
                )
                out.writelines(lines)
                series, samples = series + 1, samples + len(lines)
        out.write(f"# TYPE {VOLUME} gauge\n")
        for team in range(TEAMS):
            for ns in range(NAMESPACES_PER_TEAM):
                labels = {
                    "cluster": "bench",
                    "team": f"team-{team}",
                    "namespace": f"t{team}-ns{ns}",
                }
                text = f"{VOLUME}{_labels(labels)} 0.05 "
                out.writelines(f"{text}{period.start + h * HOUR + 17}\n" for h in range(hours))
                series, samples = series + 1, samples + hours
                for h in range(hours):
                    team_hourly[f"team-{team}"][h] += 0.05
        for n, metric in enumerate(TEAM_SERIES):
            out.write(f"# TYPE {metric} gauge\n")
            for team, hourly in sorted(team_hourly.items()):
                text = f'{metric}{{cluster="bench",team="{team}"}} '
                factor = (1.0, 0.3, 0.05, 0.02)[n]
                # Recorded at the hour's end (inside the lookback of an evaluation at it).
                out.writelines(
                    f"{text}{hourly[h] * factor!r} {period.start + (h + 1) * HOUR - 30}\n"
                    for h in range(hours)
                )
                series, samples = series + 1, samples + hours
        out.write("# EOF\n")
    return series, samples


def run_measured(argv: list[str], log: Path) -> tuple[float, float, int]:
    """(wall s, peak RSS MiB, exit code) of a child process."""
    started = time.perf_counter()
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, code


def baseline(url: str, month: str, output: Path) -> None:
    """The naive export: every series listed, then one query_range each, summed per line
    and day in Python, written as Parquet."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    period = Period.parse(month)
    end = period.end
    window = f"[{period.end - period.start}s]"
    totals: dict[tuple[str, ...], float] = defaultdict(float)
    with PrometheusAPI(url) as api:
        for metric in (COMPUTE, SHARED, GPU_HOLDING, VOLUME, *TEAM_SERIES):
            listed = api.query(f"last_over_time({metric}{window})", at=end)
            for sample in listed:
                selector = metric + _labels(
                    {k: v for k, v in sample.labels.items() if k != "__name__"}
                )
                # One plain range query per series: its hourly values over the month.
                for s in api.query_range(
                    f"sum_over_time({selector}[1h])",
                    start=period.start + HOUR,
                    end=end,
                    step_s=HOUR,
                ):
                    key_labels = tuple(s.labels.get(k, "") for k in ROW_LABELS)
                    for t, v in s.points:
                        totals[(metric, *key_labels, utc_date(t - HOUR).isoformat())] += v
    columns: dict[str, list[Any]] = {"metric": [], **{k: [] for k in ROW_LABELS}, "day": []}
    columns["dollars"] = []
    for key, dollars in totals.items():
        columns["metric"].append(key[0])
        for name, value in zip(ROW_LABELS, key[1:-1], strict=True):
            columns[name].append(value)
        columns["day"].append(key[-1])
        columns["dollars"].append(dollars)
    pq.write_table(pa.table(columns), output)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


def start_prometheus(data: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [
            tool("prometheus", PROMETHEUS_3),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address={address}",
            "--storage.tsdb.retention.time=100y",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "prometheus.log").open("wb"),
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if _get(f"http://{address}/-/ready"):
                return proc, f"http://{address}"
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"Prometheus did not become ready: {workdir / 'prometheus.log'}")


def bench_size(
    slots: int, interval: int, keep: Path | None, profile: Path | None = None
) -> dict[str, Any]:
    period = Period.parse(MONTH)
    result: dict[str, Any] = {"workloads": slots, "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="unitcost-bench-chargeback-", dir=keep) as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        series, samples = write_history(work / "month.om", slots, period, interval)
        result |= {"series": series, "samples": samples}
        result["write_s"] = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run(
            [
                tool("promtool", PROMETHEUS_3),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                # One pass over the text per block range: month-long blocks, as Prometheus's
                # compaction leaves an old month (its largest blocks span 31 days).
                "--max-block-duration=744h",
                str(work / "month.om"),
                str(work / "data"),
            ],
            check=True,
            capture_output=True,
        )
        result["backfill_s"] = time.perf_counter() - started
        (work / "month.om").unlink()
        proc, url = start_prometheus(work / "data", work)
        try:
            at = datetime.fromtimestamp(period.end + HOUR, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            unitcost = [str(Path(sys.executable).parent / "unitcost"), "chargeback"]
            if profile is not None:  # cProfile's figures, not the timed run's (it slows it)
                out = profile / f"chargeback-{slots}.prof"
                unitcost = [sys.executable, "-m", "cProfile", "-o", str(out), *unitcost]
            argv = [*unitcost, "--prometheus", url, "--period", MONTH, "--at", at]
            argv += ["--format", "focus-parquet", "--output", str(work / "focus.parquet")]
            wall, rss, code = run_measured(argv, work / "chargeback.log")
            if code != 0:
                raise SystemExit((work / "chargeback.log").read_text()[-2000:])
            result |= {"chargeback_s": wall, "chargeback_rss_mib": rss}
            result["rows"] = _parquet_rows(work / "focus.parquet")
            # The same month appended to an Iceberg table (docs/lakehouse.md): SQL catalog
            # and file warehouse in the temporary folder.
            argv = [str(Path(sys.executable).parent / "unitcost"), "chargeback"]
            argv += ["--prometheus", url, "--period", MONTH, "--at", at]
            argv += ["--format", "iceberg", "--catalog-type", "sql"]
            argv += ["--catalog-uri", f"sqlite:///{work / 'catalog.db'}"]
            argv += ["--warehouse", f"file://{work / 'warehouse'}"]
            wall, rss, code = run_measured(argv, work / "iceberg.log")
            if code != 0:
                raise SystemExit((work / "iceberg.log").read_text()[-2000:])
            result |= {"iceberg_s": wall, "iceberg_rss_mib": rss}
            argv = [sys.executable, __file__, "baseline", "--prometheus", url]
            argv += ["--output", str(work / "baseline.parquet")]
            wall, rss, code = run_measured(argv, work / "baseline.log")
            if code != 0:
                raise SystemExit((work / "baseline.log").read_text()[-2000:])
            result |= {"baseline_s": wall, "baseline_rss_mib": rss}
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    result["load_after"] = os.getloadavg()[0]
    return result


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def report(results: list[dict[str, Any]]) -> None:
    head = (
        f"{'workloads':>9} {'series':>8} {'samples':>11} {'backfill':>9} {'rows':>8} "
        f"{'chargeback':>11} {'RSS':>8} {'baseline':>9} {'RSS':>8} {'speedup':>8} {'load':>10}"
    )
    print(head)
    first = results[0]
    for r in results:
        print(
            f"{r['workloads']:>9,} {r['series']:>8,} {r['samples']:>11,} "
            f"{r['backfill_s']:>8.1f}s {r['rows']:>8,} {r['chargeback_s']:>10.1f}s "
            f"{r['chargeback_rss_mib']:>5.0f}MiB {r['baseline_s']:>8.1f}s "
            f"{r['baseline_rss_mib']:>5.0f}MiB {r['baseline_s'] / r['chargeback_s']:>7.1f}x "
            f"{r['load_before']:>4.1f}->{r['load_after']:<4.1f}"
        )
    if len(results) > 1:
        for r in results[1:]:
            print(
                f"growth {first['workloads']:,} -> {r['workloads']:,} workloads "
                f"(x{r['workloads'] / first['workloads']:.0f}): chargeback time "
                f"x{r['chargeback_s'] / first['chargeback_s']:.2f}, RSS "
                f"x{r['chargeback_rss_mib'] / first['chargeback_rss_mib']:.2f}"
            )
    for r in results:
        print(
            f"iceberg at {r['workloads']:,} workloads: {r['iceberg_s']:.1f} s, "
            f"{r['iceberg_rss_mib']:.0f} MiB peak, {r['rows'] / r['iceberg_s']:,.0f} rows/s "
            f"(the same month as focus-parquet: {r['chargeback_s']:.1f} s)"
        )
    top = results[-1]
    print(
        f"target at {top['workloads']:,} workloads: under 60 s and 1 GiB -> "
        f"{'met' if top['chargeback_s'] < 60 and top['chargeback_rss_mib'] < 1024 else 'MISSED'}"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "baseline":
        parser = argparse.ArgumentParser(prog="chargeback.py baseline")
        parser.add_argument("baseline")
        parser.add_argument("--prometheus", required=True)
        parser.add_argument("--output", type=Path, required=True)
        args = parser.parse_args()
        baseline(args.prometheus, MONTH, args.output)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workloads",
        default="5000,10000,20000",
        help="comma-separated sizes: workloads running at any time (default 5000,10000,20000)",
    )
    parser.add_argument("--interval", type=int, default=HOUR, help="seconds between samples")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--profile",
        type=Path,
        help="run chargeback under cProfile, writing chargeback-N.prof here (times then inflated)",
    )
    parser.add_argument("--tmp", type=Path, help="folder for the TSDB (default: the system's)")
    args = parser.parse_args()
    if HOUR % args.interval:
        parser.error("--interval must divide 3600")
    sizes = [int(s) for s in args.workloads.split(",") if s.strip()]
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()}")
    results = []
    for slots in sizes:
        results.append(bench_size(slots, args.interval, args.tmp, args.profile))
        print(json.dumps(results[-1]), flush=True)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this process (history writer) peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
