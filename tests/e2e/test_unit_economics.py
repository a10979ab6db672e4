"""Unit economics end to end: the demo exporter (simulated vLLM counters included) scraped by
the real Prometheus with every recording rule; cost per run, per GPU-hour and per million
tokens come out, join to the right pods, and are sane."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.prometheus import exporter, prometheus, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("unit-economics")]

RULES = sorted((Path(__file__).resolve().parents[2] / "recording-rules").glob("*.yml"))


def test_unit_costs_on_the_demo_cluster() -> None:
    with (
        exporter(demo_args=["--interval", "1"]) as target,
        prometheus([target.address], RULES) as prom,
    ):
        per_million = wait_until(
            lambda: (
                prom.values("team_app:unitcost_llm_cost_dollars_per_million_tokens:ratio") or None
            ),
            timeout=60,
            what="cost per million tokens",
        )
        # Every serving app is the batch-inference team's. A busy GPU decodes for cents per
        # million tokens (sources/llm.py); pods younger than the 5m rate window read dearer
        # (their rate is diluted: docs/unit-economics.md), hence the wide upper bound.
        assert {dict(k)["team"] for k in per_million} == {"batch-inference"}
        assert all(0.001 < v < 1000 for v in per_million.values()), list(per_million.values())
        # Every token-serving pod joined its cost: no tokens without a cost series.
        unjoined = prom.query(
            "namespace_pod:unitcost_llm_tokens:rate5m unless on (cluster, namespace, pod) "
            "namespace_pod:unitcost_pod_cost_dollars_per_hour:sum"
        )
        assert unjoined == []

        runs = prom.values("namespace_app:unitcost_run_cost_dollars_per_hour:sum")
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
