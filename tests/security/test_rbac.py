"""The chart's ClusterRole is minimal: exactly the (API group, resource) pairs the real
Kubernetes source requests from an apiserver, read-only, nothing else."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

from support.exporter_stack import kubernetes_stack, pod_costs
from support.fake_apiserver import FakeCluster
from support.helmchart import of_kind, render
from support.kube_cluster import populate


def _resource(path: str) -> tuple[str, str]:
    """/api/v1/nodes -> ("", "nodes"); /apis/apps/v1/replicasets -> ("apps", "replicasets")."""
    parts = urlparse(path).path.strip("/").split("/")
    if parts[0] == "api":
        return "", parts[-1]
    return parts[1], parts[-1]


def test_cluster_role_grants_exactly_what_the_source_reads(tmp_path: Path) -> None:
    cluster = FakeCluster(kueue_version="v1beta1")
    populate(cluster)
    with kubernetes_stack(tmp_path, cluster) as stack:
        deadline = time.monotonic() + 15
        while not pod_costs(stack.scrape()) and time.monotonic() < deadline:
            time.sleep(0.1)
    with cluster.cond:
        requests = list(cluster.requests)
    used = {_resource(path) for path, _ in requests}
    verbs_used = {"watch" if q.get("watch") == "true" else "list" for _, q in requests}

    (role,) = of_kind(render({"config": {"source": {"kind": "kubernetes"}}}), "ClusterRole")
    granted = {
        (g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert used <= granted, f"the source reads what it may not: {used - granted}"
    # ResourceFlavors are read too; anything else granted is unused, so not minimal.
    assert granted - used == set(), f"granted but never read: {granted - used}"
    assert verbs_used <= verbs <= {"get", "list", "watch"}
