"""The idle rule over time: idle after the window below threshold, recovers on activity."""

from __future__ import annotations

import pytest

from unitcost.costmodel.gpu_idle import DEFAULT_THRESHOLD, DEFAULT_WINDOW_SECONDS, IdleTracker


def test_defaults_are_one_percent_over_thirty_minutes() -> None:
    tracker = IdleTracker()
    assert (tracker.threshold, tracker.window) == (DEFAULT_THRESHOLD, DEFAULT_WINDOW_SECONDS)
    assert (DEFAULT_THRESHOLD, DEFAULT_WINDOW_SECONDS) == (0.01, 1800.0)


def test_goes_idle_after_the_window_and_recovers_on_activity() -> None:
    tracker = IdleTracker(threshold=0.01, window=1800)
    key = ("GPU-0", "pod-a")
    t0 = 1_000_000.0
    # Busy, then quiet from t0+60 on, sampled every 30 s.
    assert tracker.observe(key, 0.9, t0) is None
    for t in range(60, 1860, 30):
        assert tracker.observe(key, 0.0, t0 + t) == t0 + 60
        assert not tracker.is_idle(key, t0 + t)  # less than the window so far
    tracker.observe(key, 0.005, t0 + 1860)  # below 1%: still low
    assert tracker.is_idle(key, t0 + 1860)  # exactly the window: idle
    assert tracker.low_activity_since(key) == t0 + 60
    # One sample at the threshold is activity: the window restarts.
    assert tracker.observe(key, 0.01, t0 + 1890) is None
    assert not tracker.is_idle(key, t0 + 1890)
    assert tracker.observe(key, 0.0, t0 + 1920) == t0 + 1920
    assert not tracker.is_idle(key, t0 + 1920 + 1799)
    assert tracker.is_idle(key, t0 + 1920 + 1800)


def test_keys_are_independent_and_retain_forgets() -> None:
    tracker = IdleTracker(threshold=0.05, window=10)
    tracker.observe("a", 0.0, 0)
    tracker.observe("b", 0.0, 5)
    assert tracker.is_idle("a", 10) and not tracker.is_idle("b", 10)
    tracker.retain(["b"])
    assert tracker.low_activity_since("a") is None
    assert tracker.observe("a", 0.0, 11) == 11  # a fresh window
    assert tracker.low_activity_since("b") == 5


@pytest.mark.parametrize(
    ("threshold", "window", "message"),
    [(1.5, 10, "threshold must be in 0..1, got 1.5"), (0.01, 0, "window must be > 0")],
)
def test_bad_settings_are_named(threshold: float, window: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IdleTracker(threshold=threshold, window=window)
