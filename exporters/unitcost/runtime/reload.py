"""Hot reload of the config file and price books, on SIGHUP or when a file changes.

A file is watched by (mtime, size, inode), so an edit in place and a Kubernetes ConfigMap
update (an atomic symlink swap) both count. A change is loaded whole (config, then every price
book); only a load that fully succeeds is swapped into the collector, between two collects. A
broken file leaves the last good version in force: the error is logged once per distinct
failure and exported as `unitcost_config_reload_success{file} 0` until a good version lands.

What a reload applies: price books, attribution rules, shared cost, budgets, policies. What
needs a restart (logged as such): the `source:` block and `collect_interval_seconds`, and, for
the Kubernetes source, attribution label keys that were not read before (its watches keep only
the keys the rules at start-up named).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from unitcost.base.errors import InputError
from unitcost.base.worker import Worker
from unitcost.config.file import Config, load_config
from unitcost.costmodel.policy import attribution_rules
from unitcost.data.records import ReloadStatus
from unitcost.metrics.family import MetricFamily
from unitcost.pricing import PriceBook
from unitcost.sinks.metrics import reload_families

log = logging.getLogger(__name__)

Signature = tuple[int, int, int]


#: Where a reload's new settings go, between two collects (Collector.reconfigure).
Apply = Callable[[Config, PriceBook], None]


def _signature(path: Path) -> Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Reloader:
    """Reloads `config_path` and its price books (plus `extra_pricebooks` from the command
    line) when they change or `request()` is called (the SIGHUP handler), and hands what
    loaded to `apply`. `config` is the config in force at start-up."""

    def __init__(
        self,
        config_path: Path,
        config: Config,
        extra_pricebooks: Sequence[Path] = (),
        *,
        poll_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
        load: Callable[[Path], Config] = load_config,
    ) -> None:
        """`load` reads the config file (serve lays its command-line flags over it)."""
        #: The config in force: the last one that loaded whole.
        self.config = config
        self.config_path = Path(config_path)
        self.extra_pricebooks = tuple(Path(p) for p in extra_pricebooks)
        self.poll_seconds = poll_seconds
        self._clock = clock
        self._load = load
        self._worker = Worker("reload")
        self._lock = threading.Lock()
        now = clock()
        # The files loaded at start-up are the first good versions.
        self._status: dict[str, ReloadStatus] = {
            str(p): ReloadStatus(str(p), True, now) for p in self._files(config)
        }
        self._seen = {str(p): _signature(p) for p in self._files(config)}
        self._last_error = ""
        self._force = False
        #: Successful reloads since start (tests and logs read it).
        self.reloads = 0

    def _files(self, config: Config) -> list[Path]:
        return [self.config_path, *config.pricebook_paths(), *self.extra_pricebooks]

    # -- metrics ------------------------------------------------------------------------------
    def statuses(self) -> list[ReloadStatus]:
        with self._lock:
            return list(self._status.values())

    def families(self) -> list[MetricFamily]:
        """unitcost_config_reload_* for the files watched (a Collector's extra families)."""
        return reload_families(self.statuses())

    # -- triggering ---------------------------------------------------------------------------
    def request(self) -> None:
        """Reload now, changed or not (safe to call from a signal handler)."""
        self._force = True
        self._worker.wake()

    def changed(self) -> bool:
        files = self._files(self.config)
        return any(_signature(p) != self._seen.get(str(p)) for p in files)

    def check(self, apply: Apply) -> bool:
        """Reload if forced or a file changed; True if new settings were swapped in."""
        force, self._force = self._force, False
        if not force and not self.changed():
            return False
        return self.reload(apply)

    def reload(self, apply: Apply) -> bool:
        signatures = {str(p): _signature(p) for p in self._files(self.config)}
        try:
            config = self._load(self.config_path)
            files = self._files(config)
            signatures = {str(p): _signature(p) for p in files}
            book = PriceBook.load([*config.pricebook_paths(), *self.extra_pricebooks])
        except InputError as exc:
            self._failed(str(exc), signatures)
            return False
        self._warn_restart_needed(self.config, config)
        apply(config, book)
        self.config = config
        now = self._clock()
        with self._lock:
            self._status = {str(p): ReloadStatus(str(p), True, now) for p in files}
        self._seen = signatures
        self._last_error = ""
        self.reloads += 1
        log.info("reloaded %s (price books: %s)", self.config_path, ", ".join(book.sources))
        return True

    def _failed(self, error: str, signatures: dict[str, Signature | None]) -> None:
        # The error names its file first ("path: field: problem"); blame that file, or all.
        blamed = [f for f in signatures if error.startswith(f"{f}:")] or list(signatures)
        with self._lock:
            for f in signatures:
                previous = self._status.get(f, ReloadStatus(f, True, 0.0))
                self._status[f] = ReloadStatus(f, f not in blamed, previous.last_success)
        self._seen = signatures  # retry when the file changes again, not every poll
        if error != self._last_error:
            log.error(
                "reload failed, the last good config and price books stay in force: %s", error
            )
        self._last_error = error

    def _warn_restart_needed(self, old: Config, new: Config) -> None:
        needs = []
        if new.source != old.source:
            needs.append("source")
        if new.collect_interval_seconds != old.collect_interval_seconds:
            needs.append("collect_interval_seconds")
        if old.source.kind == "kubernetes" and new.attribution != old.attribution:
            old_rules, new_rules = (
                attribution_rules(old),
                attribution_rules(new),
            )
            if not (
                new_rules.pod_label_keys() <= old_rules.pod_label_keys()
                and new_rules.pod_annotation_keys() <= old_rules.pod_annotation_keys()
                and new_rules.keys("namespace_label") <= old_rules.keys("namespace_label")
                and new_rules.keys("namespace_annotation") <= old_rules.keys("namespace_annotation")
            ):
                needs.append("new attribution label keys")
        if needs:
            log.warning("reload: %s changed: applied after a restart", ", ".join(needs))

    # -- the watch thread ---------------------------------------------------------------------
    def run(self, apply: Apply) -> None:
        while not self._worker.stopping():
            try:
                self.check(apply)
            except Exception:  # a bug in one reload must not end the watch
                log.exception("reload failed")
            self._worker.wait(self.poll_seconds)

    def start(self, apply: Apply) -> None:
        self._worker.start(lambda: self.run(apply))

    def stop(self, timeout: float = 5.0) -> None:
        self._worker.stop(timeout)
