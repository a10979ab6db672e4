"""The `source.kubernetes:` config block (docs/kubernetes.md). Pure schema, no client import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Seconds = Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KueueSettings(_Strict):
    #: Watch ClusterQueue, LocalQueue, Workload, ResourceFlavor when the CRDs are served.
    enabled: bool = True
    #: API versions tried in order; the first one the cluster serves is used.
    versions: list[str] = Field(default_factory=lambda: ["v1beta2", "v1beta1"], min_length=1)


class YunikornSettings(_Strict):
    #: Base URL of the YuniKorn REST API (e.g. http://yunikorn-service.yunikorn:9080); unset:
    #: YuniKorn queues come from pod labels only, with no quota.
    rest_url: str | None = None
    partition: str = "default"
    poll_seconds: Seconds = 60.0
    timeout_seconds: Seconds = 10.0
    #: Derive YuniKorn queues (and their used cost) from pod labels.
    enabled: bool = True
    #: The flavor YuniKorn quotas are priced by, and the nodes it selects ({}: every node,
    #: i.e. the cluster's average price per resource).
    flavor: str = "yunikorn"
    node_labels: dict[str, str] = Field(default_factory=dict)


class KubernetesSettings(_Strict):
    """Where the cluster is found when none of `kubeconfig`, `context`, `in_cluster` is set:
    in a pod, its service account; else $KUBECONFIG, else ~/.kube/config (as kubectl and
    kube-state-metrics do; sources/kubernetes/client.py)."""

    #: kubeconfig file (relative to the config file); unset: as above.
    kubeconfig: str | None = None
    #: kubeconfig context; unset: the kubeconfig's current context.
    context: str | None = None
    #: Only the pod's service account (ignores kubeconfig and context; an error outside a pod).
    in_cluster: bool = False
    #: Objects per list page (`limit`); the rest come through `continue`.
    page_size: Annotated[int, Field(ge=1, le=100000)] = 500
    connect_timeout_seconds: Seconds = 10.0
    #: Client-side read timeout: a list or watch silent this long is dropped and retried.
    #: Keep it above the apiserver's bookmark interval (about a minute).
    read_timeout_seconds: Seconds = 90.0
    #: Server-side watch timeout (`timeoutSeconds`): watches end and resume this often.
    watch_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 300
    #: A full relist this often, as a guard against missed events; 0 disables it.
    resync_seconds: Annotated[float, Field(ge=0, le=86400)] = 3600.0
    #: Reconnect backoff: doubles from the initial value up to the max, with full jitter.
    backoff_initial_seconds: Seconds = 1.0
    backoff_max_seconds: Seconds = 60.0
    #: The first collect waits this long for the initial lists.
    initial_sync_timeout_seconds: Seconds = 60.0
    #: Watch ReplicaSets and Jobs to resolve pod owners (ReplicaSet -> Deployment, Job ->
    #: CronJob or JobSet).
    resolve_owners: bool = True
    #: Poll the metrics API (metrics.k8s.io/v1beta1 PodMetrics) for usage.
    metrics_enabled: bool = True
    metrics_poll_seconds: Seconds = 30.0
    #: Usage older than this is dropped and costs fall back to requests.
    metrics_stale_seconds: Seconds = 300.0
    #: Watch Dynamic Resource Allocation (resource.k8s.io ResourceSlices, ResourceClaims,
    #: DeviceClasses: v1, else v1beta2, else v1beta1) to price GPUs held through claims. An
    #: API the cluster does not serve is empty, not an error.
    dra_enabled: bool = True
    kueue: KueueSettings = Field(default_factory=KueueSettings)
    yunikorn: YunikornSettings = Field(default_factory=YunikornSettings)


def with_flags(
    settings: KubernetesSettings, kubeconfig: Path | None, context: str | None
) -> KubernetesSettings:
    """The config block with `--kubeconfig` / `--context` laid over it. A flag names a
    kubeconfig, so it also turns `in_cluster` off; a flag's path is relative to the working
    directory, as kubectl's is, hence made absolute here (config paths are relative to the
    config file)."""
    updates: dict[str, Any] = {}
    if kubeconfig is not None:
        updates["kubeconfig"] = str(kubeconfig.expanduser().absolute())
    if context is not None:
        updates["context"] = context
    if updates:
        updates["in_cluster"] = False
    return settings.model_copy(update=updates)
