"""Workload factories: one per kind, each drafting its kind's shape from the team's order."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from unitcost.costmodel.attribution import KUEUE_QUEUE_NAME, YUNIKORN_QUEUE
from unitcost.sources.simulator.catalogue import TEAMS, TeamSpec, WorkloadKind
from unitcost.sources.simulator.objects import PodMaker
from unitcost.sources.simulator.workloads import (
    FACTORIES,
    Draft,
    WorkloadOrder,
    draft_workload,
)

CPU_TEAMS = [t for t in TEAMS if not t.workload.runs_on_gpus]


def draft(
    team: TeamSpec, *, seed: int = 7, max_pods: int | None = None, scale: float = 1.0
) -> Draft:
    make = PodMaker(seed, random.Random(seed))
    return draft_workload(WorkloadOrder(team, make.next_id(), max_pods, scale), make)


def test_every_kind_has_a_factory_and_a_team() -> None:
    assert set(FACTORIES) == set(WorkloadKind)
    assert {t.workload for t in TEAMS} == set(WorkloadKind)


@pytest.mark.parametrize("team", TEAMS, ids=lambda t: t.team)
def test_a_draft_is_the_teams_unplaced_work_in_its_queue(team: TeamSpec) -> None:
    got = draft(team)
    assert got.pods and got.name.startswith(f"{team.team}-")
    assert all(p.namespace == team.namespace and p.node == "" for p in got.pods)
    assert all(p.owner is not None and p.owner.name == got.name for p in got.pods)
    assert len({p.uid for p in got.pods}) == len(got.pods)
    holds_gpus = any(p.requests.gpu for p in got.pods)
    assert holds_gpus == team.workload.runs_on_gpus
    assert (got.node_classes == ("gpu",)) == team.workload.runs_on_gpus
    assert got.lifetime > 0
    queue_key = YUNIKORN_QUEUE if team.queue.startswith("root.") else KUEUE_QUEUE_NAME
    for pod in got.pods:
        if team.queue:
            assert pod.labels[queue_key] == team.queue
        else:
            assert KUEUE_QUEUE_NAME not in pod.labels and YUNIKORN_QUEUE not in pod.labels


@pytest.mark.parametrize("team", CPU_TEAMS, ids=lambda t: t.team)
@pytest.mark.parametrize("max_pods", [1, 2, 3])
def test_cpu_work_stays_within_max_pods(team: TeamSpec, max_pods: int) -> None:
    for seed in range(20):
        assert 1 <= len(draft(team, seed=seed, max_pods=max_pods).pods) <= max_pods


@pytest.mark.parametrize("team", CPU_TEAMS, ids=lambda t: t.team)
def test_cpu_scale_shrinks_the_pod_templates_only(team: TeamSpec) -> None:
    full, half = draft(team, scale=1.0), draft(team, scale=0.5)
    assert [p.name for p in full.pods] == [p.name for p in half.pods]
    for big, small in zip(full.pods, half.pods, strict=True):
        assert small.requests.cpu == big.requests.cpu / 2
        assert small.requests.memory == big.requests.memory / 2
        assert small.cpu_fraction == big.cpu_fraction


def test_services_never_finish_and_jobs_do() -> None:
    for team in TEAMS:
        never = team.workload is WorkloadKind.SERVICE
        assert (draft(team).lifetime == float("inf")) == never


def test_a_factory_follows_its_kind_not_the_team_name() -> None:
    etl = next(t for t in TEAMS if t.workload is WorkloadKind.SPARK)
    as_service = replace(etl, workload=WorkloadKind.SERVICE, queue="")
    owners = {p.owner.kind for p in draft(as_service).pods if p.owner}
    assert owners == {"Deployment"}
