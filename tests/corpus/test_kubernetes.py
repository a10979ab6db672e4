"""tests/corpus/pods.yaml through the fake apiserver and the real Kubernetes source, collector
and HTTP server: nothing crashes, bad pods are skipped with a warning naming pod and field,
label values come out escaped (promtool-clean) and exact, or cut to 1 KiB, and the invariant
holds on what is served."""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.exporter_stack import eventually, kubernetes_stack, parse, pod_costs
from support.fake_apiserver import FakeCluster, namespace, node, pod
from support.invariant import assert_scraped_invariant
from support.kube_cluster import AWS_LABELS
from support.prometheus import Promtool
from unitcost.base.labelvalues import MAX_LABEL_VALUE_BYTES, bound_label_value

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "pods.yaml").read_text())
NS = "corpus"
CONFIG = {
    "attribution": {
        "team": [{"pod_annotation": "corpus/team"}, {"namespace_label": "team"}],
        "pod_label_allowlist": ["corpus"],
    }
}


def _pod_json(case: dict[str, Any]) -> dict[str, Any]:
    repeat = int(case.get("repeat", 1))
    labels = {"corpus": case["label"] * repeat} if "label" in case else {}
    annotations = {"corpus/team": case["team"] * repeat} if "team" in case else {}
    obj = pod(NS, case["name"], node_name="node-1", labels=labels, annotations=annotations)
    if "requests" in case:
        obj["spec"]["containers"][0]["resources"] = {"requests": case["requests"]}
    return obj


def _cluster() -> FakeCluster:
    cluster = FakeCluster()
    aws = "aws:///us-east-1a/i-0"
    cluster.apply(
        "nodes", node("node-1", cpu="64", memory="256Gi", labels=AWS_LABELS, provider_id=aws)
    )
    # A node whose instance type has no price: fallback rates, counted, never zero.
    unpriced = {**AWS_LABELS, "node.kubernetes.io/instance-type": "x99.unknown"}
    cluster.apply("nodes", node("node-2", labels=unpriced, provider_id="aws:///z/i-1"))
    cluster.apply("namespaces", namespace(NS, {"team": "corpus-team"}))
    for case in CASES:
        cluster.apply("pods", _pod_json(case))
        usage = case.get("usage")
        if usage:
            cluster.set_usage(NS, case["name"], usage["cpu"], usage["memory"])
    return cluster


def test_pod_corpus(tmp_path: Path, caplog: pytest.LogCaptureFixture, promtool: Promtool) -> None:
    caplog.set_level(logging.WARNING)
    with kubernetes_stack(tmp_path, _cluster(), CONFIG) as stack:
        eventually(lambda: pod_costs(stack.scrape()), what="costs")
        with urllib.request.urlopen(stack.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
    samples = parse(text)
    assert assert_scraped_invariant(samples) >= 6
    info = {
        labels["pod"]: labels
        for name, labels, _ in samples
        if name == "unitcost_pod_info" and labels["namespace"] == NS
    }
    costs = {pod for (ns, pod, _) in pod_costs(samples) if ns == NS}
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    for case in CASES:
        name = case["name"]
        if case["expect"] == "skipped":
            assert name not in info and name not in costs, name
            assert f"{NS}/{name}" in warnings and case["field"] in warnings, (name, warnings)
            continue
        assert name in info, name
        assert (name in costs) != bool(case.get("zero_cost")), name
        repeat = int(case.get("repeat", 1))
        got = info[name]
        if "label" in case:
            assert got["label_corpus"] == bound_label_value(case["label"] * repeat), name
        team = bound_label_value(case["team"] * repeat) if "team" in case else "corpus-team"
        assert got["team"] == team, name
        for value in got.values():
            assert len(value.encode()) <= MAX_LABEL_VALUE_BYTES, name
    long_team = info["long-team-annotation"]["team"]
    assert long_team.startswith("x" * 900) and "~" in long_team
    unpriced = [v for n, _, v in samples if n == "unitcost_unpriced_nodes"]
    assert unpriced == [1.0]
    node2 = [
        v
        for n, labels, v in samples
        if n == "unitcost_node_cost_dollars_per_hour" and labels["node"] == "node-2"
    ]
    assert node2 and sum(node2) > 0  # priced at the fallback rates, not at zero
    result = promtool(text)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[:2000]
