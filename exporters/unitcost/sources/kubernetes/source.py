"""KubernetesSource: the reflectors, the metrics poller and the queue sources -> a Snapshot."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from kubernetes import client

from unitcost.config.kubernetes import KubernetesSettings
from unitcost.costmodel.attribution import (
    POD_TEMPLATE_HASH,
    AttributionRules,
    pod_queue,
    resolve_owner,
)
from unitcost.data.batch import BatchJob, Cohort, QueueUsage
from unitcost.data.devices import GpuClaim, GpuDevice
from unitcost.data.model import Flavor, LocalQueue, Owner, Pod, Queue, Resources, Snapshot, Volume
from unitcost.data.records import SourceHealth
from unitcost.sources.base import SourceError
from unitcost.sources.kubernetes import convert, dra
from unitcost.sources.kubernetes.batch import (
    to_cluster_queue_with_usage,
    to_cohort,
    to_job,
    to_workload,
)
from unitcost.sources.kubernetes.client import api_client
from unitcost.sources.kubernetes.convert import Obj
from unitcost.sources.kubernetes.queues import (
    YunikornPoller,
    admitted_queue,
    is_kueue_pod,
    label_queues,
    with_admission,
)
from unitcost.sources.kubernetes.reflector import Endpoint, Reflector
from unitcost.sources.kubernetes.usage import UsagePoller

log = logging.getLogger(__name__)

KUEUE_GROUP = "kueue.x-k8s.io"
#: An (object's namespace, kind, name) and its controlling owner: the owner-chain index.
OwnerEdge = tuple[tuple[str, str, str], Owner]


def _owner_edge(kind: str) -> Callable[[Obj], OwnerEdge | None]:
    def edge(obj: Obj) -> OwnerEdge | None:
        owner = convert.controller_owner(obj)
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), kind, str(meta.get("name", "")))
        return (key, owner) if owner else None

    return edge


def _admission(obj: Obj) -> tuple[tuple[str, str, str], str] | None:
    owner, cluster_queue = convert.workload_admission(obj)
    if owner is None or not cluster_queue:
        return None
    namespace = str((obj.get("metadata") or {}).get("namespace", ""))
    return (namespace, owner.kind, owner.name), cluster_queue


#: A Kueue Workload: the admission edge to its job, and its batch record.
WorkloadItem = tuple[tuple[tuple[str, str, str], str] | None, BatchJob | None]
#: A batch/v1 Job: its owner edge, and its record once it ended.
JobItem = tuple[OwnerEdge | None, BatchJob | None]


def _claim(obj: Obj) -> tuple[tuple[str, str], str] | None:
    meta = obj.get("metadata") or {}
    volume = convert.claim_volume(obj)
    return ((str(meta.get("namespace", "")), str(meta.get("name", ""))), volume) if volume else None


class KubernetesSource:
    """A live cluster, read through list/watch; `snapshot()` only reads memory."""

    name = "kubernetes"

    def __init__(
        self,
        settings: KubernetesSettings,
        rules: AttributionRules,
        base_dir: Path = Path("."),
        *,
        api: client.ApiClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._api = api if api is not None else api_client(settings, base_dir)
        core = client.CoreV1Api(self._api)
        custom = client.CustomObjectsApi(self._api)
        pod_labels, pod_annotations = rules.pod_label_keys(), rules.pod_annotation_keys()
        ns_labels = rules.keys("namespace_label")
        ns_annotations = rules.keys("namespace_annotation")

        def fixed(fn: Callable[..., Any]) -> Callable[[str], Callable[..., Any]]:
            return lambda _version: fn

        def kueue(plural: str, extra_versions: tuple[str, ...] = ()) -> Endpoint:
            def factory(version: str) -> Callable[..., Any]:
                return functools.partial(
                    custom.list_cluster_custom_object, KUEUE_GROUP, version, plural
                )

            versions = (*settings.kueue.versions, *extra_versions)
            return Endpoint(plural, factory, versions, optional=True)

        self.nodes = Reflector(Endpoint("nodes", fixed(core.list_node)), convert.to_node, settings)
        self.pods = Reflector(
            Endpoint("pods", fixed(core.list_pod_for_all_namespaces)),
            lambda o: convert.to_pod(o, pod_labels, pod_annotations),
            settings,
        )
        self.namespaces = Reflector(
            Endpoint("namespaces", fixed(core.list_namespace)),
            lambda o: convert.to_namespace(o, ns_labels, ns_annotations),
            settings,
        )
        self.volumes = Reflector(
            Endpoint("persistentvolumes", fixed(core.list_persistent_volume)),
            convert.to_volume,
            settings,
        )
        self.claims = Reflector(
            Endpoint(
                "persistentvolumeclaims",
                fixed(core.list_persistent_volume_claim_for_all_namespaces),
            ),
            _claim,
            settings,
        )
        #: Without these the cost is still complete; only owner names are less resolved (and,
        #: for Jobs, endings come from pods and Workloads only).
        self.owners: list[Reflector[OwnerEdge]] = []
        self.jobs: Reflector[JobItem] | None = None
        if settings.resolve_owners:
            apps, batch = client.AppsV1Api(self._api), client.BatchV1Api(self._api)
            self.owners = [
                Reflector(
                    Endpoint("replicasets", fixed(apps.list_replica_set_for_all_namespaces)),
                    _owner_edge("ReplicaSet"),
                    settings,
                ),
            ]
            job_edge = _owner_edge("Job")
            self.jobs = Reflector(
                Endpoint("jobs", fixed(batch.list_job_for_all_namespaces)),
                lambda o: (job_edge(o), to_job(o)),
                settings,
            )
        self.kueue_enabled = settings.kueue.enabled
        self.cluster_queues = Reflector(
            kueue("clusterqueues"), to_cluster_queue_with_usage, settings
        )
        # Cohort objects: v1beta2, or v1alpha1 beside v1beta1 queues (hierarchical cohorts).
        self.cohorts = Reflector(kueue("cohorts", ("v1alpha1",)), to_cohort, settings)
        self.local_queues = Reflector(kueue("localqueues"), convert.to_local_queue, settings)
        self.flavors = Reflector(kueue("resourceflavors"), convert.to_flavor, settings)
        self.workloads: Reflector[WorkloadItem] = Reflector(
            kueue("workloads"),
            lambda o: (_admission(o), to_workload(o, pod_labels)),
            settings,
        )

        def resource(plural: str) -> Endpoint:
            def factory(version: str) -> Callable[..., Any]:
                return functools.partial(
                    custom.list_cluster_custom_object, dra.GROUP, version, plural
                )

            return Endpoint(plural, factory, dra.VERSIONS, optional=True)

        self.dra_enabled = settings.dra_enabled
        self.resource_slices = Reflector(resource("resourceslices"), dra.to_slice_devices, settings)
        self.resource_claims = Reflector(resource("resourceclaims"), dra.to_claim, settings)
        self.device_classes = Reflector(resource("deviceclasses"), dra.to_device_class, settings)
        self.core: list[Reflector[Any]] = [
            self.nodes,
            self.pods,
            self.namespaces,
            self.volumes,
            self.claims,
        ]
        self.auxiliary: list[Reflector[Any]] = [*self.owners]
        if self.jobs is not None:
            self.auxiliary.append(self.jobs)
        if self.kueue_enabled:
            self.auxiliary += [
                self.cluster_queues,
                self.local_queues,
                self.flavors,
                self.workloads,
                self.cohorts,
            ]
        if self.dra_enabled:
            self.auxiliary += [self.resource_slices, self.resource_claims, self.device_classes]
        timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
        self.usage: UsagePoller | None = None
        if settings.metrics_enabled:
            self.usage = UsagePoller(
                custom.list_cluster_custom_object,
                settings.metrics_poll_seconds,
                settings.metrics_stale_seconds,
                timeout,
                clock=clock,
            )
        self.yunikorn: YunikornPoller | None = None
        if settings.yunikorn.rest_url:
            self.yunikorn = YunikornPoller(settings.yunikorn, clock=clock)
        self._first = True
        for reflector in (*self.core, *self.auxiliary):
            reflector.start()
        for poller in (self.usage, self.yunikorn):
            if poller is not None:
                poller.start()

    # -- Source -----------------------------------------------------------------------------
    def _wait_initial_sync(self) -> None:
        deadline = time.monotonic() + self.settings.initial_sync_timeout_seconds
        for reflector in (*self.core, *self.auxiliary):
            reflector.synced.wait(max(0.0, deadline - time.monotonic()))
        for poller in (self.usage, self.yunikorn):
            if poller is not None:
                poller.polled.wait(max(0.0, min(5.0, deadline - time.monotonic())))

    def snapshot(self) -> Snapshot:
        if self._first:
            self._first = False
            self._wait_initial_sync()
        missing = [r.endpoint.kind for r in self.core if not r.synced.is_set()]
        if missing:
            raise SourceError(f"not listed yet: {', '.join(missing)}")
        failing = [r.last_error or r.endpoint.kind for r in self.core if not r.healthy]
        if failing:
            raise SourceError("; ".join(failing))
        return self.build()

    def build(self) -> Snapshot:
        """The snapshot from what the reflectors hold now."""
        parents: dict[tuple[str, str, str], Owner] = {}
        for reflector in self.owners:
            parents.update(reflector.items())
        jobs: list[BatchJob] = []
        for edge, ended in self.jobs.items() if self.jobs is not None else ():
            if edge is not None:
                parents[edge[0]] = edge[1]
            if ended is not None:
                jobs.append(ended)
        workloads = self.workloads.items() if self.kueue_enabled else []
        jobs += [job for _, job in workloads if job is not None]
        raw_pods = self.pods.items()
        for pod in raw_pods:  # a Spark executor's owner is its driver pod
            if pod.owner is not None:
                parents[(pod.namespace, "Pod", pod.name)] = pod.owner
        admissions = dict(edge for edge, _ in workloads if edge is not None)
        usage = self.usage.usage() if self.usage is not None else {}
        pods: list[Pod] = []
        for pod in raw_pods:
            owner = resolve_owner(
                pod.owner, pod.namespace, parents, pod.labels.get(POD_TEMPLATE_HASH, "")
            )
            measured = usage.get(pod.key)
            # The metrics API measures cpu and memory only: GPUs and disk count as requested,
            # so they are never reported as unused.
            pod_usage = (
                Resources(measured[0], measured[1], pod.requests.gpu, pod.requests.storage)
                if measured is not None
                else None
            )
            if admissions:
                pod = with_admission(pod, admitted_queue(pod, parents, admissions))
            pods.append(replace(pod, owner=owner, usage=pod_usage))
        queues, flavors, local_queues, queue_usage = self._queues(pods)
        gpu_devices, gpu_claims = self._dra(pods)
        return Snapshot(
            timestamp=self._clock(),
            nodes=tuple(self.nodes.items()),
            pods=tuple(pods),
            namespaces=tuple(self.namespaces.items()),
            volumes=tuple(self._volumes()),
            flavors=tuple(flavors),
            queues=tuple(queues),
            local_queues=tuple(local_queues),
            cohorts=self._cohorts(),
            queue_usage=tuple(queue_usage),
            jobs=tuple(jobs),
            gpu_devices=gpu_devices,
            gpu_claims=gpu_claims,
        )

    def _dra(self, pods: Sequence[Pod]) -> tuple[tuple[GpuDevice, ...], tuple[GpuClaim, ...]]:
        if not self.dra_enabled:
            return (), ()
        slices = [d for found in self.resource_slices.items() for d in found]
        if not slices and not self.resource_claims.items():
            return (), ()
        return dra.join(slices, self.resource_claims.items(), pods)

    def _volumes(self) -> list[Volume]:
        bound_to = {volume: claim for claim, volume in self.claims.items()}
        out = []
        for volume in self.volumes.items():
            claim = bound_to.get(volume.name)
            if claim is not None and (volume.claim_namespace, volume.claim_name) != claim:
                volume = replace(volume, claim_namespace=claim[0], claim_name=claim[1])
            out.append(volume)
        return out

    def _queues(
        self, pods: Sequence[Pod]
    ) -> tuple[list[Queue], list[Flavor], list[LocalQueue], list[QueueUsage]]:
        queues: list[Queue] = []
        flavors: list[Flavor] = []
        local_queues: list[LocalQueue] = []
        usage: list[QueueUsage] = []
        if self.kueue_enabled:
            for queue, used in self.cluster_queues.items():
                queues.append(queue)
                usage.extend(used)
            flavors += self.flavors.items()
            local_queues += self.local_queues.items()
        yunikorn = self.settings.yunikorn
        if yunikorn.enabled:
            known = {q.name for q in queues}
            tree = self.yunikorn.tree if self.yunikorn else None
            rest = [q for q in (tree.queues if tree else []) if q.name not in known]
            if tree is not None:
                usage += [u for u in tree.usage if u.queue not in known]
            index = {(lq.namespace, lq.name): lq for lq in local_queues}
            labelled = {
                pod_queue(p, index) for p in pods if not is_kueue_pod(p) and pod_queue(p, index)
            }
            extra = label_queues(labelled - known - {q.name for q in rest}, yunikorn.flavor)
            if rest or extra:
                queues += rest + extra
                flavors.append(Flavor(yunikorn.flavor, dict(yunikorn.node_labels)))
        return queues, flavors, local_queues, usage

    def _cohorts(self) -> tuple[Cohort, ...]:
        kueue = self.cohorts.items() if self.kueue_enabled else []
        reads = self.yunikorn is not None and self.settings.yunikorn.enabled
        yunikorn = self.yunikorn.tree.cohorts if self.yunikorn is not None and reads else []
        return (*kueue, *yunikorn)

    def health(self) -> list[SourceHealth]:
        """The parts read apart from the Kubernetes API, each its own `source` status."""
        return [p.health() for p in (self.usage, self.yunikorn) if p is not None]

    def close(self) -> None:
        everything = (*self.core, *self.auxiliary, self.usage, self.yunikorn)
        for part in everything:  # signal all first, so the joins below overlap
            if part is not None:
                part.stop(timeout=0)
        for part in everything:
            if part is not None:
                part.stop()
        self._api.close()
