"""`unitcost recommend` and `unitcost controller --once` against the real Prometheus, backfilled
with two days of cAdvisor, kube-state-metrics and unitcost series (expected figures worked out
by hand in the comments)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from support.catalogue import assert_conforms
from support.fake_apiserver import namespace
from support.fake_apiserver_writes import WritableCluster, deployment, serving
from support.prometheus import Prometheus, Promtool, free_port, prometheus
from unitcost.cli.main import main
from unitcost.config.recommend import RecommendSettings
from unitcost.history.recommend.service import RecommendService
from unitcost.metrics.catalogue import Binary
from unitcost.sources.promapi import PrometheusAPI

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("recommend")]

DAY, STEP = 86400, 60
GIB, MIB = 2**30, 2**20


class History:
    """OpenMetrics text: one family at a time (series of a family added again, e.g. another
    cluster's, join it), each series' samples in time order."""

    def __init__(self, start: int, end: int) -> None:
        self.times = range(start, end + 1, STEP)
        self.families: dict[str, list[str]] = {}

    def _family(self, name: str, kind: str) -> list[str]:
        return self.families.setdefault(name, [f"# TYPE {name} {kind}"])

    def gauge(
        self, name: str, series: list[tuple[dict[str, str], Callable[[int], float | None]]]
    ) -> None:
        lines = self._family(name, "gauge")
        for labels, value in series:
            for t in self.times:
                v = value(t)
                if v is not None:
                    lines.append(f"{name}{_labels(labels)} {v!r} {t}")

    def counter(
        self, name: str, series: list[tuple[dict[str, str], Callable[[int], float]]]
    ) -> None:
        """`rate` is per second; the counter is its running sum."""
        lines = self._family(name, "counter")
        for labels, rate in series:
            total = 0.0
            for t in self.times:
                total += rate(t) * STEP
                lines.append(f"{name}_total{_labels(labels)} {total!r} {t}")

    def text(self) -> str:
        return "\n".join(line for lines in self.families.values() for line in lines) + "\n# EOF\n"


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _constant(value: float) -> Callable[[int], float]:
    return lambda t: value


def history(now: int) -> str:
    h = History(now - 2 * DAY - 3600, now - 60)
    one_cluster(h)
    return h.text()


def one_cluster(
    h: History,
    cluster: dict[str, str] | None = None,
    dollars: float = 1.0,
    web_cpu: Callable[[int], float] = lambda t: 0.5 if (t // 3600) % 10 == 0 else 0.2,
) -> None:
    """One cluster's series; in a fleet each carries `cluster` and the prices (node, pod, GPU
    and queue dollars) are x `dollars`."""
    c = cluster or {}
    start, end = h.times[0], h.times[-1]
    web = {**c, "namespace": "shop", "pod": "web-a"}
    old = {**c, "namespace": "shop", "pod": "old-api-1"}
    train = {**c, "namespace": "ml", "pod": "train-0"}
    # web-a: 0.2 cores, but 0.5 cores one hour in ten (10% of samples > 5%): p95 = 0.5.
    # old-api-1: 0.001 cores all along.
    h.counter(
        "container_cpu_usage_seconds",
        [
            ({**web, "container": "main"}, web_cpu),
            ({**old, "container": "main"}, lambda t: 0.001),
        ],
    )
    # web-a: 1 GiB, 1.5 GiB for half an hour a day. old-api-1: 100 MiB.
    h.gauge(
        "container_memory_working_set_bytes",
        [
            ({**web, "container": "main"}, lambda t: 1.5 * GIB if t % DAY < 1800 else 1.0 * GIB),
            ({**old, "container": "main"}, lambda t: 100.0 * MIB),
        ],
    )
    h.counter("container_network_receive_bytes", [(old, lambda t: 100.0)])
    h.counter("container_network_transmit_bytes", [(old, lambda t: 100.0)])
    requests = []
    for pod, mem in ((web, 4 * GIB), (old, 512 * MIB)):
        requests.append(({**pod, "container": "main", "resource": "cpu", "unit": "core"}, 1.0))
        requests.append(({**pod, "container": "main", "resource": "memory", "unit": "byte"}, mem))
    h.gauge(
        "kube_pod_container_resource_requests",
        [(labels, _constant(v)) for labels, v in requests],
    )
    info = {"team": "t", "org": "o", "cost_center": "c", "queue": ""}
    # The one series per pod (either `detail`): its owners, its node and its total cost.
    h.gauge(
        "unitcost_pod_total_cost_dollars_per_hour",
        [
            (
                {**web, **info, "node": "n1", "app": "web", "workload_kind": "Deployment"},
                _constant(0.04 * dollars),
            ),
            (
                {**old, **info, "node": "n1", "app": "old-api", "workload_kind": "Deployment"},
                _constant(0.15 * dollars),
            ),
            (
                {**train, **info, "node": "g1", "app": "train", "workload_kind": "Job"}
                | {"holds_gpu": "true"},
                _constant(5.5 * dollars),
            ),
        ],
    )
    # n1: $0.64/h for 16 cores = $0.04 per core-hour; $0.32/h for 64 GiB = $0.005 per GiB-hour.
    h.gauge(
        "unitcost_node_cost_dollars_per_hour",
        [
            ({**c, "node": "n1", "resource": "cpu"}, _constant(0.64 * dollars)),
            ({**c, "node": "n1", "resource": "memory"}, _constant(0.32 * dollars)),
        ],
    )
    h.gauge("unitcost_node_allocatable_cpu_cores", [({**c, "node": "n1"}, lambda t: 16.0)])
    h.gauge("unitcost_node_allocatable_memory_bytes", [({**c, "node": "n1"}, lambda t: 64.0 * GIB)])
    # GPU 0 idle for the last 6 h at $2.5/h, GPU 1 for the last hour only (policy: 4 h).
    h.gauge(
        "unitcost_gpu_idle_cost_dollars_per_hour",
        [
            (
                {**train, "node": "g1", "gpu": "0"},
                lambda t: 2.5 * dollars if t > end - 6 * 3600 else 0.0,
            ),
            (
                {**train, "node": "g1", "gpu": "1"},
                lambda t: 3.0 * dollars if t > end - 3600 else 0.0,
            ),
        ],
    )
    q = {**c, "queue": "gpu-cq", "flavor": "a100", "resource": "gpu"}
    h.gauge("unitcost_queue_quota_cost_dollars_per_hour", [(q, _constant(40.0 * dollars))])
    # Used $10/h, $15/h for one half hour.
    h.gauge(
        "unitcost_queue_used_cost_dollars_per_hour",
        [(q, lambda t: (15.0 if start + DAY <= t < start + DAY + 1800 else 10.0) * dollars)],
    )
    h.gauge(
        "unitcost_queue_info", [({**c, "queue": "gpu-cq", "scheduler": "kueue"}, lambda t: 1.0)]
    )


# (kind, namespace, workload, resource) -> dollars per month, by hand:
EXPECTED = {
    # keep = 15 x 1.2 = 18 of 40: (40 - 18) x 730
    ("idle-quota", "", "gpu-cq", "gpu"): 16060.00,
    # GPU 0 idle 6 h >= 4 h: 2.5 x 730; GPU 1 (1 h) is not a candidate yet
    ("idle-gpu", "ml", "train", "gpu"): 1825.00,
    # quiet 1 day (config): (0.1 + 0.05) x 730
    ("abandoned", "shop", "old-api", "all"): 109.50,
    # 1 core -> 10 millicores (floor): 0.99 x 0.04 x 730
    ("rightsize", "shop", "old-api", "cpu"): 28.91,
    # 1 core -> p95 0.5: 0.5 x 0.04 x 730
    ("rightsize", "shop", "web", "cpu"): 14.60,
    # 4 GiB -> 1.5 GiB x 1.15 = 1767 MiB: (4 - 1.7255859375) x 0.005 x 730 = 8.3016
    ("rightsize", "shop", "web", "memory"): 8.30,
    # 512 MiB -> 115 MiB: 397/1024 x 0.005 x 730 = 1.4151
    ("rightsize", "shop", "old-api", "memory"): 1.42,
}
CONFIG = {"recommend": {"abandoned": {"window_seconds": DAY}}}


@pytest.fixture(scope="module")
def prom() -> Iterator[Prometheus]:
    with prometheus([], history=history(int(time.time()))) as p:
        yield p


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def got(recs: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], float]:
    return {
        (r["kind"], r["namespace"], r["workload"], r["resource"]): r["savings_dollars_per_month"]
        for r in recs
    }


def test_recommend_json_to_the_cent(prom: Prometheus, config: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "recommend",
            "--prometheus",
            prom.url,
            "--config",
            str(config),
            "--window",
            "2d",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    recs = json.loads(result.stdout)
    assert got(recs) == EXPECTED
    web_cpu = next(r for r in recs if r["workload"] == "web" and r["resource"] == "cpu")
    assert (web_cpu["current"], web_cpu["recommended"]) == (1.0, 0.5)
    assert [r["savings_dollars_per_month"] for r in recs] == sorted(EXPECTED.values(), reverse=True)


def test_recommend_table(prom: Prometheus, config: Path) -> None:
    result = CliRunner().invoke(
        main, ["recommend", "--prometheus", prom.url, "--config", str(config), "--window", "2d"]
    )
    assert result.exit_code == 0, result.output
    total = re.search(r"\$([\d,.]+)/month in total", result.stdout)
    assert total, result.stdout
    assert float(total.group(1).replace(",", "")) == pytest.approx(sum(EXPECTED.values()), abs=0.02)
    assert "Deployment/web" in result.stdout and "1,767Mi" in result.stdout


def test_served_metrics_are_documented_and_promtool_clean(
    prom: Prometheus, promtool: Promtool
) -> None:
    settings = RecommendSettings.model_validate({**CONFIG["recommend"], "window_seconds": 2 * DAY})
    with PrometheusAPI(prom.url) as api:
        exposition = RecommendService(api, settings).run_once().exposition.decode()
    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    savings = {
        (s.labels["kind"], s.labels["workload"], s.labels["resource"]): round(s.value, 2)
        for s in families["unitcost_recommendation_savings_dollars_per_month"].samples
    }
    assert savings[("idle-gpu", "train", "gpu")] == 1825.00
    [ratio] = families["unitcost_recommendation_queue_quota_ratio"].samples
    assert ratio.value == pytest.approx(0.45)
    up = {s.labels["source"]: s.value for s in families["unitcost_source_up"].samples}
    assert up == {"prometheus": 1.0}
    assert_conforms(exposition, Binary.RECOMMEND)
    check = promtool(exposition)
    assert check.returncode == 0, check.stdout + check.stderr


def test_prometheus_down_or_missing_is_a_clear_error(config: Path) -> None:
    result = CliRunner().invoke(main, ["recommend", "--config", str(config)])
    assert result.exit_code == 2 and "no Prometheus URL" in result.output
    result = CliRunner().invoke(main, ["recommend", "--prometheus", "localhost:9090"])
    assert result.exit_code == 2 and "must start with http" in result.output
    result = CliRunner().invoke(main, ["recommend", "--prometheus", "http://x", "--window", "7x"])
    assert result.exit_code == 2 and "not a duration: '7x'" in result.output


def test_controller_once_dry_run_end_to_end(prom: Prometheus, tmp_path: Path) -> None:
    fake = WritableCluster()
    fake.apply("namespaces", namespace("shop", {"unitcost.io/actions": "enabled"}))
    fake.apply("deployments", deployment("shop", "old-api", replicas=1))
    with serving(fake) as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        audit = tmp_path / "audit.jsonl"
        config = {
            **CONFIG,
            "source": {"kind": "kubernetes", "kubernetes": {"kubeconfig": str(kubeconfig)}},
            "actions": {
                "audit_log": str(audit),
                "rules": [{"recommendation": "abandoned", "action": "scale-to-zero"}],
            },
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        result = CliRunner().invoke(
            main, ["controller", "--prometheus", prom.url, "--config", str(path), "--once"]
        )
        assert result.exit_code == 0, result.output
    [line] = [json.loads(x) for x in audit.read_text().splitlines()]
    assert (line["action"], line["result"], line["dry_run"]) == (
        "scale-to-zero",
        "would-apply",
        True,
    )
    assert line["target"] == "/apis/apps/v1/namespaces/shop/deployments/old-api"
    assert line["savings_dollars_per_month"] == 109.50
    assert fake.writes == []


def test_a_failed_read_keeps_the_last_recommendations_and_reports_down(prom: Prometheus) -> None:
    settings = RecommendSettings.model_validate({**CONFIG["recommend"], "window_seconds": 2 * DAY})
    acted: list[tuple[int, bool]] = []

    def after(recs: list[Any], fresh: bool) -> list[Any]:
        acted.append((len(recs), fresh))
        return []

    with PrometheusAPI(prom.url) as api:
        service = RecommendService(api, settings, after=after)
        service.run_once()
    service.api = PrometheusAPI(f"http://127.0.0.1:{free_port()}", retries=0, timeout_s=2)
    text = service.run_once().exposition.decode()
    assert 'unitcost_source_up{source="prometheus"} 0' in text
    assert "unitcost_recommendation_savings_dollars_per_month{" in text  # still served
    assert acted == [(len(EXPECTED), True), (len(EXPECTED), False)]  # never acted on stale


# -- a fleet's global tier --------------------------------------------------------------------


def fleet_history(now: int) -> str:
    """Two clusters as a fleet's global tier holds them (every series labelled `cluster` by
    each cluster's Prometheus): the same pod, node, workload and queue names; `west` at twice
    east's prices, its web-a busy at a steady 0.3 cores. Each also runs shop/batch-z, a bare pod
    without a unitcost_pod_total_cost_dollars_per_hour series, priced at its own cluster's average."""
    h = History(now - 2 * DAY - 3600, now - 60)
    one_cluster(h, {"cluster": "east"})
    one_cluster(h, {"cluster": "west"}, dollars=2.0, web_cpu=_constant(0.3))
    unpriced = [{"cluster": c, "namespace": "shop", "pod": "batch-z"} for c in ("east", "west")]
    h.counter(
        "container_cpu_usage_seconds",
        [({**p, "container": "main"}, _constant(0.1)) for p in unpriced],
    )
    h.gauge(
        "container_memory_working_set_bytes",
        [({**p, "container": "main"}, _constant(100.0 * MIB)) for p in unpriced],
    )
    h.gauge(
        "kube_pod_container_resource_requests",
        [
            ({**p, "container": "main", "resource": "cpu", "unit": "core"}, _constant(0.5))
            for p in unpriced
        ],
    )
    return h.text()


# (cluster, kind, namespace, workload, resource) -> dollars per month, by hand. East is the
# single cluster above; west's node prices are $0.08 per core-hour and $0.01 per GiB-hour.
EXPECTED_FLEET = {
    **{("east", *key): dollars for key, dollars in EXPECTED.items()},
    # 0.5 core -> 0.1 at east's average $0.04 per core-hour: 0.4 x 0.04 x 730 (a fleet-wide
    # average, $0.06, would give 17.52 in both clusters)
    ("east", "rightsize", "shop", "batch-z", "cpu"): 11.68,
    # keep = 30 x 1.2 = 36 of 80: (80 - 36) x 730
    ("west", "idle-quota", "", "gpu-cq", "gpu"): 32120.00,
    # 5.0 x 730
    ("west", "idle-gpu", "ml", "train", "gpu"): 3650.00,
    # (0.2 + 0.1) x 730
    ("west", "abandoned", "shop", "old-api", "all"): 219.00,
    # 1 core -> 10 millicores: 0.99 x 0.08 x 730 = 57.816
    ("west", "rightsize", "shop", "old-api", "cpu"): 57.82,
    # 1 core -> 0.3 (steady): 0.7 x 0.08 x 730
    ("west", "rightsize", "shop", "web", "cpu"): 40.88,
    # 0.4 x 0.08 x 730
    ("west", "rightsize", "shop", "batch-z", "cpu"): 23.36,
    # (4 - 1.7255859375) x 0.01 x 730 = 16.6032
    ("west", "rightsize", "shop", "web", "memory"): 16.60,
    # 397/1024 x 0.01 x 730 = 2.8302
    ("west", "rightsize", "shop", "old-api", "memory"): 2.83,
}


@pytest.fixture(scope="module")
def fleet() -> Iterator[Prometheus]:
    with prometheus([], history=fleet_history(int(time.time()))) as p:
        yield p


def test_a_fleet_gets_each_clusters_recommendations_to_the_cent(
    fleet: Prometheus, config: Path
) -> None:
    args = ["recommend", "--prometheus", fleet.url, "--config", str(config), "--window", "2d"]
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    recs = json.loads(result.stdout)
    assert {
        (r["cluster"], r["kind"], r["namespace"], r["workload"], r["resource"]): r[
            "savings_dollars_per_month"
        ]
        for r in recs
    } == EXPECTED_FLEET
    assert len(recs) == len(EXPECTED_FLEET)  # nothing merged across clusters
    web_cpu = {
        r["cluster"]: r["recommended"]
        for r in recs
        if r["workload"] == "web" and r["resource"] == "cpu"
    }
    assert web_cpu == {"east": 0.5, "west": 0.3}

    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if " kind " in line)
    assert header.split()[1:3] == ["cluster", "┃"], header  # the first column
    rows = [line for line in result.stdout.splitlines() if "Deployment/web" in line]
    assert sorted(row.split()[1] for row in rows) == ["east", "east", "west", "west"]


def test_a_fleets_served_metrics_carry_the_cluster(fleet: Prometheus, promtool: Promtool) -> None:
    settings = RecommendSettings.model_validate({**CONFIG["recommend"], "window_seconds": 2 * DAY})
    with PrometheusAPI(fleet.url) as api:
        exposition = RecommendService(api, settings).run_once().exposition.decode()
    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    savings = {
        (s.labels["cluster"], s.labels["kind"], s.labels["workload"], s.labels["resource"]): round(
            s.value, 2
        )
        for s in families["unitcost_recommendation_savings_dollars_per_month"].samples
    }
    assert len(savings) == len(EXPECTED_FLEET)
    assert savings[("east", "idle-gpu", "train", "gpu")] == 1825.00
    assert savings[("west", "idle-gpu", "train", "gpu")] == 3650.00
    ratios = {
        s.labels["cluster"]: s.value
        for s in families["unitcost_recommendation_queue_quota_ratio"].samples
    }
    assert ratios == pytest.approx({"east": 0.45, "west": 0.45})
    cpu = {
        (s.labels["cluster"], s.labels["workload"]): s.value
        for s in families["unitcost_recommendation_cpu_request_cores"].samples
        if s.labels["state"] == "recommended"
    }
    assert cpu[("east", "web")] == 0.5 and cpu[("west", "web")] == 0.3
    assert_conforms(exposition, Binary.RECOMMEND)
    check = promtool(exposition)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_single_cluster_has_no_cluster_label_or_column(prom: Prometheus, config: Path) -> None:
    args = ["recommend", "--prometheus", prom.url, "--config", str(config), "--window", "2d"]
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert {r["cluster"] for r in json.loads(result.stdout)} == {""}
    table = CliRunner().invoke(main, args).stdout
    assert "cluster" not in table
    settings = RecommendSettings.model_validate({**CONFIG["recommend"], "window_seconds": 2 * DAY})
    with PrometheusAPI(prom.url) as api:
        exposition = RecommendService(api, settings).run_once().exposition.decode()
    assert "cluster=" not in exposition
