"""Where the tests find the pinned tools they run (Prometheus 3.5 and 2.53, promtool,
Alertmanager, amtool, VictoriaMetrics, vmalert, Chromium).

tests/tools/pins.txt names each set and its binaries; tests/tools/provision.sh (`make test`)
fetches them into `.cache/tools/SET/BINARY` (or `$UNITCOST_TOOLS_CACHE/SET/BINARY`). An
environment variable per binary overrides the cache: `UNITCOST_` + set + binary, upper case,
with every other character an underscore (`UNITCOST_PROMETHEUS_3_5_PROMTOOL`,
`UNITCOST_ALERTMANAGER_AMTOOL`); Chromium is `UNITCOST_CHROMIUM`, else `chromium` on PATH.

    tool("promtool")                     # Prometheus 3.5 LTS's, the suite's default
    tool("prometheus", PROMETHEUS_2)     # the last 2.x LTS
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PINS = ROOT / "tests" / "tools" / "pins.txt"

#: The Prometheus lines the rules are tested on; the first is the default.
PROMETHEUS_3 = "prometheus-3.5"
PROMETHEUS_2 = "prometheus-2.53"
PROMETHEUS_LINES = (PROMETHEUS_3, PROMETHEUS_2)


class ToolMissing(RuntimeError):
    """A pinned tool is neither in the cache nor named by its environment variable."""


@dataclass(frozen=True)
class Pin:
    set: str
    suite: str
    upstream: str
    binaries: tuple[str, ...]


@cache
def pins() -> dict[str, Pin]:
    """tests/tools/pins.txt, by set name."""
    found: dict[str, Pin] = {}
    for line in PINS.read_text("utf-8").splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        name, suite, upstream, _packages, binaries = fields
        found[name] = Pin(name, suite, upstream, tuple(binaries.split(",")))
    return found


def _set_of(binary: str) -> str:
    holders = [pin.set for pin in pins().values() if binary in pin.binaries]
    if not holders:
        raise KeyError(f"{binary}: not a binary of any set in {PINS}")
    return holders[0]  # the first line holding it is its default (Prometheus 3.5)


def env_name(tool_set: str, binary: str) -> str:
    """The environment variable that overrides one pinned binary's path."""
    return "UNITCOST_" + re.sub(r"[^A-Z0-9]", "_", f"{tool_set}_{binary}".upper())


def tool(binary: str, tool_set: str | None = None) -> str:
    """The path of a pinned binary; raises ToolMissing (naming how to get it) when absent."""
    if binary == "chromium":
        path = os.environ.get("UNITCOST_CHROMIUM") or shutil.which("chromium")
        if path is None:
            raise ToolMissing("chromium not found: run tests/tools/provision.sh (make test)")
        return path
    tool_set = tool_set or _set_of(binary)
    if binary not in pins()[tool_set].binaries:
        raise KeyError(f"{binary}: not in set {tool_set} of {PINS}")
    variable = env_name(tool_set, binary)
    if variable in os.environ:
        return os.environ[variable]
    cache_dir = Path(os.environ.get("UNITCOST_TOOLS_CACHE", ROOT / ".cache" / "tools"))
    path = cache_dir / tool_set / binary
    if not os.access(path, os.X_OK):
        raise ToolMissing(
            f"{path} not found: run tests/tools/provision.sh (make test does) or set {variable}"
        )
    return str(path)


def available(binary: str, tool_set: str | None = None) -> bool:
    try:
        tool(binary, tool_set)
    except ToolMissing:
        return False
    return True


#: tests/tools/focus-requirements.txt: the FOCUS validators' pins, built by provision.sh.
FOCUS_REQUIREMENTS = ROOT / "tests" / "tools" / "focus-requirements.txt"


def focus_python() -> str:
    """The Python 3.12 of the FOCUS validators' environment (focus-validator,
    focus-data-toolkit), as tests/tools/provision.sh builds it in the cache; the variable
    UNITCOST_FOCUS_PYTHON overrides it. Raises ToolMissing when absent or built from other
    pins than tests/tools/focus-requirements.txt."""
    if "UNITCOST_FOCUS_PYTHON" in os.environ:
        return os.environ["UNITCOST_FOCUS_PYTHON"]
    venv = Path(os.environ.get("UNITCOST_TOOLS_CACHE", ROOT / ".cache" / "tools")) / "focus"
    python = venv / "bin" / "python"
    stamp = venv / "requirements.txt"
    if not os.access(python, os.X_OK) or not stamp.is_file():
        raise ToolMissing(
            f"{venv} not found: run tests/tools/provision.sh (make test does) "
            "or set UNITCOST_FOCUS_PYTHON"
        )
    if stamp.read_bytes() != FOCUS_REQUIREMENTS.read_bytes():
        raise ToolMissing(f"{venv} was built from other pins: run tests/tools/provision.sh")
    return str(python)
