"""Batch objects through the real kubernetes client against the fake apiserver, in the shapes
Kueue v1beta1 and v1beta2 return them: ClusterQueue flavorsUsage, Cohorts (v1alpha1 beside
v1beta1, v1beta2), Workloads pending, admitted, preempted, evicted and finished; Job failure
conditions; pod DisruptionTarget conditions. Then the cohort ledger, pending dollars and
endings the collector computes from them."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from support.fake_apiserver import FakeCluster, namespace, node, pod
from unitcost.config.kubernetes import KubernetesSettings
from unitcost.costmodel.attribution import AttributionRules
from unitcost.costmodel.outcomes import workload_endings
from unitcost.data.batch import Ending, Outcome
from unitcost.data.model import Resources
from unitcost.sources.kubernetes.batch import to_workload
from unitcost.sources.kubernetes.convert import ConversionError
from unitcost.sources.kubernetes.source import KubernetesSource

SETTINGS = KubernetesSettings(
    page_size=100,
    read_timeout_seconds=5,
    backoff_initial_seconds=0.05,
    backoff_max_seconds=0.2,
    initial_sync_timeout_seconds=60,
    metrics_enabled=False,
)
GIB = 2**30
T = "2025-05-01T10:%02d:00Z"
EPOCH = 1746093600.0  # 2025-05-01T10:00:00Z


def owner_ref(kind: str, name: str, api_version: str = "batch/v1") -> list[dict[str, Any]]:
    return [{"apiVersion": api_version, "kind": kind, "name": name, "uid": "u", "controller": True}]


def condition(kind: str, reason: str, minute: int, status: str = "True") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": f"{kind} {reason}",
        "lastTransitionTime": T % minute,
    }


def cluster_queue(version: str, name: str, cohort: str, gpus: int, used: int) -> dict[str, Any]:
    cohort_field = "cohortName" if version == "v1beta2" else "cohort"
    return {
        "metadata": {"name": name},
        "spec": {
            cohort_field: cohort,
            "resourceGroups": [
                {
                    "coveredResources": ["cpu", "nvidia.com/gpu"],
                    "flavors": [
                        {
                            "name": "a10g",
                            "resources": [
                                {"name": "cpu", "nominalQuota": "96"},
                                {"name": "nvidia.com/gpu", "nominalQuota": gpus},
                            ],
                        }
                    ],
                }
            ],
        },
        "status": {
            "admittedWorkloads": 1,
            "flavorsUsage": [
                {
                    "name": "a10g",
                    "resources": [
                        {"name": "cpu", "total": "8", "borrowed": "0"},
                        {
                            "name": "nvidia.com/gpu",
                            "total": str(used),
                            "borrowed": str(max(0, used - gpus)),
                        },
                    ],
                }
            ],
        },
    }


def workload(
    name: str,
    job: str,
    *,
    conditions: list[dict[str, Any]],
    admitted_to: str = "",
    count: int = 2,
    kind: str = "Job",
) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": conditions}
    if admitted_to:
        status["admission"] = {
            "clusterQueue": admitted_to,
            "podSetAssignments": [
                {
                    "name": "main",
                    "flavors": {"cpu": "a10g", "nvidia.com/gpu": "a10g"},
                    "count": count,
                }
            ],
        }
    return {
        "metadata": {
            "name": name,
            "namespace": "ml",
            "creationTimestamp": T % 0,
            "labels": {"kueue.x-k8s.io/queue-name": "ml-queue"},
            "ownerReferences": owner_ref(kind, job),
        },
        "spec": {
            "queueName": "ml-queue",
            "podSets": [
                {
                    "name": "main",
                    "count": count,
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "train",
                                    "resources": {"requests": {"cpu": "4", "nvidia.com/gpu": "2"}},
                                }
                            ]
                        }
                    },
                }
            ],
        },
        "status": status,
    }


def populate(cluster: FakeCluster, version: str) -> None:
    cluster.apply("nodes", node("gpu-1", cpu="96", gpus=8, labels={"node-pool": "gpu"}))
    cluster.apply("namespaces", namespace("ml", {"team": "vision"}))
    cluster.apply(
        "resourceflavors",
        {"metadata": {"name": "a10g"}, "spec": {"nodeLabels": {"node-pool": "gpu"}}},
    )
    # research borrows 2 GPUs beyond its 2; inference (4 nominal, 1 used) lends them.
    cluster.apply("clusterqueues", cluster_queue(version, "research", "ai", 2, 4))
    cluster.apply("clusterqueues", cluster_queue(version, "inference", "ai", 4, 1))
    parent = "parentName" if version == "v1beta2" else "parent"
    cluster.apply("cohorts", {"metadata": {"name": "ai"}, "spec": {parent: "platform"}})
    cluster.apply(
        "localqueues",
        {"metadata": {"name": "ml-queue", "namespace": "ml"}, "spec": {"clusterQueue": "research"}},
    )
    cluster.apply(
        "workloads",
        workload(
            "job-waiting", "waiting", conditions=[condition("QuotaReserved", "Pending", 0, "False")]
        ),
    )
    cluster.apply(
        "workloads",
        workload(
            "job-running",
            "running",
            admitted_to="research",
            conditions=[
                condition("QuotaReserved", "QuotaReserved", 5),
                condition("Admitted", "Admitted", 5),
            ],
        ),
    )
    cluster.apply(
        "workloads",
        workload(
            "job-preempted",
            "preempted",
            conditions=[
                condition("QuotaReserved", "Pending", 20, "False"),
                condition("Evicted", "Preempted", 20),
                condition("Preempted", "InCohortReclamation", 20),
            ],
        ),
    )
    cluster.apply(
        "workloads",
        workload(
            "job-timeout",
            "timeout",
            conditions=[
                condition("Evicted", "PodsReadyTimeout", 30),
                condition("Requeued", "Backoff", 30),
            ],
        ),
    )
    # Evicted at 10, admitted again at 12: that eviction is over.
    cluster.apply(
        "workloads",
        workload(
            "job-readmitted",
            "readmitted",
            admitted_to="research",
            conditions=[
                condition("Evicted", "Preempted", 10),
                condition("QuotaReserved", "QuotaReserved", 12),
            ],
        ),
    )
    cluster.apply(
        "workloads",
        workload(
            "jobset-trainer",
            "trainer",
            kind="JobSet",
            admitted_to="research",
            conditions=[
                condition("QuotaReserved", "QuotaReserved", 1),
                condition("Finished", "Failed", 40),
            ],
        ),
    )
    # A Job that failed outside Kueue, and one that completed.
    failed_job = {
        "metadata": {"name": "nightly", "namespace": "ml"},
        "spec": {},
        "status": {"conditions": [condition("Failed", "BackoffLimitExceeded", 45)], "failed": 3},
    }
    cluster.apply("jobs", failed_job)
    cluster.apply(
        "jobs",
        {
            "metadata": {"name": "report", "namespace": "ml"},
            "spec": {},
            "status": {"conditions": [condition("Complete", "", 46)], "succeeded": 1},
        },
    )
    # A Spark driver preempted by the scheduler (pod DisruptionTarget), its executor done.
    driver = pod("ml", "spark-driver", phase="Failed", labels={"spark-app-name": "etl"})
    driver["status"]["conditions"] = [condition("DisruptionTarget", "PreemptionByScheduler", 50)]
    cluster.apply("pods", driver)
    cluster.apply(
        "pods", pod("ml", "spark-exec-1", phase="Succeeded", labels={"spark-app-name": "etl"})
    )


@pytest.mark.parametrize(
    "cluster",
    [FakeCluster(kueue_version="v1beta1"), FakeCluster(kueue_version="v1beta2")],
    ids=["v1beta1", "v1beta2"],
)
def test_kueue_objects_read_by_the_real_client(cluster: FakeCluster, api: client.ApiClient) -> None:
    assert cluster.kueue_version is not None
    populate(cluster, cluster.kueue_version)
    src = KubernetesSource(SETTINGS, AttributionRules(), api=api)
    try:
        snap = src.snapshot()
    finally:
        src.close()
    usage = {(u.queue, u.flavor): u for u in snap.queue_usage}
    assert usage[("research", "a10g")].used == Resources(cpu=8, gpu=4)
    assert usage[("research", "a10g")].borrowed == Resources(gpu=2)
    assert [(c.name, c.parent) for c in snap.cohorts] == [("ai", "platform")]
    queues = {q.name: q for q in snap.queues}
    assert queues["research"].cohort == queues["inference"].cohort == "ai"
    jobs = {j.ident: j for j in snap.jobs}
    waiting = jobs[("ml", "Job", "waiting")]
    assert waiting.pending and waiting.admitted is None and waiting.created == EPOCH
    assert waiting.requests == Resources(cpu=8, gpu=4)  # 2 pods x (4 cpu, 2 gpu)
    assert waiting.local_queue == "ml-queue" and waiting.queue == ""
    running = jobs[("ml", "Job", "running")]
    assert not running.pending and running.admitted == EPOCH + 300
    assert running.queue == "research" and running.flavors == {"cpu": "a10g", "gpu": "a10g"}
    assert running.ending is None
    assert jobs[("ml", "Job", "preempted")].ending == Ending(
        Outcome.PREEMPTED, "InCohortReclamation", EPOCH + 1200
    )
    assert jobs[("ml", "Job", "timeout")].ending == Ending(
        Outcome.EVICTED, "PodsReadyTimeout", EPOCH + 1800
    )
    assert jobs[("ml", "Job", "readmitted")].ending is None
    assert jobs[("ml", "JobSet", "trainer")].ending == Ending(
        Outcome.FAILED, "Failed", EPOCH + 2400
    )
    assert jobs[("ml", "Job", "nightly")].ending == Ending(
        Outcome.FAILED, "BackoffLimitExceeded", EPOCH + 2700
    )
    assert jobs[("ml", "Job", "report")].ending == Ending(Outcome.SUCCEEDED, "", EPOCH + 2760)
    pods = {p.name: p for p in snap.pods}
    assert pods["spark-driver"].disruption == "PreemptionByScheduler"
    endings = workload_endings(snap, running=())
    assert endings.ended[("ml", "SparkApplication", "etl")] == Ending(
        Outcome.PREEMPTED, "PreemptionByScheduler"
    )


def test_a_malformed_workload_names_the_object_and_field() -> None:
    bad = workload("job-bad", "bad", conditions=[])
    bad["spec"]["podSets"][0]["count"] = "many"
    with pytest.raises(
        ConversionError, match=r"Workload ml/job-bad: spec.podSets\[0\].count: .*'many'"
    ):
        to_workload({"kind": "Workload", **bad}, ())
    late = workload("job-late", "late", conditions=[condition("Finished", "Failed", 0)])
    late["status"]["conditions"][0]["lastTransitionTime"] = "yesterday"
    with pytest.raises(
        ConversionError, match=r"Workload ml/job-late: .*lastTransitionTime.*'yesterday'"
    ):
        to_workload({"kind": "Workload", **late}, ())
