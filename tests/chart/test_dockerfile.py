"""The Dockerfile, read with BuildKit's own parser (the `dockerfile` package), so a syntax
error fails here although no image is built in CI: two targets, the exporter's with every
extra and the GPU agent's with `[gpu]` only, pinned bases, and the chart's user."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dockerfile
import yaml

from support.helmchart import CHART_DIR, REPO_ROOT


@dataclass
class Stage:
    name: str
    base: str
    commands: list[dockerfile.Command] = field(default_factory=list)

    def values(self, cmd: str) -> list[tuple[str, ...]]:
        return [c.value for c in self.commands if c.cmd == cmd]


def _stages() -> tuple[dict[str, str], list[Stage]]:
    """The global ARGs, and the stages in order."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for command in dockerfile.parse_file(str(REPO_ROOT / "Dockerfile")):
        if command.cmd == "FROM":
            base, *rest = command.value
            stages.append(Stage(rest[-1] if rest else f"stage-{len(stages)}", base))
        elif stages:
            stages[-1].commands.append(command)
        elif command.cmd == "ARG":
            name, _, default = command.value[0].partition("=")
            args[name] = default
    return args, stages


def test_each_image_installs_its_extras() -> None:
    _, stages = _stages()
    by_name = {s.name: s for s in stages}
    assert stages[-1].name == "exporter"  # a plain `docker build .` builds it
    for target, extra in (("exporter", "all"), ("gpu-agent", "gpu")):
        image = by_name[target]
        assert image.base == "runtime"
        [copy] = [c for c in image.commands if c.cmd == "COPY"]
        builder = by_name[copy.flags[0].removeprefix("--from=")]
        installs = re.findall(r"pip install [^&]*'\.\[(\w+)\]'", " ".join(builder.values("RUN")[0]))
        assert installs == [extra], target
    assert by_name["gpu-agent"].values("CMD") == [("gpu-agent", "--listen", "0.0.0.0:9811")]
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert values["image"]["repository"] == "ghcr.io/unitcost/unitcost"
    assert values["gpuAgent"]["image"]["repository"] == "ghcr.io/unitcost/unitcost-gpu-agent"


def test_bases_are_pinned_and_the_user_matches_the_chart() -> None:
    args, stages = _stages()
    names = {s.name for s in stages}
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], s.base)
        for s in stages
        if s.base not in names  # a stage built on an earlier one
    ]
    assert len(bases) >= 2, "expected a multi-stage build"
    for base in bases:
        assert re.search(r":\d+\.\d+\.\d+", base) or "@sha256:" in base, f"unpinned base {base}"
    [(user,)] = [v for s in stages for v in s.values("USER")]  # one USER, in the runtime base
    uid, _, gid = user.partition(":")
    context = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["podSecurityContext"]
    assert int(uid) == context["runAsUser"] != 0
    assert int(gid) == context["runAsGroup"]
