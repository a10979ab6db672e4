"""The outcome ledger: each workload run's dollars from collect to collect until it ends, then
counted under its outcome (docs/batch-economics.md). The one stateful part of batch
economics; the collector owns it and feeds it each collect's per-workload $/hour and endings.

Accrual: a run accrues the $/hour seen at one collect over the time to the next (snapshot
time), so a run is counted up to the collect that first sees it ended (at most one collect
interval too long); an ending read from pods alone is closed one collect later, at no more
dollars (none of its pods runs), so the Job's own verdict can replace it. A gap longer than
`max_gap_seconds` (the exporter or its source was down) accrues nothing: the ledger does not
invent cost it did not see.

Exposition: closed dollars are summed per (team, queue, outcome, cause) into counters, so
ended workloads never pile up as series. A counter series is first served at 0 for
`hold_collects` collects (two, and at least HOLD_SECONDS) before its first amount is added:
Prometheus' increase() counts nothing for a series' first sample, so a series born with its
amount would lose it, and a scrape interval up to HOLD_SECONDS sees the 0 first. The
counters live as long as the process: a restart resets them (increase() treats the drop as a
reset) and forgets the runs under way, which are counted again only from the restart on; a
run that ended before the restart is never counted twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from unitcost.base.sums import exact_sum
from unitcost.costmodel.outcomes import Endings
from unitcost.data.batch import UNPRODUCTIVE, Admission, Ending, Outcome, WorkloadId
from unitcost.data.frame import CostFrame, WorkloadKey
from unitcost.metrics.family import MetricFamily
from unitcost.sinks.batch import EndedKey, RecentKey, ended_families

#: How long a new counter series is served at 0: the longest scrape interval it is sure to
#: reach Prometheus at 0 under.
HOLD_SECONDS = 30.0


def workload_rates(frame: CostFrame) -> dict[WorkloadKey, float]:
    """Each workload's allocated $/hour now: its running pods' allocated cost, all resources
    (what `unitcost_workload_resource_cost_dollars_per_hour` sums to over `resource`)."""
    amounts: dict[WorkloadKey, list[float]] = {}
    for pod in frame.pods:
        amounts.setdefault(pod.workload, []).extend(pod.allocated.values())
    return {key: exact_sum(values) for key, values in amounts.items()}


def held_collects(collect_interval_seconds: float) -> int:
    """Collects a new counter series is held at 0: two, and at least HOLD_SECONDS."""
    return max(2, math.ceil(HOLD_SECONDS / collect_interval_seconds))


@dataclass(slots=True)
class _Run:
    ident: WorkloadId
    dollars: float = 0.0
    #: $/hour at the last collect; 0 while none of its pods runs.
    rate: float = 0.0


class OutcomeLedger:
    def __init__(
        self,
        *,
        max_gap_seconds: float = 900.0,
        recent_seconds: float = 3600.0,
        hold_collects: int = 2,
    ) -> None:
        self.max_gap_seconds = max_gap_seconds
        self.recent_seconds = recent_seconds
        self.hold_collects = hold_collects
        self._runs: dict[WorkloadKey, _Run] = {}
        #: Runs whose pods all ended at the last collect, and how: closed at this one with
        #: the controller's verdict if it came, else with the pods' (also if the workload has
        #: gone meanwhile: a Job deleted as it ended).
        self._awaiting_verdict: dict[WorkloadKey, Ending] = {}
        self._last: float | None = None
        self._started: float | None = None
        self._dollars: dict[EndedKey, float] = {}
        self._count: dict[EndedKey, float] = {}
        #: Series born recently: collects left before their held amounts are added.
        self._hold: dict[EndedKey, int] = {}
        self._held: dict[EndedKey, tuple[float, float]] = {}
        #: Recent unproductive runs: key -> (dollars, ended at).
        self._recent: dict[RecentKey, tuple[float, float]] = {}
        self._waits: dict[tuple[str, str], tuple[float, float]] = {}
        self._admitted: dict[WorkloadId, float] = {}

    @staticmethod
    def ident(key: WorkloadKey) -> WorkloadId:
        return (key[0], key[6], key[5])

    def observe(
        self,
        timestamp: float,
        running: Mapping[WorkloadKey, float],
        endings: Endings,
        admissions: Iterable[Admission] = (),
    ) -> None:
        """One collect: `running` is each workload's $/hour now, `endings` the snapshot's."""
        if self._last is not None and timestamp <= self._last:
            return  # the same (stale) snapshot again: nothing moved
        self._release_held()
        dt = 0.0 if self._last is None else timestamp - self._last
        if dt > self.max_gap_seconds:
            dt = 0.0
        for open_run in self._runs.values():
            open_run.dollars += open_run.rate * dt / 3600.0
            open_run.rate = 0.0
        ended = endings.ended
        for key, rate in running.items():
            found = self._runs.get(key)
            if found is None:
                ident = self.ident(key)
                if ident in ended:
                    continue  # an ended run's pods still stopping: not a new run
                found = self._runs[key] = _Run(ident)
            found.rate = rate
        awaiting, self._awaiting_verdict = self._awaiting_verdict, {}
        for key, run in list(self._runs.items()):
            ending = ended.get(run.ident)
            if ending is None and (key in running or run.ident in endings.present):
                continue  # running, or waiting (pods pending, job suspended)
            if ending is not None and run.ident in endings.provisional and key not in awaiting:
                self._awaiting_verdict[key] = ending  # the controller's verdict may follow
                continue
            ending = ending or awaiting.get(key) or Ending(Outcome.DELETED)
            self._close(key, run, ending, timestamp)
            del self._runs[key]
        self._observe_admissions(timestamp, admissions)
        self._recent = {
            k: v for k, v in self._recent.items() if timestamp - v[1] < self.recent_seconds
        }
        self._last = timestamp
        if self._started is None:
            self._started = timestamp

    def _close(self, key: WorkloadKey, run: _Run, ending: Ending, now: float) -> None:
        namespace, team, _org, _cc, queue, app, kind = key
        labels = (team, queue, ending.outcome.value, ending.cause)
        if labels not in self._dollars:
            self._dollars[labels] = 0.0
            self._count[labels] = 0.0
            if self.hold_collects > 0:
                self._hold[labels] = self.hold_collects
        if labels in self._hold:
            dollars, runs = self._held.get(labels, (0.0, 0.0))
            self._held[labels] = (dollars + run.dollars, runs + 1)
        else:
            self._dollars[labels] += run.dollars
            self._count[labels] += 1
        if ending.outcome in UNPRODUCTIVE and run.dollars > 0:
            recent = (namespace, team, queue, app, kind, ending.outcome.value, ending.cause)
            before = self._recent.get(recent, (0.0, now))[0]
            self._recent[recent] = (before + run.dollars, now)

    def _release_held(self) -> None:
        for labels in list(self._hold):
            self._hold[labels] -= 1
            if self._hold[labels] > 0:
                continue
            del self._hold[labels]
            dollars, runs = self._held.pop(labels, (0.0, 0.0))
            self._dollars[labels] += dollars
            self._count[labels] += runs

    def _observe_admissions(self, now: float, admissions: Iterable[Admission]) -> None:
        """Each admission once, and only those made since the ledger started: those before
        were counted (or not) by the process that saw them. A (queue, team) is served at 0
        from its first queued workload on, so its first admission is not a first sample."""
        seen: dict[WorkloadId, float] = {}
        for a in admissions:
            key = (a.queue, a.team)
            total, count = self._waits.setdefault(key, (0.0, 0.0))
            if a.admitted is None:
                continue
            seen[a.ident] = a.admitted
            if self._admitted.get(a.ident) == a.admitted:
                continue
            if self._started is not None and a.admitted > self._started:
                self._waits[key] = (total + max(0.0, a.admitted - a.created), count + 1)
        self._admitted = seen

    @property
    def open_runs(self) -> int:
        return len(self._runs)

    def families(self) -> list[MetricFamily]:
        recent = {k: v[0] for k, v in self._recent.items()}
        return ended_families(self._dollars, self._count, recent, self._waits)
