"""The actions controller against the loopback apiserver, through the real kubernetes client:
dry-run changes nothing, only opted-in namespaces are touched, the rate limit holds, and every
decision is audited and counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.catalogue import assert_conforms
from support.fake_apiserver import namespace, owned, pod
from support.fake_apiserver_writes import (
    WritableCluster,
    deployment,
    kueue_workload,
    serving,
)
from unitcost.base.errors import InputError
from unitcost.config.actions import ActionsSettings
from unitcost.config.file import parse_config
from unitcost.config.kubernetes import KubernetesSettings
from unitcost.history.actions.audit import RESULTS, AuditLog
from unitcost.history.actions.controller import Controller
from unitcost.history.actions.kube import Kube
from unitcost.history.actions.metrics import action_families
from unitcost.history.recommend.maths import Recommendation, Workload
from unitcost.metrics.catalogue import Binary
from unitcost.sinks.exposition import render
from unitcost.sources.kubernetes.client import api_client

OPT_IN = {"unitcost.io/actions": "enabled"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def populate(cluster: WritableCluster) -> None:
    cluster.apply("namespaces", namespace("ml", OPT_IN))
    cluster.apply("namespaces", namespace("shop", OPT_IN))
    cluster.apply("namespaces", namespace("private"))
    cluster.apply("deployments", deployment("shop", "old-api", replicas=2))
    cluster.apply("deployments", deployment("private", "idle-svc", replicas=1))
    cluster.apply(
        "deployments",
        deployment("shop", "keep-me", replicas=3, annotations={"unitcost.io/actions": "disabled"}),
    )
    cluster.apply("jobs", owned("llm-batch", "ml", ("CronJob", "nightly-llm")))
    cluster.apply(
        "pods", pod("ml", "llm-batch-x7", node_name="gpu-1", gpus=2, owner=("Job", "llm-batch"))
    )
    cluster.apply(
        "workloads", kueue_workload("ml", "job-llm-batch-3f2a", owner=("Job", "llm-batch"))
    )


@pytest.fixture
def served_cluster(tmp_path: Path) -> Iterator[tuple[WritableCluster, Kube]]:
    fake = WritableCluster(kueue_version="v1beta1")
    populate(fake)
    with serving(fake) as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        client = api_client(KubernetesSettings(kubeconfig=str(kubeconfig)), Path("."))
        yield fake, Kube(client)
        client.close()


def rec(
    kind: str, ns: str, wkind: str, name: str, pods: tuple[str, ...] = (), cluster: str = ""
) -> Recommendation:
    return Recommendation(
        kind,  # type: ignore[arg-type]
        Workload(ns, wkind, name, cluster),
        "gpu" if kind == "idle-gpu" else "all",
        1.0,
        0.0,
        "pods",
        1234.5,
        idle_seconds=86400.0,
        pods=pods,
    )


IDLE_LLM = rec("idle-gpu", "ml", "CronJob", "nightly-llm", ("llm-batch-x7",))
OLD_API = rec("abandoned", "shop", "Deployment", "old-api")
PRIVATE = rec("abandoned", "private", "Deployment", "idle-svc")
KEEP = rec("abandoned", "shop", "Deployment", "keep-me")
RULES = [
    {"recommendation": "idle-gpu", "action": "deactivate-workload"},
    {"recommendation": "abandoned", "action": "scale-to-zero"},
    {"recommendation": "abandoned", "action": "annotate"},
]


def controller(
    tmp_path: Path, kube: Kube, clock: Clock | None = None, **settings: Any
) -> tuple[Controller, Path]:
    audit_path = tmp_path / "audit.jsonl"
    actions = ActionsSettings.model_validate(
        {"rules": RULES, "audit_log": str(audit_path), **settings}
    )
    return Controller(
        kube, actions, AuditLog(actions.audit_log), clock=clock or Clock()
    ), audit_path


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def results(records: list[Any]) -> dict[tuple[str, str], str]:
    return {(r.action, f"{r.namespace}/{r.workload}"): r.result for r in records}


def snapshot(fake: WritableCluster) -> str:
    return json.dumps(
        {r: fake.objects[r] for r in ("deployments", "workloads", "jobs", "pods")}, sort_keys=True
    )


def test_dry_run_is_the_default_and_changes_nothing(
    served_cluster: tuple[WritableCluster, Kube], tmp_path: Path
) -> None:
    fake, kube = served_cluster
    before = snapshot(fake)
    ctl, audit_path = controller(tmp_path, kube)
    assert ctl.settings.dry_run is True
    records = ctl.apply([IDLE_LLM, OLD_API, PRIVATE, KEEP])
    assert results(records) == {
        ("deactivate-workload", "ml/nightly-llm"): "would-apply",
        ("scale-to-zero", "shop/old-api"): "would-apply",
        ("scale-to-zero", "private/idle-svc"): "not-opted-in",
        ("scale-to-zero", "shop/keep-me"): "opted-out",
        ("annotate", "shop/old-api"): "would-apply",
        ("annotate", "private/idle-svc"): "not-opted-in",
        ("annotate", "shop/keep-me"): "opted-out",
    }
    assert fake.writes == [] and snapshot(fake) == before
    lines = audit_lines(audit_path)
    assert len(lines) == len(records) == 7 and all(line["dry_run"] is True for line in lines)
    deactivate = next(x for x in lines if x["action"] == "deactivate-workload")
    assert deactivate["target"] == (
        "/apis/kueue.x-k8s.io/v1beta1/namespaces/ml/workloads/job-llm-batch-3f2a"
    )
    assert deactivate["reason"] == "dry run: set spec.active false"


def test_live_mode_patches_only_opted_in_namespaces_then_is_idempotent(
    served_cluster: tuple[WritableCluster, Kube], tmp_path: Path
) -> None:
    fake, kube = served_cluster
    ctl, audit_path = controller(tmp_path, kube, dry_run=False)
    first = results(ctl.apply([IDLE_LLM, OLD_API, PRIVATE, KEEP]))
    assert first[("deactivate-workload", "ml/nightly-llm")] == "applied"
    assert first[("scale-to-zero", "shop/old-api")] == "applied"
    assert first[("annotate", "shop/old-api")] == "applied"
    assert first[("scale-to-zero", "private/idle-svc")] == "not-opted-in"

    workload = fake.get("workloads", "ml", "job-llm-batch-3f2a")
    assert workload is not None and workload["spec"]["active"] is False
    old = fake.get("deployments", "shop", "old-api")
    assert old is not None and old["spec"]["replicas"] == 0
    notes = old["metadata"]["annotations"]
    assert notes["unitcost.io/scaled-down-from-replicas"] == "2"
    assert notes["unitcost.io/recommendation"] == "abandoned"
    assert notes["unitcost.io/savings-dollars-per-month"] == "1234.50"
    untouched = fake.get("deployments", "private", "idle-svc")
    kept = fake.get("deployments", "shop", "keep-me")
    assert untouched is not None and untouched["spec"]["replicas"] == 1
    assert kept is not None and kept["spec"]["replicas"] == 3
    written = {path for _, path, _ in fake.writes}
    assert written == {
        "/apis/kueue.x-k8s.io/v1beta1/namespaces/ml/workloads/job-llm-batch-3f2a",
        "/apis/apps/v1/namespaces/shop/deployments/old-api",
        "/apis/apps/v1/namespaces/shop/deployments/old-api/scale",
    }

    writes = len(fake.writes)
    second = results(ctl.apply([IDLE_LLM, OLD_API]))
    assert set(second.values()) == {"noop"} and len(fake.writes) == writes
    assert len(audit_lines(audit_path)) == 7 + 3


def test_in_a_fleet_only_its_own_clusters_recommendations_are_acted_on(
    served_cluster: tuple[WritableCluster, Kube], tmp_path: Path
) -> None:
    """Recommendations read from a fleet's global tier name their cluster: a controller acts on
    those of `actions.cluster` (and on those without one), never on another cluster's workload
    that happens to share the namespace and name."""
    fake, kube = served_cluster
    east = rec("abandoned", "shop", "Deployment", "old-api", cluster="east")
    west = rec("abandoned", "shop", "Deployment", "old-api", cluster="west")
    west_only = rec("abandoned", "private", "Deployment", "idle-svc", cluster="west")
    ctl, _ = controller(tmp_path, kube, cluster="east")
    records = ctl.apply([west, west_only, east, IDLE_LLM])
    assert sorted((r.action, f"{r.namespace}/{r.workload}", r.result) for r in records) == [
        ("annotate", "shop/old-api", "would-apply"),
        ("deactivate-workload", "ml/nightly-llm", "would-apply"),
        ("scale-to-zero", "shop/old-api", "would-apply"),
    ]
    # Without actions.cluster, a controller pointed at a fleet acts on nothing of it.
    ctl, _ = controller(tmp_path, kube)
    assert ctl.apply([east, west, west_only]) == []
    assert fake.writes == []


def test_rate_limit_holds_and_refills(
    served_cluster: tuple[WritableCluster, Kube], tmp_path: Path
) -> None:
    fake, kube = served_cluster
    for i in range(5):
        fake.apply("deployments", deployment("shop", f"svc-{i}", replicas=1))
    recs = [rec("abandoned", "shop", "Deployment", f"svc-{i}") for i in range(5)]
    clock = Clock()
    ctl, _ = controller(
        tmp_path,
        kube,
        clock,
        dry_run=False,
        rate_limit={"actions_per_hour": 2},
        rules=[{"recommendation": "abandoned", "action": "scale-to-zero"}],
    )
    first = [r.result for r in ctl.apply(recs)]
    assert first == ["applied", "applied", "rate-limited", "rate-limited", "rate-limited"]
    scaled = [
        i for i in range(5) if fake.objects["deployments"][f"shop/svc-{i}"]["spec"]["replicas"] == 0
    ]
    assert scaled == [0, 1]
    clock.now += 1800  # half an hour: one token back
    second = [r.result for r in ctl.apply(recs)]
    assert second == ["noop", "noop", "applied", "rate-limited", "rate-limited"]
    assert sum(1 for _, p, _ in fake.writes if p.endswith("/scale")) == 3


def test_what_cannot_be_done_is_audited_not_attempted(
    served_cluster: tuple[WritableCluster, Kube], tmp_path: Path
) -> None:
    fake, kube = served_cluster
    ctl, audit_path = controller(
        tmp_path,
        kube,
        dry_run=False,
        rules=[
            {"recommendation": "idle-gpu", "action": "scale-to-zero"},
            {"recommendation": "idle-gpu", "action": "deactivate-workload"},
            {"recommendation": "rightsize", "action": "label"},
        ],
    )
    spark = rec("idle-gpu", "ml", "SparkApplication", "etl")
    gone = rec("rightsize", "shop", "Deployment", "gone")
    nowhere = rec("idle-gpu", "nowhere", "Deployment", "x")
    got = results(ctl.apply([spark, gone, nowhere]))
    assert got == {
        ("scale-to-zero", "ml/etl"): "unsupported",
        ("deactivate-workload", "ml/etl"): "not-found",
        ("label", "shop/gone"): "not-found",
        ("scale-to-zero", "nowhere/x"): "not-found",
        ("deactivate-workload", "nowhere/x"): "not-found",
    }
    assert fake.writes == []
    text = render(action_families(ctl.audit.counts.items())).decode()
    assert (
        'unitcost_actions_total{action="scale-to-zero",result="unsupported",dry_run="false"} 1'
        in text
    )
    assert {x["result"] for x in audit_lines(audit_path)} <= set(RESULTS)
    assert_conforms(text, Binary.CONTROLLER)


def test_label_action_and_counter(
    served_cluster: tuple[WritableCluster, Kube], tmp_path: Path
) -> None:
    fake, kube = served_cluster
    ctl, _ = controller(
        tmp_path, kube, dry_run=False, rules=[{"recommendation": "rightsize", "action": "label"}]
    )
    ctl.apply([rec("rightsize", "shop", "Deployment", "old-api")])
    old = fake.get("deployments", "shop", "old-api")
    assert (
        old is not None and old["metadata"]["labels"]["unitcost.io/recommendation"] == "rightsize"
    )
    assert ctl.audit.counts == {("label", "applied", "false"): 1}


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (
            {"rules": [{"recommendation": "rightsize", "action": "scale-to-zero"}]},
            "actions.rules[0]: Value error, action 'scale-to-zero' stops a workload",
        ),
        (
            {"rules": [{"recommendation": "idle-quota", "action": "annotate"}]},
            "actions.rules[0].recommendation",
        ),
        ({"namespace_label": "opt-in"}, "actions.namespace_label: Value error, must be key=value"),
        ({"rate_limit": {"actions_per_hour": -1}}, "actions.rate_limit.actions_per_hour"),
        ({"dry_run": "maybe"}, "actions.dry_run"),
    ],
)
def test_bad_actions_config_names_the_field(actions: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_config({"actions": actions}, "c.yaml", Path("."))
    assert f"c.yaml: {message}" in str(caught.value)
