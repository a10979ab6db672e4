"""Churn soak: `unitcost serve` (the real Kubernetes source, collector and HTTP server, as its
own process) against the loopback fake apiserver while pods are created and deleted at a
steady event rate; reports RSS drift, errors and scrape latency.

    make soak                      # 10 minutes at 1,000 pod events/s
    make soak ARGS='--minutes 1'   # a short run

Bounded in time; not part of `make test`. Exits non-zero if a scrape failed, a scrape showed
the source down, or the invariant broke. RSS drift is measured from the end of the warm-up
(the first fifth of the run, at most 2 minutes) to the end, so start-up allocation is not
counted as drift.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from support.fake_apiserver import FakeCluster, namespace, node, pod, running  # noqa: E402
from support.invariant import assert_scraped_invariant  # noqa: E402
from support.prometheus import unitcost_command  # noqa: E402

CONFIG = """
source:
  kind: kubernetes
  kubernetes:
    kubeconfig: kubeconfig
    context: fake
    metrics_poll_seconds: 10
collect_interval_seconds: {interval}
"""
#: Watch history the fake keeps per kind; older events are compacted (a late watch gets 410).
HISTORY = 20_000
_SERVING = re.compile(r"serving http://([^/\s]+)/metrics")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def populate(cluster: FakeCluster, nodes: int) -> None:
    for i in range(nodes):
        labels = {"node.kubernetes.io/instance-type": "m5.4xlarge", "node-pool": "general"}
        cluster.apply(
            "nodes",
            node(f"node-{i}", cpu="64", memory="256Gi", labels=labels, provider_id="aws:///a/i"),
        )
    for team in ("etl", "ml", "web", "research"):
        cluster.apply("namespaces", namespace(team, {"team": team}))


class Churn:
    """Creates and deletes pods at `rate` events/s, keeping about `population` alive."""

    def __init__(self, cluster: FakeCluster, rate: float, population: int, nodes: int) -> None:
        self.cluster, self.rate, self.population, self.nodes = cluster, rate, population, nodes
        self.alive: list[tuple[str, str]] = []
        self.events = 0
        self._ids = itertools.count()
        self.stop = threading.Event()

    def _create(self) -> None:
        i = next(self._ids)
        ns = ("etl", "ml", "web", "research")[i % 4]
        name = f"job-{i}"
        self.cluster.apply(
            "pods",
            pod(
                ns,
                name,
                node_name=f"node-{i % self.nodes}",
                cpu=f"{100 + i % 900}m",
                memory=f"{256 + i % 1024}Mi",
                labels={"app": f"app-{i % 50}"},
                owner=("Job", f"job-{i // 10}"),
            ),
        )
        self.alive.append((ns, name))
        self.events += 1

    def _delete(self) -> None:
        ns, name = self.alive.pop(0)
        self.cluster.delete("pods", ns, name)
        self.events += 1

    def fill(self) -> None:
        while len(self.alive) < self.population:
            self._create()

    def _compact(self) -> None:
        with self.cluster.cond:
            events = self.cluster.events["pods"]
            if len(events) > HISTORY:
                dropped = events[: len(events) - HISTORY]
                self.cluster.events["pods"] = events[len(events) - HISTORY :]
                self.cluster.compacted["pods"] = dropped[-1].rv

    def run(self) -> None:
        started = last_compact = time.monotonic()
        done = 0
        while not self.stop.is_set():
            now = time.monotonic()
            due = int((now - started) * self.rate)
            while done < due:
                # Alternate so the population stays steady: create, delete, create, ...
                if done % 2 == 0 or not self.alive:
                    self._create()
                else:
                    self._delete()
                done += 1
            if now - last_compact >= 1.0:
                self._compact()
                last_compact = now
            self.stop.wait(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="pod events per second")
    parser.add_argument("--pods", type=int, default=2000, help="pods alive at any time")
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--interval", type=float, default=5.0, help="collect interval (s)")
    parser.add_argument("--scrape-every", type=float, default=2.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    duration = args.minutes * 60
    warmup = min(120.0, duration / 5)

    cluster = FakeCluster()
    populate(cluster, args.nodes)
    churn = Churn(cluster, args.rate, args.pods, args.nodes)
    churn.fill()
    churn.events = 0  # count the churn only, not the initial population
    latencies: list[float] = []
    rss: list[tuple[float, int]] = []
    problems: list[str] = []
    scrapes = 0
    with tempfile.TemporaryDirectory(prefix="unitcost-soak-") as tmp, running(cluster) as api:
        workdir = Path(tmp)
        api.write_kubeconfig(workdir / "kubeconfig")
        (workdir / "unitcost.yaml").write_text(CONFIG.format(interval=args.interval))
        log_path = workdir / "unitcost.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    *unitcost_command(),
                    *("serve", "--config", str(workdir / "unitcost.yaml")),
                    *("--listen", "127.0.0.1:0"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            deadline = time.monotonic() + 60
            while not (found := _SERVING.search(log_path.read_text(errors="replace"))):
                if proc.poll() is not None or time.monotonic() > deadline:
                    print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
                    return 2
                time.sleep(0.2)
            url = f"http://{found.group(1)}/metrics"
            thread = threading.Thread(target=churn.run, daemon=True)
            started = time.monotonic()
            thread.start()
            print(
                f"soak: {args.minutes:g} min at {args.rate:g} pod events/s, ~{args.pods} pods "
                f"on {args.nodes} nodes, collect every {args.interval:g}s (pid {proc.pid})"
            )
            next_rss = 0.0
            while (elapsed := time.monotonic() - started) < duration:
                if proc.poll() is not None:
                    problems.append(f"exporter exited with {proc.returncode}")
                    break
                if elapsed >= next_rss:
                    rss.append((elapsed, rss_bytes(proc.pid)))
                    next_rss = elapsed + 5
                t0 = time.perf_counter()
                try:
                    with urllib.request.urlopen(url, timeout=30) as response:
                        body = response.read()
                    latencies.append(time.perf_counter() - t0)
                    scrapes += 1
                    if scrapes % 10 == 1:  # parsing is costly: check every tenth scrape
                        _check(body.decode(), problems)
                except OSError as exc:
                    problems.append(f"scrape failed at {elapsed:.0f}s: {exc}")
                time.sleep(max(0.0, args.scrape_every - (time.perf_counter() - t0)))
            churn.stop.set()
            thread.join(10)
            if proc.poll() is None:
                rss.append((time.monotonic() - started, rss_bytes(proc.pid)))
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        log_text = log_path.read_text(errors="replace")
    ran = time.monotonic() - started
    figures = _figures(args, ran, churn.events, scrapes, latencies, rss, warmup, log_text)
    figures["problems"] = problems[:20]
    figures["exit_code"] = proc.returncode
    _print(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if problems or proc.returncode != 0 else 0


def _check(text: str, problems: list[str]) -> None:
    samples = [
        (s.name, dict(s.labels), s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
    ]
    up = {labels["source"]: v for n, labels, v in samples if n == "unitcost_source_up"}
    if up.get("kubernetes") != 1.0:
        problems.append(f"source_up {up}")
    try:
        assert_scraped_invariant(samples)
    except AssertionError as exc:
        problems.append(f"invariant: {exc}")


def _figures(
    args: argparse.Namespace,
    ran: float,
    events: int,
    scrapes: int,
    latencies: list[float],
    rss: list[tuple[float, int]],
    warmup: float,
    log_text: str,
) -> dict[str, Any]:
    after = [r for t, r in rss if t >= warmup] or [r for _, r in rss]
    start_rss, end_rss = after[0], after[-1]
    hours = max(1e-9, (rss[-1][0] - warmup) / 3600) if len(after) > 1 else math.nan
    ordered = sorted(latencies) or [math.nan]
    return {
        "minutes": round(ran / 60, 2),
        "events": events,
        "events_per_second": round(events / ran, 1),
        "scrapes": scrapes,
        "scrape_p50_ms": round(statistics.median(ordered) * 1000, 1),
        "scrape_p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "scrape_max_ms": round(ordered[-1] * 1000, 1),
        "rss_first_mib": round(rss[0][1] / 2**20, 1),
        "rss_after_warmup_mib": round(start_rss / 2**20, 1),
        "rss_end_mib": round(end_rss / 2**20, 1),
        "rss_peak_mib": round(max(r for _, r in rss) / 2**20, 1),
        "rss_drift_mib": round((end_rss - start_rss) / 2**20, 1),
        "rss_drift_mib_per_hour": round((end_rss - start_rss) / 2**20 / hours, 1),
        "log_warnings": len(re.findall(r" WARNING ", log_text)),
        "log_errors": len(re.findall(r" ERROR ", log_text)),
    }


def _print(figures: dict[str, Any]) -> None:
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
