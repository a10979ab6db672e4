"""On a fleet's global tier, node and pod names repeat across clusters: a dashboard query or
rule that groups or joins by `node` or `pod` must keep `cluster` in the same list, or it merges
clusters (a `max by (node)` undercounts) or fails (`on (node)` becomes many-to-many). Found by
tests/e2e/test_fleet.py; this keeps it from coming back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GROUPING = re.compile(r"\b(by|on)\s*\(([^)]*)\)")
PER_OBJECT = {"node", "pod"}


def unkeyed(expr: str) -> list[str]:
    """The `by (...)` / `on (...)` lists naming a node or pod but not the cluster."""
    out = []
    for clause, labels in GROUPING.findall(expr):
        names = {label.strip() for label in labels.split(",")}
        if names & PER_OBJECT and "cluster" not in names:
            out.append(f"{clause} ({labels})")
    return out


def test_the_check_catches_a_join_without_the_cluster() -> None:
    assert unkeyed("a * on (node) group_left (x) b") == ["on (node)"]
    assert unkeyed("max by (namespace, pod) (x)") == ["by (namespace, pod)"]
    assert not unkeyed("max by (cluster, node) (x) * on (cluster, node) y")
    assert not unkeyed("sum by (provider, node_pool) (x)")


def test_dashboards_keep_the_cluster_with_nodes_and_pods(
    all_targets: list[tuple[str, str, dict[str, Any]]],
) -> None:
    bad = [f"{uid}: {title!r}: {unkeyed(t['expr'])}" for uid, title, t in all_targets
           if unkeyed(t["expr"])]  # fmt: skip
    assert not bad, "\n".join(bad)


def test_rules_keep_the_cluster_with_nodes_and_pods() -> None:
    bad = []
    for path in [*ROOT.glob("recording-rules/*.yml"), *ROOT.glob("alerts/*.yml")]:
        if "alertmanager" in path.name:
            continue
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]:
            for rule in group["rules"]:
                if unkeyed(rule["expr"]):
                    bad.append(f"{path.name}: {rule.get('record') or rule.get('alert')}")
    assert not bad, "\n".join(bad)
