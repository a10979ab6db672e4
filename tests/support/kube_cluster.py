"""A small platform cluster for the Kubernetes source tests: the fake apiserver's objects, and
the model objects they stand for, written out by hand (so costs can be checked independently
of the source's conversion)."""

from __future__ import annotations

from support.fake_apiserver import FakeCluster, namespace, node, owned, pod
from unitcost.data.model import CapacityType, Node, Provider, Resources

GIB = 2.0**30
AWS_LABELS = {
    "node.kubernetes.io/instance-type": "m5.4xlarge",
    "topology.kubernetes.io/region": "us-east-1",
    "topology.kubernetes.io/zone": "us-east-1a",
    "karpenter.sh/capacity-type": "on-demand",
    "node-pool": "general",
}
GPU_LABELS = {
    **AWS_LABELS,
    "node.kubernetes.io/instance-type": "g5.12xlarge",
    "karpenter.sh/capacity-type": "spot",
    "node-pool": "gpu",
    "nvidia.com/gpu.product": "NVIDIA-A10G",
}

#: (namespace, pod) -> the attribution the platform expects:
#: (team, queue, app, workload_kind).
EXPECTED = {
    ("data", "etl-driver"): ("etl", "root.data.etl", "nightly-etl", "SparkApplication"),
    ("data", "etl-exec-1"): ("etl", "root.data.etl", "nightly-etl", "SparkApplication"),
    ("ml", "rc-1-head"): ("vision", "", "rc-1", "RayCluster"),
    ("ml", "rc-1-worker-a"): ("vision", "", "rc-1", "RayCluster"),
    ("ml", "llm-batch-x7"): ("vision", "gpu-cq", "nightly-llm", "CronJob"),
    ("data", "web-7d9f-abc"): ("analytics", "root.data.analytics", "web", "Deployment"),
    ("data", "api-5c6d-xyz"): ("etl", "", "api", "Deployment"),
    ("sandbox", "scratch"): ("unassigned", "", "scratch", "Pod"),
}


def populate(cluster: FakeCluster) -> None:
    cluster.apply("nodes", node("cpu-1", labels=AWS_LABELS, provider_id="aws:///us-east-1a/i-0abc"))
    cluster.apply(
        "nodes",
        node(
            "gpu-1",
            cpu="48",
            memory="192Gi",
            gpus=4,
            labels=GPU_LABELS,
            provider_id="aws:///us-east-1a/i-0def",
        ),
    )
    cluster.apply("namespaces", namespace("ml", {"team": "vision", "org": "ai"}))
    cluster.apply("namespaces", namespace("data", {"team": "etl", "org": "data"}))
    cluster.apply("namespaces", namespace("sandbox"))
    spark = {
        "spark-app-selector": "spark-0123",
        "sparkoperator.k8s.io/app-name": "nightly-etl",
        "yunikorn.apache.org/queue": "root.data.etl",
    }
    cluster.apply(
        "pods",
        pod(
            "data",
            "etl-driver",
            node_name="cpu-1",
            cpu="2",
            memory="8Gi",
            labels={**spark, "spark-role": "driver"},
            owner=("SparkApplication", "nightly-etl"),
        ),
    )
    cluster.apply(
        "pods",
        pod(
            "data",
            "etl-exec-1",
            node_name="cpu-1",
            cpu="4",
            memory="16Gi",
            labels={**spark, "spark-role": "executor"},
            owner=("Pod", "etl-driver"),
        ),
    )
    ray = {"ray.io/cluster": "rc-1"}
    cluster.apply(
        "pods",
        pod(
            "ml",
            "rc-1-head",
            node_name="cpu-1",
            cpu="2",
            memory="8Gi",
            labels={**ray, "ray.io/node-type": "head"},
            owner=("RayCluster", "rc-1"),
        ),
    )
    cluster.apply(
        "pods",
        pod(
            "ml",
            "rc-1-worker-a",
            node_name="gpu-1",
            cpu="8",
            memory="32Gi",
            gpus=2,
            labels={**ray, "ray.io/node-type": "worker"},
            owner=("RayCluster", "rc-1"),
        ),
    )
    # A Kueue Job from a CronJob; its queue comes from the Workload's admission.
    cluster.apply("jobs", owned("llm-batch", "ml", ("CronJob", "nightly-llm")))
    cluster.apply(
        "pods",
        pod(
            "ml",
            "llm-batch-x7",
            node_name="gpu-1",
            cpu="6",
            memory="48Gi",
            gpus=1,
            labels={"job-name": "llm-batch"},
            owner=("Job", "llm-batch"),
        ),
    )
    # A YuniKorn-queued Deployment pod (its ReplicaSet is watched) and one whose ReplicaSet
    # is not (resolved by the pod-template-hash naming rule).
    cluster.apply("replicasets", owned("web-7d9f", "data", ("Deployment", "web")))
    cluster.apply(
        "pods",
        pod(
            "data",
            "web-7d9f-abc",
            node_name="cpu-1",
            cpu="1",
            memory="2Gi",
            labels={
                "yunikorn.apache.org/queue": "root.data.analytics",
                "team": "analytics",
                "pod-template-hash": "7d9f",
                "secret-ish": "not-copied",
            },
            owner=("ReplicaSet", "web-7d9f"),
        ),
    )
    cluster.apply(
        "pods",
        pod(
            "data",
            "api-5c6d-xyz",
            node_name="cpu-1",
            cpu="500m",
            memory="1Gi",
            labels={"pod-template-hash": "5c6d"},
            owner=("ReplicaSet", "api-5c6d"),
        ),
    )
    cluster.apply("pods", pod("sandbox", "scratch", node_name="cpu-1", cpu="1", memory="1Gi"))
    cluster.apply("pods", pod("ml", "pending", cpu="4", memory="4Gi"))  # unscheduled
    # Kueue: a flavor selecting the GPU pool, a ClusterQueue with quota, a LocalQueue.
    cluster.apply(
        "resourceflavors",
        {"metadata": {"name": "a10g"}, "spec": {"nodeLabels": {"node-pool": "gpu"}}},
    )
    cluster.apply(
        "clusterqueues",
        {
            "metadata": {"name": "gpu-cq"},
            "spec": {
                "cohort": "ai",
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                        "flavors": [
                            {
                                "name": "a10g",
                                "resources": [
                                    {"name": "cpu", "nominalQuota": "24"},
                                    {"name": "memory", "nominalQuota": "96Gi"},
                                    {"name": "nvidia.com/gpu", "nominalQuota": 2},
                                ],
                            }
                        ],
                    }
                ],
            },
        },
    )
    cluster.apply(
        "localqueues",
        {"metadata": {"name": "ml-queue", "namespace": "ml"}, "spec": {"clusterQueue": "gpu-cq"}},
    )
    cluster.apply(
        "workloads",
        {
            "metadata": {
                "name": "job-llm-batch-1a2b",
                "namespace": "ml",
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": "llm-batch",
                        "uid": "u",
                        "controller": True,
                    }
                ],
            },
            "spec": {"queueName": "ml-queue"},
            "status": {"admission": {"clusterQueue": "gpu-cq"}},
        },
    )
    cluster.set_usage("data", "etl-driver", "500m", "4Gi")
    cluster.set_usage("data", "etl-exec-1", "3900m", "20Gi")
    cluster.set_usage("ml", "rc-1-worker-a", "2", "8Gi")


def expected_nodes() -> list[Node]:
    """The nodes above, as the model should see them."""
    cpu = Resources(16, 64 * GIB, 0, 100 * GIB)
    gpu = Resources(48, 192 * GIB, 4, 100 * GIB)
    return [
        Node(
            "cpu-1",
            Provider.AWS,
            "m5.4xlarge",
            "us-east-1",
            "us-east-1a",
            CapacityType.ON_DEMAND,
            "general",
            cpu,
            cpu,
            "",
            AWS_LABELS,
        ),
        Node(
            "gpu-1",
            Provider.AWS,
            "g5.12xlarge",
            "us-east-1",
            "us-east-1a",
            CapacityType.SPOT,
            "gpu",
            gpu,
            gpu,
            "NVIDIA-A10G",
            GPU_LABELS,
        ),
    ]


#: (namespace, pod) -> (node, requests, usage or None), written out by hand.
EXPECTED_PODS = {
    ("data", "etl-driver"): ("cpu-1", Resources(2, 8 * GIB), Resources(0.5, 4 * GIB)),
    ("data", "etl-exec-1"): ("cpu-1", Resources(4, 16 * GIB), Resources(3.9, 20 * GIB)),
    ("ml", "rc-1-head"): ("cpu-1", Resources(2, 8 * GIB), None),
    ("ml", "rc-1-worker-a"): ("gpu-1", Resources(8, 32 * GIB, 2), Resources(2, 8 * GIB, 2)),
    ("ml", "llm-batch-x7"): ("gpu-1", Resources(6, 48 * GIB, 1), None),
    ("data", "web-7d9f-abc"): ("cpu-1", Resources(1, 2 * GIB), None),
    ("data", "api-5c6d-xyz"): ("cpu-1", Resources(0.5, 1 * GIB), None),
    ("sandbox", "scratch"): ("cpu-1", Resources(1, 1 * GIB), None),
}
