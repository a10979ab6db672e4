"""API objects (the JSON the apiserver sends) -> model objects, keeping only needed fields.

A watch holds thousands of pods, so nothing here keeps a whole object: labels and annotations
are filtered to the keys attribution reads, and repeated strings are interned.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from unitcost.base.labelvalues import bound_label_value
from unitcost.costmodel.gpu_ledger import (
    COUNT_LABEL,
    HAMI_CORES,
    HAMI_MEMORY,
    HAMI_MEMORY_PERCENT,
    MIG_RESOURCE_PREFIX,
    REPLICAS_LABEL,
    mig_share,
)
from unitcost.costmodel.quantity import QuantityError, parse_quantity
from unitcost.data.model import (
    CapacityType,
    Flavor,
    LocalQueue,
    Namespace,
    Node,
    Owner,
    Pod,
    PodPhase,
    Provider,
    Queue,
    Resources,
    Volume,
)

Obj = Mapping[str, Any]

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
NODE_POOL_LABELS = (
    "unitcost.dev/node-pool",
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "cloud.google.com/gke-nodepool",
    "node-pool",
)
#: Set by the platform to mark nodes bought under a commitment (no cloud label says so).
CAPACITY_TYPE_LABEL = "unitcost.dev/capacity-type"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
ONPREM_INSTANCE_TYPE_LABEL = "unitcost.dev/node-class"


class ConversionError(ValueError):
    """An object the model cannot represent; the message names the object and the field."""


def _intern(value: str) -> str:
    # Every string kept from an object passes here: over-long values are cut as they enter.
    return sys.intern(bound_label_value(value))


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.get("metadata") or {}
    return meta


def object_key(obj: Obj) -> str:
    """`namespace/name` (or `name` for cluster-scoped objects): the store key."""
    meta = _meta(obj)
    namespace = meta.get("namespace") or ""
    name = meta.get("name") or ""
    return f"{namespace}/{name}" if namespace else str(name)


def _describe(obj: Obj) -> str:
    return f"{obj.get('kind') or 'object'} {object_key(obj)}"


def _quantity(obj: Obj, field: str, value: Any) -> float:
    try:
        return parse_quantity(value)
    except QuantityError as exc:
        raise ConversionError(f"{_describe(obj)}: {field}: {exc}") from exc


def _resources(obj: Obj, field: str, amounts: Obj | None) -> Resources:
    amounts = amounts or {}

    def get(name: str) -> float:
        return _quantity(obj, f"{field}.{name}", amounts[name]) if name in amounts else 0.0

    return Resources(
        cpu=get("cpu"),
        memory=get("memory"),
        gpu=sum(get(name) for name in GPU_RESOURCES),
        storage=get("ephemeral-storage"),
    )


#: GPU extended resources kept per pod beside whole devices (see Pod.gpu_requests).
HAMI_RESOURCES = (HAMI_MEMORY, HAMI_MEMORY_PERCENT, HAMI_CORES)


def _is_gpu_share(name: str) -> bool:
    return name.startswith(MIG_RESOURCE_PREFIX) or name in HAMI_RESOURCES


def pod_gpu_requests(pod: Obj) -> tuple[tuple[str, float], ...]:
    """MIG slices and HAMi fractions the containers request (summed over containers)."""
    found: dict[str, float] = {}
    for i, c in enumerate((pod.get("spec") or {}).get("containers") or []):
        requests = (c.get("resources") or {}).get("requests") or {}
        for name, value in requests.items():
            if _is_gpu_share(name):
                field = f"spec.containers[{i}].resources.requests.{name}"
                found[_intern(name)] = found.get(name, 0.0) + _quantity(pod, field, value)
    return tuple(found.items())


def pod_resource_claims(pod: Obj) -> tuple[str, ...]:
    """The DRA ResourceClaims a pod uses: status.resourceClaimStatuses (claims generated from
    a ResourceClaimTemplate get their name there) and spec.resourceClaims[].resourceClaimName."""
    names: list[str] = []
    for entry in (pod.get("status") or {}).get("resourceClaimStatuses") or []:
        if entry.get("resourceClaimName"):
            names.append(_intern(str(entry["resourceClaimName"])))
    for entry in (pod.get("spec") or {}).get("resourceClaims") or []:
        if entry.get("resourceClaimName"):
            names.append(_intern(str(entry["resourceClaimName"])))
    return tuple(dict.fromkeys(names))


def physical_gpus(obj: Obj, field: str, amounts: Obj | None, labels: Obj) -> float:
    """Physical GPUs behind a node's GPU resources: time-slicing and MPS advertise
    `replicas` per device; MIG's "mixed" strategy advertises slices (nvidia.com/mig-*), whose
    devices are GPU feature discovery's nvidia.com/gpu.count when labelled, else the fewest
    that hold them (a 3g slice: two per 7-slice device)."""
    amounts = amounts or {}
    whole = {n: _quantity(obj, f"{field}.{n}", amounts[n]) for n in GPU_RESOURCES if n in amounts}
    try:
        replicas = max(1, int(labels.get(REPLICAS_LABEL, "1") or 1))
    except ValueError:
        replicas = 1
    devices = whole.get("nvidia.com/gpu", 0.0) / replicas + whole.get("amd.com/gpu", 0.0)
    slices = {
        n[len(MIG_RESOURCE_PREFIX) :]: _quantity(obj, f"{field}.{n}", v)
        for n, v in amounts.items()
        if n.startswith(MIG_RESOURCE_PREFIX)
    }
    if not any(v > 0 for v in slices.values()):
        return devices
    try:
        return max(devices, float(labels[COUNT_LABEL]))
    except (KeyError, ValueError):
        pass
    for profile, count in slices.items():
        per_device = max(1, int(1.0 / mig_share(profile) + 1e-9))
        devices += -(-count // per_device)
    return devices


def _add(a: Resources, b: Resources) -> Resources:
    return Resources(a.cpu + b.cpu, a.memory + b.memory, a.gpu + b.gpu, a.storage + b.storage)


def _max(a: Resources, b: Resources) -> Resources:
    return Resources(
        max(a.cpu, b.cpu), max(a.memory, b.memory), max(a.gpu, b.gpu), max(a.storage, b.storage)
    )


def _filtered(mapping: Obj | None, keys: Collection[str]) -> dict[str, str]:
    if not mapping:
        return {}
    return {_intern(k): _intern(str(v)) for k, v in mapping.items() if k in keys}


def controller_owner(obj: Obj) -> Owner | None:
    """The controlling ownerReference (the first owner when none is marked controller)."""
    refs = _meta(obj).get("ownerReferences") or []
    chosen = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    if not chosen:
        return None
    return Owner(_intern(str(chosen.get("kind", ""))), _intern(str(chosen.get("name", ""))))


def pod_requests(pod: Obj) -> Resources:
    """What the scheduler reserves: sum of containers and restartable (sidecar) init containers,
    at least the largest plain init container, plus the pod overhead."""
    spec = pod.get("spec") or {}
    total = Resources()
    for i, c in enumerate(spec.get("containers") or []):
        requests = (c.get("resources") or {}).get("requests")
        total = _add(total, _resources(pod, f"spec.containers[{i}].resources.requests", requests))
    init_peak = Resources()
    for i, c in enumerate(spec.get("initContainers") or []):
        requests = (c.get("resources") or {}).get("requests")
        amount = _resources(pod, f"spec.initContainers[{i}].resources.requests", requests)
        if c.get("restartPolicy") == "Always":  # a sidecar runs alongside the containers
            total = _add(total, amount)
        else:
            init_peak = _max(init_peak, amount)
    overhead = _resources(pod, "spec.overhead", spec.get("overhead"))
    return _add(_max(total, init_peak), overhead)


def _phase(value: Any) -> PodPhase:
    try:
        return PodPhase(value)
    except ValueError:
        return PodPhase.UNKNOWN


def _conditions(obj: Obj) -> dict[str, Obj]:
    """type -> the condition, for those whose status is "True"."""
    found = (obj.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in found if str(c.get("status")) == "True"}


def pod_disruption(obj: Obj) -> str:
    """The reason of a pod's true DisruptionTarget condition ("" when none): why it is being
    (or was) stopped: preempted by the scheduler, evicted, taint-managed, ..."""
    condition = _conditions(obj).get("DisruptionTarget")
    return _intern(str(condition.get("reason") or "DisruptionTarget")) if condition else ""


def to_pod(obj: Obj, label_keys: Collection[str], annotation_keys: Collection[str]) -> Pod:
    """A pod with its direct controller owner (the source resolves the chain at snapshot time)."""
    meta = _meta(obj)
    spec = obj.get("spec") or {}
    claims = tuple(
        _intern(v["persistentVolumeClaim"]["claimName"])
        for v in spec.get("volumes") or []
        if (v.get("persistentVolumeClaim") or {}).get("claimName")
    )
    return Pod(
        namespace=_intern(meta.get("namespace") or ""),
        name=bound_label_value(meta.get("name") or ""),
        uid=meta.get("uid") or "",
        node=_intern(spec.get("nodeName") or ""),
        phase=_phase((obj.get("status") or {}).get("phase")),
        requests=pod_requests(obj),
        labels=_filtered(meta.get("labels"), label_keys),
        annotations=_filtered(meta.get("annotations"), annotation_keys),
        owner=controller_owner(obj),
        claims=claims,
        disruption=pod_disruption(obj),
        gpu_requests=pod_gpu_requests(obj),
        resource_claims=pod_resource_claims(obj),
    )


def _first(labels: Obj, keys: tuple[str, ...]) -> str:
    return bound_label_value(next((str(labels[k]) for k in keys if labels.get(k)), ""))


def node_provider(obj: Obj) -> Provider:
    provider_id = str((obj.get("spec") or {}).get("providerID") or "")
    if provider_id.startswith("aws://"):
        return Provider.AWS
    if provider_id.startswith("gce://"):
        return Provider.GCP
    return Provider.ONPREM


def capacity_type(labels: Obj) -> CapacityType:
    explicit = str(labels.get(CAPACITY_TYPE_LABEL, "")).lower()
    if explicit in {c.value for c in CapacityType}:
        return CapacityType(explicit)
    spot = (
        str(labels.get("karpenter.sh/capacity-type", "")).lower() == "spot"
        or str(labels.get("eks.amazonaws.com/capacityType", "")).upper() == "SPOT"
        or labels.get("cloud.google.com/gke-spot") == "true"
        or labels.get("cloud.google.com/gke-preemptible") == "true"
    )
    return CapacityType.SPOT if spot else CapacityType.ON_DEMAND


def to_node(obj: Obj) -> Node:
    meta = _meta(obj)
    labels: Obj = meta.get("labels") or {}
    status = obj.get("status") or {}
    instance_type = _first(labels, (ONPREM_INSTANCE_TYPE_LABEL, *INSTANCE_TYPE_LABELS))
    capacity = _resources(obj, "status.capacity", status.get("capacity"))
    allocatable = _resources(obj, "status.allocatable", status.get("allocatable"))
    capacity = replace(
        capacity, gpu=physical_gpus(obj, "status.capacity", status.get("capacity"), labels)
    )
    allocatable = replace(
        allocatable,
        gpu=physical_gpus(obj, "status.allocatable", status.get("allocatable"), labels),
    )
    return Node(
        name=_intern(meta.get("name") or ""),
        provider=node_provider(obj),
        instance_type=instance_type,
        region=_first(labels, REGION_LABELS),
        zone=_first(labels, ZONE_LABELS),
        capacity_type=capacity_type(labels),
        node_pool=_first(labels, NODE_POOL_LABELS),
        capacity=capacity,
        allocatable=allocatable,
        gpu_model=str(labels.get(GPU_PRODUCT_LABEL, "")),
        # Node labels are kept whole: Kueue flavors select nodes by any label, and nodes are few.
        labels={_intern(k): _intern(str(v)) for k, v in labels.items()},
    )


def to_namespace(
    obj: Obj, label_keys: Collection[str], annotation_keys: Collection[str]
) -> Namespace:
    meta = _meta(obj)
    return Namespace(
        _intern(meta.get("name") or ""),
        _filtered(meta.get("labels"), label_keys),
        _filtered(meta.get("annotations"), annotation_keys),
    )


def volume_provider(spec: Obj) -> Provider:
    driver = str((spec.get("csi") or {}).get("driver", ""))
    if driver == "ebs.csi.aws.com" or "awsElasticBlockStore" in spec:
        return Provider.AWS
    if driver == "pd.csi.storage.gke.io" or "gcePersistentDisk" in spec:
        return Provider.GCP
    return Provider.ONPREM


def to_volume(obj: Obj) -> Volume:
    """A PersistentVolume; its claim counts only while the volume is Bound."""
    meta = _meta(obj)
    spec = obj.get("spec") or {}
    claim = spec.get("claimRef") or {}
    bound = (obj.get("status") or {}).get("phase") == "Bound"
    size = (spec.get("capacity") or {}).get("storage", 0)
    return Volume(
        name=bound_label_value(meta.get("name") or ""),
        storage_class=_intern(spec.get("storageClassName") or ""),
        size_bytes=_quantity(obj, "spec.capacity.storage", size),
        provider=volume_provider(spec),
        claim_namespace=_intern(claim.get("namespace") or "") if bound else "",
        claim_name=bound_label_value(claim.get("name") or "") if bound else "",
    )


def claim_volume(obj: Obj) -> str:
    """A PersistentVolumeClaim -> the volume it is bound to ("" while pending)."""
    return str((obj.get("spec") or {}).get("volumeName") or "")


# -- Kueue ------------------------------------------------------------------------------------
KUEUE_RESOURCES = {"cpu": "cpu", "memory": "memory", "ephemeral-storage": "storage"}


def to_flavor(obj: Obj) -> Flavor:
    spec = obj.get("spec") or {}
    labels = spec.get("nodeLabels") or {}
    return Flavor(_meta(obj).get("name") or "", {str(k): str(v) for k, v in labels.items()})


def to_cluster_queue(obj: Obj) -> Queue:
    """Nominal quota per flavor from spec.resourceGroups[].flavors[].resources[]."""
    spec = obj.get("spec") or {}
    quota: dict[str, Resources] = {}
    for g, group in enumerate(spec.get("resourceGroups") or []):
        for f, flavor in enumerate(group.get("flavors") or []):
            amounts: dict[str, float] = {"cpu": 0.0, "memory": 0.0, "gpu": 0.0, "storage": 0.0}
            for r, resource in enumerate(flavor.get("resources") or []):
                name = str(resource.get("name", ""))
                field = f"spec.resourceGroups[{g}].flavors[{f}].resources[{r}].nominalQuota"
                amount = _quantity(obj, field, resource.get("nominalQuota", 0))
                if name in GPU_RESOURCES:
                    amounts["gpu"] += amount
                elif name in KUEUE_RESOURCES:
                    amounts[KUEUE_RESOURCES[name]] += amount
            previous = quota.get(flavor.get("name", ""), Resources())
            quota[str(flavor.get("name", ""))] = _add(previous, Resources(**amounts))
    cohort = spec.get("cohortName") or spec.get("cohort") or ""  # v1beta2 renamed the field
    return Queue(_meta(obj).get("name") or "", "kueue", quota, cohort=str(cohort))


def to_local_queue(obj: Obj) -> LocalQueue:
    meta = _meta(obj)
    cluster_queue = (obj.get("spec") or {}).get("clusterQueue") or ""
    return LocalQueue(meta.get("namespace") or "", meta.get("name") or "", str(cluster_queue))


def workload_admission(obj: Obj) -> tuple[Owner | None, str]:
    """A Kueue Workload -> (the job it stands for, the ClusterQueue it is admitted to or "")."""
    admission = (obj.get("status") or {}).get("admission") or {}
    return controller_owner(obj), str(admission.get("clusterQueue") or "")
