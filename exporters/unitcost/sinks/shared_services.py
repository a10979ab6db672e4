"""Shared services' families (metrics/catalogue.py; docs/shared-services.md)."""

from __future__ import annotations

from collections.abc import Sequence

from unitcost.data.shared_services import Split
from unitcost.metrics.catalogue import SHARED_SERVICE_ALLOCATED, SHARED_SERVICE_COST
from unitcost.metrics.family import MetricFamily

UNATTRIBUTED = "unattributed"


def shared_service_families(splits: Sequence[Split]) -> list[MetricFamily]:
    """Splits whose consumers are teams (the runtime maps namespaces to their teams)."""
    cost = SHARED_SERVICE_COST.family()
    allocated = SHARED_SERVICE_ALLOCATED.family()
    for split in splits:
        cost.add((split.service, split.owner), split.cost)
        for team, dollars in sorted(split.shares.items()):
            allocated.add((split.service, team, split.method), dollars)
        if split.remainder or not split.shares:
            allocated.add((split.service, split.owner, UNATTRIBUTED), split.remainder)
    return [cost, allocated]
