"""Writes for the loopback apiserver (support.fake_apiserver): single-object GET, namespaced
lists, and PATCH with the apiserver's semantics, for the actions controller's tests.

PATCH takes `application/merge-patch+json` (RFC 7386: maps merge, null deletes, anything
else replaces) on every kind, and `application/strategic-merge-patch+json` on built-in kinds
only (custom resources answer 415, as the real apiserver does; for maps of scalars the two
agree). `deployments/{name}/scale` and `statefulsets/{name}/scale` speak autoscaling/v1
Scale. `?dryRun=All` validates and answers without persisting. Every accepted write is kept
in `cluster.writes` (method, path, body), so a test can assert that nothing was written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlparse

from support.fake_apiserver import (
    KUEUE_KINDS,
    TOKEN,
    FakeApiServer,
    FakeCluster,
    _Handler,
    running,
    status,
)

#: Kinds only this module serves: resource -> (apiVersion, kind).
EXTRA_KINDS = {
    "deployments": ("apps/v1", "Deployment"),
    "statefulsets": ("apps/v1", "StatefulSet"),
    "cronjobs": ("batch/v1", "CronJob"),
}
GROUP_OF = {
    "pods": "v1",
    "namespaces": "v1",
    "replicasets": "apps/v1",
    "jobs": "batch/v1",
    **{r: av for r, (av, _) in EXTRA_KINDS.items()},
}
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
SCALABLE = ("deployments", "statefulsets")


class WritableCluster(FakeCluster):
    """A FakeCluster that also holds Deployments, StatefulSets and CronJobs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for resource in EXTRA_KINDS:
            self.objects[resource] = {}
            self.events[resource] = []
            self.compacted[resource] = 0
            self.gone_generation[resource] = 0
        self.writes: list[tuple[str, str, Any]] = []

    def _api_version_kind(self, resource: str) -> tuple[str, str]:
        if resource in EXTRA_KINDS:
            return EXTRA_KINDS[resource]
        return super()._api_version_kind(resource)

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.cond:
            obj = self.objects.get(resource, {}).get(f"{namespace}/{name}")
            return json.loads(json.dumps(obj)) if obj is not None else None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class WritableHandler(_Handler):
    server: FakeApiServer

    @property
    def cluster(self) -> WritableCluster:
        cluster = self.server.cluster
        assert isinstance(cluster, WritableCluster)
        return cluster

    def _object_route(self, path: str) -> tuple[str, str, str, str] | None:
        """(resource, namespace, name, subresource) for object paths; name empty for a
        namespaced list. None for the cluster-wide lists the base handler serves."""
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"]:
            group, rest = "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        if group == "v1" and len(rest) == 2 and rest[0] == "namespaces":
            return "namespaces", "", rest[1], ""
        if len(rest) < 3 or rest[0] != "namespaces":
            return None
        namespace, resource = rest[1], rest[2]
        name = rest[3] if len(rest) > 3 else ""
        sub = rest[4] if len(rest) > 4 else ""
        kueue = f"kueue.x-k8s.io/{self.cluster.kueue_version}"
        expected = kueue if resource in KUEUE_KINDS else GROUP_OF.get(resource)
        if expected != group or resource not in self.cluster.objects:
            return ("", namespace, name, sub)  # a 404 for a kind this server does not serve
        return resource, namespace, name, sub

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._json(401, status(401, "Unauthorized", "Unauthorized"))
            return False
        return True

    def do_GET(self) -> None:
        url = urlparse(self.path)
        route = self._object_route(url.path)
        if route is None:
            super().do_GET()
            return
        with self.cluster.cond:
            self.cluster.requests.append((url.path, {}))
        if not self._authorized():
            return
        resource, namespace, name, sub = route
        if not resource:
            self._json(404, status(404, "NotFound", f"the server could not find {url.path}"))
        elif not name:
            self._list(resource, namespace)
        else:
            obj = self.cluster.get(resource, namespace, name)
            if obj is None:
                self._json(404, status(404, "NotFound", f'{resource} "{name}" not found'))
            elif sub == "scale" and resource in SCALABLE:
                self._json(200, _scale_of(obj))
            elif sub:
                self._json(404, status(404, "NotFound", f"no subresource {sub}"))
            else:
                self._json(200, obj)

    def _list(self, resource: str, namespace: str) -> None:
        with self.cluster.cond:
            items = [
                json.loads(json.dumps(o))
                for key, o in sorted(self.cluster.objects[resource].items())
                if key.startswith(f"{namespace}/")
            ]
            rv = self.cluster.rv
        api_version, kind = self.cluster._api_version_kind(resource)
        body = {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }
        self._json(200, body)

    def do_PATCH(self) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        route = self._object_route(url.path)
        if not self._authorized():
            return
        if route is None or not route[0] or not route[2]:
            self._json(404, status(404, "NotFound", f"the server could not find {url.path}"))
            return
        resource, namespace, name, sub = route
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        custom = resource in KUEUE_KINDS
        if content_type != MERGE and not (content_type == STRATEGIC and not custom):
            accepted = MERGE if custom else f"{MERGE}, {STRATEGIC}"
            message = (
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {accepted}"
            )
            self._json(415, status(415, "UnsupportedMediaType", message))
            return
        try:
            patch = json.loads(raw)
        except ValueError as exc:
            self._json(400, status(400, "BadRequest", f"invalid JSON: {exc}"))
            return
        obj = self.cluster.get(resource, namespace, name)
        if obj is None:
            self._json(404, status(404, "NotFound", f'{resource} "{name}" not found'))
            return
        if sub == "scale" and resource in SCALABLE:
            scale = merge_patch(_scale_of(obj), patch)
            replicas = scale.get("spec", {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                self._json(422, status(422, "Invalid", f"spec.replicas: invalid {replicas!r}"))
                return
            updated = merge_patch(obj, {"spec": {"replicas": replicas}})
        elif sub:
            self._json(404, status(404, "NotFound", f"no subresource {sub}"))
            return
        else:
            updated = merge_patch(obj, patch)
            meta = updated.get("metadata", {})
            if meta.get("name") != name or meta.get("namespace", "") != namespace:
                self._json(422, status(422, "Invalid", "metadata.name/namespace are immutable"))
                return
        if query.get("dryRun") != "All":
            self.cluster.apply(resource, updated)
            with self.cluster.cond:
                self.cluster.writes.append(("PATCH", url.path, patch))
        stored = self.cluster.get(resource, namespace, name) or updated
        self._json(200, _scale_of(stored) if sub else stored)


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    replicas = obj.get("spec", {}).get("replicas", 1)
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas},
    }


@contextmanager
def serving(cluster: WritableCluster) -> Iterator[FakeApiServer]:
    """`running(cluster)` with the writable handler (set before any request is made)."""
    with running(cluster) as server:
        server.RequestHandlerClass = WritableHandler  # type: ignore[assignment]
        yield server


# -- builders ---------------------------------------------------------------------------------


def deployment(
    namespace: str,
    name: str,
    *,
    replicas: int = 2,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    selector = {"app": name}
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(selector),
            "annotations": dict(annotations or {}),
            "generation": 1,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [{"name": "main", "image": "registry.example/app:1"}]},
            },
        },
        "status": {"replicas": replicas, "readyReplicas": replicas},
    }


def kueue_workload(
    namespace: str, name: str, *, owner: tuple[str, str], active: bool = True
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": owner[0],
                    "name": owner[1],
                    "uid": f"uid-{owner[1]}",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "active": active,
            "queueName": "gpu-lq",
            "podSets": [{"name": "main", "count": 1, "template": {"spec": {"containers": []}}}],
        },
    }
