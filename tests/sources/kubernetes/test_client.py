"""Finding the cluster as kubectl and kube-state-metrics do (flags and config, then a pod's
service account, then $KUBECONFIG, then ~/.kube/config), and connecting to it with the real
kubernetes client: in a pod over TLS with a service account standing in a temporary directory."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from support.fake_apiserver import TOKEN, FakeApiServer, FakeCluster, running
from support.kube_cluster import EXPECTED, populate
from support.serving import make_certs
from unitcost.base.errors import InputError
from unitcost.cli.main import main
from unitcost.config.kubernetes import KubernetesSettings
from unitcost.sources.kubernetes import client
from unitcost.sources.kubernetes.client import find_cluster


def kubeconfig(path: Path, current: str | None, **contexts: str) -> Path:
    """A kubeconfig with one context per keyword (context name = server URL), each with a
    cluster of the same name."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": url}} for n, url in contexts.items()],
        "users": [{"name": "tester", "user": {"token": TOKEN}}],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "tester"}} for n in contexts],
    }
    if current is not None:
        doc["current-context"] = current
    path.write_text(json.dumps(doc))
    return path


def in_a_pod(monkeypatch: pytest.MonkeyPatch, account: Path, host: str, port: int) -> Path:
    """What Kubernetes gives a pod: the service host and port, a token and the cluster CA in
    the service-account directory (here a temporary one)."""
    account.mkdir(parents=True, exist_ok=True)
    (account / "token").write_text(TOKEN)
    if not (account / "ca.crt").exists():
        (account / "ca.crt").write_text("not used before connecting\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(port))
    monkeypatch.setattr(client, "SERVICE_ACCOUNT_DIR", account)
    return account


def found(**settings: Any) -> client.ClusterTarget:
    return find_cluster(KubernetesSettings(**settings), Path("."))


def test_nothing_found_says_what_was_looked_for_and_how_to_simulate(no_cluster: Path) -> None:
    with pytest.raises(InputError) as info:
        found()
    message = str(info.value)
    assert message.startswith("no Kubernetes cluster found: looked for --kubeconfig (not given)")
    for looked in (
        "a pod's service account (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT unset)",
        "$KUBECONFIG (unset)",
        f"~/.kube/config ({no_cluster / '.kube' / 'config'}: no such file)",
        "`unitcost demo` or `source.kind: simulator`",
    ):
        assert looked in message
    assert "\n" not in message


def test_in_a_pod_its_service_account_is_used(
    no_cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = in_a_pod(monkeypatch, tmp_path / "sa", "10.96.0.1", 443)
    (no_cluster / ".kube").mkdir()
    kubeconfig(no_cluster / ".kube" / "config", "home", home="https://home.example:6443")
    target = found()
    assert (target.server, target.service_account, target.kubeconfig) == (
        "https://10.96.0.1:443",
        account,
        (),
    )
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    assert found().server == "https://[fd00::1]:443"


def test_a_named_kubeconfig_or_context_wins_over_the_pod(
    no_cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_a_pod(monkeypatch, tmp_path / "sa", "10.96.0.1", 443)
    path = kubeconfig(tmp_path / "k", "a", a="https://a:6443", b="https://b:6443")
    target = found(kubeconfig=str(path), context="b")
    assert (target.server, target.context, target.cluster, target.kubeconfig) == (
        "https://b:6443",
        "b",
        "b",
        (str(path),),
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert found(context="b").server == "https://b:6443"  # a context alone: the kubeconfig's


def test_without_a_token_it_is_not_a_pod(
    no_cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """automountServiceAccountToken: false leaves the service variables but no token."""
    account = in_a_pod(monkeypatch, tmp_path / "sa", "10.96.0.1", 443)
    (account / "token").unlink()
    with pytest.raises(InputError, match=f"no service-account token at {account / 'token'}"):
        found()
    with pytest.raises(InputError, match=r"^source\.kubernetes\.in_cluster: not in a pod: no"):
        found(in_cluster=True)


def test_kubeconfig_lists_files_merged_as_kubectl_merges_them(
    no_cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both name cluster "shared" and set a current context: the first file wins both, as in
    # kubectl (the kubernetes client alone would take the last file's current context).
    first = kubeconfig(tmp_path / "first", "shared", shared="https://first:6443")
    second = kubeconfig(
        tmp_path / "second", "only-second", shared="https://second:6443", **{
            "only-second": "https://only-second:6443"
        }
    )  # fmt: skip
    listed = f"{first}::{tmp_path / 'missing'}:{second}"
    monkeypatch.setenv("KUBECONFIG", listed)
    (no_cluster / ".kube").mkdir()
    kubeconfig(no_cluster / ".kube" / "config", "x", x="https://x:1")  # not read: $KUBECONFIG is
    target = found()
    assert (target.context, target.server) == ("shared", "https://first:6443")
    assert target.kubeconfig == (str(first), str(second))
    assert target.found == f"$KUBECONFIG {listed}"
    assert found(context="only-second").server == "https://only-second:6443"
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(InputError, match=r"\$KUBECONFIG \(.*missing: no such file\)"):
        found()


def test_home_kubeconfig_last(no_cluster: Path) -> None:
    (no_cluster / ".kube").mkdir()
    path = kubeconfig(no_cluster / ".kube" / "config", "dev", dev="https://dev:6443")
    target = found()
    assert (target.server, target.found) == ("https://dev:6443", f"kubeconfig {path}")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"context": "prod"}, r"^.*: no context 'prod' \(contexts: a, b\)$"),
        ({}, r"^.*: no current-context; pass --context NAME \(contexts: a, b\)$"),
        ({"kubeconfig": "nope.yaml"}, r"^source\.kubernetes\.kubeconfig: no such file: .*nope"),
    ],
)
def test_kubeconfig_errors_name_file_and_value(
    no_cluster: Path, tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    path = kubeconfig(tmp_path / "k", None, a="https://a:6443", b="https://b:6443")
    settings = {"kubeconfig": str(path), **settings}
    with pytest.raises(InputError, match=message) as info:
        found(**settings)
    assert str(path) in str(info.value) or "nope.yaml" in str(info.value)


def test_a_broken_kubeconfig_is_one_line_naming_it(no_cluster: Path, tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("clusters: [{{{\n")
    with pytest.raises(InputError) as info:
        found(kubeconfig=str(path))
    assert str(info.value).startswith(f"kubeconfig {path}: not a kubeconfig: while parsing")
    assert "\n" not in str(info.value)


def test_validate_says_which_cluster_serve_would_read(
    no_cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    path = kubeconfig(tmp_path / "k", "a", a="https://a:6443", b="https://b:6443")
    result = runner.invoke(main, ["validate", "--kubeconfig", str(path), "--context", "b"])
    assert result.exit_code == 0, result.output
    assert f"cluster: https://b:6443 (context b, cluster b; kubeconfig {path})" in result.stdout
    # A flag overrides the config's field; the config's own path is relative to the file.
    (tmp_path / "k2").write_text(path.read_text())
    config = tmp_path / "unitcost.yaml"
    config.write_text("source:\n  kind: kubernetes\n  kubernetes: {kubeconfig: k2, context: a}\n")
    result = runner.invoke(main, ["validate", "--config", str(config)])
    assert f"cluster: https://a:6443 (context a, cluster a; kubeconfig {tmp_path / 'k2'})" in (
        result.stdout
    )
    result = runner.invoke(main, ["validate", "--config", str(config), "--context", "b"])
    assert "cluster: https://b:6443 (context b" in result.stdout
    account = in_a_pod(monkeypatch, tmp_path / "sa", "10.96.0.1", 443)
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    assert f"cluster: https://10.96.0.1:443 (in-cluster: service account {account})" in (
        result.stdout
    )


def test_validate_fails_without_a_cluster_and_flags_need_the_kubernetes_source(
    no_cluster: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 2
    assert result.stderr.startswith("unitcost: error: no Kubernetes cluster found")
    config = tmp_path / "sim.yaml"
    config.write_text("source: {kind: simulator}\n")
    result = runner.invoke(main, ["validate", "--config", str(config), "--context", "prod"])
    assert result.exit_code == 2
    assert f"{config}: source.kind: simulator: --kubeconfig and --context" in result.stderr
    result = runner.invoke(main, ["validate", "--kubeconfig", str(tmp_path / "none")])
    assert result.exit_code == 2 and "--kubeconfig" in result.stderr


@pytest.fixture
def tls_apiserver(cluster: FakeCluster, tmp_path: Path) -> Iterator[tuple[FakeApiServer, Path]]:
    """The fake apiserver over HTTPS, with the CA that signed its certificate."""
    (tmp_path / "certs").mkdir()
    certs = make_certs(tmp_path / "certs")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    with running(cluster, tls=context) as server:
        yield server, certs.ca


def test_in_a_pod_the_source_reads_the_cluster_with_its_service_account(
    tls_apiserver: tuple[FakeApiServer, Path],
    cluster: FakeCluster,
    no_cluster: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No config, no flag: `unitcost report` in a pod reads the cluster over TLS, checked
    against the service account's CA, with its token (the fake apiserver demands it)."""
    populate(cluster)
    server, ca = tls_apiserver
    account = tmp_path / "sa"
    account.mkdir()
    (account / "ca.crt").write_bytes(ca.read_bytes())
    in_a_pod(monkeypatch, account, "127.0.0.1", server.server_address[1])
    result = CliRunner().invoke(main, ["report", "--format", "json"])
    assert result.exit_code == 0, result.output
    teams = {row["team"] for row in json.loads(result.stdout)}
    assert teams == {team for team, *_ in EXPECTED.values()}
