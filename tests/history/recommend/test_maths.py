"""Recommendation maths on hand-computed cases (each figure worked out in the comments)."""

from __future__ import annotations

import pytest

from unitcost.config.recommend import RecommendSettings, parse_duration
from unitcost.history.recommend.maths import (
    GpuIdleHistory,
    Inputs,
    PodActivity,
    PodUsage,
    QueueQuota,
    Workload,
    abandoned,
    ceil_to,
    idle_gpus,
    idle_quota,
    idle_streak,
    recommend,
    rightsize,
)
from unitcost.history.recommend.metrics import recommendation_families

GIB = 2.0**30
MIB = 2.0**20
WEEK = 7 * 86400.0
SETTINGS = RecommendSettings()
WEB = Workload("shop", "Deployment", "web")


def usage(pod: str, cpu: float, mem_gib: float, present: float, wl: Workload = WEB) -> PodUsage:
    # Requests 1 core / 4 GiB; $0.04 per core-hour, $0.005 per GiB-hour.
    return PodUsage(
        wl.namespace, pod, wl, cpu, mem_gib * GIB, 1.0, 4 * GIB, present, 0.04, 0.005 / GIB
    )


def test_rightsize_two_pods_to_the_cent() -> None:
    recs = rightsize(
        [usage("web-a", 0.42, 1.0, WEEK), usage("web-b", 0.61, 1.5, WEEK / 2)], WEEK, SETTINGS
    )
    cpu, mem = recs
    # CPU: the busiest pod's p95, 0.61 cores. Saving per hour:
    # (1 - 0.61) x 0.04 x 1 (web-a all week) + (1 - 0.61) x 0.04 x 0.5 (web-b half) = 0.0234;
    # x 730 h = 17.082.
    assert (cpu.resource, cpu.current, cpu.recommended) == ("cpu", 1.0, pytest.approx(0.61))
    assert round(cpu.savings_dollars_per_month, 2) == 17.08
    # Memory: peak 1.5 GiB x 1.15 = 1766.4 MiB, rounded up to 1767 MiB = 1.7255859375 GiB.
    # (4 - 1.7255859375) GiB x $0.005 x 1.5 pod-weeks per week = 0.017058105... $/h; x 730 = 12.45.
    assert mem.recommended == 1767 * MIB and mem.current == 4 * GIB
    assert round(mem.savings_dollars_per_month, 2) == 12.45
    assert cpu.pods == ("web-a", "web-b") and cpu.unit == "cores" and mem.unit == "bytes"


def test_rightsize_floors_undersized_and_short_history() -> None:
    tiny = rightsize([usage("a", 0.0001, 0.01, WEEK)], WEEK, SETTINGS)
    # Floors: 10 millicores and 64 MiB.
    assert [r.recommended for r in tiny] == [0.01, 64 * MIB]
    # Busier than requested: recommending 1.5 cores costs (1 - 1.5) x 0.04 x 730 = -14.60.
    [cpu, _] = rightsize([usage("a", 1.5, 1.0, WEEK)], WEEK, SETTINGS)
    assert round(cpu.savings_dollars_per_month, 2) == -14.60
    # 5 pod-hours of history: below min_pod_hours (6), nothing said.
    assert rightsize([usage("a", 0.1, 1.0, 5 * 3600)], WEEK, SETTINGS) == []


def test_rightsize_percentile_and_headroom_are_configurable() -> None:
    settings = RecommendSettings.model_validate({"rightsize": {"memory_headroom_ratio": 0.5}})
    [_, mem] = rightsize([usage("a", 0.3, 2.0, WEEK)], WEEK, settings)
    assert mem.recommended == 3 * GIB  # 2 GiB x 1.5
    # (4 - 3) GiB x 0.005 x 730 = 3.65
    assert round(mem.savings_dollars_per_month, 2) == 3.65


def test_ceil_to_ignores_float_noise() -> None:
    assert ceil_to(0.61, 0.001) == pytest.approx(0.61)
    assert ceil_to(0.6101, 0.001) == pytest.approx(0.611)


@pytest.mark.parametrize(
    ("points", "end", "streak"),
    [
        ([(0, 0.0), (300, 2.5), (600, 2.5), (900, 2.5)], 900, 600),  # idle since 300
        ([(300, 2.5), (600, 2.5), (1200, 2.5)], 1200, 900),  # one missed scrape is no break
        ([(300, 2.5), (600, 2.5), (1500, 2.5), (1800, 2.5)], 1800, 300),  # a gap restarts it
        ([(300, 2.5), (600, 2.5), (900, 0.0), (1200, 2.5)], 1200, 0),  # active at 900
        ([(300, 2.5), (600, 2.5)], 1800, 0),  # over: last seen long before `end`
        ([], 1800, 0),
    ],
)
def test_idle_streak(points: list[tuple[float, float]], end: float, streak: float) -> None:
    assert idle_streak(points, end, 300) == streak


def test_idle_gpus_policy_window_and_savings() -> None:
    end, step = 20000.0, 300.0
    train = Workload("ml", "Job", "train")

    def gpu(gpu: str, pod: str, since: float, dollars: float) -> GpuIdleHistory:
        t, pts = since, []
        while t <= end:
            pts.append((t, dollars))
            t += step
        return GpuIdleHistory("gpu-1", gpu, "ml", pod, train, tuple(pts))

    four_h = 4 * 3600
    recs = idle_gpus(
        [
            gpu("0", "p1", end - four_h, 2.5),
            gpu("1", "p1", end - four_h - 600, 3.1),
            gpu("2", "p2", end - 3600, 9.0),
        ],
        end,
        step,
        SETTINGS,
    )
    [rec] = recs
    # GPUs 0 and 1 idle >= 4 h (the policy window); GPU 2 only 1 h. (2.5 + 3.1) x 730 = 4088.
    assert round(rec.savings_dollars_per_month, 2) == 4088.00
    assert (rec.current, rec.recommended, rec.pods, rec.idle_seconds) == (2.0, 0.0, ("p1",), four_h)


def activity(
    pod: str, cpu: float | None, net: float | None, present: float, cost: float | None, wl: Workload
) -> PodActivity:
    return PodActivity(wl.namespace, pod, wl, cpu, net, present, cost)


def test_abandoned_needs_every_pod_quiet_for_the_whole_window() -> None:
    days3 = 3 * 86400.0
    old, busy, new, dark = (
        Workload("shop", "Deployment", n) for n in ("old-api", "busy", "new", "dark")
    )
    recs = abandoned(
        [
            activity("old-1", 0.001, 200, days3, 0.12, old),
            activity("old-2", 0.002, 0, days3, 0.08, old),
            activity("busy-1", 0.001, 0, days3, 0.5, busy),
            activity("busy-2", 0.2, 0, days3, 0.5, busy),  # one busy pod: the workload is used
            activity("new-1", 0.0, 0, 86400, 0.3, new),  # seen one day of three
            activity("dark-1", 0.0, None, days3, 0.3, dark),  # no network data: no evidence
        ],
        300,
        SETTINGS,
    )
    [rec] = recs
    # (0.12 + 0.08) $/h x 730 = 146.00
    assert rec.workload == old and round(rec.savings_dollars_per_month, 2) == 146.00
    assert rec.current == 2 and rec.idle_seconds == days3


def test_idle_quota_keep_peak_plus_headroom() -> None:
    q = [
        QueueQuota("gpu-cq", "a100", "gpu", "kueue", 40.0, 10.0, WEEK),
        QueueQuota("gpu-cq", "h100", "gpu", "kueue", 30.0, 30.0, WEEK),  # fully used: no saving
        QueueQuota("new-cq", "a100", "gpu", "kueue", 40.0, 0.0, 86400),  # too new to judge
        QueueQuota("root.data", "yunikorn", "cpu", "yunikorn", 10.0, 0.0, WEEK),  # never used
    ]
    recs = idle_quota(q, WEEK, 300, SETTINGS)
    by = {(r.workload.name, r.flavor): r for r in recs}
    # keep = min(40, 10 x 1.2) = 12: ratio 0.3, saving (40 - 12) x 730 = 20440.
    a100 = by[("gpu-cq", "a100")]
    assert (
        a100.recommended == pytest.approx(0.3)
        and round(a100.savings_dollars_per_month, 2) == 20440.0
    )
    assert a100.workload == Workload("", "ClusterQueue", "gpu-cq")
    assert by[("gpu-cq", "h100")].savings_dollars_per_month == 0
    assert ("new-cq", "a100") not in by
    yk = by[("root.data", "yunikorn")]
    assert yk.workload.kind == "YuniKornQueue" and round(yk.savings_dollars_per_month, 2) == 7300.0


def test_clusters_keep_same_named_workloads_and_queues_apart() -> None:
    """A fleet's global tier: the same workload and queue in two clusters are two
    recommendations, and the served series tell them apart by a trailing `cluster` label."""
    east = Workload("shop", "Deployment", "web", "east")
    west = Workload("shop", "Deployment", "web", "west")
    inputs = Inputs(
        end=WEEK,
        window_seconds=WEEK,
        step_seconds=300,
        # Merged, the busiest pod (0.61) would size both clusters' web.
        usage=(usage("web-a", 0.42, 1.0, WEEK, east), usage("web-a", 0.61, 1.5, WEEK, west)),
        queues=(
            QueueQuota("gpu-cq", "a100", "gpu", "kueue", 40.0, 10.0, WEEK, cluster="east"),
            QueueQuota("gpu-cq", "a100", "gpu", "kueue", 40.0, 20.0, WEEK, cluster="west"),
        ),
    )
    recs = recommend(inputs, SETTINGS)
    cpu = {r.cluster: r.recommended for r in recs if r.resource == "cpu"}
    assert cpu == {"east": pytest.approx(0.42), "west": pytest.approx(0.61)}
    quota = {r.cluster: r.recommended for r in recs if r.kind == "idle-quota"}
    assert quota == {"east": pytest.approx(0.3), "west": pytest.approx(0.6)}
    families = {f.name: f for f in recommendation_families(recs)}
    ratios = dict(families["unitcost_recommendation_queue_quota_ratio"].samples)
    assert ratios == {
        ("gpu-cq", "a100", "gpu", "east"): pytest.approx(0.3),
        ("gpu-cq", "a100", "gpu", "west"): pytest.approx(0.6),
    }
    assert families["unitcost_recommendation_savings_dollars_per_month"].labels[-1] == "cluster"


def test_recommend_filters_sorts_and_exports() -> None:
    system = Workload("kube-system", "DaemonSet", "agent")
    inputs = Inputs(
        end=WEEK,
        window_seconds=WEEK,
        step_seconds=300,
        usage=(usage("web-a", 0.42, 1.0, WEEK), usage("ds-1", 0.01, 0.1, WEEK, system)),
        queues=(
            QueueQuota("gpu-cq", "a100", "gpu", "kueue", 40.0, 10.0, WEEK),
            QueueQuota("gpu-cq", "h100", "gpu", "kueue", 30.0, 20.0, WEEK),
        ),
    )
    recs = recommend(inputs, SETTINGS)
    assert all(r.workload.namespace != "kube-system" for r in recs)
    assert [r.savings_dollars_per_month for r in recs] == sorted(
        (r.savings_dollars_per_month for r in recs), reverse=True
    )
    assert all(abs(r.savings_dollars_per_month) >= 1.0 for r in recs)  # h100's 4380 kept too
    families = {f.name: f for f in recommendation_families(recs)}
    savings = dict(families["unitcost_recommendation_savings_dollars_per_month"].samples)
    # Two flavors, one series per (queue, resource): (40 - 12) x 730 + (30 - 24) x 730.
    assert round(savings[("idle-quota", "", "ClusterQueue", "gpu-cq", "gpu")], 2) == 24820.0
    ratios = dict(families["unitcost_recommendation_queue_quota_ratio"].samples)
    assert ratios[("gpu-cq", "h100", "gpu")] == pytest.approx(0.8)
    cpu = dict(families["unitcost_recommendation_cpu_request_cores"].samples)
    assert cpu[("shop", "Deployment", "web", "recommended")] == pytest.approx(0.42)


@pytest.mark.parametrize(
    ("text", "seconds"), [("7d", 604800), ("1h30m", 5400), ("90", 90), ("2w", 1209600)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7x", "d7", "0s", "1h 30m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
