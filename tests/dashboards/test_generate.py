"""The committed JSON (helm/unitcost/files/dashboards/, its only copy) is exactly what the
sources generate (the CI drift check)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO_ROOT / "dashboards"
CHART_DASHBOARDS = REPO_ROOT / "helm" / "unitcost" / "files" / "dashboards"


def test_committed_json_matches_the_sources(
    generator: ModuleType, rendered: dict[str, str]
) -> None:
    assert generator.OUT_DIR == CHART_DASHBOARDS
    problems = generator.drift(rendered, CHART_DASHBOARDS)
    assert not problems, (
        "\n".join(problems) + f"\nrun `make dashboards` and commit {CHART_DASHBOARDS}"
    )


def test_generation_is_deterministic(generator: ModuleType, rendered: dict[str, str]) -> None:
    assert generator.render_all() == rendered


def test_drift_names_changed_missing_and_stale_files(
    generator: ModuleType, rendered: dict[str, str], tmp_path: Path
) -> None:
    for name, text in rendered.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert generator.drift(rendered, tmp_path) == []
    changed, missing = sorted(rendered)[:2]
    (tmp_path / changed).write_text(rendered[changed].replace("unitcost", "unitcast"))
    (tmp_path / missing).unlink()
    (tmp_path / "old.json").write_text("{}")
    problems = "\n".join(generator.drift(rendered, tmp_path))
    assert f"{changed}: differs" in problems
    assert f"{missing}: missing" in problems
    assert "old.json: no source generates it (stale)" in problems


def test_check_mode_exit_status(tmp_path: Path) -> None:
    """`generate.py --check` passes on the repo and fails on a copy with edited JSON."""
    copy = tmp_path / "dashboards"
    shutil.copytree(DASHBOARDS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    chart_copy = tmp_path / CHART_DASHBOARDS.relative_to(REPO_ROOT)
    shutil.copytree(CHART_DASHBOARDS, chart_copy)
    script = [sys.executable, str(copy / "generate.py"), "--check"]
    ok = subprocess.run(script, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    victim = next(chart_copy.glob("*.json"))
    victim.write_text(victim.read_text() + " ")
    bad = subprocess.run(script, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert f"{victim}: differs from what the sources generate" in bad.stderr
    assert "make dashboards" in bad.stderr


def test_source_without_dashboard_is_named(generator: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "broken.dashboard.py").write_text("x = 1\n")
    with pytest.raises(generator.GenerateError, match=r"broken\.dashboard\.py: defines no"):
        generator.render_all(tmp_path)


def test_duplicate_uid_is_named(generator: ModuleType, tmp_path: Path) -> None:
    source = (DASHBOARDS_DIR / "health.dashboard.py").read_text()
    (tmp_path / "a.dashboard.py").write_text(source)
    (tmp_path / "b.dashboard.py").write_text(source)
    with pytest.raises(generator.GenerateError, match="uid 'unitcost-health' is already used"):
        generator.render_all(tmp_path)
