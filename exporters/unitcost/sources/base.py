"""What every source gives the collector."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from unitcost.data.model import Snapshot
from unitcost.data.records import SourceHealth


class SourceError(Exception):
    """A source could not produce a snapshot this time (it is retried next collect)."""


class Source(Protocol):
    #: The `source` label on unitcost_source_up and friends.
    name: str

    def snapshot(self) -> Snapshot:
        """The cluster now. Raises SourceError when it cannot be read."""
        ...

    def close(self) -> None: ...


class ReportsHealth(Protocol):
    def health(self) -> Sequence[SourceHealth]:
        """Status of the parts a source reads on their own (the metrics API beside the
        Kubernetes API), each reported as its own `source` on unitcost_source_up."""
        ...


def extra_health(source: object) -> tuple[SourceHealth, ...]:
    """The source's extra statuses, if it reports any (most sources do not)."""
    health = getattr(source, "health", None)
    return tuple(health()) if callable(health) else ()
