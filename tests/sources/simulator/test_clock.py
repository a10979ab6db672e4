"""Wall time and the simulated time it stands for."""

from __future__ import annotations

from unitcost.sources.simulator.clock import SimulationClock


def test_each_tick_is_the_wall_time_since_the_last_times_speed() -> None:
    wall = [100.0]
    clock = SimulationClock(60.0, lambda: wall[0])
    assert clock.tick() == (0.0, 0.0)
    wall[0] = 102.5
    assert clock.tick() == (2.5, 150.0)
    wall[0] = 103.0
    assert clock.tick() == (0.5, 30.0)
