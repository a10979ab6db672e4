"""Queued demand priced at its flavor, and workload endings from job objects and pods."""

from __future__ import annotations

from unitcost.costmodel.attribution import KUEUE_QUEUE_NAME, YUNIKORN_QUEUE, AttributionRules
from unitcost.costmodel.outcomes import workload_endings
from unitcost.costmodel.pending import admissions, pending_costs
from unitcost.data.batch import BatchJob, Ending, Outcome
from unitcost.data.model import (
    LocalQueue,
    Namespace,
    Owner,
    Pod,
    PodPhase,
    Queue,
    Resources,
    Snapshot,
)
from unitcost.data.resources import ResourceName

NOW = 1_800_000_000.0
PRICES: dict[str, dict[ResourceName, float]] = {
    "a100": {"cpu": 0.03125, "memory": 0.0, "gpu": 2.5, "storage": 0.0},
    "spot-cpu": {"cpu": 0.0625, "memory": 0.0, "gpu": 0.0, "storage": 0.0},
}
FALLBACK: dict[ResourceName, float] = {"cpu": 0.5, "memory": 0.0, "gpu": 4.0, "storage": 0.0}
RULES = AttributionRules()
QUEUES = (
    Queue(
        "research-gpu",
        "kueue",
        {"spot-cpu": Resources(cpu=64), "a100": Resources(cpu=256, gpu=32)},
    ),
    Queue("root.data.etl", "yunikorn", {"spot-cpu": Resources(cpu=100)}),
)
NAMESPACES = (Namespace("ml", {"team": "vision"}), Namespace("etl", {"team": "data"}))


def test_pending_demand_is_priced_at_the_flavor_it_would_be_admitted_to() -> None:
    waiting = BatchJob(
        "ml",
        "Job",
        "train-1",
        local_queue="research",
        labels={KUEUE_QUEUE_NAME: "research"},
        pending=True,
        requests=Resources(cpu=64, gpu=8),
        created=NOW - 1200,
    )
    admitted = BatchJob("ml", "Job", "train-0", queue="research-gpu", requests=Resources(gpu=8))
    # A YuniKorn executor pod waiting, and a gated pod of the pending Workload (not counted
    # twice).
    etl = Pod(
        "etl", "spark-exec-1", "u1", "", PodPhase.PENDING, Resources(cpu=16),
        labels={YUNIKORN_QUEUE: "root.data.etl"}, owner=Owner("SparkApplication", "nightly"),
    )  # fmt: skip
    gated = Pod(
        "ml", "train-1-0", "u2", "", PodPhase.PENDING, Resources(cpu=8, gpu=1),
        labels={KUEUE_QUEUE_NAME: "research"}, owner=Owner("Job", "train-1"),
    )  # fmt: skip
    snapshot = Snapshot(
        NOW,
        pods=(etl, gated),
        namespaces=NAMESPACES,
        queues=QUEUES,
        local_queues=(LocalQueue("ml", "research", "research-gpu"),),
        jobs=(waiting, admitted),
    )
    pending = {
        (p.queue, p.flavor, p.team): p for p in pending_costs(snapshot, PRICES, FALLBACK, RULES)
    }
    assert set(pending) == {
        ("research-gpu", "spot-cpu", "vision"),  # cpu: the first flavor with cpu quota
        ("research-gpu", "a100", "vision"),  # gpu: the first flavor with gpu quota
        ("root.data.etl", "spot-cpu", "data"),
    }
    assert pending[("research-gpu", "spot-cpu", "vision")].hourly == 64 * 0.0625  # $4/h
    gpu = pending[("research-gpu", "a100", "vision")]
    assert (gpu.hourly, gpu.workloads, gpu.oldest_wait) == (8 * 2.5, 1, 1200.0)  # $20/h
    etl_cost = pending[("root.data.etl", "spot-cpu", "data")]
    assert (etl_cost.hourly, etl_cost.workloads, etl_cost.oldest_wait) == (1.0, 1, 0.0)
    waits = admissions(snapshot, RULES)
    assert [(a.ident, a.queue, a.team, a.admitted) for a in waits] == [
        (("ml", "Job", "train-1"), "research-gpu", "vision", None)
    ]


def pod(name: str, phase: PodPhase, owner: str, disruption: str = "") -> Pod:
    return Pod(
        "ml", name, name, "n1" if phase is PodPhase.RUNNING else "", phase, Resources(cpu=1),
        owner=Owner("Job", owner), disruption=disruption,
    )  # fmt: skip


def test_endings_from_objects_win_over_pods_and_the_latest_object_wins() -> None:
    evicted = Ending(Outcome.PREEMPTED, "InCohortReclamation", NOW - 600)
    finished = Ending(Outcome.FAILED, "Failed", NOW - 60)
    snapshot = Snapshot(
        NOW,
        pods=(
            pod("a-0", PodPhase.FAILED, "a"),
            pod("b-0", PodPhase.SUCCEEDED, "b"),
            pod("b-1", PodPhase.FAILED, "b", "PreemptionByScheduler"),
            pod("c-0", PodPhase.FAILED, "c", "DeletionByTaintManager"),
            pod("d-0", PodPhase.SUCCEEDED, "d"),
            pod("d-1", PodPhase.PENDING, "d"),  # a retry waiting: not ended
            pod("e-0", PodPhase.SUCCEEDED, "e"),
            pod("f-0", PodPhase.SUCCEEDED, "f"),
        ),
        jobs=(
            BatchJob("ml", "Job", "a", ending=evicted),
            BatchJob("ml", "Job", "a", ending=finished),
            BatchJob("ml", "Job", "g"),
        ),
    )
    endings = workload_endings(snapshot, running={("ml", "Job", "e")})
    assert endings.ended == {
        ("ml", "Job", "a"): finished,
        ("ml", "Job", "b"): Ending(Outcome.PREEMPTED, "PreemptionByScheduler"),
        ("ml", "Job", "c"): Ending(Outcome.EVICTED, "DeletionByTaintManager"),
        ("ml", "Job", "f"): Ending(Outcome.SUCCEEDED),
    }
    assert endings.present == {("ml", "Job", x) for x in "abcdefg"}
    # read from pods alone: the ledger waits one collect for a controller's verdict
    assert endings.provisional == {("ml", "Job", x) for x in "bcf"}


def test_a_failed_pod_with_no_disruption_is_a_plain_failure() -> None:
    snapshot = Snapshot(NOW, pods=(pod("x-0", PodPhase.FAILED, "x"),))
    assert workload_endings(snapshot, ()).ended == {
        ("ml", "Job", "x"): Ending(Outcome.FAILED, "PodFailed")
    }
