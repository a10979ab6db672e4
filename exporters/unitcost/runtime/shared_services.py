"""Shared services at each collect: the service's cost from the frame, split by the last usage
read (docs/shared-services.md).

Why here and not in recording rules: the usage queries are the user's own PromQL over the
services' own metrics, with labels unitcost cannot know in advance (a rule per service would
be chart templating over arbitrary queries), and a failing query must keep the last good split
and say so; that is state, which lives in the runtime. The split itself is a pure function
(costmodel/shared_services.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from unitcost.base.sums import exact_sum
from unitcost.config.shared_services import SharedService, SharedServicesSettings
from unitcost.costmodel.shared_services import (
    split_by_fractions,
    split_by_usage,
    usage_fractions,
)
from unitcost.data.frame import CostFrame
from unitcost.data.records import SourceHealth
from unitcost.data.shared_services import Split
from unitcost.metrics.family import MetricFamily
from unitcost.sinks.shared_services import shared_service_families

log = logging.getLogger(__name__)
#: Runs one instant query: (labels, value) pairs; raises on failure.
Query = Callable[[str], Sequence[tuple[Mapping[str, str], float]]]


def source_name(service: str) -> str:
    return f"shared-service:{service}"


def service_cost(frame: CostFrame, service: SharedService) -> tuple[float, str]:
    """Dollars per hour of the service's pods (allocated + shared received) and their team
    (the most expensive pod's; `owner_team` overrides). Selector keys must be allowlisted pod
    labels (attribution.pod_label_allowlist): a label the frame does not carry never matches."""
    total: list[float] = []
    owner, top = service.owner_team, -1.0
    for pod in frame.pods:
        if pod.namespace != service.namespace:
            continue
        labels = dict(pod.owner.labels)
        if any(labels.get(k) != v for k, v in service.selector.items()):
            continue
        dollars = exact_sum([*pod.allocated.values(), *pod.shared.values()])
        total.append(dollars)
        if not service.owner_team and dollars > top:
            owner, top = pod.owner.team, dollars
    return exact_sum(total), owner or "unassigned"


class SharedServiceAllocator:
    """Reads usage on `refresh()` (a poller's pace); splits the current cost on `split()`."""

    def __init__(self, settings: SharedServicesSettings, query: Query) -> None:
        self.settings = settings
        self.query = query
        self._usage: dict[str, dict[str, float]] = {}
        self._fractions: dict[str, dict[str, float]] = {}
        self._refreshed = float("-inf")
        self._health: dict[str, SourceHealth] = {
            name: SourceHealth(source_name(name), False, 0.0) for name in settings.services
        }

    def refresh(self, now: float) -> None:
        for name, service in self.settings.services.items():
            try:
                rows = self.query(service.usage_query)
            except Exception as exc:  # any failure of the user's query: keep the last split
                if self._health[name].up or self._health[name].last_success == 0.0:
                    log.error("shared service %s: usage query failed: %s", name, exc)
                self._health[name] = SourceHealth(
                    source_name(name), False, self._health[name].last_success
                )
                continue
            usage: dict[str, float] = {}
            for labels, value in rows:
                consumer = labels.get(service.consumer_label, "")
                usage[consumer] = usage.get(consumer, 0.0) + value
            self._usage[name] = usage
            self._health[name] = SourceHealth(source_name(name), True, now)

    def split(self, frame: CostFrame) -> list[Split]:
        splits = []
        for name, service in self.settings.services.items():
            cost, owner = service_cost(frame, service)
            if self._health[name].up and name in self._usage:
                result = split_by_usage(name, owner, cost, self._usage[name])
                self._fractions[name] = usage_fractions(self._usage[name])
            else:
                result = split_by_fractions(name, owner, cost, self._fractions.get(name, {}))
            splits.append(result)
        return splits

    def health(self) -> list[SourceHealth]:
        return list(self._health.values())

    def by_team(self, frame: CostFrame) -> list[Split]:
        """This collect's splits with consumers turned into teams (a namespace consumer pays
        through its namespace's team; one unknown to the frame: `unassigned`)."""
        out = []
        for split in self.split(frame):
            service = self.settings.services[split.service]
            if service.consumer_kind == "team":
                out.append(split)
                continue
            teams: dict[str, float] = {}
            for namespace, dollars in split.shares.items():
                owner = frame.namespaces.get(namespace)
                team = owner.team if owner is not None else "unassigned"
                teams[team] = teams.get(team, 0.0) + dollars
            out.append(replace(split, shares=teams))
        return out

    def families(self, frame: CostFrame, now: float) -> list[MetricFamily]:
        """Refresh usage when `interval_seconds` have passed, then split this frame's cost."""
        if now - self._refreshed >= self.settings.interval_seconds:
            self._refreshed = now
            self.refresh(now)
        return shared_service_families(self.by_team(frame))
