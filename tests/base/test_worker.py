"""The background thread every loop shares: waits that wake() and stop() cut short, and
stop() interrupting a loop blocked in I/O."""

from __future__ import annotations

import threading
import time

from unitcost.base.worker import Worker


def test_wake_before_start_ends_the_first_wait() -> None:
    worker = Worker("w")
    worker.wake()  # e.g. SIGHUP before the reloader's thread runs
    started = time.monotonic()
    worker.wait(30)
    assert time.monotonic() - started < 5
    assert not worker.stopping()


def test_stop_ends_a_waiting_loop_and_no_wait_blocks_after() -> None:
    worker = Worker("w")
    rounds: list[int] = []

    def loop() -> None:
        while not worker.stopping():
            rounds.append(1)
            worker.wait(3600)

    worker.start(loop)
    while not rounds:
        time.sleep(0.01)
    worker.stop(timeout=10)
    assert "w" not in {t.name for t in threading.enumerate()}
    started = time.monotonic()
    worker.wait(30)
    assert time.monotonic() - started < 5


def test_stop_interrupts_a_loop_blocked_outside_wait() -> None:
    unblock = threading.Event()
    worker = Worker("blocked", interrupt=unblock.set)
    worker.start(lambda: unblock.wait(3600))  # a watch stream waiting for its next event
    worker.stop(timeout=10)
    assert unblock.is_set()
    assert "blocked" not in {t.name for t in threading.enumerate()}
