"""Load the dashboard sources and their generated JSON once per test session."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"
if str(DASHBOARDS_DIR) not in sys.path:  # so tests can `import unitcost_dashboards`
    sys.path.insert(0, str(DASHBOARDS_DIR))


def load_generator() -> ModuleType:
    """dashboards/generate.py as a module (it is a script, not part of the package)."""
    name = "unitcost_dashboards_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DASHBOARDS_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="session")
def rendered(generator: ModuleType) -> dict[str, str]:
    """File name -> JSON text, as the sources generate it now."""
    result: dict[str, str] = generator.render_all()
    return result


@pytest.fixture(scope="session")
def dashboards(rendered: dict[str, str]) -> dict[str, dict[str, Any]]:
    """uid -> the dashboard as Grafana reads it."""
    return {json.loads(text)["uid"]: json.loads(text) for text in rendered.values()}


@pytest.fixture(scope="session")
def history_exprs(generator: ModuleType) -> set[str]:
    """Expressions marked as needing long history (checked for validity only)."""
    import unitcost_dashboards

    exprs: set[str] = set()
    for path in generator.sources():
        exprs |= unitcost_dashboards.history_exprs(generator.load(path))
    return exprs


@pytest.fixture(scope="session")
def all_targets(dashboards: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(uid, panel title, target) for every query of every panel of every dashboard."""
    return [
        (uid, p["title"], t)
        for uid, dash in sorted(dashboards.items())
        for p in dash["panels"]
        for t in p.get("targets", [])
    ]
