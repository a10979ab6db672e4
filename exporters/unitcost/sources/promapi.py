"""A small client for the Prometheus HTTP API, shared by the commands that read history.

`chargeback`, `forecast` and `recommend` speak only this API, so they work unchanged against
Prometheus, Thanos Query or Mimir (docs/design.md, "Beyond one cluster"). Transient failures
(connection errors, 502/503/504) are retried with backoff by urllib3; anything else becomes a
`PrometheusError` that names the URL and the query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class PrometheusError(RuntimeError):
    """The Prometheus API could not answer a query; the message names URL and query."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One series of an instant query: its labels and value."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a range query: its labels and (unix time, value) points, time-ordered."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


class PrometheusAPI:
    """Instant and range queries against one Prometheus-compatible base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 60.0,
        retries: int = 3,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise PrometheusError(
                f"Prometheus URL {base_url!r} must start with http:// or https://"
            )
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = requests.Session()
        retry = Retry(
            total=retries,
            backoff_factor=0.5,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET", "POST"}),
        )
        self._session.mount("http://", HTTPAdapter(max_retries=retry))
        self._session.mount("https://", HTTPAdapter(max_retries=retry))
        if headers:
            self._session.headers.update(headers)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PrometheusAPI:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def query(self, promql: str, *, at: float | None = None) -> list[Sample]:
        """An instant query; `at` is a unix time (default: the server's now)."""
        params: dict[str, str] = {"query": promql}
        if at is not None:
            params["time"] = _format_time(at)
        data = self._call("/api/v1/query", params, promql)
        if data.get("resultType") == "scalar":
            return [Sample({}, _parse_value(data["result"][1]))]
        if data.get("resultType") != "vector":
            raise PrometheusError(
                f"{self.base_url}: query {promql!r} returned {data.get('resultType')!r}, "
                "expected an instant vector"
            )
        return [
            Sample(dict(item["metric"]), _parse_value(item["value"][1])) for item in data["result"]
        ]

    def query_range(self, promql: str, *, start: float, end: float, step_s: float) -> list[Series]:
        """A range query from `start` to `end` (unix times) every `step_s` seconds."""
        return [
            Series(labels, tuple((float(t), _parse_value(v)) for t, v in values))
            for labels, values in self.query_range_raw(promql, start=start, end=end, step_s=step_s)
        ]

    def query_range_raw(
        self, promql: str, *, start: float, end: float, step_s: float
    ) -> list[tuple[dict[str, str], list[tuple[float, str]]]]:
        """`query_range` as the API wrote it: per series its labels and its `[time, "value"]`
        pairs, values still text (`float()` reads them, NaN and ±Inf included). For readers of
        millions of points that would rather not build a tuple per point first."""
        if end < start or step_s <= 0:
            raise PrometheusError(
                f"range query {promql!r}: need start <= end and step > 0 "
                f"(got start={start}, end={end}, step={step_s})"
            )
        params = {
            "query": promql,
            "start": _format_time(start),
            "end": _format_time(end),
            "step": f"{step_s:g}",
        }
        data = self._call("/api/v1/query_range", params, promql)
        if data.get("resultType") != "matrix":
            raise PrometheusError(
                f"{self.base_url}: range query {promql!r} returned {data.get('resultType')!r}"
            )
        return [(item["metric"], item["values"]) for item in data["result"]]

    def _call(self, path: str, params: dict[str, str], promql: str) -> dict[str, Any]:
        url = self.base_url + path
        try:
            # POST keeps long PromQL out of URLs and access logs; Prometheus accepts both.
            response = self._session.post(url, data=params, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise PrometheusError(f"{url}: query {promql!r} failed: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(
                f"{url}: HTTP {response.status_code}, not a Prometheus API answer "
                f"(body starts {response.text[:120]!r})"
            ) from None
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(
                f"{url}: query {promql!r} failed: HTTP {response.status_code}, "
                f"{body.get('errorType', '')}: {body.get('error', '')}"
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise PrometheusError(f"{url}: query {promql!r}: answer has no data")
        return data


def _format_time(unix_s: float) -> str:
    if not math.isfinite(unix_s):
        raise PrometheusError(f"time {unix_s} is not a finite unix time")
    return f"{unix_s:.3f}"


def _parse_value(raw: str) -> float:
    # Prometheus writes NaN and ±Inf as strings; float() reads all three.
    return float(raw)
