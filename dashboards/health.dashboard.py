"""Platform health and SLOs of unitcost itself: can the cost numbers be trusted right now?

Error budgets use the policy thresholds the exporter publishes (unattributed share, source
staleness) and a 99% availability objective for the exporter (AVAILABILITY_SLO below).
"""

from unitcost_dashboards import (
    CLUSTER,
    COUNT,
    RATIO,
    SECONDS,
    Query,
    build,
    cluster_variable,
    stat,
    table,
    timeseries,
)

C = "{" + CLUSTER + "}"
AVAILABILITY_SLO = 0.99
#: Scrapes of unitcost exporters, whatever the job is called (they serve unitcost_build_info).
EXPORTER = f"and on (cluster, job, instance) unitcost_build_info{C}"

dashboard = build(
    area="health",
    title="unitcost / Platform health and SLOs",
    description="Simulated data, source health and freshness, attribution coverage, unpriced "
    "nodes, exporter availability and the error budgets of unitcost's own SLIs.",
    variables=[cluster_variable("unitcost_build_info")],
    rows=[
        [
            # First: simulated dollars must never pass for real ones (0 on a real cluster).
            stat(
                "Simulated data",
                "Exporters serving the built-in simulator's made-up costs "
                "(unitcost_simulated_data; alert UnitcostSimulatedData). Anything but 0: the "
                "dollars of this cluster are not all real.",
                COUNT,
                Query(f"count(unitcost_simulated_data{C}) or vector(0)"),
                width=4,
            ),
            stat(
                "Sources up",
                "Sources whose last read succeeded, of all sources (each exporter reports "
                "unitcost_source_up per source).",
                RATIO,
                Query(f"avg(source:unitcost_source_up:max{C})"),
                width=5,
            ),
            stat(
                "Attribution coverage",
                "Share of cost that lands on a known team (not 'unassigned').",
                RATIO,
                Query(f"min(cluster:unitcost_attribution_coverage:ratio{C})"),
                width=5,
            ),
            stat(
                "Unpriced nodes",
                "Nodes with no instance price or node class, priced at fallback rates: fix "
                "the price book.",
                COUNT,
                Query(f"sum(max by (cluster) (unitcost_unpriced_nodes{C}))"),
                width=5,
            ),
            stat(
                "Exporter availability",
                "Share of unitcost exporter targets up now (remembered for 1h after they go).",
                RATIO,
                Query(f"min(job:unitcost_exporter_up:avg{C})"),
                width=5,
            ),
        ],
        [
            timeseries(
                "Source freshness",
                "Age of each source's last successful read; the series go when it passes the "
                "staleness limit (unitcost_policy_source_stale_seconds).",
                SECONDS,
                Query(
                    f"max by (source) (source:unitcost_source_age_seconds:min{C})",
                    legend="{{source}}",
                ),
            ),
            timeseries(
                "Attribution coverage",
                "Share of cost with a known team, per cluster.",
                RATIO,
                Query(
                    f"min by (cluster) (cluster:unitcost_attribution_coverage:ratio{C})",
                    legend="coverage {{cluster}}",
                ),
            ),
        ],
        [
            timeseries(
                "Collect duration",
                "Wall time of the exporter's last collect (read sources, allocate, render).",
                SECONDS,
                Query(
                    f"max by (job, instance) (unitcost_collect_duration_seconds{C})",
                    legend="{{instance}}",
                ),
            ),
            timeseries(
                "Scrape duration",
                "How long Prometheus takes to scrape each unitcost exporter.",
                SECONDS,
                Query(
                    f"max by (job, instance) (scrape_duration_seconds{C} {EXPORTER})",
                    legend="{{instance}}",
                ),
            ),
        ],
        [
            table(
                "Error budget left",
                "Share of each SLI's error budget left (1 = untouched, below 0 = SLO missed). "
                "Attribution: unattributed share against its policy threshold. Freshness: "
                "source age against the staleness limit. Availability: exporter downtime "
                f"over the range against a {AVAILABILITY_SLO:.0%} objective.",
                RATIO,
                Query(
                    f"label_replace(1 - max(cluster:unitcost_unattributed_cost:ratio{C}) / "
                    f"max(unitcost_policy_unattributed_cost_ratio_threshold{C}), "
                    '"sli", "attribution coverage", "", "") or '
                    f"label_replace(1 - max(source:unitcost_source_age_seconds:min{C}) / "
                    f"max(unitcost_policy_source_stale_seconds{C}), "
                    '"sli", "data freshness", "", "") or '
                    "label_replace(1 - (1 - min(avg_over_time(job:unitcost_exporter_up:avg"
                    f"{C}[$__range]))) / {1 - AVAILABILITY_SLO:.2f}, "
                    '"sli", "exporter availability", "", "")'
                ),
                columns={"sli": "SLI", "Value": "Budget left"},
                width=24,
            ),
        ],
    ],
)
