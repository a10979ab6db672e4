"""Queues: Kueue/YuniKorn quota cost, used cost and idle quota dollars per queue and flavor.

Per-queue panels read the queue:* rules; per-flavor panels read the exporter's queue series
(already per queue, flavor and resource: no per-pod data), as no rule keeps the flavor.
"""

from unitcost_dashboards import (
    CLUSTER,
    DOLLARS_PER_HOUR,
    RATIO,
    Query,
    build,
    cluster_variable,
    query_variable,
    table,
    timeseries,
)

Q = "{" + CLUSTER + ', queue=~"$queue"}'
QUOTA = f"max by (queue, flavor, resource) (unitcost_queue_quota_cost_dollars_per_hour{Q})"
USED = f"max by (queue, flavor, resource) (unitcost_queue_used_cost_dollars_per_hour{Q})"

dashboard = build(
    area="queues",
    title="unitcost / Queues",
    description="What each Kueue/YuniKorn queue's quota costs, how much of it is used, and the "
    "idle quota dollars.",
    variables=[
        cluster_variable("unitcost_build_info"),
        query_variable("queue", "Queue", f"label_values(unitcost_queue_info{{{CLUSTER}}}, queue)"),
    ],
    rows=[
        [
            timeseries(
                "Quota cost by queue",
                "Cost per hour of each queue's nominal (Kueue) or guaranteed (YuniKorn) quota, "
                "priced at its flavors' nodes.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (queue) (queue:unitcost_queue_quota_cost_dollars_per_hour:sum{Q})",
                    legend="{{queue}}",
                ),
            ),
            timeseries(
                "Used cost by queue",
                "Cost per hour allocated to each queue's running pods.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (queue) (queue:unitcost_queue_used_cost_dollars_per_hour:sum{Q})",
                    legend="{{queue}}",
                ),
            ),
        ],
        [
            timeseries(
                "Idle quota dollars by queue",
                "Quota cost not used by the queue's pods, per flavor and resource, never "
                "negative: what the quota reserves for nothing.",
                DOLLARS_PER_HOUR,
                Query(
                    "sum by (queue) "
                    f"(queue:unitcost_queue_idle_quota_cost_dollars_per_hour:sum{Q})",
                    legend="{{queue}}",
                ),
                stack=True,
            ),
            timeseries(
                "Quota utilisation",
                "Used cost divided by quota cost per queue; above 100% the queue borrows.",
                RATIO,
                Query(
                    f"max by (queue) (queue:unitcost_queue_quota_utilization:ratio{Q})",
                    legend="{{queue}}",
                ),
            ),
        ],
        [
            table(
                "Quota cost by queue and flavor",
                "Quota cost per hour per queue, flavor (node pool) and resource.",
                DOLLARS_PER_HOUR,
                Query(QUOTA),
                columns={
                    "queue": "Queue",
                    "flavor": "Flavor",
                    "resource": "Resource",
                    "Value": "Quota $ per hour",
                },
            ),
            table(
                "Idle quota by queue and flavor",
                "Quota cost minus used cost per queue, flavor and resource, floored at 0.",
                DOLLARS_PER_HOUR,
                Query(f"clamp_min({QUOTA} - ({USED} or {QUOTA} * 0), 0)"),
                columns={
                    "queue": "Queue",
                    "flavor": "Flavor",
                    "resource": "Resource",
                    "Value": "Idle $ per hour",
                },
            ),
        ],
        [
            timeseries(
                "Attributed cost by queue",
                "Cost per hour of the pods that name each queue (their allocated plus shared "
                "cost), whatever their quota.",
                DOLLARS_PER_HOUR,
                Query(
                    f"sum by (queue) (queue:unitcost_cost_dollars_per_hour:sum{Q})",
                    legend="{{queue}}",
                ),
                width=24,
            ),
        ],
    ],
)
