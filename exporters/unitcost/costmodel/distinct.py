"""Duplicate objects in a Snapshot (bad source data) -> one of each, the last one winning.

Two pods with one (namespace, name), or two nodes with one name, would be allocated twice and
rendered as duplicate series, and Prometheus rejects a scrape with a duplicate sample whole.
A source that keys its store (the Kubernetes reflectors) never sends duplicates; this is the
guard for the ones that might (a merged or replayed list, a custom source).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import TypeVar

from unitcost.data.model import Snapshot

T = TypeVar("T")


def _last_of_each(items: Sequence[T], key: Callable[[T], Hashable]) -> tuple[tuple[T, ...], int]:
    by_key = {key(item): item for item in items}
    if len(by_key) == len(items):  # the common case: nothing to rebuild
        return tuple(items), 0
    return tuple(by_key.values()), len(items) - len(by_key)


def without_duplicates(snapshot: Snapshot) -> tuple[Snapshot, int]:
    """The snapshot with one object per identity, and how many duplicates were dropped."""
    nodes, n = _last_of_each(snapshot.nodes, lambda x: x.name)
    pods, p = _last_of_each(snapshot.pods, lambda x: (x.namespace, x.name))
    namespaces, s = _last_of_each(snapshot.namespaces, lambda x: x.name)
    volumes, v = _last_of_each(snapshot.volumes, lambda x: x.name)
    gpus, g = _last_of_each(snapshot.gpus, lambda x: (x.node, x.gpu))
    dropped = n + p + s + v + g
    if not dropped:
        return snapshot, 0
    return replace(
        snapshot, nodes=nodes, pods=pods, namespaces=namespaces, volumes=volumes, gpus=gpus
    ), dropped
