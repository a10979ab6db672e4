"""Fixtures for the fault tests: the whole exporter stack against the fake apiserver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.exporter_stack import Stack, kubernetes_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with kubernetes_stack(tmp_path) as running:
        yield running
