"""Who owns a pod: labels, annotations and owners -> team, org, cost_center, queue, app.

Pure: it reads the Snapshot and the rules, nothing else. The rules come from the config file
(`attribution:` in docs/config.md); the defaults below follow common platform conventions.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from unitcost.base.labelvalues import bound_label_value
from unitcost.config.file import LabelOrigin, LabelSource
from unitcost.data.devices import HAMI_ALLOCATED
from unitcost.data.frame import Attribution
from unitcost.data.model import LocalQueue, Namespace, Owner, Pod, Snapshot

UNASSIGNED = "unassigned"


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
POD_TEMPLATE_HASH = "pod-template-hash"

#: Pod labels and annotations the built-in rules read: a source keeps these (plus the keys the
#: configured rules name) and drops the rest, so a watch never holds whole label maps.
WELL_KNOWN_POD_KEYS = frozenset(
    {
        KUEUE_QUEUE_NAME,
        KUEUE_LOCAL_QUEUE,
        KUEUE_CLUSTER_QUEUE,
        YUNIKORN_QUEUE,
        YUNIKORN_LEGACY_QUEUE,
        SPARK_APP_SELECTOR,
        SPARK_APP_NAME,
        SPARK_ROLE,
        SPARK_OPERATOR_APP,
        RAY_CLUSTER,
        RAY_NODE_TYPE,
        JOBSET_NAME,
        POD_TEMPLATE_HASH,
    }
)
#: Owner chains are short (Pod -> Job -> JobSet); the cap guards against a cycle in bad data.
MAX_OWNER_DEPTH = 8

#: (namespace, kind, name) -> that object's controlling owner.
OwnerIndex = Mapping[tuple[str, str, str], Owner]


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
    #: Pod labels copied into metrics (as `label_<key>` on the pod total and info series); no
    #: others ever are.
    pod_label_allowlist: tuple[str, ...] = ()

    def keys(self, origin: LabelOrigin) -> frozenset[str]:
        """The label or annotation keys the rules read from `origin`."""
        return frozenset(
            s.key for s in (*self.team, *self.org, *self.cost_center) if s.origin == origin
        )

    def pod_label_keys(self) -> frozenset[str]:
        """Every pod label key attribution can read: the rest need not be kept."""
        return WELL_KNOWN_POD_KEYS | self.keys("pod_label") | frozenset(self.pod_label_allowlist)

    def pod_annotation_keys(self) -> frozenset[str]:
        # HAMi's allocation names the devices a fractional pod holds (gpu_ledger.py).
        return frozenset({YUNIKORN_QUEUE, HAMI_ALLOCATED}) | self.keys("pod_annotation")


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


def resolve_owner(
    owner: Owner | None, namespace: str, parents: OwnerIndex, pod_template_hash: str = ""
) -> Owner | None:
    """Walk a controller owner up its chain (ReplicaSet -> Deployment, Job -> CronJob or
    JobSet, executor Pod -> driver Pod -> SparkApplication) as far as `parents` knows it.

    A ReplicaSet not (yet) in `parents` is still resolved when its name is
    `<deployment>-<pod-template-hash>`, the name the Deployment controller gives it.
    """
    seen = 0
    while owner is not None and seen < MAX_OWNER_DEPTH:
        parent = parents.get((namespace, owner.kind, owner.name))
        if parent is None:
            suffix = f"-{pod_template_hash}"
            if (
                owner.kind == "ReplicaSet"
                and pod_template_hash
                and owner.name.endswith(suffix)
                and len(owner.name) > len(suffix)
            ):
                return Owner("Deployment", owner.name[: -len(suffix)])
            return owner
        owner = parent
        seen += 1
    return owner


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
    return _attribute(pod, _bounded_ownership(rules, namespace, pod), rules, local_queues)


def _bounded_ownership(
    rules: AttributionRules, namespace: Namespace | None, pod: Pod
) -> tuple[str, str, str]:
    """(team, org, cost_center), each bounded: values from annotations are unbounded, so they
    are cut as they enter."""
    team, org, cost_center = _ownership(rules, pod.namespace, namespace, pod)
    return bound_label_value(team), bound_label_value(org), bound_label_value(cost_center)


def _attribute(
    pod: Pod,
    ownership: tuple[str, str, str],
    rules: AttributionRules,
    local_queues: Mapping[tuple[str, str], LocalQueue],
) -> Attribution:
    app, kind = pod_workload(pod)
    b = bound_label_value
    labels = tuple((key, b(pod.labels.get(key, ""))) for key in rules.pod_label_allowlist)
    team, org, cost_center = ownership
    return Attribution(
        team, org, cost_center, b(pod_queue(pod, local_queues)), b(app), b(kind), labels
    )


def attribute_namespace(
    name: str, namespace: Namespace | None, rules: AttributionRules
) -> Attribution:
    team, org, cost_center = _ownership(rules, name, namespace, None)
    return Attribution(
        bound_label_value(team), bound_label_value(org), bound_label_value(cost_center)
    )


def local_queue_index(snapshot: Snapshot) -> dict[tuple[str, str], LocalQueue]:
    return {(lq.namespace, lq.name): lq for lq in snapshot.local_queues}


#: What attribute_pod reads of a pod, as values: namespace, labels, annotations, then the
#: owner's kind and name, or None and the pod's name when it has no owner (app is then the
#: pod's own name). Plain strings hash in C; an Owner hashes through a Python __hash__.
PodInputs = tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], str | None, str]
#: What attribute_pod reads of a namespace: its labels, annotations and LocalQueues (name ->
#: ClusterQueue); None for a namespace the snapshot does not hold.
_NamespaceInputs = tuple[dict[str, str], dict[str, str], dict[str, str]] | None


class AttributionCache:
    """attribute_pod for many pods, computed once per distinct input and kept from one round
    (a collect) to the next, so each round attributes only the workloads that are new.

    The pods of one job or deployment share namespace, labels, annotations and owner, so 150,000
    pods have a few tens of thousands of distinct inputs, and most of those outlive a round.
    An answer also depends on the rules and on the pod's namespace (labels, annotations,
    LocalQueues): a change of rules (a config reload) empties the cache; a changed, added or
    removed namespace or LocalQueue drops that namespace's entries. Only the inputs used in the
    latest round are kept, so finished workloads do not accumulate. Keys are value copies
    (tuples of label items), so a source that mutates its dicts in place cannot stale them.

    Owned by one caller (the Collector) and used from one thread; a fresh cache per call gives
    the answers of plain attribute_pod (allocate() does that when given none).
    """

    def __init__(self) -> None:
        self._rules: AttributionRules | None = None
        self._namespaces: dict[str, _NamespaceInputs] = {}
        self._memo: dict[PodInputs, Attribution] = {}
        #: attribute_pod calls in the latest round (the misses), for tests and benchmarks.
        self.computed = 0

    def __len__(self) -> int:
        return len(self._memo)

    def attribute(
        self,
        pods: Sequence[Pod],
        namespaces: Mapping[str, Namespace],
        rules: AttributionRules,
        local_queues: Mapping[tuple[str, str], LocalQueue],
    ) -> list[Attribution]:
        """Each pod's Attribution, in the order of `pods`."""
        kept = self._still_valid(namespaces, rules, local_queues)
        memo: dict[PodInputs, Attribution] = {}
        # Second level, this round only: pods whose labels differ only in keys attribution
        # does not read (a source that keeps them all) still share one computation.
        by_read: dict[object, Attribution] = {}
        label_keys = sorted(rules.pod_label_keys())
        annotation_keys = sorted(rules.pod_annotation_keys())
        # Third level: ownership reads only a few keys (team, org, cost-center), the same in
        # most of a namespace's pods, while most inputs differ in an app or job name.
        ownerships: dict[object, tuple[str, str, str]] = {}
        ownership_label_keys = sorted(rules.keys("pod_label"))
        ownership_annotation_keys = sorted(rules.keys("pod_annotation"))
        computed = 0
        out: list[Attribution] = []
        append = out.append
        for pod in pods:
            labels, annotations, owner = pod.labels, pod.annotations, pod.owner
            key: PodInputs = (
                pod.namespace,
                tuple(labels.items()) if labels else (),
                tuple(annotations.items()) if annotations else (),
                None if owner is None else owner.kind,
                pod.name if owner is None else owner.name,
            )
            found = memo.get(key)
            if found is None:
                found = kept.get(key)
                if found is None:
                    read = (
                        key[0],
                        tuple(map(labels.get, label_keys)) if labels else (),
                        tuple(map(annotations.get, annotation_keys)) if annotations else (),
                        key[3],
                        key[4],
                    )
                    found = by_read.get(read)
                    if found is None:
                        owned_by = (
                            key[0],
                            tuple(map(labels.get, ownership_label_keys)),
                            tuple(map(annotations.get, ownership_annotation_keys)),
                        )
                        ownership = ownerships.get(owned_by)
                        if ownership is None:
                            namespace = namespaces.get(pod.namespace)
                            ownership = _bounded_ownership(rules, namespace, pod)
                            ownerships[owned_by] = ownership
                        found = by_read[read] = _attribute(pod, ownership, rules, local_queues)
                        computed += 1
                memo[key] = found
            append(found)
        self._memo = memo
        self.computed = computed
        return out

    def _still_valid(
        self,
        namespaces: Mapping[str, Namespace],
        rules: AttributionRules,
        local_queues: Mapping[tuple[str, str], LocalQueue],
    ) -> dict[PodInputs, Attribution]:
        """The entries of the previous round that this round's rules and namespaces leave
        valid; records this round's rules and namespaces."""
        queues: dict[str, dict[str, str]] = {}
        for (namespace_name, name), queue in local_queues.items():
            queues.setdefault(namespace_name, {})[name] = queue.cluster_queue
        state: dict[str, _NamespaceInputs] = {
            name: (dict(ns.labels), dict(ns.annotations), queues.get(name, {}))
            for name, ns in namespaces.items()
        }
        for name, by_name in queues.items():  # LocalQueues in a namespace the snapshot lacks
            state.setdefault(name, ({}, {}, by_name))
        previous, self._namespaces = self._namespaces, state
        if rules != self._rules:
            self._rules = rules
            return {}
        changed = {
            name for name in state.keys() | previous.keys() if state.get(name) != previous.get(name)
        }
        if not changed:
            return self._memo
        return {key: found for key, found in self._memo.items() if key[0] not in changed}
