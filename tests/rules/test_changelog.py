"""CHANGELOG.md's migration note for renamed recording rules is true: its table maps old
names to records that exist, no reader in the repository still uses an old name, and the
compatibility snippet it offers is a valid rule file that copies exactly the table."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from support.tools import tool

ROOT = Path(__file__).resolve().parents[2]
CHANGELOG = ROOT / "CHANGELOG.md"
PROMTOOL = tool("promtool")
#: Where readers of recorded series live (CHANGELOG.md itself is the only place for old names).
READERS = ("alerts", "recording-rules", "dashboards", "docs", "exporters", "helm", "tests",
           "benchmarks", "README.md")  # fmt: skip
OLD_NAME_PATTERN = r":unitcost_pod_(cost|unused_cost|shared_cost)_dollars_per_hour:sum"


def _unreleased() -> str:
    text = CHANGELOG.read_text("utf-8")
    match = re.search(r"^## \[Unreleased\]\n(.*?)(?=^## \[|\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, "CHANGELOG.md has no '## [Unreleased]' section"
    return match.group(1)


def _renames() -> dict[str, str]:
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|$", _unreleased(), re.MULTILINE)
    assert rows, "no 'old -> new' table in the Unreleased section"
    return dict(rows)


def _records() -> set[str]:
    names = set()
    for path in sorted((ROOT / "recording-rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def test_renames_point_at_existing_records_and_old_names_are_gone() -> None:
    renames, records = _renames(), _records()
    assert set(renames.values()) <= records, set(renames.values()) - records
    assert not set(renames) & records
    # The grep pattern the note gives finds every old name and no current record.
    assert all(re.search(OLD_NAME_PATTERN, old) for old in renames)
    assert not [r for r in records if re.search(OLD_NAME_PATTERN, r)]
    assert f"`{OLD_NAME_PATTERN}`" in _unreleased()


def test_no_reader_uses_an_old_name() -> None:
    old = re.compile("|".join(re.escape(name) for name in _renames()))
    stale = []
    for entry in READERS:
        path = ROOT / entry
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            if "__pycache__" in file.parts or file.suffix in (".pyc", ".png"):
                continue
            for number, line in enumerate(file.read_text("utf-8").splitlines(), 1):
                if old.search(line):
                    stale.append(f"{file.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not stale, "old record names still read:\n" + "\n".join(stale)


def test_compatibility_records_copy_the_table_and_pass_promtool(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", _unreleased(), re.DOTALL)
    (snippet,) = [b for b in blocks if "groups:" in b]
    rules = [r for g in yaml.safe_load(snippet)["groups"] for r in g["rules"]]
    assert {r["record"]: r["expr"] for r in rules} == _renames()
    path = tmp_path / "unitcost-compat.yml"
    path.write_text(snippet, "utf-8")
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
