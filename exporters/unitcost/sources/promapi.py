"""A small client for the Prometheus HTTP API, shared by the commands that read history.

`chargeback`, `forecast` and `recommend` speak only this API, so they work unchanged against
Prometheus, Thanos Query or Mimir (docs/design.md, "Beyond one cluster"). Transient failures
(connection errors, 502/503/504) are retried with backoff by urllib3; anything else becomes a
`PrometheusError` that names the URL and the query.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson
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


class Matrix(NamedTuple):
    """A range query's answer as arrays: per series its labels (as JSON text: `labels()`
    decodes them; the text also serves as the series' identity, the same in every answer)
    and point count, and every point's time and value, series after series (`counts` says
    where each one ends)."""

    label_json: list[bytes]
    counts: npt.NDArray[np.int64]
    times: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]

    def labels(self) -> list[dict[str, str]]:
        return [orjson.loads(text) for text in self.label_json]


#: Prometheus' matrix answer, as its encoder writes it. Each series' labels end where its
#: points begin, at `},"values":[[`, which cannot occur inside a JSON string (there every `"`
#: is escaped); its points, numbers and quoted numbers only, end at `]]}`.
_MATRIX_START = b'{"status":"success","data":{"resultType":"matrix","result":['
_POINTS = b'},"values":[['
_POINTS_END = b"]]}"
_METRIC = b'{"metric":'


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
        url = self.base_url + "/api/v1/query_range"
        params = self._range_params(promql, start, end, step_s)
        return [
            Series(item["metric"], tuple((float(t), _parse_value(v)) for t, v in item["values"]))
            for item in self._matrix(url, self._post(url, params, promql), promql)
        ]

    def query_range_arrays(self, promql: str, *, start: float, end: float, step_s: float) -> Matrix:
        """`query_range` as numpy arrays, read straight from the answer's bytes: pyarrow (or
        numpy) parses every number of a day's million points in one call, where a JSON decoder
        would build a list, an int and a str per point first (docs/performance.md,
        "Chargeback").
        An answer in any other layout (another server's encoder) is decoded as JSON."""
        params = self._range_params(promql, start, end, step_s)
        url = self.base_url + "/api/v1/query_range"
        response = self._post(url, params, promql)
        body = response.content
        if response.status_code == 200 and body.startswith(_MATRIX_START):
            fast = _matrix_from_bytes(body)
            if fast is not None:
                return fast
        labels, counts, times, values = [], [], [], []
        for item in self._matrix(url, response, promql):
            labels.append(orjson.dumps(item["metric"], option=orjson.OPT_SORT_KEYS))
            counts.append(len(item["values"]))
            for t, v in item["values"]:
                times.append(float(t))
                values.append(float(v))
        return Matrix(
            labels,
            np.array(counts, dtype=np.int64),
            np.array(times, dtype=np.float64),
            np.array(values, dtype=np.float64),
        )

    def _matrix(self, url: str, response: requests.Response, promql: str) -> list[dict[str, Any]]:
        """The series of a range query's answer, or PrometheusError naming what came instead."""
        data = self._answer(url, response, promql)
        if data.get("resultType") != "matrix":
            raise PrometheusError(
                f"{url}: range query {promql!r} returned {data.get('resultType')!r}"
            )
        result: list[dict[str, Any]] = data["result"]
        return result

    def _range_params(self, promql: str, start: float, end: float, step_s: float) -> dict[str, str]:
        if end < start or step_s <= 0:
            raise PrometheusError(
                f"range query {promql!r}: need start <= end and step > 0 "
                f"(got start={start}, end={end}, step={step_s})"
            )
        return {
            "query": promql,
            "start": _format_time(start),
            "end": _format_time(end),
            "step": f"{step_s:g}",
        }

    def _post(self, url: str, params: dict[str, str], promql: str) -> requests.Response:
        try:
            # POST keeps long PromQL out of URLs and access logs; Prometheus accepts both.
            return self._session.post(url, data=params, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise PrometheusError(f"{url}: query {promql!r} failed: {exc}") from exc

    def _call(self, path: str, params: dict[str, str], promql: str) -> dict[str, Any]:
        url = self.base_url + path
        return self._answer(url, self._post(url, params, promql), promql)

    def _answer(self, url: str, response: requests.Response, promql: str) -> dict[str, Any]:
        try:
            # orjson: a month of chargeback answers is about a gigabyte of JSON at 20,000
            # workloads, ten times faster to read than with the standard library.
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise PrometheusError(
                f"{url}: HTTP {response.status_code}, not a Prometheus API answer "
                f"(body starts {response.text[:120]!r})"
            ) from None
        if not isinstance(body, dict):
            raise PrometheusError(f"{url}: HTTP {response.status_code}, answer is not an object")
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(
                f"{url}: query {promql!r} failed: HTTP {response.status_code}, "
                f"{body.get('errorType', '')}: {body.get('error', '')}"
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise PrometheusError(f"{url}: query {promql!r}: answer has no data")
        return data


def _matrix_from_bytes(body: bytes) -> Matrix | None:
    """The series of a Prometheus matrix answer (`_MATRIX_START`) without a JSON decoder per
    point: the points of all series become one CSV of `time,"value"` lines, which pyarrow's
    reader parses in C (numpy's text reader where pyarrow is not installed; both round as
    `float()` does). None when the bytes are not laid out as expected (the caller then
    decodes JSON)."""
    parts = body.split(_POINTS)
    labels: list[bytes] = []
    counts: list[int] = []
    lines: list[bytes] = []
    for before, after in itertools.pairwise(parts):
        metric = before.rfind(_METRIC)
        end = after.find(_POINTS_END)
        if metric < 0 or end < 0:
            return None
        labels.append(before[metric + len(_METRIC) :] + b"}")
        points = after[:end]
        counts.append(points.count(b"],[") + 1)
        lines.append(points)
    if not lines:
        return None  # no series, or another layout: the JSON decoder says which
    csv = b"\n".join(lines).replace(b"],[", b"\n")
    parsed = _parse_points(csv, sum(counts))
    if parsed is None:
        return None
    return Matrix(labels, np.array(counts, dtype=np.int64), *parsed)


def _parse_points(
    csv: bytes, points: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """(times, values) of `time,"value"` lines, or None if they are not `points` such lines."""
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.csv as pacsv  # type: ignore[import-untyped]
    except ImportError:  # the chargeback extra is not installed: numpy's slower reader
        text = csv.replace(b'"', b" ").replace(b",", b" ").decode("ascii")
        try:
            numbers = np.fromstring(text, dtype=np.float64, sep=" ")
        except ValueError:
            return None
        if numbers.size != 2 * points:
            return None
        return numbers[0::2], numbers[1::2]
    types = {"t": pa.float64(), "v": pa.float64()}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(csv),
            read_options=pacsv.ReadOptions(column_names=["t", "v"]),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            # No null spellings: "NaN" is a value here (pyarrow's defaults would null it).
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[], strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != points or table.column("t").null_count or table.column("v").null_count:
        return None
    times = table.column("t").to_numpy()
    values = table.column("v").to_numpy()
    return np.asarray(times, dtype=np.float64), np.asarray(values, dtype=np.float64)


def _format_time(unix_s: float) -> str:
    if not math.isfinite(unix_s):
        raise PrometheusError(f"time {unix_s} is not a finite unix time")
    return f"{unix_s:.3f}"


def _parse_value(raw: str) -> float:
    # Prometheus writes NaN and ±Inf as strings; float() reads all three.
    return float(raw)
