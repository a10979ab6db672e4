"""`detail: workload` and `detail: pod` give the same answers downstream.

The same simulated history (one seed, one fake clock, churned over simulated hours with shared
cost spread proportionally, GPU pools, idle GPUs) is collected by two real Collectors, one per
mode; their expositions and the simulated vLLM counters are served over HTTP and scraped by
one real Prometheus 3.5 with every recording rule and alert loaded, each target under its own
`cluster` label. Every rule keeps `cluster`, so each recorded series and alert of one mode has
its twin in the other: the two sets must match label for label (less the target labels) and
value for value to 1e-9 relative. `recommend`'s reads (owners, node, cost of each pod) are
compared the same way, and the node ledger holds on both expositions.
"""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from support.invariant import assert_scraped_invariant
from support.loopback import loopback_server
from support.prometheus import Prometheus, prometheus, wait_until
from unitcost.config.file import Detail, parse_config
from unitcost.config.recommend import RecommendSettings
from unitcost.history.recommend.reads import read_inputs
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.sinks.exposition import render
from unitcost.sources.promapi import PrometheusAPI
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("detail-modes")]

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "recording-rules").glob("*.yml")) + [
    p for p in sorted((ROOT / "alerts").glob("*.yml")) if not p.name.startswith("alertmanager")
]
REL_TOL = 1e-9
VLLM_PATH = "/simulated/vllm"
#: Labels Prometheus adds per target: not part of what a mode answers.
TARGET = {"cluster", "instance", "job"}
MODES = '{cluster=~"workload|pod"}'
_APP_COST = (
    f"workload:unitcost_workload_cost_dollars_per_hour:max{MODES} or label_replace("
    f'workload:unitcost_workload_shared_cost_dollars_per_hour:max{MODES}, "part", "shared", "", "")'
)
#: Figures that were records once and are now read inline (docs/rules.md, CHANGELOG "Removed"):
#: compared as the records were.
INLINE = {
    "workload unused cost": (
        "max by (cluster, namespace, team, org, cost_center, queue, app, workload_kind) "
        "(unitcost_workload_unused_cost_dollars_per_hour" + MODES + ")"
    ),
    "app cost": f"sum by (cluster, namespace, team, workload_kind, app) ({_APP_COST})",
    "team app cost": f"sum by (cluster, team, app) ({_APP_COST})",
}


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def history(detail: Detail) -> tuple[bytes, bytes]:
    """(the exposition, the vLLM counters) after simulated hours of churn, in `detail`."""
    data = yaml.safe_load(
        (ROOT / "exporters" / "unitcost" / "config" / "demo.yaml").read_text("utf-8")
    )
    data["detail"] = detail
    data["shared_cost"]["strategy"] = "proportional"
    data["budgets"] = {"period": "month", "default": 5000.0}
    config = parse_config(data, "demo.yaml", Path("."))
    clock = FakeClock(1_750_000_000.0)
    cluster = SimulatedCluster(seed=17, nodes=40, pods=1200, start=clock.now, gpu_idle_share=0.5)
    source = SimulatorSource(cluster, speed=60.0, clock=clock, gpu_pools=True)
    collector = Collector(source, PriceBook.load(config.pricebook_paths()), config, clock=clock)
    try:
        for _ in range(12):  # 12 collects a simulated hour apart: workloads end and begin
            clock.now += 60.0
            collected = collector.collect_once()
        return collected.exposition, render(source.vllm.families())
    finally:
        source.close()


@contextmanager
def served(pages: dict[str, bytes]) -> Iterator[str]:
    """A loopback HTTP server answering GET `path` with the text page `pages[path]`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with loopback_server(Handler) as address:
        yield address


def configure(prom: Prometheus, targets: dict[str, str], rules: list[Path]) -> None:
    """Rewrite the config: each mode's target (its /metrics and its vLLM counters) under its
    own `cluster`, and `rules`; reload."""
    path = prom.workdir / "prometheus.yml"
    config = yaml.safe_load(path.read_text())
    config["rule_files"] = [str(p) for p in rules]
    config["scrape_configs"] = [
        {
            "job_name": job,
            "metrics_path": metrics_path,
            "scrape_interval": "2s",
            "scrape_timeout": "2s",
            "static_configs": [
                {"targets": [address], "labels": {"cluster": mode}}
                for mode, address in targets.items()
            ],
        }
        for job, metrics_path in (("unitcost", "/metrics"), ("simulated-vllm", VLLM_PATH))
    ]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    request = urllib.request.Request(f"{prom.url}/-/reload", method="POST")
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"reload: {exc.read().decode(errors='replace')}") from None


def by_mode(prom: Prometheus, expr: str) -> dict[str, dict[tuple[Any, ...], float]]:
    """{mode: {(name, labels less the target's): value}} of an instant query."""
    out: dict[str, dict[tuple[Any, ...], float]] = {"workload": {}, "pod": {}}
    for r in prom.query(expr):
        metric = r["metric"]
        key = tuple(sorted((k, v) for k, v in metric.items() if k not in TARGET))
        out[metric["cluster"]][key] = float(r["value"][1])
    return out


def assert_same(got: dict[str, dict[tuple[Any, ...], float]], what: str) -> int:
    workload, pod = got["workload"], got["pod"]
    assert workload.keys() == pod.keys(), (
        what,
        sorted(workload.keys() - pod.keys())[:5],
        sorted(pod.keys() - workload.keys())[:5],
    )
    for key, value in workload.items():
        twin = pod[key]
        assert (math.isnan(value) and math.isnan(twin)) or math.isclose(
            value, twin, rel_tol=REL_TOL, abs_tol=1e-12
        ), (what, key, value, twin)
    return len(workload)


def samples(exposition: bytes) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for f in text_string_to_metric_families(exposition.decode())
        for s in f.samples
    ]


def test_every_rule_alert_and_read_is_the_same_in_both_modes() -> None:
    pages = {mode: history(mode) for mode in ("workload", "pod")}
    workload, pod = (samples(pages[m][0]) for m in ("workload", "pod"))
    # The default serves about a fifth of the series; the ledger holds on both.
    assert len(workload) < 0.45 * len(pod), (len(workload), len(pod))
    assert not {n for n, _, _ in workload} & {
        "unitcost_pod_cost_dollars_per_hour",
        "unitcost_pod_unused_cost_dollars_per_hour",
        "unitcost_pod_shared_cost_dollars_per_hour",
        "unitcost_pod_info",
    }
    assert assert_scraped_invariant(workload) == assert_scraped_invariant(pod) > 40
    assert pages["workload"][1] == pages["pod"][1]  # the same history's token counters

    with (
        served({"/metrics": pages["workload"][0], VLLM_PATH: pages["workload"][1]}) as a,
        served({"/metrics": pages["pod"][0], VLLM_PATH: pages["pod"][1]}) as b,
        prometheus([], scrape_interval="1s", evaluation_interval="1s") as prom,
    ):
        # Both modes scraped first, then the rules loaded: every rule's first evaluation sees
        # both, so even the rules that accumulate over time have the same history in each.
        targets = {"workload": a, "pod": b}
        configure(prom, targets, [])
        wait_until(
            lambda: len(prom.values("up == 1")) == 4 or None, timeout=60, what="both modes scraped"
        )
        configure(prom, targets, RULES)
        records = '{__name__=~".+:.+", cluster=~"workload|pod"}'
        wait_until(
            lambda: (
                (
                    {dict(k)["cluster"] for k in prom.values(records)} == {"workload", "pod"}
                    and prom.values('team:unitcost_budget_forecast:ratio{cluster="pod"}')
                    and prom.values('team_model:unitcost_gpu_used:count{cluster="workload"}')
                )
                or None
            ),
            timeout=60,
            what="the recording rules on both modes",
        )
        # Rules chain across groups (the unit_economics group reads the waste group's
        # previous round): let a few rounds pass.
        time.sleep(5.0)
        # Static pages: once both are scraped and every chain has caught up, the two modes
        # agree. A scrape that fails on a busy machine makes one mode's series stale for a
        # moment, so the comparison is retried until it holds (a real difference never does).
        compared = wait_until(
            lambda: compare(prom, records), timeout=90, interval=2.0, what="both modes to agree"
        )
        assert compared > 200, compared


def compare(prom: Prometheus, records: str) -> int:
    """Every record, alert and recommend read of one mode equals the other's; returns how
    many records were compared."""
    compared = assert_same(by_mode(prom, records), "records")
    names = {dict(k)["__name__"] for k in by_mode(prom, records)["pod"]}
    for expected in (
        "team:unitcost_cost_dollars_per_hour:sum",
        "namespace:unitcost_cost_dollars_per_hour:sum",
        "queue:unitcost_cost_dollars_per_hour:sum",
        "team:unitcost_workload_unused_cost_dollars_per_hour:sum",
        "team:unitcost_shared_cost_dollars_per_hour:sum",
        "workload:unitcost_workload_cost_dollars_per_hour:max",
        "namespace_pod:unitcost_pod_info:gpu",
        "team_model:unitcost_gpu_cost_dollars_per_hour:sum",
        "team_model:unitcost_gpu_idle_cost_dollars_per_hour:sum",
        "team_model:unitcost_gpu_allocated:count",
        "namespace_kind:unitcost_gpu_holding_cost_dollars_per_hour:sum",
        "namespace_app:unitcost_run_cost_dollars_per_hour:sum",
    ):
        assert expected in names, expected
    for what, expr in INLINE.items():
        inline = by_mode(prom, expr)
        assert inline["pod"], what
        compared += assert_same(inline, what)
    assert_same(by_mode(prom, 'ALERTS{cluster=~"workload|pod"}'), "alerts")
    # recommend's reads: each pod's owners (its workload), node price and cost now.
    inputs = read_inputs(PrometheusAPI(prom.url), RecommendSettings(), _now(prom))
    activity: dict[str, dict[tuple[Any, ...], float]] = {"workload": {}, "pod": {}}
    for a in inputs.activity:
        w = a.workload
        key = (a.namespace, a.pod, w.namespace, w.kind, w.name)
        cost = a.cost_dollars_per_hour
        activity[w.cluster][key] = cost if cost is not None else math.nan
    assert len(activity["pod"]) > 500
    assert_same(activity, "recommend activity")
    return compared


def _now(prom: Prometheus) -> float:
    return float(prom.query("time()")[0]["value"][1])
