"""Dashboard queries as Grafana would send them: variables resolved against the same
Prometheus (label_values), 'All' as its regex, Grafana's range variables filled in."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

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


def history_expressions() -> set[str]:
    """Expressions the dashboard sources mark as needing long history."""
    generator = load_generator()
    import unitcost_dashboards

    exprs: set[str] = set()
    for path in generator.sources():
        exprs |= unitcost_dashboards.history_exprs(generator.load(path))
    return exprs


def generated_dashboards() -> dict[str, dict[str, Any]]:
    """uid -> dashboard JSON, as the committed files in the chart hold them."""
    folder = DASHBOARDS_DIR.parent / "helm" / "unitcost" / "files" / "dashboards"
    return {
        json.loads(p.read_text("utf-8"))["uid"]: json.loads(p.read_text("utf-8"))
        for p in sorted(folder.glob("*.json"))
    }


GRAFANA_RANGE = {"__range": "1h", "__interval": "15s", "__rate_interval": "1m"}


class Queryable(Protocol):
    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]: ...


def substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, GRAFANA_RANGE.get(name, match.group(0)))

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)", one, text)


def label_values(prom: Queryable, query: str) -> list[str]:
    match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
    assert match, f"not label_values(series, label): {query}"
    series, label = match.groups()
    return sorted({r["metric"][label] for r in prom.query(series) if label in r["metric"]})


def variable_choices(
    prom: Queryable, dash: dict[str, Any], pinned: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """Every combination of the single-value variables' values ('All' for the others, the
    pinned value for pinned ones)."""
    pinned = pinned or {}
    choices: list[dict[str, str]] = [{}]
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        grown = []
        for chosen in choices:
            if v["includeAll"] and v["name"] not in pinned:
                grown.append({**chosen, v["name"]: v["allValue"]})
                continue
            values = label_values(prom, substitute(v["query"]["query"], chosen))
            assert values, f"{dash['uid']}: variable {v['name']} has no values"
            if v["name"] in pinned:
                assert pinned[v["name"]] in values, (v["name"], values)
                values = [pinned[v["name"]]]
            grown += [{**chosen, v["name"]: value} for value in values]
        choices = grown
    return choices


def exprs(dash: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]
