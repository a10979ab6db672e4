"""One collect's published result, and the loop every serving process collects in.

Every binary (the cluster exporter, the GPU agent, forecast, recommend, the controller) swaps
one `Collected` in whole per collect, so a scrape always sees one consistent state.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from unitcost.data.frame import CostFrame
from unitcost.data.records import CollectStats
from unitcost.metrics.family import MetricFamily

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Collected:
    """One collect's result, swapped in whole so every scrape sees one consistent state."""

    frame: CostFrame | None
    stats: CollectStats
    exposition: bytes
    _gzipped: bytes | None = None
    #: The families behind `exposition`, for sinks other than /metrics (OTLP).
    families: tuple[MetricFamily, ...] = ()
    #: The costs are the simulator's, made up (the landing page says so first).
    simulated: bool = False

    def gzipped(self) -> bytes:
        """The exposition gzip-compressed, computed once per collect on first request."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.exposition, compresslevel=1)
        return self._gzipped


def collect_every(
    interval: float,
    collect: Callable[[], Collected],
    stop: threading.Event,
    on_collect: Callable[[Collected], None] | None = None,
) -> None:
    """Call `collect` every `interval` seconds until `stop` is set (the cluster exporter and
    the GPU agent share this loop)."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            collected = collect()
            if on_collect is not None:
                on_collect(collected)
        except Exception:  # a bug in one collect must not stop the loop
            log.exception("collect failed")
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
