"""Leadership overview: spend, month-to-date, forecast against budget, waste, unit costs,
network dollars (docs/network.md), and the reliability cost of failed and preempted work
(docs/batch-economics.md)."""

from unitcost_dashboards import (
    CLUSTER,
    COUNT,
    DOLLARS,
    DOLLARS_PER_HOUR,
    RATIO,
    TIMESTAMP,
    Link,
    Query,
    build,
    cluster_variable,
    dashboard_url,
    stat,
    table,
    timeseries,
)

C = "{" + CLUSTER + "}"
TEAM_LINK = Link(
    "Team showback for ${__value.raw}",
    dashboard_url("team", "var-cluster=${cluster}", "var-team=${__value.raw}"),
    column="team",
)


def _unit_cost(resource: str, allocatable: str, unit: int) -> str:
    """Node-pool cost of `resource` over the pool's allocatable amount (node-level series;
    no recording rule holds capacity)."""
    by_pool = "* on (cluster, node) group_left (provider, node_pool) unitcost_node_info" + C
    return (
        f"sum by (provider, node_pool) (max by (cluster, node) (unitcost_node_cost_dollars_per_hour"
        f'{{resource="{resource}",{CLUSTER}}}) {by_pool}) / sum by (provider, node_pool) '
        f"(max by (cluster, node) ({allocatable}{C}) / {unit} {by_pool})"
    )


dashboard = build(
    area="leadership",
    title="unitcost / Leadership overview",
    description="What the platform costs, who spends it, how much is waste, and whether "
    "budgets hold.",
    variables=[cluster_variable("unitcost_build_info")],
    rows=[
        [
            stat(
                "Spend rate",
                "Total cost per hour of every node in the selected clusters: allocated to pods "
                "plus idle capacity.",
                DOLLARS_PER_HOUR,
                Query(f"sum(cluster:unitcost_cost_dollars_per_hour:sum{C})"),
            ),
            stat(
                "Month to date",
                "Spend since the start of the calendar month (UTC), from the recorded hourly "
                "averages.",
                DOLLARS,
                Query(f"sum(org:unitcost_cost_dollars:month_to_date{C})"),
            ),
            stat(
                "Waste per hour",
                "Requested but unused resources, priced: what right-sizing requests would save.",
                DOLLARS_PER_HOUR,
                Query(f"sum(team:unitcost_workload_unused_cost_dollars_per_hour:sum{C})"),
            ),
            stat(
                "GPU idle per hour",
                "Cost of GPUs allocated to pods whose activity stayed below the idle threshold.",
                DOLLARS_PER_HOUR,
                Query(f"sum(team:unitcost_gpu_idle_cost_dollars_per_hour:sum{C})"),
            ),
        ],
        [
            timeseries(
                "Spend by org",
                "Cost per hour attributed to each org (from namespace and pod labels); "
                "'unassigned' is cost with no known owner.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (org) (org:unitcost_cost_dollars_per_hour:sum{C})",
                    legend="{{org}}",
                ),
                stack=True,
            ),
            timeseries(
                "Spend by provider",
                "Cost per hour of the nodes of each provider (aws, gcp, onprem), allocated "
                "plus idle.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (provider) (provider:unitcost_node_cost_dollars_per_hour:sum{C})",
                    legend="{{provider}}",
                ),
                stack=True,
            ),
        ],
        [
            timeseries(
                "Month to date by org",
                "Cumulative spend per org since the start of the month (UTC).",
                DOLLARS,
                Query(
                    f"sum by (org) (org:unitcost_cost_dollars:month_to_date{C})",
                    legend="{{org}}",
                ),
            ),
            table(
                "Month-end forecast against budget",
                "Forecast month-end spend (month to date plus the last day's average rate for "
                "the hours left) as a share of the team's monthly budget; above 100% the team "
                "overruns. Click a team for its showback.",
                RATIO,
                Query(f"max by (team) (team:unitcost_budget_forecast:ratio{C})"),
                columns={"team": "Team", "Value": "Forecast / budget"},
                links=[TEAM_LINK],
            ),
        ],
        [
            table(
                "Top teams",
                "Teams by current spend rate; click a team to open its showback dashboard.",
                DOLLARS_PER_HOUR,
                Query(f"topk(10, sum by (team) (team:unitcost_cost_dollars_per_hour:sum{C}))"),
                columns={"team": "Team", "Value": "$ per hour"},
                links=[TEAM_LINK],
            ),
            table(
                "Budget burn rate",
                "Spend rate over the last day divided by the rate the monthly budget allows: "
                "above 1 the team runs out before the month ends.",
                COUNT,
                Query(f"max by (team) (team:unitcost_budget_burn_rate:avg1d{C})"),
                columns={"team": "Team", "Value": "Burn rate (1d)"},
                links=[TEAM_LINK],
            ),
        ],
        [
            timeseries(
                "Month-end forecast by org",
                "Forecast spend at the end of the month per org: month to date plus the last "
                "day's average rate for the hours left.",
                DOLLARS,
                Query(
                    f"sum by (org) (org:unitcost_cost_dollars:forecast_month_end{C})",
                    legend="{{org}}",
                ),
            ),
            timeseries(
                "Week-over-week spend change",
                "Last day's average spend rate per org against the same day a week earlier "
                "(1 = unchanged). Needs 8 days of history.",
                COUNT,
                Query(
                    f"sum by (org) (org:unitcost_cost_dollars_per_hour:avg1d{C}) / sum by (org) "
                    f"(org:unitcost_cost_dollars_per_hour:avg1d{C} offset 7d)",
                    legend="{{org}}",
                    history=True,
                ),
            ),
        ],
        [
            timeseries(
                "Effective dollars per GPU-hour",
                "GPU cost of the node pool divided by the GPUs allocated to pods: idle GPUs "
                "make every used GPU-hour dearer.",
                DOLLARS_PER_HOUR,
                # No rule for GPU counts yet: node-level exporter series (not per pod).
                Query(
                    "sum by (provider, node_pool) (max by (cluster, node) "
                    f'(unitcost_node_cost_dollars_per_hour{{resource="gpu",{CLUSTER}}}) '
                    "* on (cluster, node) group_left (provider, node_pool) "
                    f"unitcost_node_info{C}) / sum by (provider, node_pool) "
                    "(count by (cluster, node) "
                    f"(unitcost_gpu_info{C}) * on (cluster, node) group_left (provider, node_pool) "
                    f"unitcost_node_info{C})",
                    legend="{{provider}} {{node_pool}}",
                ),
            ),
            timeseries(
                "Waste ratio",
                "Unused-request cost divided by allocated cost, fleet-wide (a ratio of sums).",
                RATIO,
                Query(
                    f"sum(team:unitcost_workload_unused_cost_dollars_per_hour:sum{C}) "
                    f"/ sum(team:unitcost_workload_cost_dollars_per_hour:sum{C})",
                    legend="waste ratio",
                ),
            ),
        ],
        [
            timeseries(
                "Dollars per core-hour",
                "CPU cost of the node pool divided by the cores it offers to pods: the price of "
                "a core-hour, idle capacity included.",
                DOLLARS_PER_HOUR,
                Query(
                    _unit_cost("cpu", "unitcost_node_allocatable_cpu_cores", 1),
                    legend="{{provider}} {{node_pool}}",
                ),
            ),
            timeseries(
                "Dollars per GiB-hour",
                "Memory cost of the node pool divided by the GiB it offers to pods.",
                DOLLARS_PER_HOUR,
                Query(
                    _unit_cost("memory", "unitcost_node_allocatable_memory_bytes", 2**30),
                    legend="{{provider}} {{node_pool}}",
                ),
            ),
        ],
        [
            timeseries(
                "Cost per million LLM tokens",
                "Cost per hour of every pod serving LLM tokens (vLLM counters joined on "
                "namespace and pod) over the millions of prompt + generated tokens served per "
                "hour (a ratio of sums), over pods that have served for 5 minutes or more.",
                DOLLARS,
                Query(
                    f"sum(team_app:unitcost_llm_cost_dollars_per_hour:sum{C}) / "
                    f"(sum(team_app:unitcost_llm_tokens:rate5m{C}) * 3600 / 1e6 > 0)",
                    legend="LLM inference",
                    history=True,  # only pods serving for 5 minutes count
                ),
            ),
            timeseries(
                "Dollars per GPU-hour: allocated vs used",
                "GPU cost of pods holding GPUs per GPU-hour allocated, and per GPU-hour used "
                "(not idle by the GPU rule), by GPU model.",
                DOLLARS,
                [
                    Query(
                        f"max by (model) (model:unitcost_dollars_per_allocated_gpu_hour:ratio{C})",
                        legend="{{model}} allocated",
                    ),
                    Query(
                        f"max by (model) (model:unitcost_dollars_per_used_gpu_hour:ratio{C})",
                        legend="{{model}} used",
                    ),
                ],
            ),
        ],
        [
            timeseries(
                "GPU dollars held vs used, by team",
                "Held: what the team's pods hold of each physical GPU (whole, MIG slice, "
                "replica, fraction, DRA claim; the team of the namespace). Used: the same "
                "weighted by measured activity (dcgm-exporter, or the simulated cluster's). "
                "docs/gpu.md.",
                DOLLARS_PER_HOUR,
                [
                    Query(
                        f"sum by (team) (team:unitcost_gpu_holding_cost_dollars_per_hour:sum{C})",
                        legend="{{team}} held",
                    ),
                    Query(
                        "sum by (team) "
                        f"(team:unitcost_gpu_holding_used_cost_dollars_per_hour:sum{C})",
                        legend="{{team}} used",
                    ),
                ],
            ),
            timeseries(
                "Held GPU dollars by state",
                "Busy, warm idle (memory held, no activity: a loaded model without traffic), "
                "empty (held, nothing loaded), and the unheld rest of the GPUs.",
                DOLLARS_PER_HOUR,
                [
                    Query(
                        "sum by (state) "
                        f"(cluster_state:unitcost_gpu_state_cost_dollars_per_hour:sum{C})",
                        legend="{{state}}",
                    ),
                    Query(
                        f"sum(cluster:unitcost_gpu_device_unheld_cost_dollars_per_hour:sum{C})",
                        legend="unheld",
                    ),
                ],
                stack=True,
            ),
        ],
        [
            table(
                "Capacity runs out",
                "When forecast demand (requested + queued, daily peak; Holt-Winters with a "
                "weekly season) reaches each node pool's capacity, within 90 days. From "
                "`unitcost forecast --serve` (docs/forecast.md).",
                TIMESTAMP,
                Query(
                    "min by (provider, node_pool, gpu_model, resource) "
                    f"(unitcost_capacity_exhaustion_timestamp_seconds{C})",
                    history=True,  # needs the forecaster, fed by weeks of history
                ),
                columns={
                    "provider": "Provider",
                    "node_pool": "Node pool",
                    "gpu_model": "GPU model",
                    "resource": "Resource",
                    "Value": "Runs out",
                },
            ),
            table(
                "GPU demand forecast",
                "Requested GPUs per node pool: capacity now, and the forecast daily peak in 30 "
                "and 90 days (unitcost forecast --serve).",
                COUNT,
                Query(
                    "max by (provider, node_pool, gpu_model, horizon) "
                    f'(unitcost_capacity_forecast_requested{{resource="gpu",{CLUSTER}}})',
                    history=True,
                ),
                columns={
                    "provider": "Provider",
                    "node_pool": "Node pool",
                    "gpu_model": "GPU model",
                    "horizon": "In",
                    "Value": "GPUs requested",
                },
            ),
        ],
        # Network (docs/network.md): data-transfer dollars by destination class and team.
        [
            timeseries(
                "Network dollars by destination",
                "Data-transfer dollars per hour of the whole platform, by the class of the "
                "remote end (inter-zone, inter-region, internet, on-prem); nat=true went "
                "through a NAT gateway.",
                DOLLARS_PER_HOUR,
                Query(
                    "sum by (destination, nat) "
                    f"(cluster_destination:unitcost_network_cost_dollars_per_hour:sum{C})",
                    legend="{{destination}} nat={{nat}}",
                ),
                stack=True,
            ),
            timeseries(
                "Network dollars by team",
                "Data-transfer dollars per hour per team (a namespace's by its teams' allocated "
                "cost there; `shared`: the nodes' own traffic).",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (team) (team:unitcost_network_cost_dollars_per_hour:sum{C})",
                    legend="{{team}}",
                ),
                stack=True,
            ),
        ],
        # Network dollars against the AWS bill's data-transfer lines (docs/network.md).
        [
            timeseries(
                "Network dollars against the AWS bill",
                "Yesterday's (UTC) network dollars counted by the node agents divided by the "
                "AWS bill's data-transfer lines of the same day, per class (other-zone; egress: "
                "inter-region, internet and NAT processing; all). 1 = they agree; above 1 the "
                "agents' dollars are high. Needs the AWS billing source and a day of history.",
                COUNT,
                Query(
                    "max by (destination) "
                    "(cluster_destination:unitcost_network_transfer_reconciliation_ratio:yesterday"
                    f"{C})",
                    legend="{{destination}}",
                    history=True,
                ),
                width=24,
            ),
        ],
        # Avoidable cross-zone traffic (docs/network.md).
        [
            timeseries(
                "Avoidable cross-zone dollars by team",
                "Other-zone data-transfer dollars per hour of batch workloads (Spark, Ray, "
                "JobSet, Job, training jobs), per team: in one zone their pods' traffic would "
                "be free. An upper bound.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (team) (team:unitcost_network_avoidable_cost_dollars_per_hour:sum{C})",
                    legend="{{team}}",
                ),
                width=8,
                stack=True,
            ),
            timeseries(
                "Shared services split by team",
                "The platform's shared services (caches, brokers) per hour, split among the "
                "teams that use them by their usage (docs/shared-services.md).",
                DOLLARS_PER_HOUR,
                Query(
                    "sum by (team) "
                    f"(team:unitcost_shared_service_allocated_cost_dollars_per_hour:sum{C})",
                    legend="{{team}}",
                ),
                width=8,
                stack=True,
            ),
            table(
                "Shared services: cost and owner",
                "Each shared service's own cost per hour and the team that owns it.",
                DOLLARS_PER_HOUR,
                Query(
                    "sum by (service, team) "
                    f"(service_team:unitcost_shared_service_cost_dollars_per_hour:max{C})"
                ),
                columns={"service": "Service", "team": "Owner", "Value": "$/h"},
                width=8,
            ),
        ],
        # Reliability cost: counted when runs end, so it needs runs to have ended (history).
        [
            timeseries(
                "Reliability cost: failed and preempted dollars by team",
                "Dollars of runs that ended failed, preempted or evicted in the last hour, per "
                "team: compute that produced nothing.",
                DOLLARS,
                Query(
                    "sum by (team) "
                    f"(team:unitcost_workload_ended_cost_dollars:unproductive_increase1h{C})",
                    legend="{{team}}",
                    history=True,
                ),
                stack=True,
            ),
            table(
                "Top failing workloads by dollars",
                "The costliest failed, preempted or evicted runs over the range, all teams.",
                DOLLARS,
                Query(
                    "topk(10, max by (team, namespace, app, outcome, cause) "
                    f"(max_over_time(unitcost_ended_workload_cost_dollars{C}[$__range])))",
                    history=True,
                ),
                columns={
                    "team": "Team",
                    "namespace": "Namespace",
                    "app": "Workload",
                    "outcome": "Outcome",
                    "cause": "Cause",
                    "Value": "Dollars",
                },
                links=[TEAM_LINK],
            ),
        ],
    ],
)
