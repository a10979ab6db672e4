"""Wall-clock time and the simulated time it stands for: `speed` simulated seconds per wall
second (the demo runs at 60: pods come and go within minutes)."""

from __future__ import annotations

import time
from collections.abc import Callable


class SimulationClock:
    def __init__(self, speed: float, wall: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self._wall = wall
        self._last = wall()

    def tick(self) -> tuple[float, float]:
        """(wall seconds, simulated seconds) since the previous tick (or since creation)."""
        now = self._wall()
        elapsed = now - self._last
        self._last = now
        return elapsed, elapsed * self.speed
