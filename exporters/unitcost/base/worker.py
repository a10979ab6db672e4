"""One background thread with its stop and wake-up: what every loop that reads on its own
schedule shares (the pollers, the Kubernetes reflectors, the config reloader)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Worker:
    """A named daemon thread running `loop` once started. The loop checks `stopping()` and
    sleeps with `wait`, which `wake()` and `stop()` cut short."""

    def __init__(self, name: str, *, interrupt: Callable[[], None] | None = None) -> None:
        self.name = name
        #: Called by stop() after signalling, to unblock a loop stuck in I/O (a watch stream).
        self._interrupt = interrupt
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self, loop: Callable[[], None]) -> None:
        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`: less when woken or stopped; not at all once stopping."""
        if not self._stop.is_set():
            self._wake.wait(seconds)
        self._wake.clear()

    def wake(self) -> None:
        """End the current (or next) wait now; safe from a signal handler and before start."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Signal the loop to end and wait up to `timeout` for it (0: signal only, so several
        workers can be signalled first and joined after)."""
        self._stop.set()
        self._wake.set()
        if self._interrupt is not None:
            self._interrupt()
        if self._thread is not None:
            self._thread.join(timeout)
