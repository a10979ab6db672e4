"""Fixtures for the Kubernetes source tests: a fake apiserver and a client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from support.fake_apiserver import FakeApiServer, FakeCluster, running


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster(kueue_version="v1beta1")


@pytest.fixture
def apiserver(cluster: FakeCluster) -> Iterator[FakeApiServer]:
    with running(cluster) as server:
        yield server


@pytest.fixture
def kubeconfig(apiserver: FakeApiServer, tmp_path: Path) -> Path:
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    """The real kubernetes client, configured from the kubeconfig (as `unitcost serve` is)."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    configuration.retries = False
    configuration.connection_pool_maxsize = 32
    api_client = client.ApiClient(configuration)
    yield api_client
    api_client.close()
