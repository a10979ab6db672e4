"""A token bucket: `capacity` actions in a burst, refilled at `per_hour`. No clock of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    per_hour: int
    clock: Callable[[], float]
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        if self.per_hour < 0:
            raise ValueError(f"rate limit must be >= 0 actions per hour, got {self.per_hour}")
        self._tokens = float(self.per_hour)  # start full: the first hour may burst
        self._at = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        elapsed = max(0.0, now - self._at)  # a clock going backwards refills nothing
        self._tokens = min(float(self.per_hour), self._tokens + elapsed * self.per_hour / 3600)
        self._at = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def take(self) -> bool:
        """Spend one token if there is one."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
