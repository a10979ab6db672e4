"""Queues: Kueue/YuniKorn quota cost, used cost and idle quota dollars per queue and flavor;
borrowed and lent dollars per cohort, queued dollars and waits (docs/batch-economics.md).

Per-queue panels read the queue:* rules; per-flavor panels read the exporter's queue series
(already per queue, flavor and resource: no per-pod data), as no rule keeps the flavor.
"""

from unitcost_dashboards import (
    CLUSTER,
    DOLLARS_PER_HOUR,
    RATIO,
    SECONDS,
    Query,
    build,
    cluster_variable,
    query_variable,
    table,
    timeseries,
)

Q = "{" + CLUSTER + ', queue=~"$queue"}'
C = "{" + CLUSTER + "}"
#: Per queue and cohort; a side with no series counts as 0 (a lender-only cohort line).
BORROWED = f"sum by (queue, cohort) (queue:unitcost_queue_borrowed_cost_dollars_per_hour:sum{C})"
LENT = f"sum by (queue, cohort) (queue:unitcost_queue_lent_cost_dollars_per_hour:sum{C})"
COHORT_BORROWED = "cohort:unitcost_queue_borrowed_cost_dollars_per_hour:sum" + C
COHORT_LENT = "cohort:unitcost_queue_lent_cost_dollars_per_hour:sum" + C
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
        [
            timeseries(
                "Borrowed and lent dollars by cohort",
                "Cost per hour of capacity the cohort's queues borrowed above their nominal "
                "quota (charged to them) and of idle quota lent (credited to the lenders); "
                "over a cohort tree the two are equal.",
                DOLLARS_PER_HOUR,
                [
                    Query(
                        f"sum by (cohort) ({COHORT_BORROWED})",
                        legend="{{cohort}} borrowed",
                    ),
                    Query(
                        f"sum by (cohort) ({COHORT_LENT})",
                        legend="{{cohort}} lent",
                    ),
                ],
            ),
            table(
                "Borrowed and lent by queue",
                "Per queue and cohort: dollars per hour borrowed (charged) and lent "
                "(credited). An empty queue is the cohort's own quota.",
                DOLLARS_PER_HOUR,
                Query(f"({BORROWED} or {LENT} * 0) - ({LENT} or {BORROWED} * 0)"),
                columns={"queue": "Queue", "cohort": "Cohort", "Value": "Borrowed - lent $/h"},
            ),
        ],
        [
            timeseries(
                "Queued dollars per hour by queue",
                "What the workloads waiting for quota would cost per hour, priced at the flavor "
                "they would be admitted to: demand the platform did not serve.",
                DOLLARS_PER_HOUR,
                Query(
                    "sum by (queue) "
                    f"(queue_team:unitcost_queue_pending_cost_dollars_per_hour:sum{Q})",
                    legend="{{queue}}",
                ),
                stack=True,
            ),
            timeseries(
                "Wait time by queue",
                "The longest current wait, the mean wait of the workloads admitted in the last "
                "hour, and Kueue's p90 admission wait when Prometheus scrapes Kueue.",
                SECONDS,
                [
                    Query(
                        f"max by (queue) (queue:unitcost_queue_pending_wait_seconds:max{Q})",
                        legend="{{queue}} longest waiting",
                    ),
                    Query(
                        f"max by (queue) (queue:unitcost_queue_admission_wait_seconds:mean1h{Q})",
                        legend="{{queue}} mean admitted (1h)",
                        history=True,
                    ),
                    Query(
                        "histogram_quantile(0.9, sum by (cluster_queue, le) "
                        f"(rate(kueue_admission_wait_time_seconds_bucket{{{CLUSTER}, "
                        'cluster_queue=~"$queue"}[$__rate_interval])))',
                        legend="{{cluster_queue}} p90 (Kueue)",
                        history=True,
                    ),
                ],
            ),
        ],
    ],
)
