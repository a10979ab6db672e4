"""`pip install unitcost[gpu]` into a throwaway venv, as the GPU agent's image installs it:
no cloud SDK, forecast or chargeback library comes with it, the agent's path imports neither
the cost model nor numpy, and a command whose extra is missing says which to install.

Costs one venv and one pip install from pip's cache or index (tens of seconds), once for the
module; the source goes in as the Docker build context does (.dockerignore)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Distributions the `[gpu]` install must not bring (each belongs to another extra).
NOT_INSTALLED = (
    "boto3",
    "google-cloud-monitoring",
    "statsmodels",
    "matplotlib",
    "pyarrow",
    "Jinja2",
    "opentelemetry-sdk",
    "grafanalib",
    "prometheus-client",
)

pytestmark = [pytest.mark.xdist_group("packaging"), pytest.mark.timeout(600)]


def _run(*argv: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ of a fresh venv holding `unitcost[gpu]` and nothing else."""
    root = tmp_path_factory.mktemp("gpu-install")
    source = root / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "exporters",
        source / "exporters",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    made = _run(sys.executable, "-m", "venv", root / "venv")
    assert made.returncode == 0, made.stderr
    bin_dir = root / "venv" / "bin"
    installed = _run(
        bin_dir / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--no-input",
        f"{source}[gpu]",
        timeout=540,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    yield bin_dir


def test_only_the_gpu_extra_is_installed(venv: Path) -> None:
    script = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps(sorted(d.metadata['Name'].lower() for d in m.distributions())))\n"
    )
    names = set(json.loads(_run(venv / "python", "-c", script).stdout))
    assert {"unitcost", "nvidia-ml-py", "pyroute2", "numpy"} <= names
    assert names & {n.lower() for n in NOT_INSTALLED} == set()


def test_agent_path_loads_no_cost_model_and_no_numpy(venv: Path) -> None:
    help_ = _run(venv / "unitcost", "gpu-agent", "--help")
    assert help_.returncode == 0, help_.stderr
    assert "--node-name" in help_.stdout
    script = (
        "import json, sys\n"
        "import unitcost.cli.gpu_agent, unitcost.runtime.gpu_agent, unitcost.sources.gpu.nvml\n"
        "import unitcost.runtime.network, unitcost.sources.network.conntrack, pyroute2.netns\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = _run(venv / "python", "-c", script)
    assert loaded.returncode == 0, loaded.stderr
    modules = set(json.loads(loaded.stdout))
    assert "unitcost.sources.gpu.nvml" in modules
    assert "unitcost.costmodel.allocation" not in modules
    assert not {m for m in modules if m == "numpy" or m.startswith("numpy.")}


def test_the_cloud_ranges_snapshot_is_installed(venv: Path) -> None:
    """The bundled AWS and Google ranges are package data the installed agent loads."""
    script = (
        "from unitcost.sources.network import cloud_ranges\n"
        "ranges = cloud_ranges.bundled()\n"
        "print(sorted(s.provider for s in ranges.snapshots), len(ranges.ranges) > 5000)\n"
    )
    loaded = _run(venv / "python", "-c", script)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "['aws', 'gcp'] True"


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["forecast", "--prometheus", "http://127.0.0.1:9"], "forecast"),
        (["serve", "--otlp-endpoint", "http://127.0.0.1:4317", "--duration", "1"], "otlp"),
        (
            [
                "chargeback",
                "--prometheus",
                "http://127.0.0.1:9",
                "--period",
                "2025-03",
                "--format",
                "html",
            ],
            "chargeback",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else v[0],
)
def test_a_missing_extra_is_named(venv: Path, args: list[str], extra: str) -> None:
    done = _run(venv / "unitcost", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"unitcost {args[0]}: error: needs the '{extra}' extra: pip install 'unitcost[{extra}]'\n"
    )
    assert _run(venv / "unitcost", args[0], "--help").returncode == 0
