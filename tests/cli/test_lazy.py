"""The command group imports a command's module only when that command runs: `unitcost --help`
imports none, and the GPU agent's path loads no cost model, cloud SDK, forecast or chargeback
library. Checked in a fresh interpreter (this one has imported everything already)."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from unitcost.cli.main import COMMANDS, main

#: Never on the GPU agent's path: the cost model's numpy and every optional library.
NOT_FOR_THE_AGENT = (
    "unitcost.costmodel.allocation",
    "numpy",
    "boto3",
    "google.cloud",
    "statsmodels",
    "matplotlib",
    "pyarrow",
    "jinja2",
    "opentelemetry",
    "kubernetes",
)


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _loaded_after(args: list[str]) -> tuple[str, list[str]]:
    """Run `unitcost ARGS` in a fresh interpreter; its output and the modules it loaded."""
    script = (
        "import contextlib, io, json, sys\n"
        "from unitcost.cli.main import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        f"    main({args!r}, prog_name='unitcost')\n"
        "print(json.dumps([out.getvalue(), sorted(sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    output, modules = json.loads(done.stdout)
    return output, modules


def test_help_lists_every_command_without_importing_one() -> None:
    output, modules = _loaded_after(["--help"])
    for name, command in COMMANDS.items():
        assert f"  {name}" in output and command.short_help in output
    assert [m for m in modules if m.startswith("unitcost.cli.")] == [
        "unitcost.cli.lazy",
        "unitcost.cli.main",
    ]


def test_gpu_agent_imports_no_cost_model_or_optional_library() -> None:
    output, modules = _loaded_after(["gpu-agent", "--help"])
    assert "Usage: unitcost gpu-agent" in output
    assert [m for m in modules if any(_under(m, p) for p in NOT_FOR_THE_AGENT)] == []
    assert {m for m in modules if _under(m, "unitcost.cli")} == {
        "unitcost.cli",
        "unitcost.cli.lazy",
        "unitcost.cli.main",
        "unitcost.cli.options",
        "unitcost.cli.gpu_agent",
    }


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_entry_loads_its_command(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, click.Command)
    assert command.name == name
