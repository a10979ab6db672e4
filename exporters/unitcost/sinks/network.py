"""The network collector's metric families (declared in metrics/catalogue.py; docs/network.md).

Counters per (node, namespace, pod, destination, nat, direction); the node's shared bucket has
empty namespace and pod (Prometheus drops the empty labels).
"""

from __future__ import annotations

from collections.abc import Mapping

from unitcost.data.network import TrafficKey
from unitcost.metrics.catalogue import (
    NETWORK_ACCOUNTING,
    NETWORK_BYTES,
    NETWORK_COST,
    NETWORK_ENTRIES,
    NETWORK_MALFORMED,
)
from unitcost.metrics.family import MetricFamily


def traffic_labels(node: str, key: TrafficKey) -> tuple[str, ...]:
    pod = key.pod
    return (
        node,
        pod.namespace if pod else "",
        pod.name if pod else "",
        key.traffic_class.value,
        "true" if key.nat else "false",
        key.direction.value,
    )


def traffic_families(
    nbytes: Mapping[tuple[str, TrafficKey], int], dollars: Mapping[tuple[str, TrafficKey], float]
) -> list[MetricFamily]:
    """Bytes and dollars per (node, row): the agent's one node, or the simulated cluster's."""
    bytes_family = NETWORK_BYTES.family()
    cost = NETWORK_COST.family()
    for (node, key), value in nbytes.items():
        labels = traffic_labels(node, key)
        bytes_family.add(labels, float(value))
        cost.add(labels, dollars.get((node, key), 0.0))
    return [bytes_family, cost]


def network_families(
    node: str,
    nbytes: Mapping[TrafficKey, int],
    dollars: Mapping[TrafficKey, float],
    entries: int,
    malformed: int,
    accounting: bool | None,
) -> list[MetricFamily]:
    families = traffic_families(
        {(node, key): value for key, value in nbytes.items()},
        {(node, key): value for key, value in dollars.items()},
    )
    count = NETWORK_ENTRIES.family()
    count.add((node,), float(entries))
    bad = NETWORK_MALFORMED.family()
    bad.add((node,), float(malformed))
    families += [count, bad]
    if accounting is not None:
        acct = NETWORK_ACCOUNTING.family()
        acct.add((node,), 1.0 if accounting else 0.0)
        families.append(acct)
    return families
