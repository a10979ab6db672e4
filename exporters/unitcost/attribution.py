"""Who owns a pod: labels, annotations and owners -> team, org, cost_center, queue, app.

Pure: it reads the Snapshot and the rules, nothing else. The rules come from the config file
(`attribution:` in docs/config.md); the defaults below follow common platform conventions.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from unitcost.model import LocalQueue, Namespace, Pod, Snapshot

UNASSIGNED = "unassigned"

LabelOrigin = Literal["namespace_label", "namespace_annotation", "pod_label", "pod_annotation"]

# Well-known labels written by the batch schedulers and operators.
KUEUE_QUEUE_NAME = "kueue.x-k8s.io/queue-name"
KUEUE_LOCAL_QUEUE = "kueue.x-k8s.io/local-queue-name"
KUEUE_CLUSTER_QUEUE = "kueue.x-k8s.io/cluster-queue-name"
YUNIKORN_QUEUE = "yunikorn.apache.org/queue"
YUNIKORN_LEGACY_QUEUE = "queue"
SPARK_APP_SELECTOR = "spark-app-selector"
SPARK_APP_NAME = "spark-app-name"
SPARK_ROLE = "spark-role"
SPARK_OPERATOR_APP = "sparkoperator.k8s.io/app-name"
RAY_CLUSTER = "ray.io/cluster"
RAY_NODE_TYPE = "ray.io/node-type"
JOBSET_NAME = "jobset.sigs.k8s.io/jobset-name"


@dataclass(frozen=True, slots=True)
class LabelSource:
    """Read an ownership field from one label or annotation."""

    origin: LabelOrigin
    key: str


@dataclass(frozen=True, slots=True)
class NamespaceDefault:
    """Ownership for namespaces matching a glob pattern, when no label says otherwise."""

    pattern: str
    team: str = ""
    org: str = ""
    cost_center: str = ""


@dataclass(frozen=True, slots=True)
class AttributionRules:
    """Precedence: the first source in each list with a non-empty value wins, then the first
    matching namespace default, then `unassigned`."""

    team: tuple[LabelSource, ...] = (
        LabelSource("pod_label", "team"),
        LabelSource("namespace_label", "team"),
    )
    org: tuple[LabelSource, ...] = (
        LabelSource("pod_label", "org"),
        LabelSource("namespace_label", "org"),
    )
    cost_center: tuple[LabelSource, ...] = (
        LabelSource("pod_label", "cost-center"),
        LabelSource("namespace_label", "cost-center"),
    )
    namespace_defaults: tuple[NamespaceDefault, ...] = ()
    #: Namespaces whose cost is the shared/system bucket (their team is `shared_team`).
    shared_namespaces: tuple[str, ...] = ()
    shared_team: str = "shared"


@dataclass(frozen=True, slots=True)
class Attribution:
    team: str
    org: str
    cost_center: str
    queue: str = ""
    app: str = ""
    workload_kind: str = ""


def matches_any(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _lookup(sources: Sequence[LabelSource], pod: Pod | None, namespace: Namespace | None) -> str:
    for source in sources:
        mapping: Mapping[str, str]
        if source.origin == "pod_label":
            mapping = pod.labels if pod else {}
        elif source.origin == "pod_annotation":
            mapping = pod.annotations if pod else {}
        elif source.origin == "namespace_label":
            mapping = namespace.labels if namespace else {}
        else:
            mapping = namespace.annotations if namespace else {}
        value = mapping.get(source.key, "")
        if value:
            return value
    return ""


def _ownership(
    rules: AttributionRules, namespace_name: str, namespace: Namespace | None, pod: Pod | None
) -> tuple[str, str, str]:
    if matches_any(namespace_name, rules.shared_namespaces):
        return rules.shared_team, rules.shared_team, rules.shared_team
    team = _lookup(rules.team, pod, namespace)
    org = _lookup(rules.org, pod, namespace)
    cost_center = _lookup(rules.cost_center, pod, namespace)
    for default in rules.namespace_defaults:
        if fnmatch.fnmatchcase(namespace_name, default.pattern):
            team = team or default.team
            org = org or default.org
            cost_center = cost_center or default.cost_center
            break
    return team or UNASSIGNED, org or UNASSIGNED, cost_center or UNASSIGNED


def pod_queue(pod: Pod, local_queues: Mapping[tuple[str, str], LocalQueue]) -> str:
    """The quota-holding queue: a Kueue ClusterQueue (through the pod's LocalQueue) or a
    YuniKorn queue path. "" when the pod is in no queue."""
    labels = pod.labels
    cluster_queue = labels.get(KUEUE_CLUSTER_QUEUE)
    if cluster_queue:
        return cluster_queue
    local = labels.get(KUEUE_QUEUE_NAME) or labels.get(KUEUE_LOCAL_QUEUE)
    if local:
        resolved = local_queues.get((pod.namespace, local))
        return resolved.cluster_queue if resolved else local
    return (
        labels.get(YUNIKORN_QUEUE)
        or pod.annotations.get(YUNIKORN_QUEUE)
        or labels.get(YUNIKORN_LEGACY_QUEUE)
        or ""
    )


def pod_workload(pod: Pod) -> tuple[str, str]:
    """(app, workload_kind): the application the pod runs for, most specific source first."""
    labels = pod.labels
    spark_app = (
        labels.get(SPARK_OPERATOR_APP)
        or labels.get(SPARK_APP_NAME)
        or labels.get(SPARK_APP_SELECTOR)
    )
    if spark_app:
        return spark_app, "SparkApplication"
    if labels.get(RAY_CLUSTER):
        return labels[RAY_CLUSTER], "RayCluster"
    if labels.get(JOBSET_NAME):
        return labels[JOBSET_NAME], "JobSet"
    if pod.owner is not None:
        return pod.owner.name, pod.owner.kind
    return pod.name, "Pod"


def attribute_pod(
    pod: Pod,
    namespace: Namespace | None,
    rules: AttributionRules,
    local_queues: Mapping[tuple[str, str], LocalQueue],
) -> Attribution:
    team, org, cost_center = _ownership(rules, pod.namespace, namespace, pod)
    app, kind = pod_workload(pod)
    return Attribution(team, org, cost_center, pod_queue(pod, local_queues), app, kind)


def attribute_namespace(
    name: str, namespace: Namespace | None, rules: AttributionRules
) -> Attribution:
    team, org, cost_center = _ownership(rules, name, namespace, None)
    return Attribution(team, org, cost_center)


def local_queue_index(snapshot: Snapshot) -> dict[tuple[str, str], LocalQueue]:
    return {(lq.namespace, lq.name): lq for lq in snapshot.local_queues}
