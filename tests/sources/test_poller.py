"""The generic poller behind every slow reader (clouds, metrics API, YuniKorn): last good
value, health, one log line per change of problem, retry and wake timing, start/stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from unitcost.data.records import SourceHealth
from unitcost.sources.poller import Poller


class Script:
    """A fetch that returns or raises what it is told, and counts its calls."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.called = threading.Event()

    def __call__(self) -> object:
        self.calls += 1
        self.called.set()
        outcome = self.outcomes[min(self.calls, len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _poller(fetch: Callable[[], object], interval: float = 3600.0, **kw: Any) -> Poller[object]:
    return Poller("things", fetch, interval, clock=lambda: 1000.0, **kw)


def test_failures_keep_the_last_good_value_and_report_down() -> None:
    poller = _poller(Script({"a": 1}, OSError("timed out"), {"a": 2}))
    assert poller.value is None and poller.health() == SourceHealth("things", False, 0.0)
    assert poller.poll_once() and poller.value == {"a": 1}
    assert not poller.poll_once()
    assert poller.value == {"a": 1}  # degrade, never lie: the age shows in last_success
    assert poller.health() == SourceHealth("things", False, 1000.0)
    assert poller.last_error == "timed out"
    assert poller.poll_once() and poller.value == {"a": 2} and poller.last_error == ""
    assert poller.polled.is_set()


def test_one_log_line_per_change_of_problem(caplog: pytest.LogCaptureFixture) -> None:
    fetch = Script(
        OSError("denied"), OSError("denied"), OSError("throttled"), [1, 2, 3], OSError("denied")
    )
    poller = _poller(fetch, describe=lambda exc: f"API says {exc}", summary=len)
    with caplog.at_level(logging.INFO, logger="unitcost.sources.poller"):
        for _ in range(5):
            poller.poll_once()
    assert [r.getMessage() for r in caplog.records] == [
        "things: API says denied (keeping the last good data)",
        "things: API says throttled (keeping the last good data)",
        "things is up: 3",
        "things: API says denied (keeping the last good data)",
    ]


def test_a_failure_is_retried_after_the_retry_interval_then_the_interval() -> None:
    fetch = Script(OSError("down"), "ok")
    poller = _poller(fetch, retry_interval=0.05)
    poller.start()
    try:
        deadline = time.monotonic() + 10
        while fetch.calls < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fetch.calls == 2 and poller.up  # retried soon after the failure
        time.sleep(0.3)
        assert fetch.calls == 2  # a success waits the whole interval
    finally:
        poller.stop()


def test_retry_interval_defaults_to_the_interval_capped_at_five_minutes() -> None:
    assert _poller(Script(), 3600.0)._retry_interval == 300.0
    assert _poller(Script(), 60.0)._retry_interval == 60.0


def test_wake_polls_now_and_stop_ends_the_thread() -> None:
    fetch = Script("ok")
    poller = _poller(fetch)
    poller.start()
    try:
        assert fetch.called.wait(10)
        fetch.called.clear()
        poller.wake()  # long before the hour is up
        assert fetch.called.wait(10) and fetch.calls == 2
    finally:
        poller.stop()
    assert "poll-things" not in {t.name for t in threading.enumerate()}
