"""The cohort ledger: who pays for borrowed quota (docs/batch-economics.md).

Kueue reports what each ClusterQueue borrows (status.flavorsUsage[].resources[].borrowed) but
not who lent it (kubernetes-sigs/kueue#4039). Here the borrowed amounts are matched with the
idle nominal quota of the other queues of the cohort tree, nearest cohort first: each cohort,
deepest first, serves the still unmet borrowing of its subtree from the still unlent idle quota
of its subtree, both in proportion to their amounts. Borrowing no queue's idle quota covers
(a cohort's own quota, a lending limit, status lag) is lent by the root cohort's own line
(queue ""), so over every cohort tree borrowed == lent, in dollars too: both sides are priced
at the flavor's price per unit.

Pure: plain records in, plain records out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from unitcost.data.batch import Cohort, CohortCost, QueueUsage
from unitcost.data.model import Queue
from unitcost.data.resources import RESOURCES, ResourceName, Resources

#: flavor -> resource -> $ per unit-hour (a core-hour, a byte-hour, a device-hour).
UnitPrices = Mapping[str, Mapping[ResourceName, float]]

#: Cohorts deeper than this are bad data (a parent cycle); they are cut there.
MAX_COHORT_DEPTH = 16


@dataclass(slots=True)
class _Line:
    cohort: str
    queue: str
    admitted: float = 0.0
    borrowed: float = 0.0
    #: Idle nominal quota not lent yet.
    lendable: float = 0.0
    #: Borrowed amount not matched with a lender yet.
    unmet: float = 0.0
    lent: float = 0.0


def cohort_paths(queues: Iterable[Queue], cohorts: Iterable[Cohort]) -> dict[str, tuple[str, ...]]:
    """cohort -> its path from the root ((root, ..., cohort)), for every cohort a queue or a
    Cohort object names. A parent cycle is cut where it closes."""
    parent = {c.name: c.parent for c in cohorts}
    names = set(parent) | {q.cohort for q in queues if q.cohort}
    paths: dict[str, tuple[str, ...]] = {}
    for name in sorted(names):
        path = [name]
        while parent.get(path[-1]) and len(path) < MAX_COHORT_DEPTH:
            up = parent[path[-1]]
            if up in path:
                break
            path.append(up)
        paths[name] = tuple(reversed(path))
    return paths


def _match(lines: list[_Line], paths: Mapping[str, tuple[str, ...]]) -> None:
    """Borrowers' unmet amounts against lenders' lendable ones, cohort by cohort, deepest
    first; each cohort's subtree is every line whose path passes through it."""
    nodes = sorted(paths, key=lambda c: (-len(paths[c]), c))
    for node in nodes:
        depth = len(paths[node]) - 1
        inside = [
            line
            for line in lines
            if len(paths[line.cohort]) > depth and paths[line.cohort][depth] == node
        ]
        demand = sum(line.unmet for line in inside)
        supply = sum(line.lendable for line in inside)
        matched = min(demand, supply)
        if matched <= 0:
            continue
        for line in inside:
            if line.lendable > 0:
                share = line.lendable * (matched / supply)
                line.lent += share
                line.lendable -= share
            if line.unmet > 0:
                line.unmet -= line.unmet * (matched / demand)


def cohort_ledger(
    queues: Iterable[Queue],
    usage: Iterable[QueueUsage],
    cohorts: Iterable[Cohort],
    prices: UnitPrices,
    fallback: Mapping[ResourceName, float],
) -> list[CohortCost]:
    """Per queue (and cohort's own quota), flavor and resource: admitted, borrowed and lent
    $/hour. Queues outside any cohort get their admitted cost only."""
    queues, cohorts = list(queues), list(cohorts)
    paths = cohort_paths(queues, cohorts)
    used = {(u.queue, u.flavor): u for u in usage}
    by_key: dict[tuple[str, ResourceName], list[_Line]] = {}

    def line(flavor: str, r: ResourceName, cohort: str, queue: str) -> _Line:
        new = _Line(cohort, queue)
        by_key.setdefault((flavor, r), []).append(new)
        return new

    for q in queues:
        reported = [f for (name, f) in used if name == q.name and f not in q.quota]
        for flavor in [*q.quota, *reported]:
            report = used.get((q.name, flavor))
            nominal = q.quota.get(flavor, Resources())
            for r in RESOURCES:
                total = report.used.get(r) if report else 0.0
                borrowed = report.borrowed.get(r) if report else 0.0
                quota = nominal.get(r)
                if total <= 0 and quota <= 0 and borrowed <= 0:
                    continue
                entry = line(flavor, r, q.cohort, q.name)
                entry.admitted, entry.borrowed = total, borrowed
                if q.cohort:
                    entry.unmet = borrowed
                    entry.lendable = max(0.0, quota - (total - borrowed))
    for cohort in cohorts:  # a cohort's own quota lends to its subtree
        for flavor, amounts in cohort.quota.items():
            for r in RESOURCES:
                if amounts.get(r) > 0:
                    line(flavor, r, cohort.name, "").lendable = amounts.get(r)
    out: list[CohortCost] = []
    for (flavor, r), lines in sorted(by_key.items()):
        members = [x for x in lines if x.cohort]
        _match(members, paths)
        # Borrowing no visible idle quota covered: lent by its root cohort's own line.
        unlent: dict[str, float] = {}
        for x in members:
            if x.unmet > 0:
                root = paths[x.cohort][0]
                unlent[root] = unlent.get(root, 0.0) + x.unmet
        for root, amount in sorted(unlent.items()):
            own = next((x for x in lines if x.cohort == root and not x.queue), None)
            if own is None:
                own = line(flavor, r, root, "")
            own.lent += amount
        unit = prices.get(flavor, fallback)[r]
        for x in by_key[(flavor, r)]:
            if x.admitted <= 0 and x.borrowed <= 0 and x.lent <= 0 and x.queue == "":
                continue
            out.append(
                CohortCost(
                    x.cohort,
                    x.queue,
                    flavor,
                    r,
                    x.admitted * unit,
                    x.borrowed * unit,
                    x.lent * unit,
                )
            )
    return out


def balance(ledger: Iterable[CohortCost], paths: Mapping[str, tuple[str, ...]]) -> dict[str, float]:
    """Root cohort -> borrowed - lent $/hour over its tree (0 to rounding: the property the
    tests check)."""
    out: dict[str, float] = {}
    for x in ledger:
        if not x.cohort:
            continue
        root = paths.get(x.cohort, (x.cohort,))[0]
        out[root] = out.get(root, 0.0) + x.borrowed_hourly - x.lent_hourly
    return out
