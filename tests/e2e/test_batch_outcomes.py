"""Outcome-aware cost end to end: `unitcost serve` reads a cluster (the fake apiserver, through
the real kubernetes client) where a GPU Job runs and then fails; the real Prometheus scrapes
it. The Job's dollars appear under outcome="failed" once it ends, and are not counted again
after the exporter restarts at the same scrape target while the failed Job is still there."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from support.fake_apiserver import FakeCluster, namespace, node, pod, running
from support.prometheus import exporter, free_port, http_get, prometheus, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("batch-outcomes")]

FAILED = 'unitcost_workload_ended_cost_dollars_total{outcome="failed"}'


def job(status: dict[str, object]) -> dict[str, object]:
    return {"metadata": {"name": "train", "namespace": "ml"}, "spec": {}, "status": status}


def test_failed_dollars_are_counted_once_across_a_restart(tmp_path: Path) -> None:
    cluster = FakeCluster(kueue_version="v1beta1", metrics=False)
    cluster.apply("nodes", node("gpu-1", cpu="96", memory="768Gi", gpus=8))
    cluster.apply("namespaces", namespace("ml", {"team": "vision"}))
    cluster.apply("jobs", job({"active": 1}))
    trainer = pod("ml", "train-0", node_name="gpu-1", cpu="32", gpus=4, owner=("Job", "train"))
    cluster.apply("pods", trainer)
    with ExitStack() as stack:
        api = stack.enter_context(running(cluster))
        api.write_kubeconfig(tmp_path / "kubeconfig")
        config = tmp_path / "unitcost.yaml"
        settings = {
            "kubeconfig": "kubeconfig",
            "context": "fake",
            "metrics_enabled": False,
            "initial_sync_timeout_seconds": 10,
        }
        config.write_text(
            yaml.safe_dump(
                {
                    "source": {"kind": "kubernetes", "kubernetes": settings},
                    "collect_interval_seconds": 0.5,
                }
            )
        )
        listen = f"127.0.0.1:{free_port()}"
        first = stack.enter_context(exporter(config, listen=listen))
        prom = stack.enter_context(prometheus([first.address]))
        wait_until(
            lambda: (
                prom.values('unitcost_workload_resource_cost_dollars_per_hour{app="train"}') or None
            ),
            timeout=30,
            what="the running Job's cost",
        )
        time.sleep(3)  # a few seconds of GPU dollars
        failed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cluster.apply(
            "jobs",
            job(
                {
                    "failed": 1,
                    "conditions": [
                        {
                            "type": "Failed",
                            "status": "True",
                            "reason": "BackoffLimitExceeded",
                            "lastTransitionTime": failed_at,
                        }
                    ],
                }
            ),
        )
        cluster.apply("pods", {**trainer, "status": {"phase": "Failed"}})
        counted = wait_until(
            lambda: {k: v for k, v in prom.values(FAILED).items() if v > 0} or None,
            timeout=60,  # served at 0 for 30 s first (runtime/outcomes.py)
            what="the failed Job's dollars under outcome=failed",
        )
        ((labels, dollars),) = counted.items()
        assert dict(labels)["team"] == "vision"
        assert dict(labels)["cause"] == "BackoffLimitExceeded"
        # 4 of 8 GPUs and a third of the CPUs of a GPU node, for a few seconds: cents.
        assert 0 < dollars < 1

        first.stop()
        restarted = time.time()
        second = stack.enter_context(exporter(config, listen=listen))
        # Prometheus scrapes the new process (its series are newer than the restart), and the
        # Job is still there, failed: the new process has no dollars for it.
        wait_until(
            lambda: (
                any(
                    float(r["value"][0]) > restarted + 2
                    for r in prom.query('unitcost_source_up{source="kubernetes"}')
                )
                or None
            ),
            timeout=30,
            what="scrapes of the restarted exporter",
        )
        exposition = http_get(f"{second.url}/metrics").decode()
        assert "unitcost_workload_ended_cost_dollars_total{" not in exposition
        assert prom.values(FAILED) == {}  # the old process's series went stale
        # Every sample over the restart: one series (the old process's), never above its
        # amount; increase() over the window counts it once (it extrapolates a little past
        # the last sample of a short-lived series, but a second count would double it).
        peaks = prom.values(f"max_over_time({FAILED}[10m])")
        assert list(peaks.values()) == [dollars]
        (total,) = prom.values(f"sum(increase({FAILED}[10m]))").values()
        assert dollars * 0.99 <= total < dollars * 2, (dollars, total)
