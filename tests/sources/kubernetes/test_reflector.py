"""The reflector against the fake apiserver, through the real kubernetes client: paging,
watch events, bookmarks, 410 mid-stream, dropped connections, 500s, absent CRDs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes import client

from support.fake_apiserver import FakeCluster, pod
from unitcost.config.kubernetes import KubernetesSettings
from unitcost.data.model import Pod
from unitcost.sources.kubernetes import convert
from unitcost.sources.kubernetes.reflector import Backoff, Endpoint, Reflector

FAST = KubernetesSettings(
    page_size=2,
    read_timeout_seconds=5,
    watch_timeout_seconds=30,
    backoff_initial_seconds=0.05,
    backoff_max_seconds=0.2,
)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def names(reflector: Reflector[Pod]) -> set[str]:
    return {p.name for p in reflector.items()}


@contextmanager
def pod_reflector(
    api: client.ApiClient, settings: KubernetesSettings = FAST
) -> Iterator[Reflector[Pod]]:
    core = client.CoreV1Api(api)
    reflector: Reflector[Pod] = Reflector(
        Endpoint("pods", lambda _v: core.list_pod_for_all_namespaces),
        lambda o: convert.to_pod(o, {"team"}, set()),
        settings,
    )
    reflector.start()
    try:
        assert reflector.synced.wait(5)
        yield reflector
    finally:
        reflector.stop()


def list_requests(cluster: FakeCluster, path: str) -> list[dict[str, str]]:
    return [q for p, q in cluster.requests if p == path and "watch" not in q]


def test_paged_list_then_watch_events(cluster: FakeCluster, api: client.ApiClient) -> None:
    for i in range(5):
        cluster.apply("pods", pod("ml", f"p{i}", node_name="n1", labels={"team": "a"}))
    with pod_reflector(api) as reflector:
        assert names(reflector) == {f"p{i}" for i in range(5)}
        pages = list_requests(cluster, "/api/v1/pods")
        assert [q.get("limit") for q in pages] == ["2", "2", "2"]
        assert [bool(q.get("continue")) for q in pages] == [False, True, True]

        cluster.apply("pods", pod("ml", "p5", labels={"team": "b"}))  # ADDED
        cluster.apply("pods", pod("ml", "p0", node_name="n2", labels={"team": "c"}))  # MODIFIED
        cluster.delete("pods", "ml", "p1")  # DELETED
        wait_for(lambda: names(reflector) == {"p0", "p2", "p3", "p4", "p5"})
        p0 = next(p for p in reflector.items() if p.name == "p0")
        assert (p0.node, p0.labels) == ("n2", {"team": "c"})
        assert reflector.lists == 1
        # Bookmarks move the resourceVersion on without any object changing.
        before = int(reflector.resource_version)
        cluster.apply("namespaces", {"metadata": {"name": "other"}})
        wait_for(lambda: int(reflector.resource_version) > before)
        assert reflector.lists == 1


def test_410_mid_stream_relists_to_the_state_of_a_fresh_list(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    for i in range(4):
        cluster.apply("pods", pod("ml", f"p{i}"))
    with pod_reflector(api) as reflector:
        cluster.apply("pods", pod("ml", "seen-by-watch"))
        wait_for(lambda: "seen-by-watch" in names(reflector))
        # Changes whose events are compacted away: only a relist can learn them.
        cluster.delete("pods", "ml", "p0", silent=True)
        cluster.apply("pods", pod("ml", "p1", node_name="moved"), silent=True)
        cluster.apply("pods", pod("ml", "new-while-gone"), silent=True)
        cluster.expire("pods")
        wait_for(lambda: reflector.lists == 2)
        with pod_reflector(api) as fresh:
            assert sorted(reflector.items(), key=lambda p: p.name) == sorted(
                fresh.items(), key=lambda p: p.name
            )
        assert "p0" not in names(reflector)
        assert "new-while-gone" in names(reflector)
        assert reflector.healthy


def test_dropped_connection_resumes_from_last_version_without_relist(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    cluster.apply("pods", pod("ml", "a"))
    with pod_reflector(api) as reflector:
        watches_before = sum(1 for p, q in cluster.requests if "watch" in q)
        cluster.faults.drop_watch["pods"] = 1
        wait_for(lambda: sum(1 for p, q in cluster.requests if "watch" in q) > watches_before)
        cluster.apply("pods", pod("ml", "after-drop"))
        wait_for(lambda: names(reflector) == {"a", "after-drop"})
        assert reflector.lists == 1  # resumed, not relisted
        resumed = [q for p, q in cluster.requests if "watch" in q][-1]
        assert int(resumed["resourceVersion"]) > 1000


def test_500s_are_retried_with_backoff(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.apply("pods", pod("ml", "a"))
    cluster.faults.http_500["pods"] = 3  # the first list and its two retries fail
    with pod_reflector(api) as reflector:
        assert names(reflector) == {"a"}
        assert reflector.healthy and reflector.lists == 1
        cluster.faults.http_500["pods"] = 1
        cluster.faults.drop_watch["pods"] = 1  # the watch drops, its retry gets a 500
        cluster.apply("pods", pod("ml", "b"))
        wait_for(lambda: names(reflector) == {"a", "b"})
        wait_for(lambda: cluster.faults.http_500["pods"] == 0)
        cluster.apply("pods", pod("ml", "c"))
        wait_for(lambda: names(reflector) == {"a", "b", "c"} and reflector.healthy)


def test_expired_continue_token_restarts_the_list(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    for i in range(5):
        cluster.apply("pods", pod("ml", f"p{i}"))
    cluster.faults.expire_continue["pods"] = 1
    with pod_reflector(api) as reflector:
        assert names(reflector) == {f"p{i}" for i in range(5)}
        firsts = [q for q in list_requests(cluster, "/api/v1/pods") if not q.get("continue")]
        assert len(firsts) == 2


def _kueue_reflector(api: client.ApiClient, versions: tuple[str, ...]) -> Reflector[Any]:
    custom = client.CustomObjectsApi(api)

    def factory(version: str) -> Callable[..., Any]:
        def list_fn(**kwargs: Any) -> Any:
            return custom.list_cluster_custom_object(
                "kueue.x-k8s.io", version, "localqueues", **kwargs
            )

        return list_fn

    return Reflector(
        Endpoint("localqueues", factory, versions, optional=True), convert.to_local_queue, FAST
    )


def test_kueue_version_fallback(cluster: FakeCluster, api: client.ApiClient) -> None:
    lq = {"metadata": {"name": "team-q", "namespace": "ml"}, "spec": {"clusterQueue": "gpu"}}
    cluster.apply("localqueues", lq)
    reflector = _kueue_reflector(api, ("v1beta2", "v1beta1"))
    reflector.start()
    try:
        assert reflector.synced.wait(5)
        assert reflector.version == "v1beta1" and not reflector.absent
        assert [(q.namespace, q.name, q.cluster_queue) for q in reflector.items()] == [
            ("ml", "team-q", "gpu")
        ]
    finally:
        reflector.stop()


@pytest.mark.parametrize("cluster", [FakeCluster(kueue_version=None)])
def test_absent_crd_is_empty_not_an_error(cluster: FakeCluster, api: client.ApiClient) -> None:
    reflector = _kueue_reflector(api, ("v1beta2", "v1beta1"))
    reflector.start()
    try:
        assert reflector.synced.wait(5)
        assert reflector.absent and reflector.healthy and reflector.items() == []
    finally:
        reflector.stop()


def test_backoff_grows_with_jitter_and_resets() -> None:
    import random

    backoff = Backoff(1.0, 8.0, random.Random(7))
    delays = [backoff.next() for _ in range(6)]
    for delay, step in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.next() <= 1.0
