"""List + watch one kind of object into an in-memory store, the way client-go's reflector does.

Paged list (`limit`/`continue`), then a watch from the list's resourceVersion with bookmarks,
resumed from the last seen version when it ends or drops; a full relist on `410 Gone` (or
when a paged list's continue token expires), and every `resync_seconds`. Failures back off
exponentially with jitter. A kind whose API is not served (an absent CRD) is empty, not an
error, and is looked for again every resync period.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from unitcost.base.worker import Worker
from unitcost.config.kubernetes import KubernetesSettings
from unitcost.sources.kubernetes.convert import ConversionError, Obj, object_key

log = logging.getLogger(__name__)

T = TypeVar("T")
#: An API version -> the client's list function for that version (called with list/watch
#: keyword arguments, e.g. CoreV1Api.list_pod_for_all_namespaces).
ListFactory = Callable[[str], Callable[..., Any]]
GONE = 410
NOT_FOUND = 404
#: Absent optional APIs are looked for again this often when resync is disabled.
ABSENT_RETRY_SECONDS = 300.0


class Gone(Exception):
    """The watched resourceVersion is too old: only a relist recovers."""


class Absent(Exception):
    """The API is not served (a CRD that is not installed)."""


class WatchError(Exception):
    """The watch stream carried an ERROR event other than 410."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How to reach one kind: its plural (for logs), client list function, versions to try."""

    kind: str
    list_factory: ListFactory
    versions: Sequence[str] = ("v1",)
    #: An optional kind's 404 means "not installed": empty and healthy, not an error.
    optional: bool = False


class Backoff:
    """Exponential backoff with equal jitter: half the step fixed, half random, so a fleet of
    exporters does not reconnect in lockstep, and no retry is ever immediate."""

    def __init__(self, initial: float, maximum: float, rng: random.Random) -> None:
        self.initial = initial
        self.maximum = maximum
        self._rng = rng
        self._attempt = 0

    def next(self) -> float:
        step = min(self.maximum, self.initial * 2.0 ** min(self._attempt, 30))
        self._attempt += 1
        return step / 2 + self._rng.uniform(0, step / 2)

    def reset(self) -> None:
        self._attempt = 0


class Reflector(Generic[T]):
    """Keeps `items()` equal to the cluster's objects of one kind, converted by `convert`
    (which may return None to skip an object)."""

    def __init__(
        self,
        endpoint: Endpoint,
        convert: Callable[[Obj], T | None],
        settings: KubernetesSettings,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._convert = convert
        self._settings = settings
        self._rng = rng or random.Random()
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()
        self._worker = Worker(f"reflector-{endpoint.kind}", interrupt=self._hang_up)
        self._response: Any = None
        #: Set once the first list finished (or the API was found absent).
        self.synced = threading.Event()
        self.healthy = False
        self.absent = False
        self.last_error = ""
        self.version = ""
        self.resource_version = ""
        #: Full lists done (the first included): tests and logs read it.
        self.lists = 0

    # -- store ------------------------------------------------------------------------------
    def items(self) -> list[T]:
        with self._lock:
            return list(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def _converted(self, obj: Obj) -> T | None:
        try:
            return self._convert(obj)
        except (ConversionError, KeyError, TypeError, ValueError) as exc:
            log.warning("%s %s skipped: %s", self.endpoint.kind, object_key(obj), exc)
            return None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._worker.start(self.run)

    def stop(self, timeout: float = 5.0) -> None:
        self._worker.stop(timeout)

    def _hang_up(self) -> None:
        """Unblock a watch waiting for its next event (stop() calls this)."""
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # already closed: nothing to interrupt
                response.shutdown()

    def _fail(self, what: str, exc: BaseException) -> None:
        message = f"{self.endpoint.kind}: {what} failed: {_describe(exc)}"
        if self.healthy or message != self.last_error:
            log.warning("%s", message)
        self.healthy = False
        self.last_error = message

    def run(self) -> None:
        backoff = Backoff(
            self._settings.backoff_initial_seconds, self._settings.backoff_max_seconds, self._rng
        )
        while not self._worker.stopping():
            try:
                rv = self._list()
            except Absent:
                self._mark_absent()
                self._worker.wait(self._settings.resync_seconds or ABSENT_RETRY_SECONDS)
                continue
            except Exception as exc:  # network, 5xx, bad JSON: retry after a backoff
                self._fail("list", exc)
                self._worker.wait(backoff.next())
                continue
            backoff.reset()
            resync = self._settings.resync_seconds
            deadline = time.monotonic() + resync if resync else math.inf
            try:
                while not self._worker.stopping() and time.monotonic() < deadline:
                    try:
                        started, before = time.monotonic(), rv
                        rv = self._watch(rv, deadline)
                        if rv == before and time.monotonic() - started < 1.0:
                            # A server that ends watches at once must not make us spin.
                            self._worker.wait(backoff.next())
                        else:
                            backoff.reset()
                    except (Gone, Absent):
                        raise
                    except Exception as exc:  # dropped, timed out, 5xx: resume from rv
                        if self._worker.stopping():
                            return  # stop() hung up on the stream: not a failure
                        self._fail("watch", exc)
                        self._worker.wait(backoff.next())
            except Gone as exc:
                log.info("%s: watch expired (%s): relisting", self.endpoint.kind, exc)
            except Absent:
                log.info("%s: API no longer served", self.endpoint.kind)

    def _mark_absent(self) -> None:
        if not self.absent:
            log.info(
                "%s: API not served (tried %s): treated as empty",
                self.endpoint.kind,
                ", ".join(self.endpoint.versions),
            )
        with self._lock:
            self._items = {}
        self.absent = True
        self.healthy = True
        self.synced.set()

    # -- list -------------------------------------------------------------------------------
    def _timeout(self) -> tuple[float, float]:
        return (self._settings.connect_timeout_seconds, self._settings.read_timeout_seconds)

    def _list(self) -> str:
        versions = [self.version] if self.version else list(self.endpoint.versions)
        for version in versions:
            try:
                rv = self._list_version(version)
            except ApiException as exc:
                if exc.status == NOT_FOUND and self.endpoint.optional:
                    continue
                raise
            self.version = version
            return rv
        self.version = ""
        raise Absent()

    def _list_version(self, version: str) -> str:
        list_fn = self.endpoint.list_factory(version)
        items: dict[str, T] = {}
        token: str | None = None
        while True:
            try:
                response = list_fn(
                    limit=self._settings.page_size,
                    _continue=token,
                    _preload_content=False,
                    _request_timeout=self._timeout(),
                )
            except ApiException as exc:
                if exc.status == GONE and token:  # the continue token expired: start over
                    log.info("%s: list continue token expired: restarting", self.endpoint.kind)
                    items, token = {}, None
                    continue
                raise
            try:
                body = json.loads(response.data)
            finally:
                response.release_conn()
            for obj in body.get("items") or []:
                item = self._converted(obj)
                if item is not None:
                    items[object_key(obj)] = item
            metadata = body.get("metadata") or {}
            token = metadata.get("continue") or None
            if token is None:
                rv = str(metadata.get("resourceVersion") or "")
                break
        with self._lock:
            self._items = items
        self.resource_version = rv
        self.lists += 1
        self.absent = False
        self.healthy = True
        self.last_error = ""
        self.synced.set()
        return rv

    # -- watch ------------------------------------------------------------------------------
    def _watch(self, rv: str, deadline: float) -> str:
        remaining = deadline - time.monotonic()
        timeout = int(max(1, min(self._settings.watch_timeout_seconds, remaining)))
        try:
            response = self.endpoint.list_factory(self.version)(
                watch=True,
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=timeout,
                _preload_content=False,
                _request_timeout=self._timeout(),
            )
        except ApiException as exc:
            if exc.status == GONE:
                raise Gone(exc.reason) from exc
            if exc.status == NOT_FOUND and self.endpoint.optional:
                raise Absent() from exc
            raise
        self._response = response
        self.healthy = True
        try:
            for line in iter_resp_lines(response):
                if self._worker.stopping():
                    break
                if line:
                    rv = self._apply(json.loads(line), rv)
        finally:
            self._response = None
            response.release_conn()
        return rv

    def _apply(self, event: dict[str, Any], rv: str) -> str:
        kind = event.get("type")
        obj: Obj = event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            detail = f"{code} {obj.get('reason', '')}: {obj.get('message', '')}"
            if code == GONE:
                raise Gone(detail)
            raise WatchError(detail)
        new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
        if kind in ("ADDED", "MODIFIED"):
            item = self._converted(obj)
            with self._lock:
                if item is None:
                    self._items.pop(object_key(obj), None)
                else:
                    self._items[object_key(obj)] = item
        elif kind == "DELETED":
            with self._lock:
                self._items.pop(object_key(obj), None)
        elif kind != "BOOKMARK":
            log.debug("%s: ignoring watch event type %r", self.endpoint.kind, kind)
        self.resource_version = new_rv
        return new_rv


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}".strip()
    return f"{type(exc).__name__}: {exc}"
