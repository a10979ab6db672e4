"""The controller's Kubernetes calls: reads (namespaces, workload objects, Kueue Workloads) and
JSON merge patches (RFC 7386), through the real kubernetes client.

Merge patch, not the client's default strategic merge patch: custom resources (Kueue
Workloads) accept only the former, and for the maps of strings we patch the two agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

MERGE_PATCH = "application/merge-patch+json"
KUEUE_GROUP = "kueue.x-k8s.io"

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Target:
    """One object to act on."""

    kind: str
    namespace: str
    name: str
    api_path: str

    def __str__(self) -> str:
        return self.api_path


class NotFound(Exception):
    """The object does not exist (HTTP 404)."""


class Kube:
    """Thin typed wrapper over the generated API classes; every answer is plain JSON."""

    def __init__(self, api_client: client.ApiClient, kueue_version: str = "v1beta1") -> None:
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.kueue_version = kueue_version
        # kind -> (read, patch, API path prefix) for the kinds annotate/label support.
        self._kinds: dict[str, tuple[Callable[..., Any], Callable[..., Any], str]] = {
            "Deployment": (
                self.apps.read_namespaced_deployment,
                self.apps.patch_namespaced_deployment,
                "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
            ),
            "StatefulSet": (
                self.apps.read_namespaced_stateful_set,
                self.apps.patch_namespaced_stateful_set,
                "/apis/apps/v1/namespaces/{ns}/statefulsets/{name}",
            ),
            "Job": (
                self.batch.read_namespaced_job,
                self.batch.patch_namespaced_job,
                "/apis/batch/v1/namespaces/{ns}/jobs/{name}",
            ),
            "CronJob": (
                self.batch.read_namespaced_cron_job,
                self.batch.patch_namespaced_cron_job,
                "/apis/batch/v1/namespaces/{ns}/cronjobs/{name}",
            ),
            "Pod": (
                self.core.read_namespaced_pod,
                self.core.patch_namespaced_pod,
                "/api/v1/namespaces/{ns}/pods/{name}",
            ),
        }

    def supports(self, kind: str) -> bool:
        return kind in self._kinds

    def target(self, kind: str, namespace: str, name: str) -> Target:
        return Target(kind, namespace, name, self._kinds[kind][2].format(ns=namespace, name=name))

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        obj = _call(self.core.read_namespace, namespace)
        return dict(obj.get("metadata", {}).get("labels") or {})

    def read(self, target: Target) -> Json:
        if target.kind == "Workload":
            return _call(
                self.custom.get_namespaced_custom_object,
                KUEUE_GROUP,
                self.kueue_version,
                target.namespace,
                "workloads",
                target.name,
            )
        read = self._kinds[target.kind][0]
        return _call(read, target.name, target.namespace)

    def merge_patch(self, target: Target, patch: Json) -> None:
        if target.kind == "Workload":
            self.custom.patch_namespaced_custom_object(
                KUEUE_GROUP,
                self.kueue_version,
                target.namespace,
                "workloads",
                target.name,
                patch,
                _content_type=MERGE_PATCH,
            )
            return
        patch_fn = self._kinds[target.kind][1]
        patch_fn(target.name, target.namespace, patch, _content_type=MERGE_PATCH)

    def replicas(self, target: Target) -> int:
        read = (
            self.apps.read_namespaced_deployment_scale
            if target.kind == "Deployment"
            else self.apps.read_namespaced_stateful_set_scale
        )
        scale = _call(read, target.name, target.namespace)
        return int(scale.get("spec", {}).get("replicas") or 0)

    def scale(self, target: Target, replicas: int) -> None:
        patch = (
            self.apps.patch_namespaced_deployment_scale
            if target.kind == "Deployment"
            else self.apps.patch_namespaced_stateful_set_scale
        )
        patch(
            target.name,
            target.namespace,
            {"spec": {"replicas": replicas}},
            _content_type=MERGE_PATCH,
        )

    def job_owners_of_pods(self, namespace: str, pods: tuple[str, ...]) -> set[str]:
        """Names of the Jobs that own these pods (pods already gone are skipped)."""
        jobs: set[str] = set()
        for pod in pods:
            try:
                obj = _call(self.core.read_namespaced_pod, pod, namespace)
            except NotFound:
                continue
            for ref in obj.get("metadata", {}).get("ownerReferences") or []:
                if ref.get("kind") == "Job":
                    jobs.add(str(ref.get("name")))
        return jobs

    def kueue_workloads(self, namespace: str, owners: set[tuple[str, str]]) -> list[Target]:
        """Kueue Workloads in the namespace owned by any (kind, name) in `owners`."""
        listing = self.custom.list_namespaced_custom_object(
            KUEUE_GROUP, self.kueue_version, namespace, "workloads"
        )
        out = []
        for item in listing.get("items", []):
            meta = item.get("metadata", {})
            refs = {(r.get("kind"), r.get("name")) for r in meta.get("ownerReferences") or []}
            if refs & owners:
                name = str(meta["name"])
                path = (
                    f"/apis/{KUEUE_GROUP}/{self.kueue_version}/namespaces/{namespace}"
                    f"/workloads/{name}"
                )
                out.append(Target("Workload", namespace, name, path))
        return sorted(out, key=lambda t: t.name)


def _call(fn: Callable[..., Any], *args: Any) -> Json:
    """Call a read method for raw JSON (no typed model: fields the client's models require
    would otherwise fail on partial objects), mapping 404 to NotFound."""
    try:
        response = fn(*args, _preload_content=False)
    except client.ApiException as exc:
        if exc.status == 404:
            raise NotFound(str(args)) from exc
        raise
    data = json.loads(response.data)
    if not isinstance(data, dict):
        raise client.ApiException(status=0, reason=f"not a JSON object: {str(data)[:80]}")
    return data
