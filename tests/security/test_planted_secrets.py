"""Planted secrets: fake cloud keys in the environment, a kubeconfig bearer token, a basic-auth
password, secret-looking pod labels and annotations. Run `unitcost serve` at debug log level
against the fake apiserver, scrape it (with the right and a wrong password), render the chart,
and grep every output for every planted value: none may appear."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import yaml

import support.fake_apiserver as fake
from support.fake_apiserver import FakeCluster, pod, running
from support.helmchart import everything_on, render_raw
from support.kube_cluster import populate
from support.serving import serve

PLANTED = {
    "AWS_ACCESS_KEY_ID": "AKIAPLANTED7QX4ZK2M",
    "AWS_SECRET_ACCESS_KEY": "pLaNtEd/SeCrEt+K3y/wJalrXUtnFEMIK7MDENG",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEPLANTEDsessiontoken0123456789",
    "GOOGLE_API_KEY": "AIzaPLANTEDgoogleapikey0123456789abcd",
    "UNITCOST_TEST_DB_PASSWORD": "planted-db-passw0rd",
}
TOKEN = "planted-bearer-token-6f1d2c9a"
PASSWORD = "planted-scrape-passw0rd"
WRONG = "planted-wrong-passw0rd"
IN_POD = "planted-annotation-secret-88a1"


def _secrets() -> list[str]:
    basic = [base64.b64encode(f"prometheus:{p}".encode()).decode() for p in (PASSWORD, WRONG)]
    return [*PLANTED.values(), TOKEN, PASSWORD, WRONG, IN_POD, *basic]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCluster]:
    monkeypatch.setattr(fake, "TOKEN", TOKEN)  # the fake accepts (and writes) only this token
    cluster = FakeCluster()
    populate(cluster)
    cluster.apply(
        "pods",
        pod(
            "ml",
            "leaky",
            node_name="cpu-1",
            labels={"app": "leaky", "secret-token": "planted-label"},
            annotations={"vault.hashicorp.com/secret": IN_POD},
        ),
    )
    yield cluster


def _get(url: str, password: str) -> tuple[int, str]:
    request = urllib.request.Request(url)
    token = base64.b64encode(f"prometheus:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_no_planted_secret_in_logs_or_metrics(cluster: FakeCluster, tmp_path: Path) -> None:
    with running(cluster) as apiserver:
        apiserver.write_kubeconfig(tmp_path / "kubeconfig")
        config = tmp_path / "unitcost.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "source": {
                        "kind": "kubernetes",
                        "kubernetes": {"kubeconfig": "kubeconfig", "context": "fake"},
                    },
                    "collect_interval_seconds": 0.5,
                    "attribution": {"pod_label_allowlist": ["app"]},
                }
            )
        )
        web = tmp_path / "web.yml"
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        web.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": hashed}}))
        with serve(config, "--web.config.file", str(web), env=PLANTED, log_level="debug") as (
            proc,
            base,
        ):
            status, metrics = _get(base + "/metrics", PASSWORD)
            assert status == 200 and 'pod="leaky"' in metrics and 'label_app="leaky"' in metrics
            assert _get(base + "/metrics", WRONG)[0] == 401
            assert _get(base + "/", WRONG)[0] == 401
            proc.stop()
            log = proc.log_path.read_text("utf-8", errors="replace")
    assert "DEBUG" in log  # the most talkative level was on
    for secret in _secrets():
        assert secret not in metrics, secret
        assert secret not in log, secret
    assert "planted-label" not in metrics  # not allowlisted: never leaves


def test_no_planted_secret_in_rendered_manifests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart references credentials (a Secret by name, workload identity), never holds
    them: secrets in the rendering environment or in Secrets never reach the manifests."""
    for key, value in PLANTED.items():
        monkeypatch.setenv(key, value)
    values = everything_on()
    values["exporter"] = {
        "extraEnv": [
            {
                "name": "UNITCOST_TEST_DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
            }
        ]
    }
    rendered = render_raw(values)
    text = "\n".join(rendered.values())
    assert "secretKeyRef" in text  # the reference is there ...
    for secret in _secrets():
        assert secret not in text, secret  # ... the value never
    for template, body in rendered.items():
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(body):
            if doc and doc.get("kind") == "Secret":
                pytest.fail(f"{template} renders a Secret: {json.dumps(doc)[:200]}")
