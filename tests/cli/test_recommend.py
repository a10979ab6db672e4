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
    """OpenMetrics text: one family at a time, each series' samples in time order."""

    def __init__(self, start: int, end: int) -> None:
        self.times = range(start, end + 1, STEP)
        self.lines: list[str] = []

    def gauge(
        self, name: str, series: list[tuple[dict[str, str], Callable[[int], float | None]]]
    ) -> None:
        self.lines.append(f"# TYPE {name} gauge")
        for labels, value in series:
            for t in self.times:
                v = value(t)
                if v is not None:
                    self.lines.append(f"{name}{_labels(labels)} {v!r} {t}")

    def counter(
        self, name: str, series: list[tuple[dict[str, str], Callable[[int], float]]]
    ) -> None:
        """`rate` is per second; the counter is its running sum."""
        self.lines.append(f"# TYPE {name} counter")
        for labels, rate in series:
            total = 0.0
            for t in self.times:
                total += rate(t) * STEP
                self.lines.append(f"{name}_total{_labels(labels)} {total!r} {t}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n# EOF\n"


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _constant(value: float) -> Callable[[int], float]:
    return lambda t: value


def history(now: int) -> str:
    start, end = now - 2 * DAY - 3600, now - 60
    h = History(start, end)
    web = {"namespace": "shop", "pod": "web-a"}
    old = {"namespace": "shop", "pod": "old-api-1"}
    train = {"namespace": "ml", "pod": "train-0"}
    # web-a: 0.2 cores, but 0.5 cores one hour in ten (10% of samples > 5%): p95 = 0.5.
    # old-api-1: 0.001 cores all along.
    h.counter(
        "container_cpu_usage_seconds",
        [
            ({**web, "container": "main"}, lambda t: 0.5 if (t // 3600) % 10 == 0 else 0.2),
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
    h.gauge(
        "unitcost_pod_info",
        [
            ({**web, **info, "app": "web", "workload_kind": "Deployment"}, lambda t: 1.0),
            ({**old, **info, "app": "old-api", "workload_kind": "Deployment"}, lambda t: 1.0),
            ({**train, **info, "app": "train", "workload_kind": "Job"}, lambda t: 1.0),
        ],
    )
    h.gauge(
        "unitcost_pod_cost_dollars_per_hour",
        [
            ({**web, "node": "n1", "resource": "cpu"}, lambda t: 0.04),
            ({**old, "node": "n1", "resource": "cpu"}, lambda t: 0.1),
            ({**old, "node": "n1", "resource": "memory"}, lambda t: 0.05),
            ({**train, "node": "g1", "resource": "gpu"}, lambda t: 5.5),
        ],
    )
    # n1: $0.64/h for 16 cores = $0.04 per core-hour; $0.32/h for 64 GiB = $0.005 per GiB-hour.
    h.gauge(
        "unitcost_node_cost_dollars_per_hour",
        [
            ({"node": "n1", "resource": "cpu"}, lambda t: 0.64),
            ({"node": "n1", "resource": "memory"}, lambda t: 0.32),
        ],
    )
    h.gauge("unitcost_node_allocatable_cpu_cores", [({"node": "n1"}, lambda t: 16.0)])
    h.gauge("unitcost_node_allocatable_memory_bytes", [({"node": "n1"}, lambda t: 64.0 * GIB)])
    # GPU 0 idle for the last 6 h at $2.5/h, GPU 1 for the last hour only (policy: 4 h).
    h.gauge(
        "unitcost_gpu_idle_cost_dollars_per_hour",
        [
            ({**train, "node": "g1", "gpu": "0"}, lambda t: 2.5 if t > end - 6 * 3600 else 0.0),
            ({**train, "node": "g1", "gpu": "1"}, lambda t: 3.0 if t > end - 3600 else 0.0),
        ],
    )
    q = {"queue": "gpu-cq", "flavor": "a100", "resource": "gpu"}
    h.gauge("unitcost_queue_quota_cost_dollars_per_hour", [(q, lambda t: 40.0)])
    # Used $10/h, $15/h for one half hour.
    h.gauge(
        "unitcost_queue_used_cost_dollars_per_hour",
        [(q, lambda t: 15.0 if start + DAY <= t < start + DAY + 1800 else 10.0)],
    )
    h.gauge("unitcost_queue_info", [({"queue": "gpu-cq", "scheduler": "kueue"}, lambda t: 1.0)])
    return h.text()


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
