"""What every source gives the collector."""

from __future__ import annotations

from typing import Protocol

from unitcost.model import Snapshot


class SourceError(Exception):
    """A source could not produce a snapshot this time (it is retried next collect)."""


class Source(Protocol):
    #: The `source` label on unitcost_source_up and friends.
    name: str

    def snapshot(self) -> Snapshot:
        """The cluster now. Raises SourceError when it cannot be read."""
        ...

    def close(self) -> None: ...
