"""Who owns a pod, as a table over plain objects: each row is a pod, its namespace, the rules
and the LocalQueues, and the Attribution attribute_pod must give (no source, no server)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from unitcost.base.labelvalues import MAX_LABEL_VALUE_BYTES, bound_label_value
from unitcost.config.file import LabelSource
from unitcost.costmodel.attribution import (
    AttributionRules,
    NamespaceDefault,
    attribute_namespace,
    attribute_pod,
)
from unitcost.data.frame import Attribution
from unitcost.data.model import LocalQueue, Namespace, Owner, Pod, PodPhase, Resources

DEFAULT = AttributionRules()
WITH_DEFAULTS = AttributionRules(
    namespace_defaults=(
        NamespaceDefault("ml-*", team="ml-platform", org="research"),
        NamespaceDefault("*", cost_center="cc-0000"),
    ),
    shared_namespaces=("kube-*", "monitoring"),
)
ANNOTATION_FIRST = AttributionRules(
    team=(LabelSource("pod_annotation", "billing/team"), LabelSource("namespace_label", "team"))
)
ALLOWLIST = AttributionRules(pod_label_allowlist=("env", "tier"))


@dataclass(frozen=True)
class Case:
    pod_labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)
    owner: Owner | None = None
    namespace: str = "analytics"
    rules: AttributionRules = DEFAULT
    local_queues: tuple[LocalQueue, ...] = ()

    def attribute(self) -> Attribution:
        pod = Pod(
            self.namespace,
            "p-0",
            "uid-0",
            "node-1",
            PodPhase.RUNNING,
            Resources(cpu=1),
            labels=self.pod_labels,
            annotations=self.pod_annotations,
            owner=self.owner,
        )
        namespace = Namespace(self.namespace, self.namespace_labels)
        queues = {(q.namespace, q.name): q for q in self.local_queues}
        return attribute_pod(pod, namespace, self.rules, queues)


def owned(
    team: str, org: str, cc: str, queue: str = "", app: str = "p-0", kind: str = "Pod"
) -> Attribution:
    return Attribution(team, org, cc, queue, app, kind)


CASES = {
    "nothing matches: unassigned, the pod is its own app": (
        Case(),
        owned("unassigned", "unassigned", "unassigned"),
    ),
    "namespace labels own the pod": (
        Case(namespace_labels={"team": "etl", "org": "data", "cost-center": "cc-7"}),
        owned("etl", "data", "cc-7"),
    ),
    "a pod label beats its namespace's": (
        Case(pod_labels={"team": "vision"}, namespace_labels={"team": "etl", "org": "data"}),
        owned("vision", "data", "unassigned"),
    ),
    "an empty pod label falls through to the namespace": (
        Case(pod_labels={"team": ""}, namespace_labels={"team": "etl"}),
        owned("etl", "unassigned", "unassigned"),
    ),
    "the first matching namespace default fills what labels left empty": (
        Case(namespace="ml-train", namespace_labels={"org": "ai"}, rules=WITH_DEFAULTS),
        owned("ml-platform", "ai", "unassigned"),
    ),
    "a later default is not consulted once one matched": (
        Case(namespace="etl", rules=WITH_DEFAULTS),
        owned("unassigned", "unassigned", "cc-0000"),
    ),
    "shared namespaces belong to the shared team, whatever their labels": (
        Case(namespace="kube-system", pod_labels={"team": "x"}, rules=WITH_DEFAULTS),
        owned("shared", "shared", "shared"),
    ),
    "a configured annotation source comes first": (
        Case(
            pod_annotations={"billing/team": "finops"},
            namespace_labels={"team": "etl"},
            rules=ANNOTATION_FIRST,
        ),
        owned("finops", "unassigned", "unassigned"),
    ),
    "Kueue: the LocalQueue resolves to its ClusterQueue": (
        Case(
            pod_labels={"kueue.x-k8s.io/queue-name": "lq"},
            local_queues=(LocalQueue("analytics", "lq", "cq-gpu"),),
        ),
        owned("unassigned", "unassigned", "unassigned", queue="cq-gpu"),
    ),
    "Kueue: a LocalQueue of another namespace does not count": (
        Case(
            pod_labels={"kueue.x-k8s.io/queue-name": "lq"},
            local_queues=(LocalQueue("other", "lq", "cq-gpu"),),
        ),
        owned("unassigned", "unassigned", "unassigned", queue="lq"),
    ),
    "Kueue 0.17+: the cluster-queue label wins": (
        Case(
            pod_labels={
                "kueue.x-k8s.io/cluster-queue-name": "cq-a",
                "kueue.x-k8s.io/queue-name": "lq",
            },
            local_queues=(LocalQueue("analytics", "lq", "cq-b"),),
        ),
        owned("unassigned", "unassigned", "unassigned", queue="cq-a"),
    ),
    "YuniKorn: the queue label, then the annotation, then the legacy label": (
        Case(
            pod_annotations={"yunikorn.apache.org/queue": "root.etl"},
            pod_labels={"queue": "root.legacy"},
        ),
        owned("unassigned", "unassigned", "unassigned", queue="root.etl"),
    ),
    "Spark: the operator's app name names the application": (
        Case(
            pod_labels={
                "sparkoperator.k8s.io/app-name": "nightly",
                "spark-role": "executor",
                "spark-app-selector": "spark-123",
            },
            owner=Owner("Pod", "nightly-driver"),
        ),
        owned("unassigned", "unassigned", "unassigned", app="nightly", kind="SparkApplication"),
    ),
    "Ray: the cluster label": (
        Case(
            pod_labels={"ray.io/cluster": "rc-1", "ray.io/node-type": "worker"},
            owner=Owner("RayCluster", "rc-1"),
        ),
        owned("unassigned", "unassigned", "unassigned", app="rc-1", kind="RayCluster"),
    ),
    "JobSet: the jobset label beats the Job owner": (
        Case(
            pod_labels={"jobset.sigs.k8s.io/jobset-name": "train"},
            owner=Owner("Job", "train-workers-0"),
        ),
        owned("unassigned", "unassigned", "unassigned", app="train", kind="JobSet"),
    ),
    "otherwise the resolved owner": (
        Case(owner=Owner("Deployment", "api")),
        owned("unassigned", "unassigned", "unassigned", app="api", kind="Deployment"),
    ),
    "an over-long annotation value is bounded as it enters": (
        Case(pod_annotations={"billing/team": "t" * 2000}, rules=ANNOTATION_FIRST),
        owned(bound_label_value("t" * 2000), "unassigned", "unassigned"),
    ),
}


@pytest.mark.parametrize(("case", "expected"), CASES.values(), ids=CASES.keys())
def test_attribute_pod(case: Case, expected: Attribution) -> None:
    assert case.attribute() == expected


def test_the_bound_is_a_real_cut() -> None:
    team = bound_label_value("t" * 2000)
    assert len(team.encode()) <= MAX_LABEL_VALUE_BYTES and team.startswith("tttt")


def test_allowlisted_pod_labels_ride_along_in_allowlist_order() -> None:
    got = Case(pod_labels={"tier": "gold", "other": "x"}, rules=ALLOWLIST).attribute()
    assert got.labels == (("env", ""), ("tier", "gold"))


def test_namespace_ownership_uses_namespace_sources_only() -> None:
    rules = WITH_DEFAULTS
    assert attribute_namespace("ml-serve", Namespace("ml-serve", {"org": "ai"}), rules) == (
        Attribution("ml-platform", "ai", "unassigned")
    )
    assert attribute_namespace("gone", None, DEFAULT) == Attribution(
        "unassigned", "unassigned", "unassigned"
    )
