"""Days of recorded cost series, as the recording rules would have written them, for
backfilling the real Prometheus (`prometheus(history=...)`).

A small platform around a month boundary (February -> March 2025, so the short month is
covered): two teams, workloads that start and stop inside hours (so per-app weights differ
from the team's), a Spark application whose executor comes and goes inside every hour (its
workload series is the sum of its pods, as the exporter publishes it), shared cost, volumes,
waste and idle GPUs. Samples every 120 s at an offset of 17 s from the hour, like a rule group
whose evaluations are not aligned to the clock.

The series are the per-workload records (`workload:...:sum`: no `pod` label; owners and
`workload_kind` on them), and the team series are derived here from them exactly as
recording-rules/ derive them (team sum = pod cost + shared received + bound volumes;
avg1h = average over the hour), so the chargeback command reads consistent books.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

START = int(datetime(2025, 2, 26, tzinfo=UTC).timestamp())
END = int(datetime(2025, 3, 2, 12, tzinfo=UTC).timestamp())
STEP = 120
OFFSET = 17

Rate = Callable[[int], float | None]  # $/h at a time, None while the series is absent


@dataclass(frozen=True)
class Line:
    metric: str
    labels: dict[str, str]
    rate: Rate


def _between(start_s: int, end_s: int, period: int, value: float) -> Rate:
    """`value` while (t mod period) is in [start_s, end_s), else absent."""
    return lambda t: value if start_s <= t % period < end_s else None


def _constant(value: float) -> Rate:
    return lambda t: value


def _wave(base: float, amplitude: float) -> Rate:
    return lambda t: base + amplitude * math.sin(t / 5000.0)


def _sum(*rates: Rate) -> Rate:
    """The sum of the rates present at a time; absent while all are (as a workload's series
    is the sum of its running pods' series, and absent without any)."""

    def rate(t: int) -> float | None:
        values = [v for v in (r(t) for r in rates) if v is not None]
        return sum(values) if values else None

    return rate


ALLOCATED = "workload:unitcost_workload_cost_dollars_per_hour:max"
#: No per-workload unused record is kept: the team figure sums the exporter's workload series.
UNUSED = "unitcost_workload_unused_cost_dollars_per_hour"
SHARED = "workload:unitcost_workload_shared_cost_dollars_per_hour:max"
VOLUME = "namespace:unitcost_volume_cost_dollars_per_hour:sum"


def _workload(ns: str, team: str, queue: str, app: str, kind: str) -> dict[str, str]:
    return {
        "namespace": ns,
        "team": team,
        "org": "research" if team == "ml" else "analytics",
        "cost_center": "cc-1" if team == "ml" else "cc-2",
        "queue": queue,
        "app": app,
        "workload_kind": kind,
    }


# Two Jobs in one namespace and queue: two chargeback lines, split by their own hours.
ML_TRAIN_A = _workload("ml-train", "ml", "gpu-q", "train-a", "Job")
ML_TRAIN_B = _workload("ml-train", "ml", "gpu-q", "train-b", "Job")
ML_SERVE = _workload("ml-serve", "ml", "", "server", "Deployment")
# One Spark application: driver and executor pods summed into one workload series.
ETL = _workload("etl", "data", "batch", "etl-daily", "SparkApplication")

ETL_DRIVER_COST = _constant(2.0)
ETL_EXECUTOR_COST = _between(600, 2400, 3600, 6.0)  # runs minutes 10-40 of every hour

LINES = [
    Line(ALLOCATED, ML_TRAIN_A, _constant(12.5)),
    # Runs 03:20-09:50 every day: starts and ends inside hours.
    Line(ALLOCATED, ML_TRAIN_B, _between(3 * 3600 + 1200, 9 * 3600 + 3000, 86400, 30.0)),
    Line(ALLOCATED, ML_SERVE, _wave(4.0, 1.5)),
    Line(ALLOCATED, ETL, _sum(ETL_DRIVER_COST, ETL_EXECUTOR_COST)),
    Line(SHARED, ETL, _constant(0.5)),
    Line(UNUSED, ML_TRAIN_A, _constant(5.0)),
    # Only the executor has a known usage: the workload's unused series follows it.
    Line(UNUSED, ETL, _between(600, 2400, 3600, 1.5)),
    Line(
        VOLUME,
        {"namespace": "ml-train", "team": "ml", "org": "research", "cost_center": "cc-1"},
        _constant(0.8),
    ),
    Line(
        VOLUME,
        {"namespace": "etl", "team": "data", "org": "analytics", "cost_center": "cc-2"},
        _constant(0.3),
    ),
]
GPU_IDLE = {"ml": _constant(12.5)}  # train-a's GPU sits idle
#: GPU dollars held per device and line (the record of recording-rules/waste.yml): part of
#: those lines' allocated cost above, so the team series do not add them. train-a holds two
#: GPUs of node n-gpu all day ($5 + $3 of its $12.5/h), train-b one while it runs ($10 of its
#: $30/h), and a line with no workload series at all (no compute to carve from) holds one.
GPU_HOLDING = "node_gpu_line:unitcost_gpu_holding_cost_dollars_per_hour:sum"
GPU_A, GPU_B, GPU_C, GPU_GHOST = (
    "GPU-5e1c0a2a-0000-4000-8000-00000000000a",
    "GPU-5e1c0a2a-0000-4000-8000-00000000000b",
    "GPU-5e1c0a2a-0000-4000-8000-00000000000c",
    "GPU-5e1c0a2a-0000-4000-8000-00000000000d",
)
GPU_NODE = "n-gpu"


def _holding(owner: dict[str, str], gpu: str) -> dict[str, str]:
    labels = {k: v for k, v in owner.items() if k != "workload_kind"}
    return {**labels, "node": GPU_NODE, "gpu": gpu}


GHOST = _workload("ml-ghost", "ml", "", "ghost", "Job")
GPU_HOLDINGS = [
    Line(GPU_HOLDING, _holding(ML_TRAIN_A, GPU_A), _constant(5.0)),
    Line(GPU_HOLDING, _holding(ML_TRAIN_A, GPU_B), _constant(3.0)),
    Line(
        GPU_HOLDING,
        _holding(ML_TRAIN_B, GPU_C),
        _between(3 * 3600 + 1200, 9 * 3600 + 3000, 86400, 10.0),
    ),
    Line(GPU_HOLDING, _holding(GHOST, GPU_GHOST), _constant(1.0)),
]
#: The cluster's whole cost (nodes and volumes) and its idle node capacity, $/h: constants,
#: so a day's idle and unattributed rows can be computed by hand (24 h x rate).
CLUSTER = {
    "cluster:unitcost_cost_dollars_per_hour:sum": 75.0,
    "cluster:unitcost_node_idle_cost_dollars_per_hour:sum": 6.0,
}
#: Two nodes as the exporter publishes them: one priced at the committed discount (2 $/h, the
#: contract-commitment test's "applied"), one on demand (4 $/h).
NODES = {
    "n-committed": ("committed", {"cpu": 1.5, "memory": 0.5}),
    "n-ondemand": ("on-demand", {"cpu": 3.0, "memory": 1.0}),
}
#: A shared cache owned by ml ($3/h) split by usage: data $2.25/h, ml keeps $0.75/h of usage
#: no consumer was named for (the records of recording-rules/shared-services.yml).
SHARED_SERVICES = [
    Line(
        "service_team:unitcost_shared_service_cost_dollars_per_hour:max",
        {"service": "cache", "team": "ml"},
        _constant(3.0),
    ),
    Line(
        "service_team:unitcost_shared_service_allocated_cost_dollars_per_hour:max",
        {"service": "cache", "team": "data", "method": "usage"},
        _constant(2.25),
    ),
    Line(
        "service_team:unitcost_shared_service_allocated_cost_dollars_per_hour:max",
        {"service": "cache", "team": "ml", "method": "unattributed"},
        _constant(0.75),
    ),
]


def times() -> list[int]:
    return list(range(START + OFFSET, END, STEP))


def team_series() -> dict[str, dict[str, dict[int, float]]]:
    """{metric: {team: {t: value}}} for the team-level records."""
    cost: dict[str, dict[int, float]] = defaultdict(dict)
    unused: dict[str, dict[int, float]] = defaultdict(dict)
    for t in times():
        for line in LINES:
            value = line.rate(t)
            if value is None:
                continue
            team = line.labels["team"]
            target = unused if line.metric == UNUSED else cost
            target[team][t] = target[team].get(t, 0.0) + value
    avg1h: dict[str, dict[int, float]] = {}
    for team, points in cost.items():
        ordered = sorted(points.items())
        avg1h[team] = {}
        first, running = 0, 0.0
        for t, value in ordered:  # a sliding one-hour window (t - 1h, t]
            running += value
            while ordered[first][0] <= t - 3600:
                running -= ordered[first][1]
                first += 1
            avg1h[team][t] = running / (len(avg1h[team]) + 1 - first)
    gpu = {team: {t: rate(t) or 0.0 for t in times()} for team, rate in GPU_IDLE.items()}
    return {
        "team:unitcost_cost_dollars_per_hour:sum": dict(cost),
        "team:unitcost_cost_dollars_per_hour:avg1h": avg1h,
        "team:unitcost_workload_unused_cost_dollars_per_hour:sum": dict(unused),
        "team:unitcost_gpu_idle_cost_dollars_per_hour:sum": gpu,
    }


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def openmetrics() -> str:
    """The whole history as OpenMetrics text (families grouped, each series in time order)."""
    out: list[str] = []
    by_metric: dict[str, list[Line]] = defaultdict(list)
    for line in LINES + SHARED_SERVICES + GPU_HOLDINGS:
        by_metric[line.metric].append(line)
    ts = times()
    for metric, lines in by_metric.items():
        out.append(f"# TYPE {metric} gauge")
        for line in lines:
            labels = _labels(line.labels)
            for t in ts:
                value = line.rate(t)
                if value is not None:
                    out.append(f"{metric}{labels} {value!r} {t}")
    for metric, per_team in team_series().items():
        out.append(f"# TYPE {metric} gauge")
        for team, points in per_team.items():
            labels = _labels({"team": team})
            out.extend(f"{metric}{labels} {v!r} {t}" for t, v in sorted(points.items()))
    out.append("# TYPE unitcost_node_cost_dollars_per_hour gauge")
    for node, (_, resources) in NODES.items():
        for resource, value in resources.items():
            labels = _labels({"node": node, "resource": resource})
            out.extend(f"unitcost_node_cost_dollars_per_hour{labels} {value!r} {t}" for t in ts)
    out.append("# TYPE unitcost_node_info gauge")
    for node, (capacity_type, _) in NODES.items():
        labels = _labels({"node": node, "provider": "aws", "capacity_type": capacity_type})
        out.extend(f"unitcost_node_info{labels} 1 {t}" for t in ts)
    for metric, value in CLUSTER.items():
        out.append(f"# TYPE {metric} gauge")
        out.extend(f"{metric} {value!r} {t}" for t in ts)
    # What the budget group's first rule records: the month start, read `@ end()`.
    metric = ":unitcost_month_start_timestamp_seconds:utc"
    out.append(f"# TYPE {metric} gauge")
    for t in ts:
        moment = datetime.fromtimestamp(t, UTC)
        first = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        out.append(f"{metric} {int(first.timestamp())} {t}")
    out.append("# EOF")
    return "\n".join(out) + "\n"


def integral(team: str, start: int, end: int) -> float:
    """Dollars of a team's cost rate from `start` to `end`, sample by sample (each sample
    stands for the STEP seconds after it): an independent check on the hourly method."""
    points = team_series()["team:unitcost_cost_dollars_per_hour:sum"][team]
    return sum(v * STEP / 3600 for t, v in points.items() if start <= t < end)
