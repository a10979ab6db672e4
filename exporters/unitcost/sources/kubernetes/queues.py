"""Queues for the cost model: Kueue admission onto pods, YuniKorn queues from pod labels and,
optionally, YuniKorn's guaranteed quota from its REST API (/ws/v1/partition/{p}/queues)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from unitcost.config.kubernetes import YunikornSettings
from unitcost.costmodel.attribution import (
    KUEUE_CLUSTER_QUEUE,
    KUEUE_LOCAL_QUEUE,
    KUEUE_QUEUE_NAME,
    MAX_OWNER_DEPTH,
    OwnerIndex,
)
from unitcost.costmodel.quantity import QuantityError, parse_quantity
from unitcost.data.batch import Cohort, QueueUsage
from unitcost.data.model import Owner, Pod, Queue, Resources
from unitcost.sources.poller import Poller

SOURCE_NAME = "yunikorn"
#: (namespace, owner kind, owner name) -> the ClusterQueue its Workload is admitted to.
Admissions = Mapping[tuple[str, str, str], str]


def admitted_queue(pod: Pod, parents: OwnerIndex, admissions: Admissions) -> str:
    """The ClusterQueue admitting the pod's Workload: found on the pod itself (Kueue's pod
    integration) or on any owner up its chain (a Job, a JobSet, a RayCluster)."""
    owner: Owner | None = Owner("Pod", pod.name)
    for _ in range(MAX_OWNER_DEPTH):
        if owner is None:
            return ""
        queue = admissions.get((pod.namespace, owner.kind, owner.name))
        if queue:
            return queue
        owner = (
            pod.owner
            if owner.kind == "Pod" and owner.name == pod.name
            else parents.get((pod.namespace, owner.kind, owner.name))
        )
    return ""


def with_admission(pod: Pod, cluster_queue: str) -> Pod:
    """The pod labelled with its admitting ClusterQueue, unless a Kueue label already says."""
    labels = pod.labels
    if not cluster_queue or KUEUE_CLUSTER_QUEUE in labels:
        return pod
    return replace(pod, labels={**labels, KUEUE_CLUSTER_QUEUE: cluster_queue})


def is_kueue_pod(pod: Pod) -> bool:
    labels = pod.labels
    return any(k in labels for k in (KUEUE_CLUSTER_QUEUE, KUEUE_QUEUE_NAME, KUEUE_LOCAL_QUEUE))


def label_queues(names: Iterable[str], flavor: str) -> list[Queue]:
    """YuniKorn queues known only from pod labels: no quota, but their used cost counts."""
    return [
        Queue(name, "yunikorn", {flavor: Resources()}, parent=name.rpartition(".")[0])
        for name in sorted(set(names))
    ]


_YUNIKORN_RESOURCES = {"vcore": ("cpu", 1e-3), "memory": ("memory", 1.0)}


def _yunikorn_resources(amounts: Mapping[str, Any] | None, where: str) -> Resources:
    values = {"cpu": 0.0, "memory": 0.0, "gpu": 0.0, "storage": 0.0}
    for name, raw in (amounts or {}).items():
        try:
            amount = parse_quantity(raw)
        except QuantityError as exc:
            raise ValueError(f"{where}.{name}: {exc}") from exc
        if name in _YUNIKORN_RESOURCES:
            field, scale = _YUNIKORN_RESOURCES[name]
            values[field] += amount * scale  # vcore is in millicores
        elif name in ("nvidia.com/gpu", "amd.com/gpu"):
            values["gpu"] += amount
        elif name == "ephemeral-storage":
            values["storage"] += amount
    return Resources(**values)


@dataclass(frozen=True, slots=True)
class YunikornTree:
    """One poll of the queue tree: every queue with its guaranteed quota, what each leaf has
    allocated (borrowed: above guaranteed), and the parent queues as the leaves' cohorts."""

    queues: list[Queue]
    usage: list[QueueUsage]
    cohorts: list[Cohort]


def _above(used: Resources, guaranteed: Resources) -> Resources:
    return Resources(
        *(max(0.0, used.get(r) - guaranteed.get(r)) for r in ("cpu", "memory", "gpu", "storage"))
    )


def parse_yunikorn_tree(body: Mapping[str, Any], flavor: str) -> YunikornTree:
    """The queue tree of /ws/v1/partition/{p}/queues -> one Queue per queue (full path), with
    its guaranteed resources as quota; leaves' allocatedResource as usage, the part above
    guaranteed as borrowed (maxResource caps it; the cohort ledger needs no more)."""
    tree = YunikornTree([], [], [])

    def visit(node: Mapping[str, Any], parent: str) -> None:
        name = str(node.get("queuename") or "")
        # Older YuniKorn releases give the leaf name only; build the path from the parent.
        path = name if not parent or name.startswith(parent + ".") else f"{parent}.{name}"
        guaranteed = _yunikorn_resources(node.get("guaranteedResource"), f"queue {path}")
        children = node.get("children") or []
        leaf = not children
        tree.queues.append(
            Queue(
                path, "yunikorn", {flavor: guaranteed}, parent=parent, cohort=parent if leaf else ""
            )
        )
        if leaf:
            used = _yunikorn_resources(node.get("allocatedResource"), f"queue {path}")
            tree.usage.append(QueueUsage(path, flavor, used, _above(used, guaranteed)))
        else:
            tree.cohorts.append(Cohort(path, parent))
        for child in children:
            visit(child, path)

    visit(body, "")
    return tree


def parse_yunikorn_queues(body: Mapping[str, Any], flavor: str) -> list[Queue]:
    """The queue tree -> one Queue per queue (full path), with its guaranteed quota."""
    return parse_yunikorn_tree(body, flavor).queues


class YunikornPoller(Poller[YunikornTree]):
    """Polls the YuniKorn REST API for the queue tree; reports as source "yunikorn"."""

    def __init__(
        self, settings: YunikornSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        assert settings.rest_url
        url = (
            f"{settings.rest_url.rstrip('/')}/ws/v1/partition/"
            f"{urllib.parse.quote(settings.partition)}/queues"
        )
        super().__init__(
            SOURCE_NAME,
            self._fetch,
            settings.poll_seconds,
            retry_interval=settings.poll_seconds,
            describe=lambda exc: f"YuniKorn REST {url}: {type(exc).__name__}: {exc}",
            clock=clock,
        )
        self._url = url
        self._settings = settings

    @property
    def queues(self) -> list[Queue]:
        """The last good queue tree; empty until one poll succeeded."""
        return self.value.queues if self.value is not None else []

    @property
    def tree(self) -> YunikornTree:
        return self.value if self.value is not None else YunikornTree([], [], [])

    def _fetch(self) -> YunikornTree:
        with urllib.request.urlopen(self._url, timeout=self._settings.timeout_seconds) as r:
            body = json.loads(r.read())
        if not isinstance(body, dict):
            raise ValueError(f"expected a JSON object, got {type(body).__name__}")
        return parse_yunikorn_tree(body, self._settings.flavor)
