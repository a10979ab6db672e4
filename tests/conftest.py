"""Shared test setup: make `tests/support` importable as `support` (pytest runs in importlib mode,
so test files may share basenames across folders), and sort tests into two lanes.

`make unit` runs `-m "not e2e"`: pure and in-process tests. A test is e2e when it starts a
server or an external program (Prometheus, Alertmanager, promtool, Chromium, `unitcost serve`
or `demo`, a fresh venv) or serves over a socket (the fake apiserver, moto, OTLP and gRPC
fakes). It is marked here, by folder or by the fixture that does it, so a new test that uses
such a fixture lands in the right lane without a mark; a test that starts one inline is marked
where it is written. One-shot `python -c` runs that exit within a second stay in the fast lane.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from support.prometheus import Promtool, check_metrics  # noqa: E402 (needs the path above)

#: Folders (under tests/) whose every test is e2e.
E2E_FOLDERS = frozenset({"e2e", "faults", "rules", "security", "packaging"})
#: Fixtures that start a server or a program; each name means that wherever it is defined.
E2E_FIXTURES = frozenset(
    {
        "prom",  # a real Prometheus (chargeback, dashboards, recommend)
        "prom_history",  # a real Prometheus holding backfilled capacity history (forecast)
        "promtool",  # below
        "demo_process",  # `unitcost demo`
        "secured",  # `unitcost serve` with TLS and basic auth
        "served",  # `unitcost serve` against the fake apiserver
        "stack",  # fake apiserver + exporter over HTTP (faults)
        "apiserver",  # the fake apiserver (sources/kubernetes)
        "tls_apiserver",  # the fake apiserver over HTTPS (sources/kubernetes)
        "served_cluster",  # the writable fake apiserver (actions controller)
        "start_agent",  # GPU agent served over HTTP, pods from the fake apiserver
        "yunikorn_rest",  # a YuniKorn REST fake
        "moto_url",  # moto's server
        "monitoring_client",  # a gRPC Cloud Monitoring fake
        "netns_node",  # network namespaces, veths and iptables: real conntrack (ip, iptables)
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        in_folder = item.path.is_relative_to(TESTS_DIR) and (
            item.path.relative_to(TESTS_DIR).parts[0] in E2E_FOLDERS
        )
        if in_folder or E2E_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def promtool() -> Promtool:
    """`promtool check metrics` (Prometheus 3.5's, tests/support/tools.py) on an exposition;
    a promtool that is not provisioned fails the test with how to get it."""
    return check_metrics


@pytest.fixture
def no_cluster(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environment in which no cluster is found (as on a laptop without kubectl set up): no
    $KUBECONFIG, an empty home, not in a pod (the service-account directory, a module constant
    of the client, points at a missing path). Returns the empty home."""
    from unitcost.sources.kubernetes import client

    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(client, "SERVICE_ACCOUNT_DIR", home / "no-service-account")
    return home
