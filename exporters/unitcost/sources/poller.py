"""The background poller every slow reader uses: the cloud APIs, the metrics API, YuniKorn.

Such APIs are slow (seconds), throttled, and some are billed per request, so they are never
called from the collect loop: a thread polls on its own interval and the collector reads
whatever was last fetched. A failed poll keeps the previous result (degrade, never lie: its
age is visible in unitcost_source_last_success_timestamp_seconds) and logs once per change of
problem, not once per poll. Each poller reports its own `unitcost_source_up{source}`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from unitcost.base.worker import Worker
from unitcost.data.records import SourceHealth

log = logging.getLogger(__name__)
T = TypeVar("T")
#: A failure is retried after the interval, but never later than this by default.
MAX_RETRY_SECONDS = 300.0


class Poller(Generic[T]):
    def __init__(
        self,
        name: str,
        fetch: Callable[[], T],
        interval: float,
        *,
        retry_interval: float | None = None,
        describe: Callable[[BaseException], str] = str,
        summary: Callable[[T], str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        #: The `source` label on unitcost_source_up.
        self.name = name
        self._fetch = fetch
        self._interval = interval
        #: Seconds to the next poll after a failure: sooner than a success, but a throttled
        #: API is never hammered.
        self._retry_interval = (
            retry_interval if retry_interval is not None else min(interval, MAX_RETRY_SECONDS)
        )
        self._describe = describe
        self._summary = summary
        self._clock = clock
        self._value: T | None = None
        self.up = False
        self.last_success = 0.0
        self.last_error = ""
        self._worker = Worker(f"poll-{name}")
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
            detail = f": {self._summary(value)}" if self._summary is not None else ""
            log.info("%s is up%s", self.name, detail)
        self._value = value
        self.up = True
        self.last_error = ""
        self.last_success = self._clock()
        return True

    def wake(self) -> None:
        """Poll now rather than at the end of the interval (new instance types to price)."""
        self._worker.wake()

    def _run(self) -> None:
        while not self._worker.stopping():
            self.poll_once()
            self._worker.wait(self._interval if self.up else self._retry_interval)

    def start(self) -> None:
        self._worker.start(self._run)

    def stop(self, timeout: float = 5.0) -> None:
        self._worker.stop(timeout)
