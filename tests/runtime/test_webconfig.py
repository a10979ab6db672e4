"""TLS and basic auth on /metrics with an exporter-toolkit web config file: load errors that
name the file and field (and never echo a password), then a real `unitcost serve` over TLS,
scraped by Python's TLS client and by the real Prometheus."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from support.invariant import assert_scraped_invariant
from support.prometheus import http_get, prometheus, prometheus_config, wait_until
from support.serving import Certs, make_certs, serve
from unitcost.base.errors import InputError
from unitcost.runtime.webconfig import load_web_config

PASSWORD = "s3cret-Scrape-Pa55"
CONFIG = "source:\n  kind: simulator\n  simulator: {nodes: 4, pods: 40}\n"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def password_hash() -> str:
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


def write_web(path: Path, certs: Certs, password_hash: str, **tls: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(certs.server_cert),
                    "key_file": str(certs.server_key),
                    **tls,
                },
                "basic_auth_users": {"prometheus": password_hash},
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("tls_server_config: {cert_file: nope.crt, key_file: nope.key}", "cert_file: no such file"),
        ("basic_auth_users: {prometheus: " + PASSWORD + "}", "user 'prometheus': not a bcrypt"),
        ("basic_auth_user: {}", "basic_auth_user: Extra inputs are not permitted"),
        (
            "tls_server_config: {cert_file: a, key_file: b, cipher_suites: [X]}",
            "tls_server_config.cipher_suites: not supported",
        ),
        (
            "tls_server_config: {cert_file: a, key_file: b, client_auth_type: Sometimes}",
            "tls_server_config.client_auth_type",
        ),
        ("tls_server_config: [", "invalid YAML"),
    ],
)
def test_bad_web_config_names_file_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(body)
    with pytest.raises(InputError) as info:
        load_web_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:") and expected in message, message
    assert PASSWORD not in message


def test_client_auth_needs_a_ca(tmp_path: Path, certs: Certs, password_hash: str) -> None:
    path = write_web(
        tmp_path / "web.yml", certs, password_hash, client_auth_type="RequireAndVerifyClientCert"
    )
    with pytest.raises(InputError, match="client_ca_file: required by client_auth_type"):
        load_web_config(path)


def test_relative_paths_resolve_against_the_file(tmp_path: Path, certs: Certs) -> None:
    (tmp_path / "tls").mkdir()
    for src in (certs.server_cert, certs.server_key):
        (tmp_path / "tls" / src.name).write_bytes(src.read_bytes())
    path = tmp_path / "web.yml"
    path.write_text("tls_server_config: {cert_file: tls/server.crt, key_file: tls/server.key}\n")
    web = load_web_config(path)
    assert web.tls is not None and not web.auth_required


def _get(
    url: str, context: ssl.SSLContext | None, user: str = "", password: str = ""
) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if user:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def secured(tmp_path: Path, certs: Certs, password_hash: str) -> Iterator[tuple[str, Path]]:
    config = tmp_path / "unitcost.yaml"
    config.write_text(CONFIG)
    web = write_web(tmp_path / "web.yml", certs, password_hash)
    with serve(config, "--web.config.file", str(web)) as (proc, base):
        yield base, proc.log_path


def test_tls_and_basic_auth(secured: tuple[str, Path], certs: Certs) -> None:
    base, log_path = secured
    assert base.startswith("https://")
    trust = ssl.create_default_context(cafile=str(certs.ca))
    status, body = _get(base + "/metrics", trust, "prometheus", PASSWORD)
    assert status == 200
    samples = [
        (s.name, s.labels, s.value)
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
    ]
    assert assert_scraped_invariant(samples) > 0
    assert _get(base + "/metrics", trust)[0] == 401
    assert _get(base + "/metrics", trust, "prometheus", "wrong")[0] == 401
    assert _get(base + "/metrics", trust, "nobody", PASSWORD)[0] == 401
    assert _get(base + "/", trust)[0] == 401
    assert _get(base + "/healthz", trust)[0] == 200  # kubelet probes carry no credentials
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP gets nothing
        urllib.request.urlopen(base.replace("https://", "http://") + "/metrics", timeout=5)
    assert PASSWORD not in log_path.read_text()


@pytest.mark.e2e  # `unitcost serve`, inline
def test_client_certificates_required(tmp_path: Path, certs: Certs, password_hash: str) -> None:
    config = tmp_path / "unitcost.yaml"
    config.write_text(CONFIG)
    web = write_web(
        tmp_path / "web.yml",
        certs,
        password_hash,
        client_auth_type="RequireAndVerifyClientCert",
        client_ca_file=str(certs.ca),
        min_version="TLS13",
    )
    with serve(config, "--web.config.file", str(web)) as (_, base):
        trust = ssl.create_default_context(cafile=str(certs.ca))
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            _get(base + "/metrics", trust, "prometheus", PASSWORD)
        trust.load_cert_chain(str(certs.client_cert), str(certs.client_key))
        assert _get(base + "/metrics", trust, "prometheus", PASSWORD)[0] == 200
        old = ssl.create_default_context(cafile=str(certs.ca))
        old.load_cert_chain(str(certs.client_cert), str(certs.client_key))
        old.maximum_version = ssl.TLSVersion.TLSv1_2  # below min_version TLS13
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            _get(base + "/metrics", old, "prometheus", PASSWORD)


@pytest.mark.e2e
def test_prometheus_scrapes_over_tls_with_basic_auth(
    secured: tuple[str, Path], certs: Certs, tmp_path: Path
) -> None:
    """The real Prometheus, configured as a user would (tls_config + basic_auth), gets up=1."""
    base, _ = secured
    with prometheus([]) as prom:
        config = prometheus_config([])
        config["scrape_configs"] = [
            {
                "job_name": "unitcost-secure",
                "scheme": "https",
                "tls_config": {"ca_file": str(certs.ca)},
                "basic_auth": {"username": "prometheus", "password": PASSWORD},
                "static_configs": [{"targets": [base.split("://", 1)[1]]}],
            }
        ]
        (prom.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        request = urllib.request.Request(prom.url + "/-/reload", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

        def scraped() -> bool:
            body = json.loads(http_get(prom.url + "/api/v1/targets"))
            targets = body["data"]["activeTargets"]
            return bool(targets) and targets[0]["health"] == "up"

        wait_until(scraped, timeout=30, what="the TLS target to be up")
        assert prom.values('up{job="unitcost-secure"}') == {
            (
                ("__name__", "up"),
                ("instance", base.split("://", 1)[1]),
                ("job", "unitcost-secure"),
            ): 1.0
        }
