"""A loopback Kubernetes API server for tests, driven by the real `kubernetes` client.

It speaks the list/watch protocol as the apiserver does: JSON list bodies with
`metadata.resourceVersion`, `limit`/`continue` paging (pages consistent at the first page's
version), watch streams as chunked newline-delimited JSON events (ADDED, MODIFIED, DELETED,
BOOKMARK) from a resourceVersion, `ERROR` events with a 410 `Expired` Status when that version
is compacted away, and `timeoutSeconds`. Tests script faults: a 500 for the next request, a
connection dropped mid-stream, a 410 in the middle of a live watch, an expired continue token.
Requests must carry the kubeconfig's bearer token (401 otherwise), so the client's credentials
path is exercised too. Also serves metrics.k8s.io PodMetrics and, when installed, Kueue CRDs
and Dynamic Resource Allocation (resource.k8s.io ResourceClaims, ResourceSlices, DeviceClasses
at one version: v1, v1beta2 or v1beta1).
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "unitcost-test-token"

#: URL path -> (resource key, list kind, namespaced, is a built-in type).
CORE = {
    "/api/v1/nodes": ("nodes", "NodeList", False),
    "/api/v1/pods": ("pods", "PodList", True),
    "/api/v1/namespaces": ("namespaces", "NamespaceList", False),
    "/api/v1/persistentvolumes": ("persistentvolumes", "PersistentVolumeList", False),
    "/api/v1/persistentvolumeclaims": (
        "persistentvolumeclaims",
        "PersistentVolumeClaimList",
        True,
    ),
    "/apis/apps/v1/replicasets": ("replicasets", "ReplicaSetList", True),
    "/apis/batch/v1/jobs": ("jobs", "JobList", True),
}
KUEUE_KINDS = {
    "clusterqueues": "ClusterQueue",
    "localqueues": "LocalQueue",
    "workloads": "Workload",
    "resourceflavors": "ResourceFlavor",
    "cohorts": "Cohort",
}
DRA_KINDS = {
    "resourceclaims": ("ResourceClaim", True),
    "resourceslices": ("ResourceSlice", False),
    "deviceclasses": ("DeviceClass", False),
}
KIND_OF = {
    "nodes": ("v1", "Node"),
    "pods": ("v1", "Pod"),
    "namespaces": ("v1", "Namespace"),
    "persistentvolumes": ("v1", "PersistentVolume"),
    "persistentvolumeclaims": ("v1", "PersistentVolumeClaim"),
    "replicasets": ("apps/v1", "ReplicaSet"),
    "jobs": ("batch/v1", "Job"),
}


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A metav1.Status body, as the apiserver sends for errors."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


@dataclass
class Event:
    rv: int
    type: str
    obj: dict[str, Any]


@dataclass
class Faults:
    """Scripted failures, each consumed by the next request it applies to."""

    http_500: dict[str, int] = field(default_factory=dict)
    drop_watch: dict[str, int] = field(default_factory=dict)
    expire_continue: dict[str, int] = field(default_factory=dict)
    #: Every request waits this long before answering (a slow or overloaded apiserver).
    delay_seconds: float = 0.0


class FakeCluster:
    """The objects, their history, and the scripted faults. Thread-safe."""

    def __init__(
        self,
        *,
        kueue_version: str | None = None,
        metrics: bool = True,
        dra_version: str | None = None,
    ) -> None:
        self.cond = threading.Condition()
        self.rv = 1000
        self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KIND_OF}
        self.events: dict[str, list[Event]] = {k: [] for k in KIND_OF}
        self.kueue_version = kueue_version
        if kueue_version:
            for plural in KUEUE_KINDS:
                self.objects[plural] = {}
                self.events[plural] = []
        self.dra_version = dra_version
        if dra_version:
            for plural in DRA_KINDS:
                self.objects[plural] = {}
                self.events[plural] = []
        #: Versions at or below this are compacted: a watch from them gets 410.
        self.compacted: dict[str, int] = {k: 0 for k in self.objects}
        self.metrics = metrics
        self.usage: dict[tuple[str, str], tuple[str, str]] = {}
        self.faults = Faults()
        #: Live watches per resource that should end with a 410 ERROR now.
        self.gone_generation: dict[str, int] = {k: 0 for k in self.objects}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._snapshots: dict[str, list[dict[str, Any]]] = {}
        self.bookmark_seconds = 0.5
        self.closed = False

    # -- objects ------------------------------------------------------------------------------
    @staticmethod
    def key(obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return f"{meta.get('namespace', '')}/{meta['name']}"

    @property
    def cohort_version(self) -> str:
        """Cohorts are served at v1beta2, or at v1alpha1 beside v1beta1 (as Kueue does)."""
        return "v1beta2" if self.kueue_version == "v1beta2" else "v1alpha1"

    def _api_version_kind(self, resource: str) -> tuple[str, str]:
        if resource == "cohorts":
            return f"kueue.x-k8s.io/{self.cohort_version}", "Cohort"
        if resource in KUEUE_KINDS:
            return f"kueue.x-k8s.io/{self.kueue_version}", KUEUE_KINDS[resource]
        if resource in DRA_KINDS:
            return f"resource.k8s.io/{self.dra_version}", DRA_KINDS[resource][0]
        return KIND_OF[resource]

    def apply(self, resource: str, obj: dict[str, Any], *, silent: bool = False) -> None:
        """Create or update; `silent` changes state without a watch event (as if the event
        was compacted away), so only a relist can see it. Objects of a CRD that is not
        installed are refused, as the apiserver would (so fixtures can be shared)."""
        if resource not in self.objects:
            return
        with self.cond:
            self.rv += 1
            obj = copy.deepcopy(obj)
            api_version, kind = self._api_version_kind(resource)
            obj["apiVersion"], obj["kind"] = api_version, kind
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = str(self.rv)
            key = self.key(obj)
            existing = self.objects[resource].get(key)
            meta.setdefault("uid", existing["metadata"]["uid"] if existing else str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", "2024-05-01T00:00:00Z")
            self.objects[resource][key] = obj
            if not silent:
                kind_of_event = "MODIFIED" if existing else "ADDED"
                self.events[resource].append(Event(self.rv, kind_of_event, obj))
            self.cond.notify_all()

    def delete(self, resource: str, namespace: str, name: str, *, silent: bool = False) -> None:
        with self.cond:
            obj = self.objects[resource].pop(f"{namespace}/{name}")
            self.rv += 1
            obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
            if not silent:
                self.events[resource].append(Event(self.rv, "DELETED", obj))
            self.cond.notify_all()

    def expire(self, resource: str) -> None:
        """Compact the history: live watches get a 410 ERROR event mid-stream, and a watch from
        any version seen so far is refused with 410."""
        with self.cond:
            self.compacted[resource] = self.rv
            self.events[resource] = []
            self.gone_generation[resource] += 1
            self.cond.notify_all()

    def set_usage(self, namespace: str, name: str, cpu: str, memory: str) -> None:
        with self.cond:
            self.usage[(namespace, name)] = (cpu, memory)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    # -- list ---------------------------------------------------------------------------------
    def list_body(
        self, resource: str, list_kind: str, query: dict[str, str], builtin: bool
    ) -> tuple[int, dict[str, Any]]:
        with self.cond:
            limit = int(query.get("limit", "0") or 0)
            token = query.get("continue", "")
            if token:
                if self.faults.expire_continue.get(resource, 0) > 0:
                    self.faults.expire_continue[resource] -= 1
                    return 410, status(410, "Expired", "The provided continue parameter is too old")
                state = json.loads(base64.b64decode(token))
                snapshot_id, rv, start = state["id"], state["rv"], state["start"]
                items = self._snapshots[snapshot_id]
            else:
                items = [copy.deepcopy(o) for _, o in sorted(self.objects[resource].items())]
                if builtin:  # the apiserver leaves kind/apiVersion off built-in list items
                    for item in items:
                        item.pop("kind", None)
                        item.pop("apiVersion", None)
                rv, start, snapshot_id = self.rv, 0, uuid.uuid4().hex
            end = start + limit if limit else len(items)
            metadata: dict[str, Any] = {"resourceVersion": str(rv)}
            # One copy per paged list, kept until its last page is served.
            if end < len(items):
                self._snapshots[snapshot_id] = items
                metadata["continue"] = base64.b64encode(
                    json.dumps({"id": snapshot_id, "rv": rv, "start": end}).encode()
                ).decode()
                metadata["remainingItemCount"] = len(items) - end
            else:
                self._snapshots.pop(snapshot_id, None)
            api_version, _ = self._api_version_kind(resource)
            body = {
                "kind": list_kind,
                "apiVersion": api_version,
                "metadata": metadata,
                "items": items[start:end],
            }
            return 200, body

    def pod_metrics(self) -> dict[str, Any]:
        with self.cond:
            items = [
                {
                    "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
                    "timestamp": "2024-05-01T00:00:00Z",
                    "window": "30s",
                    "containers": [{"name": "main", "usage": {"cpu": cpu, "memory": memory}}],
                }
                for (ns, name), (cpu, memory) in sorted(self.usage.items())
            ]
        return {
            "kind": "PodMetricsList",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {},
            "items": items,
        }


class _Handler(BaseHTTPRequestHandler):
    server: FakeApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.server.stopping:  # stopped: nothing answers, not even a kept-alive connection
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        cluster = self.server.cluster
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with cluster.cond:
            cluster.requests.append((url.path, query))
        if cluster.faults.delay_seconds > 0:
            time.sleep(cluster.faults.delay_seconds)
        # The scheme is case-insensitive, as the apiserver reads it (the in-cluster loader of
        # the kubernetes client sends "bearer").
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token != TOKEN:
            self._json(401, status(401, "Unauthorized", "Unauthorized"))
            return
        route = self._route(url.path)
        if route is None:
            self._json(404, status(404, "NotFound", f"the server could not find {url.path}"))
            return
        resource, list_kind, builtin = route
        if resource == "podmetrics":
            self._json(200, cluster.pod_metrics())
            return
        with cluster.cond:
            if cluster.faults.http_500.get(resource, 0) > 0:
                cluster.faults.http_500[resource] -= 1
                failing = True
            else:
                failing = False
        if failing:
            self._json(500, status(500, "InternalError", "etcdserver: request timed out"))
        elif query.get("watch", "").lower() in ("true", "1"):
            self._watch(resource, query)
        else:
            self._json(*cluster.list_body(resource, list_kind, query, builtin))

    def _route(self, path: str) -> tuple[str, str, bool] | None:
        cluster = self.server.cluster
        if path in CORE:
            resource, list_kind, _ = CORE[path]
            return resource, list_kind, True
        if path == "/apis/metrics.k8s.io/v1beta1/pods" and cluster.metrics:
            return "podmetrics", "PodMetricsList", False
        prefix = f"/apis/kueue.x-k8s.io/{cluster.kueue_version}/"
        if cluster.kueue_version and path.startswith(prefix):
            plural = path[len(prefix) :]
            if plural in KUEUE_KINDS and plural != "cohorts":
                return plural, f"{KUEUE_KINDS[plural]}List", False
        if (
            cluster.kueue_version
            and path == f"/apis/kueue.x-k8s.io/{cluster.cohort_version}/cohorts"
        ):
            return "cohorts", "CohortList", False
        dra = f"/apis/resource.k8s.io/{cluster.dra_version}/"
        if cluster.dra_version and path.startswith(dra) and path[len(dra) :] in DRA_KINDS:
            plural = path[len(dra) :]
            return plural, f"{DRA_KINDS[plural][0]}List", True
        return None

    # -- watch --------------------------------------------------------------------------------
    def _chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, resource: str, query: dict[str, str]) -> None:
        cluster = self.server.cluster
        since = int(query.get("resourceVersion") or 0)
        timeout = float(query.get("timeoutSeconds") or 1800)
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("true", "1")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + timeout
        with cluster.cond:
            generation = cluster.gone_generation[resource]
            too_old = since < cluster.compacted[resource]
        if too_old:
            message = f"too old resource version: {since} ({cluster.compacted[resource]})"
            self._chunk({"type": "ERROR", "object": status(410, "Expired", message)})
            self._end()
            return
        cursor = since
        last_bookmark = time.monotonic()
        while True:
            with cluster.cond:
                pending = [e for e in cluster.events[resource] if e.rv > cursor]
                gone = cluster.gone_generation[resource] != generation
                drop = not pending and cluster.faults.drop_watch.get(resource, 0) > 0
                if drop:
                    cluster.faults.drop_watch[resource] -= 1
                if not (pending or gone or drop or cluster.closed):
                    cluster.cond.wait(0.05)
                    pending = [e for e in cluster.events[resource] if e.rv > cursor]
                now_rv = cluster.rv
            if cluster.closed or self.server.stopping:
                self._end()
                return
            if drop:  # promise a chunk, send half of it, and hang up
                self.wfile.write(b'400\r\n{"type":"MODI')
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            for event in pending:
                self._chunk({"type": event.type, "object": event.obj})
                cursor = event.rv
            if gone:
                message = f"too old resource version: {cursor} ({now_rv})"
                self._chunk({"type": "ERROR", "object": status(410, "Expired", message)})
                self._end()
                return
            if bookmarks and time.monotonic() - last_bookmark >= cluster.bookmark_seconds:
                api_version, kind = cluster._api_version_kind(resource)
                cursor = max(cursor, now_rv)
                bookmark = {
                    "kind": kind,
                    "apiVersion": api_version,
                    "metadata": {"resourceVersion": str(cursor)},
                }
                self._chunk({"type": "BOOKMARK", "object": bookmark})
                last_bookmark = time.monotonic()
            if time.monotonic() >= deadline:
                self._end()
                return

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, cluster: FakeCluster, port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        """`tls`: serve HTTPS with this server context, as a real apiserver does (the
        in-cluster config of the kubernetes client speaks nothing else)."""
        self.cluster = cluster
        self.stopping = False
        self.tls = tls
        super().__init__(("127.0.0.1", port), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a timed-out read, a stopped source; over TLS, an alert) is
        # routine here.
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def write_kubeconfig(self, path: Path, context: str = "fake") -> Path:
        """A kubeconfig whose context points at this server with the bearer token."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": TOKEN}}],
            "contexts": [{"name": context, "context": {"cluster": "fake", "user": "tester"}}],
            "current-context": context,
        }
        path.write_text(json.dumps(config))  # JSON is YAML
        return path


@contextmanager
def running(
    cluster: FakeCluster, port: int = 0, tls: ssl.SSLContext | None = None
) -> Iterator[FakeApiServer]:
    """Serve `cluster` on a loopback port (free, or `port` to come back where a stopped one
    was; over TLS with `tls`) until the block ends; watches are closed."""
    cluster.closed = False
    server = FakeApiServer(cluster, port, tls)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.stopping = True
        cluster.close()
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- object builders: JSON as the apiserver returns it -----------------------------------------
_uids = itertools.count(1)


def node(
    name: str,
    *,
    cpu: str = "16",
    memory: str = "64Gi",
    gpus: int = 0,
    labels: dict[str, str] | None = None,
    provider_id: str = "",
) -> dict[str, Any]:
    capacity = {"cpu": cpu, "memory": memory, "ephemeral-storage": "100Gi", "pods": "110"}
    if gpus:
        capacity["nvidia.com/gpu"] = str(gpus)
    return {
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {"providerID": provider_id} if provider_id else {},
        "status": {"capacity": capacity, "allocatable": dict(capacity), "phase": "Running"},
    }


def pod(
    namespace: str,
    name: str,
    *,
    node_name: str = "",
    cpu: str = "1",
    memory: str = "1Gi",
    gpus: int = 0,
    phase: str = "Running",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: tuple[str, str] | None = None,
    claims: tuple[str, ...] = (),
) -> dict[str, Any]:
    requests = {"cpu": cpu, "memory": memory}
    if gpus:
        requests["nvidia.com/gpu"] = str(gpus)
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels or {}),
        "annotations": dict(annotations or {}),
    }
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": f"owner-{next(_uids)}",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "metadata": meta,
        "spec": {
            "nodeName": node_name,
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/app:1.0",
                    "resources": {"requests": requests, "limits": dict(requests)},
                    "env": [{"name": "MODE", "value": "batch"}],
                }
            ],
            "volumes": [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims],
        },
        "status": {"phase": phase, "podIP": "10.0.0.1"},
    }


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": dict(labels or {})}, "status": {"phase": "Active"}}


def owned(name: str, namespace: str, owner: tuple[str, str] | None) -> dict[str, Any]:
    """A ReplicaSet or Job: only metadata matters to the source."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": owner[0], "name": owner[1], "controller": True, "uid": "x"}
        ]
    return {"metadata": meta, "spec": {}}
