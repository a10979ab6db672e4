"""GPU efficiency: fleet allocation, idle dollars by model, team and pod, MIG slices.

GPU cost and allocation per node have no recording rule: those panels read the exporter's
node-level series (per node and resource, never per pod).
"""

from unitcost_dashboards import (
    CLUSTER,
    COUNT,
    DOLLARS_PER_HOUR,
    RATIO,
    Query,
    build,
    cluster_variable,
    stat,
    table,
    timeseries,
)

C = "{" + CLUSTER + "}"
GPU = "{" + CLUSTER + ', resource="gpu"}'
GPU_COST = f"sum(max by (cluster, node) (unitcost_node_cost_dollars_per_hour{GPU}))"
GPU_UNALLOCATED = f"sum(max by (cluster, node) (unitcost_node_idle_cost_dollars_per_hour{GPU}))"
IDLE_ALLOCATED = f"sum(cluster:unitcost_gpu_idle_cost_dollars_per_hour:sum{C})"

dashboard = build(
    area="gpu",
    title="unitcost / GPU efficiency",
    description="What the GPU fleet costs, how much of it is allocated, and the dollars of "
    "GPUs that sit idle inside running pods.",
    variables=[cluster_variable("unitcost_build_info")],
    rows=[
        [
            stat(
                "GPU cost per hour",
                "Cost per hour of every GPU in the fleet (the GPU share of node prices).",
                DOLLARS_PER_HOUR,
                Query(GPU_COST),
            ),
            stat(
                "Allocated share",
                "Share of GPU cost allocated to pods (1 - unallocated GPU cost / GPU cost).",
                RATIO,
                Query(f"1 - {GPU_UNALLOCATED} / {GPU_COST}"),
            ),
            stat(
                "Active share of allocated",
                "Share of allocated GPU cost whose GPUs were busy (not idle over the window).",
                RATIO,
                Query(f"1 - {IDLE_ALLOCATED} / ({GPU_COST} - {GPU_UNALLOCATED})"),
            ),
            stat(
                "Idle while allocated",
                "Cost per hour of GPUs allocated to running pods whose activity stayed below "
                "the idle threshold for the idle window.",
                DOLLARS_PER_HOUR,
                Query(IDLE_ALLOCATED),
            ),
        ],
        [
            timeseries(
                "Fleet GPU allocation",
                "Share of GPU cost allocated to pods, and of that, the share that was active.",
                RATIO,
                [
                    Query(f"1 - {GPU_UNALLOCATED} / {GPU_COST}", legend="allocated"),
                    Query(
                        f"1 - {IDLE_ALLOCATED} / ({GPU_COST} - {GPU_UNALLOCATED})",
                        legend="active of allocated",
                    ),
                ],
            ),
            timeseries(
                "Idle dollars by GPU model",
                "Idle cost per hour of allocated GPUs, per GPU model.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (model) (team_model:unitcost_gpu_idle_cost_dollars_per_hour:sum{C})",
                    legend="{{model}}",
                ),
                stack=True,
            ),
        ],
        [
            timeseries(
                "Idle dollars by team",
                "Idle cost per hour of GPUs allocated to each team's pods.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (team) (team:unitcost_gpu_idle_cost_dollars_per_hour:sum{C})",
                    legend="{{team}}",
                ),
                stack=True,
            ),
            table(
                "Idle GPUs by pod",
                "The pods holding the most idle GPU dollars right now (one series per GPU and "
                "pod from the exporter; no rule keeps the pod).",
                DOLLARS_PER_HOUR,
                Query(
                    "topk(15, sum by (cluster, namespace, pod, node) "
                    f"(max by (cluster, node, gpu, namespace, pod) "
                    f"(unitcost_gpu_idle_cost_dollars_per_hour{C})) > 0)"
                ),
                columns={
                    "cluster": "Cluster",
                    "namespace": "Namespace",
                    "pod": "Pod",
                    "node": "Node",
                    "Value": "Idle $ per hour",
                },
            ),
        ],
        [
            table(
                "Allocated GPUs by model and MIG profile",
                "Allocated GPUs and MIG slices per model; an empty profile is a whole GPU.",
                COUNT,
                Query(f"count by (model, mig_profile) (unitcost_gpu_info{C})"),
                columns={"model": "Model", "mig_profile": "MIG profile", "Value": "Allocated"},
                width=24,
            ),
        ],
    ],
)
