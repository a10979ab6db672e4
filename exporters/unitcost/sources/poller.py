"""A background poller for a slow, rate-limited API: keeps the last good result.

The cloud APIs are slow (seconds), throttled, and some are billed per request, so they are
never called from the collect loop: a thread polls on its own interval and the collector reads
whatever was last fetched. A failed poll keeps the previous result (degrade, never lie: its
age is visible in unitcost_source_last_success_timestamp_seconds) and logs once per change of
problem, not once per poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from unitcost.data.records import SourceHealth

log = logging.getLogger(__name__)
T = TypeVar("T")


class Poller(Generic[T]):
    def __init__(
        self,
        name: str,
        fetch: Callable[[], T],
        interval: float,
        *,
        describe: Callable[[BaseException], str] = str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        #: The `source` label on unitcost_source_up.
        self.name = name
        self._fetch = fetch
        self._interval = interval
        self._describe = describe
        self._clock = clock
        self._value: T | None = None
        self.up = False
        self.last_success = 0.0
        self.last_error = ""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set after each poll, whatever its outcome (tests and start-up wait on it).
        self.polled = threading.Event()

    @property
    def value(self) -> T | None:
        """The last good result; None until one poll succeeded."""
        return self._value

    def health(self) -> SourceHealth:
        return SourceHealth(self.name, self.up, self.last_success)

    def poll_once(self) -> bool:
        try:
            value = self._fetch()
        except Exception as exc:  # every failure is a source error, never a crash
            problem = self._describe(exc)
            if problem != self.last_error:
                log.warning("%s: %s (keeping the last good data)", self.name, problem)
            self.last_error = problem
            self.up = False
            return False
        finally:
            self.polled.set()
        if not self.up:
            log.info("%s is up", self.name)
        self._value = value
        self.up = True
        self.last_error = ""
        self.last_success = self._clock()
        return True

    def wake(self) -> None:
        """Poll now rather than at the end of the interval (new instance types to price)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.poll_once()
            # Retry a failure sooner than a success, but never hammer a throttled API.
            wait = self._interval if self.up else min(self._interval, 300.0)
            self._wake.wait(wait)  # stop() sets it too

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"poll-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
