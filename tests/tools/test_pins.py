"""The provisioned tools are the pinned ones, and the override variables are honoured."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support import tools

#: Sets whose binaries print their version (Debian builds VictoriaMetrics without one).
VERSIONED = ("prometheus-3.5", "prometheus-2.53", "alertmanager")


@pytest.mark.parametrize(
    ("tool_set", "binary"),
    [(pin.set, b) for pin in tools.pins().values() if pin.set in VERSIONED for b in pin.binaries],
)
def test_each_binary_is_the_pinned_version(tool_set: str, binary: str) -> None:
    out = subprocess.run(
        [tools.tool(binary, tool_set), "--version"], capture_output=True, text=True, timeout=30
    )
    assert f"version {tools.pins()[tool_set].upstream}" in out.stdout + out.stderr


@pytest.mark.parametrize("binary", ["victoria-metrics", "vmagent", "vmalert"])
def test_victoria_metrics_binaries_run(binary: str) -> None:
    out = subprocess.run([tools.tool(binary), "-help"], capture_output=True, text=True, timeout=30)
    assert "docs.victoriametrics.com" in out.stdout + out.stderr


def test_the_default_promtool_is_prometheus_3() -> None:
    assert tools.tool("promtool") == tools.tool("promtool", tools.PROMETHEUS_3)
    assert tools.tool("promtool") != tools.tool("promtool", tools.PROMETHEUS_2)


def test_an_environment_variable_overrides_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mine = tmp_path / "my-promtool"
    monkeypatch.setenv("UNITCOST_PROMETHEUS_2_53_PROMTOOL", str(mine))
    assert tools.tool("promtool", tools.PROMETHEUS_2) == str(mine)
    assert tools.env_name("alertmanager", "amtool") == "UNITCOST_ALERTMANAGER_AMTOOL"


def test_a_missing_tool_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNITCOST_TOOLS_CACHE", str(tmp_path))
    with pytest.raises(
        tools.ToolMissing, match=r"provision\.sh.*UNITCOST_VICTORIA_METRICS_VMALERT"
    ):
        tools.tool("vmalert")


def test_the_focus_validators_are_the_pinned_versions() -> None:
    """tests/tools/focus-requirements.txt's `==` pins are what the cached venv runs, on 3.12."""
    pinned = dict(
        line.split("==")
        for line in tools.FOCUS_REQUIREMENTS.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert set(pinned) == {"focus-validator", "focus-data-toolkit"}
    script = (
        "import importlib.metadata as m, json, sys; print(json.dumps("
        "[sys.version_info[:2], {n: m.version(n) for n in sys.argv[1:]}]))"
    )
    out = subprocess.run(
        [tools.focus_python(), "-c", script, *pinned],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    version, installed = json.loads(out.stdout)
    assert version == [3, 12] and installed == pinned
