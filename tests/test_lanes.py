"""The lanes stay honest: every fixture that tests/conftest.py treats as e2e still exists
(a renamed one would silently move its tests into `make unit`), and so does every e2e folder."""

from __future__ import annotations

import re

from conftest import E2E_FIXTURES, E2E_FOLDERS, TESTS_DIR


def test_every_e2e_fixture_is_defined() -> None:
    defined: set[str] = set()
    fixture = re.compile(r"@pytest\.fixture[^\n]*\n(?:@[^\n]*\n)*def (\w+)\(")
    for path in TESTS_DIR.rglob("*.py"):
        defined.update(fixture.findall(path.read_text()))
    assert E2E_FIXTURES - defined == set()


def test_every_e2e_folder_exists() -> None:
    assert {f for f in E2E_FOLDERS if not (TESTS_DIR / f).is_dir()} == set()
