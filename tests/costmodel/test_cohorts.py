"""The cohort ledger: borrowed quota charged to the borrower, lent quota credited to the lender,
hand-computed to the cent, and borrowed == lent over every cohort tree (property-tested)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from unitcost.costmodel.cohorts import balance, cohort_ledger, cohort_paths
from unitcost.data.batch import Cohort, CohortCost, QueueUsage
from unitcost.data.model import Queue, Resources
from unitcost.data.resources import ResourceName

#: An A100 GPU-hour and a core-hour at the flavor's price (as allocation.flavor_prices gives).
PRICES: dict[str, dict[ResourceName, float]] = {
    "a100": {"cpu": 0.031, "memory": 0.0, "gpu": 2.48, "storage": 0.0}
}
FALLBACK: dict[ResourceName, float] = {"cpu": 0.05, "memory": 0.0, "gpu": 3.0, "storage": 0.0}


def gpus(n: float, cpu: float = 0.0) -> Resources:
    return Resources(cpu=cpu, gpu=n)


def queue(name: str, cohort: str, nominal: float) -> Queue:
    return Queue(name, "kueue", {"a100": gpus(nominal)}, cohort=cohort)


def usage(name: str, total: float, borrowed: float) -> QueueUsage:
    return QueueUsage(name, "a100", gpus(total), gpus(borrowed))


def line(ledger: list[CohortCost], queue_name: str, resource: str = "gpu") -> CohortCost:
    return next(x for x in ledger if x.queue == queue_name and x.resource == resource)


def test_two_queues_one_borrowing_eight_gpus_from_the_other() -> None:
    # research: 16 nominal, 24 admitted (8 borrowed); inference: 16 nominal, 4 admitted.
    queues = [queue("research", "ai", 16), queue("inference", "ai", 16)]
    used = [usage("research", 24, 8), usage("inference", 4, 0)]
    ledger = cohort_ledger(queues, used, [], PRICES, FALLBACK)
    research, inference = line(ledger, "research"), line(ledger, "inference")
    # 24 x $2.48 = $59.52/h admitted, of which 8 x $2.48 = $19.84/h borrowed.
    assert round(research.admitted_hourly, 2) == 59.52
    assert round(research.borrowed_hourly, 2) == 19.84
    assert research.lent_hourly == 0.0
    # inference's 12 idle GPUs cover the 8 borrowed: $19.84/h credited to it.
    assert round(inference.admitted_hourly, 2) == 9.92
    assert inference.borrowed_hourly == 0.0
    assert round(inference.lent_hourly, 2) == 19.84
    assert (research.cohort, inference.cohort) == ("ai", "ai")
    assert abs(balance(ledger, cohort_paths(queues, []))["ai"]) < 1e-9


def test_a_hierarchical_cohort_lends_nearest_first() -> None:
    # org -> {ml, data}. train borrows 6: serve (same cohort) lends its 2 idle GPUs first,
    # etl (sibling cohort, 8 idle) lends the other 4 through org.
    cohorts = [Cohort("org"), Cohort("ml", "org"), Cohort("data", "org")]
    queues = [queue("train", "ml", 8), queue("serve", "ml", 8), queue("etl", "data", 10)]
    used = [usage("train", 14, 6), usage("serve", 6, 0), usage("etl", 2, 0)]
    ledger = cohort_ledger(queues, used, cohorts, PRICES, FALLBACK)
    assert round(line(ledger, "train").borrowed_hourly, 2) == 14.88  # 6 x 2.48
    assert round(line(ledger, "serve").lent_hourly, 2) == 4.96  # 2 x 2.48
    assert round(line(ledger, "etl").lent_hourly, 2) == 9.92  # 4 x 2.48
    paths = cohort_paths(queues, cohorts)
    assert paths == {"data": ("org", "data"), "ml": ("org", "ml"), "org": ("org",)}
    assert abs(balance(ledger, paths)["org"]) < 1e-9


def test_borrowing_no_idle_quota_covers_is_lent_by_the_cohorts_own_line() -> None:
    # A v1beta2 Cohort with 4 GPUs of its own and a queue borrowing 6: the cohort lends its 4,
    # the other 2 (no queue's idle quota) are booked to the root's own line, so it balances.
    cohorts = [Cohort("pool", quota={"a100": gpus(4)})]
    ledger = cohort_ledger(
        [queue("solo", "pool", 2)], [usage("solo", 8, 6)], cohorts, PRICES, FALLBACK
    )
    own = line(ledger, "")
    assert own.cohort == "pool" and own.admitted_hourly == 0.0
    assert round(own.lent_hourly, 2) == 14.88  # 4 + 2 GPUs
    assert abs(balance(ledger, {"pool": ("pool",)})["pool"]) < 1e-9


def test_queues_outside_a_cohort_and_unknown_flavors() -> None:
    alone = Queue("alone", "kueue", {"a100": gpus(2, cpu=8)})
    ledger = cohort_ledger(
        [alone],
        [usage("alone", 1, 0), QueueUsage("alone", "h100", gpus(1), gpus(0))],
        [],
        PRICES,
        FALLBACK,
    )
    assert {(x.flavor, x.resource) for x in ledger} == {
        ("a100", "gpu"),
        ("a100", "cpu"),
        ("h100", "gpu"),
    }
    h100 = next(x for x in ledger if x.flavor == "h100")
    assert h100.admitted_hourly == 3.0  # fallback price: the flavor is unknown
    assert all(x.cohort == "" and x.lent_hourly == 0.0 for x in ledger)


def test_a_parent_cycle_is_cut() -> None:
    paths = cohort_paths([], [Cohort("a", "b"), Cohort("b", "a")])
    assert paths == {"a": ("b", "a"), "b": ("a", "b")}


@st.composite
def cohort_trees(draw: st.DrawFn) -> tuple[list[Queue], list[QueueUsage], list[Cohort]]:
    names = [f"c{i}" for i in range(draw(st.integers(1, 6)))]
    cohorts = [Cohort(n, draw(st.sampled_from(["", *names[:i]]))) for i, n in enumerate(names)]
    amount = st.integers(0, 64).map(float)
    queues, used = [], []
    for i in range(draw(st.integers(1, 10))):
        nominal, total = draw(amount), draw(amount)
        name = f"q{i}"
        queues.append(queue(name, draw(st.sampled_from(names)), nominal))
        used.append(usage(name, total, max(0.0, total - nominal)))
    return queues, used, cohorts


@settings(max_examples=200, deadline=None)
@given(cohort_trees())
def test_every_cohort_tree_balances(
    tree: tuple[list[Queue], list[QueueUsage], list[Cohort]],
) -> None:
    queues, used, cohorts = tree
    ledger = cohort_ledger(queues, used, cohorts, PRICES, FALLBACK)
    paths = cohort_paths(queues, cohorts)
    borrowed = sum(x.borrowed_hourly for x in ledger)
    for root, diff in balance(ledger, paths).items():
        assert abs(diff) <= 1e-9 * max(1.0, borrowed), root
    for x in ledger:
        assert x.lent_hourly >= 0 and x.borrowed_hourly >= 0 and math.isfinite(x.lent_hourly)
    idle = {q.name: q.quota["a100"].gpu for q in queues}
    for u in used:
        idle[u.queue] = max(0.0, idle[u.queue] - (u.used.gpu - u.borrowed.gpu))
    for x in ledger:
        if x.queue:  # a queue never lends more than its idle quota
            assert x.lent_hourly <= idle[x.queue] * 2.48 * (1 + 1e-12) + 1e-12
