"""Load the dashboard sources and their generated JSON once per test session."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from support.dashboard_queries import history_expressions, load_generator


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
def history_exprs() -> set[str]:
    """Expressions marked as needing long history (checked for validity only)."""
    return history_expressions()


@pytest.fixture(scope="session")
def all_targets(dashboards: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(uid, panel title, target) for every query of every panel of every dashboard."""
    return [
        (uid, p["title"], t)
        for uid, dash in sorted(dashboards.items())
        for p in dash["panels"]
        for t in p.get("targets", [])
    ]
