"""Kubernetes API faults, injected into the fake apiserver while the real source, collector and
HTTP server run: down, slow, 5xx, dropped watches, 410, metrics API gone. In each case the
exporter keeps serving what it knows, says which source is down, and recovers by itself."""

from __future__ import annotations

import time

from support.exporter_stack import Stack, eventually, pod_costs, value
from support.fake_apiserver import pod
from support.invariant import assert_scraped_invariant

LAST_SUCCESS = "unitcost_source_last_success_timestamp_seconds"


def _steady(stack: Stack) -> dict[tuple[str, str, str], float]:
    samples = eventually(
        lambda: (
            (s := stack.scrape())
            and value(s, "unitcost_source_up", source="kubernetes") == 1
            and pod_costs(s)
            and s
        ),
        what="first costs",
    )
    return pod_costs(samples)


def _served_while_down(stack: Stack, before: dict[tuple[str, str, str], float]) -> float:
    """Wait for source_up 0; the costs served meanwhile are the last good ones, the invariant
    holds, and the last-success time stands still (its age grows). Returns that time."""
    samples = eventually(
        lambda: (
            (s := stack.scrape()) and value(s, "unitcost_source_up", source="kubernetes") == 0 and s
        ),
        what="source_up 0",
    )
    # The same pods; amounts may move as usage ages out and costs fall back to requests.
    assert pod_costs(samples).keys() == before.keys()
    assert assert_scraped_invariant(samples) > 0
    last = value(samples, LAST_SUCCESS, source="kubernetes")
    assert last is not None and 0 < last <= time.time()
    time.sleep(0.5)
    later = stack.scrape()
    assert value(later, LAST_SUCCESS, source="kubernetes") == last
    assert pod_costs(later).keys() == before.keys()
    return last


def _recovered(stack: Stack, name: str) -> None:
    """source_up back to 1 and a change made during the fault is served."""
    eventually(
        lambda: (
            (s := stack.scrape())
            and value(s, "unitcost_source_up", source="kubernetes") == 1
            and ("ml", name, "cpu") in pod_costs(s)
        ),
        what=f"recovery showing pod {name}",
    )


def test_apiserver_down_then_back(stack: Stack) -> None:
    before = _steady(stack)
    stack.stop_apiserver()  # connection refused from now on
    _served_while_down(stack, before)
    stack.cluster.apply("pods", pod("ml", "while-down", node_name="cpu-1", cpu="1"))
    stack.start_apiserver()  # same port, as a restarted apiserver behind its Service
    _recovered(stack, "while-down")


def test_slow_apiserver_beyond_the_read_timeout(stack: Stack) -> None:
    before = _steady(stack)
    stack.cluster.faults.delay_seconds = 3.0  # read timeout is 1 s: every new request fails
    _served_while_down(stack, before)
    stack.cluster.apply("pods", pod("ml", "while-slow", node_name="cpu-1", cpu="1"))
    stack.cluster.faults.delay_seconds = 0.0
    _recovered(stack, "while-slow")


def test_5xx_on_relist_after_410(stack: Stack) -> None:
    before = _steady(stack)
    stack.cluster.faults.http_500["pods"] = 10**6
    stack.cluster.apply("pods", pod("ml", "after-5xx", node_name="cpu-1", cpu="1"), silent=True)
    stack.cluster.expire("pods")  # 410 mid-stream: only a relist recovers, and it gets 500s
    _served_while_down(stack, before)
    stack.cluster.faults.http_500["pods"] = 0
    _recovered(stack, "after-5xx")


def test_watch_dropped_over_and_over(stack: Stack) -> None:
    before = _steady(stack)
    stack.cluster.faults.drop_watch["pods"] = 10**6  # every watch hangs up mid-chunk
    stack.cluster.expire("pods")  # end the live watch, so the next ones are dropped
    _served_while_down(stack, before)
    stack.cluster.apply("pods", pod("ml", "after-drops", node_name="cpu-1", cpu="1"))
    stack.cluster.faults.drop_watch["pods"] = 0
    _recovered(stack, "after-drops")


def test_410_alone_is_a_relist_not_an_outage(stack: Stack) -> None:
    _steady(stack)
    stack.cluster.delete("pods", "data", "api-5c6d-xyz", silent=True)
    stack.cluster.apply("pods", pod("ml", "after-410", node_name="cpu-1", cpu="1"), silent=True)
    stack.cluster.expire("pods")
    samples = eventually(
        lambda: (
            (s := stack.scrape())
            and ("ml", "after-410", "cpu") in pod_costs(s)
            and ("data", "api-5c6d-xyz", "cpu") not in pod_costs(s)
            and s
        ),
        what="the relisted state",
    )
    assert value(samples, "unitcost_source_up", source="kubernetes") == 1
    assert assert_scraped_invariant(samples) > 0


def _unused(stack: Stack) -> dict[tuple[str, str], float]:
    return {
        (labels["pod"], labels["resource"]): v
        for name, labels, v in stack.scrape()
        if name == "unitcost_pod_unused_cost_dollars_per_hour"
    }


def test_metrics_api_goes_away_and_comes_back(stack: Stack) -> None:
    stack.cluster.set_usage("sandbox", "scratch", "100m", "256Mi")
    before = _steady(stack)
    eventually(lambda: ("scratch", "cpu") in _unused(stack), what="usage-based waste")
    stack.cluster.metrics = False  # metrics.k8s.io no longer served (404)
    samples = eventually(
        lambda: (
            (s := stack.scrape()) and value(s, "unitcost_source_up", source="metrics") == 0 and s
        ),
        what="metrics source_up 0",
    )
    # The Kubernetes source is unaffected: costs still come, from requests once usage is stale.
    assert value(samples, "unitcost_source_up", source="kubernetes") == 1
    eventually(lambda: ("scratch", "cpu") not in _unused(stack), what="usage dropped as stale")
    assert pod_costs(stack.scrape()).keys() == before.keys()
    stack.cluster.metrics = True
    eventually(
        lambda: value(stack.scrape(), "unitcost_source_up", source="metrics") == 1,
        what="metrics back",
    )
    eventually(lambda: ("scratch", "cpu") in _unused(stack), what="usage-based waste again")
