"""The audit trail: one JSON line per decision (taken or skipped), and the counters behind
unitcost_actions_total."""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from unitcost.base.errors import InputError

#: Every result a decision can have (docs/recommendations.md).
RESULTS = (
    "applied",  # the change was made
    "would-apply",  # dry run: it would have been made
    "noop",  # already in the wanted state
    "not-opted-in",  # the namespace lacks the opt-in label
    "opted-out",  # the object says unitcost.io/actions: disabled
    "rate-limited",  # no token left
    "not-found",  # nothing to act on (object gone, no Kueue Workload)
    "unsupported",  # the action does not apply to this kind of workload
    "failed",  # the API refused or could not be reached
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    time: str
    action: str
    result: str
    dry_run: bool
    recommendation: str
    namespace: str
    workload_kind: str
    workload: str
    #: The object acted on, as an API path (empty when none was resolved).
    target: str
    savings_dollars_per_month: float
    reason: str


class AuditLog:
    """Appends records as JSON lines (flushed each), and counts them."""

    def __init__(self, destination: str, base_dir: Path = Path(".")) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._owned: TextIO | None = None
        if destination == "-":
            self._out: TextIO = sys.stdout
        else:
            path = base_dir / destination
            try:
                self._owned = self._out = path.open("a", encoding="utf-8")
            except OSError as exc:
                raise InputError(f"actions.audit_log: cannot open {path}: {exc.strerror}") from exc

    def write(self, record: AuditRecord) -> None:
        line = json.dumps(asdict(record), sort_keys=True)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()
            self.counts[(record.action, record.result, str(record.dry_run).lower())] += 1

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()


def now_iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
