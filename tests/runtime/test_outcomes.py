"""The outcome ledger: a run's dollars accrue collect to collect and are counted once, under
its outcome, when it ends; counters are born at 0; gaps and restarts count nothing twice."""

from __future__ import annotations

from unitcost.costmodel.outcomes import Endings
from unitcost.data.batch import Admission, Ending, Outcome
from unitcost.data.frame import WorkloadKey
from unitcost.metrics.family import MetricFamily
from unitcost.runtime.outcomes import OutcomeLedger

TRAIN: WorkloadKey = ("ml", "vision", "research", "cc-1", "research-gpu", "train-7", "Job")
IDENT = ("ml", "Job", "train-7")
T0 = 1_800_000_000.0


def samples(ledger: OutcomeLedger, name: str) -> dict[tuple[str, ...], float]:
    family: MetricFamily = next(f for f in ledger.families() if f.name == name)
    return dict(family.samples)


def dollars(ledger: OutcomeLedger) -> dict[tuple[str, ...], float]:
    return samples(ledger, "unitcost_workload_ended_cost_dollars_total")


def test_a_failed_run_is_counted_once_under_failed_after_the_series_was_served_at_zero() -> None:
    ledger = OutcomeLedger(hold_collects=2, max_gap_seconds=3600)
    # 64 GPUs at $2.5/h = $160/h, for 6 hours in hourly collects: $960.
    for hour in range(7):
        ledger.observe(T0 + hour * 3600, {TRAIN: 160.0}, Endings(present={IDENT}))
    assert dollars(ledger) == {}
    failed = Ending(Outcome.FAILED, "BackoffLimitExceeded", T0 + 6.5 * 3600)
    ledger.observe(T0 + 7 * 3600, {}, Endings({IDENT: failed}, {IDENT}))
    key = ("vision", "research-gpu", "failed", "BackoffLimitExceeded")
    assert dollars(ledger) == {key: 0.0}  # born at 0: increase() counts from here
    ledger.observe(T0 + 7 * 3600 + 30, {}, Endings({IDENT: failed}, {IDENT}))
    assert dollars(ledger) == {key: 0.0}
    ledger.observe(T0 + 7 * 3600 + 60, {}, Endings({IDENT: failed}, {IDENT}))
    assert dollars(ledger) == {key: 7 * 160.0}  # up to the collect that saw it end
    assert samples(ledger, "unitcost_workload_ended_total") == {key: 1.0}
    recent = samples(ledger, "unitcost_ended_workload_cost_dollars")
    assert recent == {("ml", "vision", "research-gpu", "train-7", "Job", "failed", key[3]): 1120.0}
    # The failed Job stays: never counted again; the recent series goes after an hour.
    for minute in range(2, 70):
        ledger.observe(T0 + 7 * 3600 + minute * 60, {}, Endings({IDENT: failed}, {IDENT}))
    assert dollars(ledger) == {key: 1120.0}
    assert samples(ledger, "unitcost_ended_workload_cost_dollars") == {}


def test_a_restarted_exporter_does_not_count_an_ended_run_again() -> None:
    failed = Ending(Outcome.FAILED, "PodFailed")
    fresh = OutcomeLedger()
    # Its pods are still stopping when the new process starts: not a new run.
    fresh.observe(T0, {TRAIN: 160.0}, Endings({IDENT: failed}, {IDENT}))
    fresh.observe(T0 + 30, {}, Endings({IDENT: failed}, {IDENT}))
    fresh.observe(T0 + 60, {}, Endings({IDENT: failed}, {IDENT}))
    assert dollars(fresh) == {}
    assert fresh.open_runs == 0


def test_preempted_then_readmitted_is_two_runs() -> None:
    ledger = OutcomeLedger(hold_collects=0, max_gap_seconds=4 * 3600)
    ledger.observe(T0, {TRAIN: 100.0}, Endings(present={IDENT}))
    preempted = Ending(Outcome.PREEMPTED, "InCohortReclamation", T0 + 1800)
    ledger.observe(T0 + 3600, {TRAIN: 100.0}, Endings({IDENT: preempted}, {IDENT}))
    # Suspended and requeued: the eviction is over once it is admitted again.
    ledger.observe(T0 + 4000, {}, Endings(present={IDENT}))
    ledger.observe(T0 + 7200, {TRAIN: 50.0}, Endings(present={IDENT}))
    done = Ending(Outcome.SUCCEEDED, "Succeeded", T0 + 10_000)
    ledger.observe(T0 + 10_800, {}, Endings({IDENT: done}, {IDENT}))
    assert dollars(ledger) == {
        ("vision", "research-gpu", "preempted", "InCohortReclamation"): 100.0,
        ("vision", "research-gpu", "succeeded", "Succeeded"): 50.0,
    }


def test_a_vanished_workload_is_deleted_and_a_gap_accrues_nothing() -> None:
    ledger = OutcomeLedger(hold_collects=0, max_gap_seconds=900)
    ledger.observe(T0, {TRAIN: 36.0}, Endings(present={IDENT}))
    ledger.observe(T0 + 600, {TRAIN: 36.0}, Endings(present={IDENT}))  # +$6
    ledger.observe(T0 + 600, {TRAIN: 99.0}, Endings(present={IDENT}))  # same snapshot: ignored
    ledger.observe(T0 + 4200, {TRAIN: 36.0}, Endings(present={IDENT}))  # 1 h gap: +$0
    ledger.observe(T0 + 4500, {}, Endings())  # +$3, then gone with no ending
    assert dollars(ledger) == {("vision", "research-gpu", "deleted", ""): 9.0}


def test_a_pending_workload_stays_open_without_accruing() -> None:
    ledger = OutcomeLedger(hold_collects=0, max_gap_seconds=3600)
    ledger.observe(T0, {TRAIN: 72.0}, Endings(present={IDENT}))
    ledger.observe(T0 + 300, {}, Endings(present={IDENT}))  # +$6, then its pods are pending
    ledger.observe(T0 + 3900, {}, Endings(present={IDENT}))  # nothing runs: +$0
    assert ledger.open_runs == 1
    ledger.observe(T0 + 4200, {}, Endings({IDENT: Ending(Outcome.SUCCEEDED)}, {IDENT}))
    assert dollars(ledger) == {("vision", "research-gpu", "succeeded", ""): 6.0}


def test_an_ending_read_from_pods_waits_one_collect_for_the_jobs_verdict() -> None:
    ledger = OutcomeLedger(hold_collects=0, max_gap_seconds=3600)
    ledger.observe(T0, {TRAIN: 72.0}, Endings(present={IDENT}))
    pods_failed = Endings({IDENT: Ending(Outcome.FAILED, "PodFailed")}, {IDENT}, {IDENT})
    ledger.observe(T0 + 300, {}, pods_failed)  # +$6; the Job says nothing yet
    assert ledger.open_runs == 1 and dollars(ledger) == {}
    verdict = Ending(Outcome.FAILED, "BackoffLimitExceeded", T0 + 301)
    ledger.observe(T0 + 330, {}, Endings({IDENT: verdict}, {IDENT}))  # nothing runs: +$0
    assert dollars(ledger) == {("vision", "research-gpu", "failed", "BackoffLimitExceeded"): 6.0}


def test_a_pods_ending_stands_when_the_workload_is_gone_at_the_next_collect() -> None:
    ledger = OutcomeLedger(hold_collects=0, max_gap_seconds=3600)
    ledger.observe(T0, {TRAIN: 72.0}, Endings(present={IDENT}))
    pods_failed = Endings({IDENT: Ending(Outcome.FAILED, "PodFailed")}, {IDENT}, {IDENT})
    ledger.observe(T0 + 300, {}, pods_failed)  # +$6
    ledger.observe(T0 + 330, {}, Endings())  # the Job and its pods deleted as it ended
    assert dollars(ledger) == {("vision", "research-gpu", "failed", "PodFailed"): 6.0}


def test_a_pods_ending_seen_twice_closes_and_a_retry_pod_reopens_the_wait() -> None:
    ledger = OutcomeLedger(hold_collects=0, max_gap_seconds=3600)
    pods_failed = Endings({IDENT: Ending(Outcome.FAILED, "PodFailed")}, {IDENT}, {IDENT})
    ledger.observe(T0, {TRAIN: 72.0}, Endings(present={IDENT}))
    ledger.observe(T0 + 300, {}, pods_failed)  # +$6: the first pod failed
    ledger.observe(T0 + 600, {TRAIN: 72.0}, Endings(present={IDENT}))  # a retry pod runs
    ledger.observe(T0 + 900, {}, pods_failed)  # +$6: the retry failed too
    assert dollars(ledger) == {}
    ledger.observe(T0 + 930, {}, pods_failed)  # still so, and no verdict: closed on the pods'
    assert dollars(ledger) == {("vision", "research-gpu", "failed", "PodFailed"): 12.0}


def test_admission_waits_count_only_admissions_seen_after_the_start() -> None:
    ledger = OutcomeLedger()
    old = Admission(IDENT, "research-gpu", "vision", T0 - 900, T0 - 60)
    waiting = Admission(("ml", "Job", "b"), "research-gpu", "vision", T0 - 100, None)
    ledger.observe(T0, {}, Endings(), [old, waiting])
    waits = samples(ledger, "unitcost_queue_admission_wait_seconds_total")
    assert waits == {("research-gpu", "vision"): 0.0}  # served at 0 from the start
    admitted = Admission(("ml", "Job", "b"), "research-gpu", "vision", T0 - 100, T0 + 20)
    ledger.observe(T0 + 30, {}, Endings(), [old, admitted])
    ledger.observe(T0 + 60, {}, Endings(), [old, admitted])  # seen again: once
    assert samples(ledger, "unitcost_queue_admission_wait_seconds_total") == {
        ("research-gpu", "vision"): 120.0
    }
    assert samples(ledger, "unitcost_queue_admissions_total") == {("research-gpu", "vision"): 1.0}
