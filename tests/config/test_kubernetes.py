"""The `source.kubernetes:` block under --kubeconfig and --context: a flag overrides its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from unitcost.config.file import Config
from unitcost.config.kubernetes import KubernetesSettings, with_flags


def test_without_a_file_the_source_is_a_real_cluster() -> None:
    assert Config().source.kind == "kubernetes"


def test_flags_override_the_fields_and_the_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = KubernetesSettings(kubeconfig="from-config", context="a", in_cluster=True)
    assert with_flags(settings, None, None) == settings
    # A flag's path is the working directory's, as kubectl's is (the config's: the file's).
    flagged = with_flags(settings, Path("k"), None)
    assert (flagged.kubeconfig, flagged.context, flagged.in_cluster) == (
        str(tmp_path / "k"),
        "a",
        False,
    )
    flagged = with_flags(settings, None, "b")
    assert (flagged.kubeconfig, flagged.context, flagged.in_cluster) == ("from-config", "b", False)
