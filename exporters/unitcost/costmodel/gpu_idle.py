"""The idle rule over time: since when has a GPU's activity stayed below the threshold?

A GPU (or MIG slice) allocated to a running pod is idle once its activity has stayed below
`threshold` (default 1%) for `window` seconds (default 30 minutes). The tracker produces
`low_activity_since` exactly as `unitcost.data.model.Gpu` carries it, so the cluster exporter can
feed it DCGM samples and get the same rule. It holds no clock: callers pass `now`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

DEFAULT_THRESHOLD = 0.01
DEFAULT_WINDOW_SECONDS = 1800.0


@dataclass(slots=True)
class IdleTracker:
    threshold: float = DEFAULT_THRESHOLD
    window: float = DEFAULT_WINDOW_SECONDS
    _low_since: dict[Hashable, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"idle threshold must be in 0..1, got {self.threshold!r}")
        if not self.window > 0:
            raise ValueError(f"idle window must be > 0 seconds, got {self.window!r}")

    def observe(self, key: Hashable, activity: float, now: float) -> float | None:
        """Record one activity sample (0..1); return since when activity has stayed low, or
        None while it is at or above the threshold (any activity restarts the window)."""
        if activity >= self.threshold:
            self._low_since.pop(key, None)
            return None
        return self._low_since.setdefault(key, now)

    def low_activity_since(self, key: Hashable) -> float | None:
        return self._low_since.get(key)

    def is_idle(self, key: Hashable, now: float) -> bool:
        since = self._low_since.get(key)
        return since is not None and now - since >= self.window

    def retain(self, keys: Iterable[Hashable]) -> None:
        """Forget every key not in `keys`. Keys include the pod, so a GPU handed to a new pod
        (or not seen this round: lost, pod gone) starts a fresh window: never charge a pod
        for idleness it did not cause."""
        keep = set(keys)
        for key in [k for k in self._low_since if k not in keep]:
            del self._low_since[key]
