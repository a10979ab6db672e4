"""Unit economics end to end: the demo exporter and its simulated vLLM counters (a second
scrape job on their own path) scraped by the real Prometheus with every recording rule; cost
per run, per GPU-hour and per million tokens come out, join to the right pods, and are sane."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.prometheus import exporter, prometheus, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("unit-economics")]

RULES = sorted((Path(__file__).resolve().parents[2] / "recording-rules").glob("*.yml"))


def test_unit_costs_on_the_demo_cluster() -> None:
    with (
        exporter(demo_args=["--interval", "1"]) as target,
        prometheus([target.address], RULES, simulated_vllm=[target.address]) as prom,
    ):
        # Every token-serving pod joins a cost series on (namespace, pod). The ratio itself
        # needs pods that have served for 5 minutes (docs/unit-economics.md), longer than this
        # test runs; its arithmetic is the promtool test tests/rules/unit-economics.test.yml.
        serving = wait_until(
            lambda: prom.values("vllm:generation_tokens_total") or None,
            timeout=30,
            what="simulated vLLM counters",
        )
        assert {dict(k)["namespace"] for k in serving} == {"batch-inference"}
        # Two targets are scraped at their own offsets while the demo churns pods at 60x, so
        # a pod can show on one before the other: the join must hold once both are current.
        wait_until(
            lambda: (
                prom.query(
                    "vllm:generation_tokens_total unless on (namespace, pod) "
                    "unitcost_pod_total_cost_dollars_per_hour"
                )
                == []
            ),
            timeout=30,
            what="every vLLM series joined to a pod total series",
        )
        # A busy GPU decodes ~1,000 tokens/s or more; these pods serve at the GPUs' activity.
        rates = wait_until(
            lambda: prom.values("rate(vllm:generation_tokens_total[1m]) > 0") or None,
            timeout=30,
            what="token rates",
        )
        assert all(10 < v < 100_000 for v in rates.values()), list(rates.values())

        runs = wait_until(
            lambda: prom.values("namespace_app:unitcost_run_cost_dollars_per_hour:sum") or None,
            timeout=30,
            what="run cost (first rule evaluation)",
        )
        kinds = {dict(k)["workload_kind"] for k in runs}
        assert {"SparkApplication", "Job", "RayCluster"} <= kinds
        assert all(v > 0 for v in runs.values())
        # Every run's lifetime cost so far (5s steps: the runs are seconds old) is positive.
        lifetime = wait_until(
            lambda: (
                prom.values(
                    "sum_over_time(namespace_app:unitcost_run_cost_dollars_per_hour:sum[10m:5s])"
                    " * 5 / 3600"
                )
                or None
            ),
            timeout=20,
            what="lifetime cost of the runs",
        )
        assert all(v > 0 for v in lifetime.values())

        def by_model(expr: str) -> dict[str, float]:
            return {dict(k)["model"]: v for k, v in prom.values(expr).items()}

        used = wait_until(
            lambda: by_model("model:unitcost_dollars_per_used_gpu_hour:ratio") or None,
            timeout=20,
            what="cost per used GPU-hour",
        )
        allocated = by_model("model:unitcost_dollars_per_allocated_gpu_hour:ratio")
        for model, value in used.items():
            # Idle GPUs only ever make a used GPU-hour dearer than an allocated one.
            assert value >= allocated[model] * (1 - 1e-9), (model, value, allocated[model])
