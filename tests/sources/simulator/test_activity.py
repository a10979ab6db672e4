"""Usage and GPU activity over simulated time: bounded, varying, and zero for idle jobs."""

from __future__ import annotations

import random

from unitcost.data.model import Owner
from unitcost.sources.simulator.activity import gpu_utilization, pod_usage
from unitcost.sources.simulator.objects import PodMaker

HOURS = [1.79e9 + h * 1800.0 for h in range(48)]


def test_usage_waves_around_the_mean_within_bounds() -> None:
    make = PodMaker(1, random.Random(1))
    pod = make.pod("ns", "p", 4.0, 8.0, {}, Owner("Job", "p"), 0.5, 0.9, gpus=2)
    usages = [pod_usage(pod, t) for t in HOURS]
    cpus = [u.cpu for u in usages]
    # A +-25% wave around half the request.
    assert 4.0 * 0.5 * 0.75 - 1e-9 <= min(cpus) < max(cpus) <= 4.0 * 0.5 * 1.25 + 1e-9
    assert all(u.memory <= 1.2 * pod.requests.memory and u.gpu == 2 for u in usages)


def test_busy_gpus_work_and_idle_ones_do_not() -> None:
    make = PodMaker(2, random.Random(2))
    pod = make.pod("ns", "p", 8.0, 64.0, {}, Owner("Job", "p"), 0.5, 0.5, gpus=1)
    busy = [gpu_utilization(pod, 0, t) for t in HOURS]
    assert all(0.55 - 1e-9 <= u <= 0.95 + 1e-9 for u in busy) and len(set(busy)) > 1
    pod.gpu_busy = False
    assert {gpu_utilization(pod, 0, t) for t in HOURS} == {0.0}
