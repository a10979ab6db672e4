"""Team showback: one team's cost by namespace, app and queue, its waste, GPU idle, budget, its
network dollars (docs/network.md), and its reliability cost (failed and preempted work,
docs/batch-economics.md).

Team-level figures (spend, waste ratio, budget) come from team:* rules and ignore the namespace
filter; per-namespace, app, queue and workload panels honour it.
"""

from unitcost_dashboards import (
    CLUSTER,
    COUNT,
    DOLLARS,
    DOLLARS_PER_HOUR,
    RATIO,
    Link,
    Query,
    build,
    cluster_variable,
    dashboard_url,
    query_variable,
    stat,
    table,
    timeseries,
)

T = "{" + CLUSTER + ', team=~"$team"}'
TN = "{" + CLUSTER + ', team=~"$team", namespace=~"$namespace"}'
#: Namespaces owned by the team (namespace rules carry no team label: join the info series).
OWNED = f"and on (cluster, namespace) unitcost_namespace_info{T}"
NS = "{" + CLUSTER + ', namespace=~"$namespace"}'
WORKLOAD_COLUMNS = {
    "namespace": "Namespace",
    "workload_kind": "Kind",
    "app": "Workload",
    "queue": "Queue",
}
#: One workload's pods (the drill-down): the `workload` variable is the workload's app.
TNW = "{" + CLUSTER + ', team=~"$team", namespace=~"$namespace", app=~"$workload"}'
WORKLOAD_LINK = Link(
    "Drill down to the pods of ${__value.raw}",
    dashboard_url(
        "team",
        "var-cluster=${cluster}",
        "var-team=${team}",
        "var-namespace=${namespace}",
        "var-workload=${__value.raw}",
    ),
    column="app",
)
NAMESPACE_LINK = Link(
    "Drill down to namespace ${__value.raw}",
    dashboard_url(
        "team", "var-cluster=${cluster}", "var-team=${team}", "var-namespace=${__value.raw}"
    ),
    column="namespace",
)

dashboard = build(
    area="team",
    title="unitcost / Team showback",
    description="One team's cost by namespace, app and queue, its waste, idle GPUs and budget.",
    variables=[
        cluster_variable("unitcost_build_info"),
        query_variable(
            "team",
            "Team",
            f"label_values(team:unitcost_cost_dollars_per_hour:sum{{{CLUSTER}}}, team)",
            include_all=False,
            multi=False,
        ),
        query_variable(
            "namespace",
            "Namespace",
            f'label_values(unitcost_namespace_info{{{CLUSTER}, team=~"$team"}}, namespace)',
        ),
        query_variable(
            "workload",
            "Workload",
            f"label_values(workload:unitcost_workload_cost_dollars_per_hour:max{TN}, app)",
        ),
    ],
    rows=[
        [
            stat(
                "Spend rate",
                "The team's cost per hour: its pods' allocated cost, shared cost it received, "
                "and its bound volumes.",
                DOLLARS_PER_HOUR,
                Query(f"sum(team:unitcost_cost_dollars_per_hour:sum{T})"),
                width=4,
            ),
            stat(
                "Month to date",
                "The team's spend since the start of the calendar month (UTC).",
                DOLLARS,
                Query(f"sum(team:unitcost_cost_dollars:month_to_date{T})"),
                width=4,
            ),
            stat(
                "Monthly budget",
                "The team's budget for the month, from the unitcost config.",
                DOLLARS,
                Query(f"sum(team:unitcost_budget_dollars:max{T})"),
                width=4,
            ),
            stat(
                "Forecast / budget",
                "Month-end forecast as a share of the budget; above 100% the team overruns.",
                RATIO,
                Query(f"max(team:unitcost_budget_forecast:ratio{T})"),
                width=4,
            ),
            stat(
                "Waste ratio",
                "Unused-request cost divided by allocated pod cost (a ratio of sums).",
                RATIO,
                Query(
                    f"sum(team:unitcost_workload_unused_cost_dollars_per_hour:sum{T}) "
                    f"/ sum(team:unitcost_workload_cost_dollars_per_hour:sum{T})"
                ),
                width=4,
            ),
            stat(
                "GPU idle per hour",
                "Cost of GPUs allocated to the team's pods that stayed idle over the window.",
                DOLLARS_PER_HOUR,
                Query(f"sum(team:unitcost_gpu_idle_cost_dollars_per_hour:sum{T})"),
                width=4,
            ),
        ],
        [
            timeseries(
                "Cost by namespace",
                "Cost per hour of each namespace the team owns.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (namespace) (namespace:unitcost_cost_dollars_per_hour:sum{NS} "
                    f"{OWNED})",
                    legend="{{namespace}}",
                ),
                stack=True,
            ),
            table(
                "Namespaces",
                "Cost per hour of each namespace the team owns; click one to drill down.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (namespace) (namespace:unitcost_cost_dollars_per_hour:sum{NS} {OWNED})"
                ),
                columns={"namespace": "Namespace", "Value": "$ per hour"},
                links=[NAMESPACE_LINK],
            ),
        ],
        [
            timeseries(
                "Cost by app",
                "Cost per hour of each app (Spark application, Ray cluster, Job owner) of the "
                "team in the selected namespaces.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (app) (workload:unitcost_workload_cost_dollars_per_hour:max{TN})",
                    legend="{{app}}",
                ),
                stack=True,
            ),
            timeseries(
                "Cost by queue",
                "Cost per hour of the team's pods per Kueue/YuniKorn queue ('' is work "
                "outside any queue).",
                DOLLARS_PER_HOUR,
                # Per (namespace, owners) already: fewer series than per workload.
                Query(
                    "sum by (queue) "
                    f"(namespace_team:unitcost_workload_cost_dollars_per_hour:sum{TN})",
                    legend="{{queue}}",
                ),
                stack=True,
            ),
        ],
        [
            timeseries(
                "Unused-request dollars by namespace",
                "Requested but unused resources per namespace, priced: what right-sizing "
                "requests would save.",
                DOLLARS_PER_HOUR,
                Query(
                    "sum by (namespace) "
                    f"(namespace:unitcost_workload_unused_cost_dollars_per_hour:sum{NS} {OWNED})",
                    legend="{{namespace}}",
                ),
            ),
            timeseries(
                "Waste ratio by namespace",
                "Unused-request cost divided by allocated pod cost, per namespace.",
                RATIO,
                Query(
                    f"max by (namespace) (namespace:unitcost_waste:ratio{NS} {OWNED})",
                    legend="{{namespace}}",
                ),
            ),
        ],
        [
            timeseries(
                "GPU idle dollars by model",
                "Idle cost of GPUs allocated to the team's pods, per GPU model.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (model) (team_model:unitcost_gpu_idle_cost_dollars_per_hour:sum{T})",
                    legend="{{model}}",
                ),
            ),
            timeseries(
                "Budget burn rate",
                "Average spend rate over 1h, 6h, 1d and 3d divided by the budget's pace "
                "(1 = exactly on budget).",
                COUNT,
                [
                    Query(f"max(team:unitcost_budget_burn_rate:{w}{T})", legend=w)
                    for w in ("avg1h", "avg6h", "avg1d", "avg3d")
                ],
            ),
        ],
        [
            # Workloads, not pods: a team acts on a Spark application or a Deployment, and
            # one series per workload is what the exporter publishes with owners on it.
            table(
                "Most expensive workloads",
                "The team's ten costliest workloads (Spark application, Job, JobSet, Ray "
                "cluster, Deployment) right now: the allocated cost of all their pods.",
                DOLLARS_PER_HOUR,
                Query(f"topk(10, workload:unitcost_workload_cost_dollars_per_hour:max{TN})"),
                columns=WORKLOAD_COLUMNS | {"Value": "$ per hour"},
                links=[NAMESPACE_LINK, WORKLOAD_LINK],
            ),
            table(
                "Most wasteful workloads",
                "The team's ten workloads with the most unused-request dollars right now: "
                "where right-sizing requests saves the most.",
                DOLLARS_PER_HOUR,
                # Inline from the exporter's workload series (de-duplicated as the rules
                # do): no per-workload record of unused cost is kept (one series per
                # workload, read only here).
                Query(
                    "topk(10, max by (cluster, namespace, team, org, cost_center, queue, app, "
                    f"workload_kind) (unitcost_workload_unused_cost_dollars_per_hour{TN}))"
                ),
                columns=WORKLOAD_COLUMNS | {"Value": "Unused $ per hour"},
                links=[NAMESPACE_LINK, WORKLOAD_LINK],
            ),
        ],
        [
            # The drill-down from a workload to its pods: the one series per pod that every
            # `detail` serves (its total, owners on it), selected by team and app in the index,
            # so the panel reads one workload's pods, never all of them.
            table(
                "Pods of the workload",
                "The costliest pods of the workload chosen above (click a workload in the "
                "tables above): each pod's allocated cost per hour over all its resources, and "
                "its node. The per-resource breakdown is per workload "
                "(unitcost_workload_resource_cost_dollars_per_hour).",
                DOLLARS_PER_HOUR,
                Query(
                    "topk(20, max by (cluster, namespace, app, workload_kind, pod, node) "
                    f"(unitcost_pod_total_cost_dollars_per_hour{TNW}))"
                ),
                columns={
                    "namespace": "Namespace",
                    "app": "Workload",
                    "pod": "Pod",
                    "node": "Node",
                    "Value": "$ per hour",
                },
                width=12,
            ),
            table(
                "Cost of the workload by resource",
                "The chosen workload's allocated cost per hour by resource (CPU, memory, GPU, "
                "node-local storage), summed over its pods.",
                DOLLARS_PER_HOUR,
                Query(
                    "sum by (cluster, namespace, app, resource) (max by (cluster, namespace, "
                    "team, org, cost_center, queue, app, workload_kind, resource) "
                    f"(unitcost_workload_resource_cost_dollars_per_hour{TNW}))"
                ),
                columns={
                    "namespace": "Namespace",
                    "app": "Workload",
                    "resource": "Resource",
                    "Value": "$ per hour",
                },
                width=12,
            ),
        ],
        [
            table(
                "Cost per run",
                "What each Spark application, Job, JobSet or Ray cluster run cost over the "
                "time range: its pods' cost rate (allocated + shared) integrated minute by "
                "minute. Runs still going show their cost so far; a run that began before the "
                "range shows only the part inside it.",
                DOLLARS,
                Query(
                    "topk(20, sum_over_time(namespace_app:unitcost_run_cost_dollars_per_hour:sum"
                    f"{TN}[$__range:1m]) / 60)",
                    history=True,  # 1m steps: a freshly started Prometheus has none yet
                ),
                columns={
                    "namespace": "Namespace",
                    "workload_kind": "Kind",
                    "app": "Run",
                    "Value": "Cost",
                },
                links=[NAMESPACE_LINK],
            ),
            timeseries(
                "Cost per million LLM tokens",
                "Cost per hour of the pods serving tokens (vLLM counters joined on namespace "
                "and pod) over the millions of prompt + generated tokens they serve per hour, "
                "per app, over pods that have served for 5 minutes or more.",
                DOLLARS,
                Query(
                    "max by (app) "
                    f"(team_app:unitcost_llm_cost_dollars_per_million_tokens:ratio{T})",
                    legend="{{app}}",
                    history=True,  # only pods serving for 5 minutes count
                ),
            ),
        ],
        [
            timeseries(
                "Dollars per GPU-hour: allocated vs used",
                "The team's GPU cost per GPU-hour it holds (allocated) and per GPU-hour it "
                "actually uses (GPUs not idle by the GPU rule): the gap is what idle GPUs add.",
                DOLLARS,
                [
                    Query(
                        "max by (model) "
                        f"(team_model:unitcost_dollars_per_allocated_gpu_hour:ratio{T})",
                        legend="{{model}} allocated",
                    ),
                    Query(
                        f"max by (model) (team_model:unitcost_dollars_per_used_gpu_hour:ratio{T})",
                        legend="{{model}} used",
                    ),
                ],
            ),
        ],
        # Network (docs/network.md): the node agents' traffic dollars, by destination class.
        [
            stat(
                "Network dollars per hour",
                "The team's data-transfer dollars per hour: its pods' traffic priced by "
                "destination class (inter-zone, inter-region, internet, NAT), its namespaces' "
                "share by allocated cost.",
                DOLLARS_PER_HOUR,
                Query(f"sum(team:unitcost_network_cost_dollars_per_hour:sum{T})"),
                width=6,
            ),
            timeseries(
                "Network dollars by destination",
                "Data-transfer dollars per hour of the team's namespaces, by the class of the "
                "remote end; nat=true went through a NAT gateway.",
                DOLLARS_PER_HOUR,
                Query(
                    "sum by (destination, nat) "
                    f"(namespace_destination:unitcost_network_cost_dollars_per_hour:sum{NS} "
                    f"{OWNED})",
                    legend="{{destination}} nat={{nat}}",
                ),
                width=9,
                stack=True,
            ),
            table(
                "Top talkers",
                "The team's pods with the most network dollars per hour now.",
                DOLLARS_PER_HOUR,
                Query(
                    "topk(10, namespace_pod:unitcost_network_cost_dollars_per_hour:sum"
                    f"{NS} {OWNED})"
                ),
                columns={"namespace": "Namespace", "pod": "Pod", "Value": "$/h"},
                width=9,
            ),
        ],
        # Avoidable cross-zone traffic (docs/network.md): batch workloads' other-zone dollars.
        [
            stat(
                "Avoidable cross-zone dollars per hour",
                "Other-zone data-transfer dollars per hour of the team's batch workloads "
                "(Spark, Ray, JobSet, Job, training jobs): run in one zone, their pods' traffic "
                "would be free. An upper bound: some of it may go to services in the other zone.",
                DOLLARS_PER_HOUR,
                Query(f"sum(team:unitcost_network_avoidable_cost_dollars_per_hour:sum{T})"),
                width=6,
            ),
            table(
                "Cross-zone waste by workload",
                "The team's batch workloads with the most other-zone dollars per hour now.",
                DOLLARS_PER_HOUR,
                Query(
                    "topk(10, namespace_workload:unitcost_network_avoidable_cost_dollars_per_hour"
                    f":sum{T})"
                ),
                columns={
                    "namespace": "Namespace",
                    "app": "Workload",
                    "workload_kind": "Kind",
                    "Value": "$/h",
                },
                width=18,
            ),
        ],
        # Shared services split by usage (docs/shared-services.md).
        [
            stat(
                "Shared services allocated per hour",
                "Dollars per hour of the platform's shared services (caches, brokers) the "
                "team was allocated by its share of their usage; an owner's unattributed "
                "remainder included.",
                DOLLARS_PER_HOUR,
                Query(f"sum(team:unitcost_shared_service_allocated_cost_dollars_per_hour:sum{T})"),
                width=6,
            ),
            timeseries(
                "Shared services by service",
                "What the team was allocated per hour, per shared service and method (usage, "
                "usage-last-good when the usage query failed, unattributed for an owner).",
                DOLLARS_PER_HOUR,
                Query(
                    "sum by (service, method) "
                    f"(service_team:unitcost_shared_service_allocated_cost_dollars_per_hour:max{T})",
                    legend="{{service}} {{method}}",
                ),
                width=18,
                stack=True,
            ),
        ],
        # Reliability cost: counted when runs end, so it needs runs to have ended (history).
        [
            stat(
                "Unproductive share (6h)",
                "Share of the dollars of the team's runs that ended in the last 6 hours spent "
                "on runs that failed, were preempted or evicted.",
                RATIO,
                Query(
                    f"max(team:unitcost_workload_ended_cost_dollars:unproductive_ratio6h{T})",
                    history=True,
                ),
                width=6,
            ),
            stat(
                "Cost per successful run (1d)",
                "Dollars of the team's successful runs over the last day, per run.",
                DOLLARS,
                Query(
                    f"max(team:unitcost_workload_ended_cost_dollars:per_succeeded_run1d{T})",
                    history=True,
                ),
                width=6,
            ),
            stat(
                "Queued dollars per hour",
                "What the team's work waiting for quota would cost per hour if it ran.",
                DOLLARS_PER_HOUR,
                Query(f"sum(team:unitcost_queue_pending_cost_dollars_per_hour:sum{T})"),
                width=12,
            ),
        ],
        [
            timeseries(
                "Reliability cost: failed and preempted dollars",
                "Dollars of the team's runs that ended failed, preempted or evicted in the "
                "last hour, by outcome and cause (the reason Kubernetes or Kueue gave).",
                DOLLARS,
                Query(
                    "sum by (outcome, cause) (team_queue_outcome_cause:"
                    f'unitcost_workload_ended_cost_dollars:increase1h{{{CLUSTER}, team=~"$team", '
                    'outcome=~"failed|preempted|evicted"})',
                    legend="{{outcome}} {{cause}}",
                    history=True,
                ),
                stack=True,
            ),
            table(
                "Top failing workloads by dollars",
                "The team's costliest failed, preempted or evicted runs over the range: what "
                "each run cost before it ended.",
                DOLLARS,
                Query(
                    "topk(10, max by (namespace, app, workload_kind, queue, outcome, cause) "
                    f"(max_over_time(unitcost_ended_workload_cost_dollars{TN}[$__range])))",
                    history=True,
                ),
                columns={
                    **WORKLOAD_COLUMNS,
                    "outcome": "Outcome",
                    "cause": "Cause",
                    "Value": "Dollars",
                },
            ),
        ],
    ],
)
