"""Pod UID -> namespace/pod from a PodList, read over HTTP from a loopback API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.fake_apiserver import TOKEN, FakeCluster, pod, running
from unitcost.sources.gpu.pods import (
    PodDirectory,
    PodsUnavailable,
    in_cluster_pods_url,
    parse_pod_list,
)

UID = "7a3b0c1e-5d2f-4e8a-9b6c-1f0e2d3c4b5a"


def _with_uid(obj: dict[str, Any], uid: str) -> dict[str, Any]:
    obj["metadata"]["uid"] = uid
    return obj


@pytest.mark.e2e  # the fake apiserver, inline
def test_resolves_over_http_with_the_service_account_token(tmp_path: Path) -> None:
    cluster = FakeCluster()
    cluster.apply("pods", _with_uid(pod("ml", "trainer-0", node_name="gpu-1", gpus=1), UID))
    cluster.apply("pods", pod("ml", "done-0", node_name="gpu-1", phase="Succeeded"))
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    with running(cluster) as server:
        directory = PodDirectory(
            f"{server.url}/api/v1/pods?fieldSelector=spec.nodeName%3Dgpu-1", token_path=token
        )
        directory.refresh()
        ref = directory.lookup(UID)
        assert ref is not None and (ref.namespace, ref.name, ref.running) == (
            "ml",
            "trainer-0",
            True,
        )
        assert directory.lookup("no-such-uid") is None
        path, query = cluster.requests[-1]
        assert path == "/api/v1/pods" and query["fieldSelector"] == "spec.nodeName=gpu-1"
        token.write_text("rotated-and-wrong")
        with pytest.raises(PodsUnavailable, match=r"GET http://127\.0\.0\.1:\d+/api/v1/pods.*401"):
            directory.refresh()
        assert directory.lookup(UID) == ref  # the last good list still answers


def test_unreachable_and_bad_bodies_name_the_url(tmp_path: Path) -> None:
    with pytest.raises(PodsUnavailable, match=r"GET http://127\.0\.0\.1:9/pods"):
        PodDirectory("http://127.0.0.1:9/pods", timeout=1).refresh()
    with pytest.raises(PodsUnavailable, match=r"src: not a PodList"):
        parse_pod_list({"kind": "Status"}, "src")
    with pytest.raises(PodsUnavailable, match=r"src: items\[0\]\.metadata: needs uid and name"):
        parse_pod_list({"items": [{"metadata": {"name": "x"}}]}, "src")
    missing = PodDirectory("http://127.0.0.1:9/pods", token_path=tmp_path / "absent")
    with pytest.raises(PodsUnavailable, match="absent"):
        missing.refresh()


def test_static_pods_resolve_by_mirror_hash() -> None:
    body = {
        "items": [
            {
                "metadata": {
                    "namespace": "kube-system",
                    "name": "gpu-burn-node1",
                    "uid": "0c9d6a2e-0000-4000-8000-000000000001",
                    "annotations": {"kubernetes.io/config.mirror": "3f2b9a1c8d7e6f5a"},
                },
                "status": {"phase": "Running"},
            }
        ]
    }
    pods = parse_pod_list(body, "kubelet /pods")
    assert pods["3f2b9a1c8d7e6f5a"].name == "gpu-burn-node1"


def test_in_cluster_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert in_cluster_pods_url("n1") is None
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    assert in_cluster_pods_url("gpu-1") == (
        "https://[fd00::1]:6443/api/v1/pods?fieldSelector=spec.nodeName%3Dgpu-1"
    )
