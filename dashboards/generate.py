"""Generate helm/unitcost/files/dashboards/<uid>.json from dashboards/*.dashboard.py
(`make dashboards`).

    python dashboards/generate.py           # (re)write the JSON
    python dashboards/generate.py --check   # exit 1 if the committed JSON is not what the
                                            # sources generate (the CI drift check)

The JSON is committed once, in the Helm chart (which can only read files inside its own
folder and ships each dashboard as a ConfigMap); Grafana users without Helm import the same
files. Each source is a Python file that defines a module-level `dashboard` built with
unitcost_dashboards.dashboard(). Files are loaded by path because their names contain dots.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE.parent / "helm" / "unitcost" / "files" / "dashboards"
SUFFIX = ".dashboard.py"


class GenerateError(Exception):
    pass


def sources(directory: Path = HERE) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}"))


def load(path: Path) -> Any:
    """Run one dashboard source and return its `dashboard` object."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # so sources can `import unitcost_dashboards`
    name = "unitcost_dashboard_" + path.name.removesuffix(SUFFIX).replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GenerateError(f"{path}: cannot be loaded as a Python module")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dash = getattr(module, "dashboard", None)
    if dash is None or not hasattr(dash, "to_json_data"):
        raise GenerateError(f"{path}: defines no module-level `dashboard` (a grafanalib Dashboard)")
    return dash


def render_all(directory: Path = HERE) -> dict[str, str]:
    """File name in OUT_DIR -> JSON text, for every source; uids must be unique."""
    from unitcost_dashboards import to_json  # after load() put HERE on sys.path

    rendered: dict[str, str] = {}
    origin: dict[str, Path] = {}
    paths = sources(directory)
    if not paths:
        raise GenerateError(f"{directory}: no *{SUFFIX} files")
    for path in paths:
        dash = load(path)
        uid = dash.uid
        if not uid:
            raise GenerateError(f"{path}: dashboard has no uid")
        if uid in origin:
            raise GenerateError(f"{path}: uid {uid!r} is already used by {origin[uid]}")
        origin[uid] = path
        rendered[f"{uid}.json"] = to_json(dash)
    return rendered


def drift(rendered: dict[str, str], out_dir: Path = OUT_DIR) -> list[str]:
    """Human-readable differences between `rendered` and the files in out_dir."""
    problems = []
    for name, text in sorted(rendered.items()):
        path = out_dir / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from what the sources generate")
    for path in sorted(out_dir.glob("*.json")):
        if path.name not in rendered:
            problems.append(f"{path}: no source generates it (stale)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSON is out of date")
    args = parser.parse_args(argv)
    try:
        rendered = render_all()
    except GenerateError as exc:
        print(f"generate: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        problems = drift(rendered)
        for problem in problems:
            print(f"generate: {problem}; run `make dashboards`", file=sys.stderr)
        return 1 if problems else 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for path in OUT_DIR.glob("*.json"):
        if path.name not in rendered:
            path.unlink()
    for name, text in rendered.items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
    print(f"generate: wrote {len(rendered)} dashboards to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
