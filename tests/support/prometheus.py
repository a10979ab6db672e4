"""Run the real thing in tests: the unitcost exporter, Prometheus and Alertmanager.

Plain functions and context managers (no pytest), so any test or script can use them:

    with exporter(config_path) as target, prometheus([target], rule_files) as prom:
        wait_until(lambda: prom.query("up") or None, timeout=20, what="first scrape")

A demo exporter serves its simulated vLLM counters on a path of their own: pass it as
`simulated_vllm=[target]` too, and a second job scrapes them as a PodMonitor would real vLLM
pods (the unit-economics rules need them).

Every process is started in a fresh temp dir on a loopback port and stopped on exit (SIGTERM,
then SIGKILL after a grace period), also when the body raises. Startup failures raise
`ProcessError` with the process's last log lines, so a broken config explains itself.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from support.tools import PROMETHEUS_3, tool
from unitcost.cli.exporter import SIMULATED_VLLM_PATH

T = TypeVar("T")


#: `promtool check metrics` on an exposition: the `promtool` fixture (tests/conftest.py).
Promtool = Callable[[bytes | str], subprocess.CompletedProcess[bytes]]


#: Series per family that one `promtool check metrics` run is given: its lint compares every
#: pair of series in a family (client_golang promlint's duplicate check), which took 98 s for
#: 20,000 series on 3.5.3 (0.1 s on 2.42), so large expositions go in chunks of this many.
CHECK_CHUNK = 500


def check_metrics(exposition: bytes | str) -> subprocess.CompletedProcess[bytes]:
    """`promtool check metrics` (its lint included) on an exposition; the caller judges.

    Every line is checked: a large gauge or counter family is split into chunks that each
    repeat its HELP and TYPE, and the duplicate-series check promtool would make across
    chunks is made here over the whole text."""
    text = exposition.decode() if isinstance(exposition, bytes) else exposition
    chunks = _chunks(text)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_promtool_check_metrics, chunks))
    returncode = max(r.returncode for r in results)
    stdout = b"".join(r.stdout for r in results)
    stderr = b"".join(dict.fromkeys(r.stderr for r in results))  # the same lint once
    duplicates = _duplicate_series(text)
    if duplicates:
        returncode = returncode or 1
        stderr += b"".join(f"duplicate series: {d}\n".encode() for d in duplicates[:10])
    return subprocess.CompletedProcess(["promtool", "check", "metrics"], returncode, stdout, stderr)


def _promtool_check_metrics(text: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [tool("promtool"), "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )


def _chunks(text: str) -> list[str]:
    """The exposition as pieces of at most CHECK_CHUNK series per family; histograms,
    summaries and small families stay whole."""
    chunks: list[str] = []
    current: list[str] = []
    header: list[str] = []
    family_type = ""
    in_chunk = 0
    for line in _lines(text, keepends=True):
        if line.startswith("# HELP "):
            header, family_type = [line], ""
        elif line.startswith("# TYPE "):
            header.append(line)
            family_type = line.split()[3] if len(line.split()) > 3 else ""
        splittable = family_type in ("gauge", "counter", "untyped")
        if not line.startswith("#") and splittable and in_chunk >= CHECK_CHUNK:
            chunks.append("".join(current))
            current, in_chunk = list(header), 0
        current.append(line)
        if not line.startswith("#"):
            in_chunk += 1
    chunks.append("".join(current))
    return [c for c in chunks if c]


def _lines(text: str, keepends: bool = False) -> list[str]:
    """The exposition's lines: split at "\n" only (str.splitlines would also split at a raw
    "\r" or "\x1c", which a label value may hold unescaped)."""
    lines = text.split("\n")
    if not keepends:
        return lines
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def _duplicate_series(text: str) -> list[str]:
    seen: set[str] = set()
    duplicates: list[str] = []
    for line in _lines(text):
        if line and not line.startswith("#"):
            series = line[: line.rindex("}") + 1] if "}" in line else line.split(" ", 1)[0]
            if series in seen:
                duplicates.append(series)
            seen.add(series)
    return duplicates


class ProcessError(RuntimeError):
    """A helper process failed to start or answer."""


class PrometheusError(RuntimeError):
    """Prometheus answered a query with an error (bad PromQL, timeout); carries its text."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the OS picks it; racy only against other processes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.25,
    what: str = "condition",
) -> T:
    """Poll `condition` until it returns something other than None/False; return that.

    Raises TimeoutError naming `what` and the last exception the condition raised, if any.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = condition()
        except (OSError, PrometheusError, ValueError) as exc:  # not up yet, or not yet valid
            last_error, result = exc, None
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


@dataclass
class Process:
    """A started helper: its Popen, its log file, and where it listens."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    address: str  # host:port

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_running(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise ProcessError(f"{self.name} exited with status {code}:\n{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=grace)


@contextmanager
def _process(
    name: str, argv: Sequence[str], workdir: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[Process, Path]]:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            list(argv),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
        )
    proc = Process(name, popen, log_path, "")
    try:
        yield proc, log_path
    finally:
        proc.stop()


def _ready(proc: Process, url: str, timeout: float) -> None:
    def answered() -> bool:
        proc.check_running()
        http_get(url, timeout=2.0)
        return True

    try:
        wait_until(answered, timeout=timeout, what=f"{proc.name} at {url}")
    except TimeoutError as exc:
        raise ProcessError(f"{exc}\n--- {proc.name} log ---\n{proc.log_tail()}") from None


# --- the unitcost exporter -------------------------------------------------------------------

_SERVING = re.compile(r"serving http://([^/\s]+)/metrics")


def unitcost_command() -> list[str]:
    """The installed `unitcost` console script next to this interpreter, else `-m`."""
    script = Path(sys.executable).with_name("unitcost")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from unitcost.cli.main import main; main()"]


@contextmanager
def exporter(
    config: Path | None = None,
    *,
    demo_args: Sequence[str] = (),
    timeout: float = 30.0,
    listen: str = "127.0.0.1:0",
) -> Iterator[Process]:
    """`unitcost serve --config CONFIG` (or `unitcost demo --no-table DEMO_ARGS` when no config)
    on `listen` (a free port by default; a fixed one restarts an exporter at the same scrape
    target); yields once /metrics answers. `Process.address` is the scrape target."""
    with tempfile.TemporaryDirectory(prefix="unitcost-exporter-") as tmp:
        workdir = Path(tmp)
        if config is not None:
            sub = ["serve", "--config", str(Path(config).resolve())]
        else:
            sub = ["demo", "--no-table", *demo_args]
        argv = [*unitcost_command(), "--log-level", "info", *sub, "--listen", listen]
        with _process("unitcost", argv, workdir) as (proc, log_path):

            def bound() -> str | None:
                proc.check_running()
                found = _SERVING.search(log_path.read_text("utf-8", errors="replace"))
                return found.group(1) if found else None

            try:
                proc.address = wait_until(bound, timeout=timeout, what="unitcost to listen")
            except TimeoutError as exc:
                raise ProcessError(f"{exc}\n--- unitcost log ---\n{proc.log_tail()}") from None
            _ready(proc, f"{proc.url}/metrics", timeout)
            yield proc


# --- Prometheus ------------------------------------------------------------------------------


@dataclass
class Prometheus:
    process: Process
    workdir: Path

    @property
    def url(self) -> str:
        return self.process.url

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; the `result` list of the JSON answer (vector: [{metric, value}])."""
        return query(self.url, expr, at)

    def values(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Instant query as {sorted label items: value} (handy for assertions)."""
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in self.query(expr)}

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts as Prometheus sees them (pending and firing)."""
        body = json.loads(http_get(f"{self.url}/api/v1/alerts"))
        alerts: list[dict[str, Any]] = body["data"]["alerts"]
        return alerts

    def rule_health(self) -> list[tuple[str, str, str]]:
        """(rule name, health, last error) for every loaded rule."""
        body = json.loads(http_get(f"{self.url}/api/v1/rules"))
        return [
            (r["name"], r["health"], r.get("lastError", ""))
            for g in body["data"]["groups"]
            for r in g["rules"]
        ]


def query(base_url: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    """Instant query against a Prometheus HTTP API; raises PrometheusError with its error text."""
    params = {"query": expr}
    if at is not None:
        params["time"] = repr(at)
    url = f"{base_url}/api/v1/query?{urllib.parse.urlencode(params)}"
    try:
        body = json.loads(http_get(url, timeout=10.0))
    except urllib.error.HTTPError as exc:  # 400/422/503 carry a JSON error body
        try:
            body = json.loads(exc.read())
        except ValueError:
            raise PrometheusError(f"{expr!r}: HTTP {exc.code}") from None
    if body.get("status") != "success":
        raise PrometheusError(f"{expr!r}: {body.get('errorType')}: {body.get('error')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    if body["data"]["resultType"] == "scalar":
        return [{"metric": {}, "value": result}]
    return result


def prometheus_config(
    targets: Sequence[str],
    rule_files: Sequence[Path] = (),
    *,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    alertmanagers: Sequence[str] = (),
    job: str = "unitcost",
    simulated_vllm: Sequence[str] = (),
    target_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The prometheus.yml for a test: one job scraping `targets` (with `target_labels` on every
    series, e.g. the cluster), the rules, the alertmanagers; a second job for the demo exporters
    in `simulated_vllm`, scraping their vLLM counters (with the same target labels)."""
    static: dict[str, Any] = {"targets": list(targets)}
    if target_labels:
        static["labels"] = dict(target_labels)
    scrape_configs: list[dict[str, Any]] = [{"job_name": job, "static_configs": [static]}]
    if simulated_vllm:
        vllm_static: dict[str, Any] = {**static, "targets": list(simulated_vllm)}
        scrape_configs.append(
            {
                "job_name": "simulated-vllm",
                "metrics_path": SIMULATED_VLLM_PATH,
                "static_configs": [vllm_static],
            }
        )
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": scrape_configs,
    }
    if alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]
        }
    return config


@contextmanager
def prometheus(
    targets: Sequence[str],
    rule_files: Sequence[Path] = (),
    *,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    alertmanagers: Sequence[str] = (),
    timeout: float = 30.0,
    history: str | None = None,
    simulated_vllm: Sequence[str] = (),
    target_labels: Mapping[str, str] | None = None,
    line: str = PROMETHEUS_3,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cgroup: Path | None = None,
) -> Iterator[Prometheus]:
    """The real Prometheus of `line` (tests/tools/pins.txt: 3.5 LTS unless told) in a temp
    dir, on a free loopback port; `env` adds to its environment (e.g. GOMEMLIMIT, the Go
    runtime's memory limit). With `cgroup` (a cgroup directory) it starts inside that cgroup,
    so a memory limit there is a container's: Prometheus 3 sets its Go memory limit from it.

    `history` is OpenMetrics text (ending in `# EOF`) backfilled into the TSDB with
    `promtool tsdb create-blocks-from openmetrics` before start, so tests can query days or
    months of past samples; retention is set long enough that the blocks are kept.
    """
    with tempfile.TemporaryDirectory(prefix="unitcost-prometheus-") as tmp:
        workdir = Path(tmp)
        cfg = prometheus_config(
            targets,
            rule_files,
            scrape_interval=scrape_interval,
            evaluation_interval=evaluation_interval,
            alertmanagers=alertmanagers,
            simulated_vllm=simulated_vllm,
            target_labels=target_labels,
        )
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(cfg, sort_keys=False), "utf-8")
        if history is not None:
            backfill(history, workdir / "data", line=line)
        address = f"127.0.0.1:{free_port()}"
        argv = [
            tool("prometheus", line),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={address}",
            "--web.enable-lifecycle",
            "--log.level=warn",
            "--storage.tsdb.retention.time=100y",
            *extra_args,
        ]
        if cgroup is not None:  # join it before exec, so the binary starts under its limit
            join = 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"'
            argv = ["/bin/sh", "-c", join, "sh", str(cgroup), *argv]
        environment = None if env is None else {**os.environ, **env}
        with _process("prometheus", argv, workdir, environment) as (proc, _log):
            proc.address = address
            _ready(proc, f"{proc.url}/-/ready", timeout)
            yield Prometheus(proc, workdir)


def backfill(openmetrics: str, data_dir: Path, *, line: str = PROMETHEUS_3) -> None:
    """Write OpenMetrics samples as TSDB blocks under `data_dir` (that line's promtool)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "history.om"
    source.write_text(openmetrics if openmetrics.endswith("# EOF\n") else openmetrics + "# EOF\n")
    result = subprocess.run(
        [
            tool("promtool", line),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(source),
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise ProcessError(f"promtool backfill failed: {result.stderr.strip()[-2000:]}")


# --- Alertmanager ----------------------------------------------------------------------------


@contextmanager
def alertmanager(config: dict[str, Any] | str, *, timeout: float = 30.0) -> Iterator[Process]:
    """The real Alertmanager with `config` (a mapping or YAML text), clustering off."""
    with tempfile.TemporaryDirectory(prefix="unitcost-alertmanager-") as tmp:
        workdir = Path(tmp)
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        config_path = workdir / "alertmanager.yml"
        config_path.write_text(text, "utf-8")
        address = f"127.0.0.1:{free_port()}"
        argv = [
            tool("prometheus-alertmanager"),
            f"--config.file={config_path}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address={address}",
            "--cluster.listen-address=",  # no gossip port: nothing else to bind
            "--log.level=warn",
        ]
        with _process("alertmanager", argv, workdir) as (proc, _log):
            proc.address = address
            _ready(proc, f"{proc.url}/-/ready", timeout)
            yield proc
