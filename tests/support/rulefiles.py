"""The bundle's rule files as the end-to-end tests load them."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def rule_files() -> list[Path]:
    """Every recording-rule and alert file (not the Alertmanager example)."""
    return [
        *sorted((ROOT / "recording-rules").glob("*.yml")),
        *sorted(p for p in (ROOT / "alerts").glob("*.yml") if "alertmanager" not in p.name),
    ]


def fast_rules(dest: Path) -> list[Path]:
    """Copies of every rule file, with each alert's `for:` cut to 1s."""
    out = []
    for src in rule_files():
        doc = yaml.safe_load(src.read_text("utf-8"))
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = "1s"
        path = dest / f"{src.parent.name}-{src.name}"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
        out.append(path)
    return out
