"""The package's import graph: no circle, layers import only downward, siblings stay apart.

The layers are docs/design.md's, bottom first. A module may import its own package and any
lower layer; two packages of one layer never import each other. The graph is read with `ast`
(every `import`, also inside functions and TYPE_CHECKING blocks), so a lazy import counts too.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "exporters" / "unitcost"
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"base"}),
    frozenset({"data", "metrics", "config"}),
    frozenset({"pricing"}),
    frozenset({"costmodel"}),
    frozenset({"sources", "sinks"}),
    frozenset({"runtime"}),
    frozenset({"history"}),
    frozenset({"cli"}),
)
LEVEL = {package: level for level, layer in enumerate(LAYERS) for package in layer}
#: Sinks render the frame: they depend on nothing above it (no prices, no cost model).
SINKS_MAY_IMPORT = frozenset({"base", "data", "metrics", "config", "sinks"})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the unitcost modules it imports (`from a.b import c` counts a.b, and a.b.c
    when that is a module)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.level == 0, f"{path}: relative import"
                if node.module.startswith("unitcost"):
                    found.add(node.module)
                    found |= {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("unitcost")}
        graph[name] = (found & modules.keys()) - {name}
    return graph


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LEVEL) else None


GRAPH = import_graph()


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LEVEL)


def test_no_import_circle() -> None:
    try:
        graphlib.TopologicalSorter(GRAPH).prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"import circle: {' -> '.join(cycle.args[1])}")


def violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imports in sorted(graph.items()):
        source = package_of(module)
        if source is None:  # unitcost, unitcost.__main__
            continue
        for target in sorted(imports):
            into = package_of(target)
            if into is None or into == source:
                continue
            if LEVEL[into] > LEVEL[source]:
                found.append(f"{module} imports {target}: up from {source} to {into}")
            elif LEVEL[into] == LEVEL[source]:
                found.append(f"{module} imports {target}: siblings {source} and {into}")
            elif source == "sinks" and into not in SINKS_MAY_IMPORT:
                found.append(f"{module} imports {target}: sinks depend on nothing above the frame")
    return found


def test_layers_import_only_downward() -> None:
    assert violations(GRAPH) == []


def test_the_check_sees_an_upward_import() -> None:
    graph = {
        "unitcost.costmodel.allocation": {"unitcost.runtime.collector"},
        "unitcost.sinks.metrics": {"unitcost.sources.base", "unitcost.costmodel.allocation"},
    }
    assert violations(graph) == [
        "unitcost.costmodel.allocation imports unitcost.runtime.collector: up from costmodel "
        "to runtime",
        "unitcost.sinks.metrics imports unitcost.costmodel.allocation: sinks depend on nothing "
        "above the frame",
        "unitcost.sinks.metrics imports unitcost.sources.base: siblings sinks and sources",
    ]


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(GRAPH.get(module, ()))
    return seen


def test_the_gpu_agent_imports_neither_the_cost_model_nor_the_clouds() -> None:
    """The GPU DaemonSet's command reaches no allocation model (numpy) and no cloud SDK."""
    reached = reachable("unitcost.cli.gpu_agent")
    assert "unitcost.runtime.gpu_agent" in reached
    assert not {m for m in reached if m.startswith("unitcost.sources.cloud")}
    assert "unitcost.costmodel.allocation" not in reached
    assert "unitcost.runtime.collector" not in reached
