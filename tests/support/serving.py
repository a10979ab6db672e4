"""`unitcost serve` as a process with any arguments and environment (TLS, auth, planted
secrets), plus test certificates made at run time with `cryptography`."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support.prometheus import Process, ProcessError, _process, unitcost_command, wait_until

_SERVING = re.compile(r"serving (https?)://([^/\s]+)/metrics")


@contextmanager
def serve(
    config: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    log_level: str = "info",
    timeout: float = 30.0,
) -> Iterator[tuple[Process, str]]:
    """Run `unitcost serve --config CONFIG ARGS` on 127.0.0.1:0; yields (process, base URL)
    once it logs where it listens. Stopped with SIGTERM (then SIGKILL) on exit."""
    with tempfile.TemporaryDirectory(prefix="unitcost-serve-") as tmp:
        argv = [
            *unitcost_command(),
            *("--log-level", log_level, "serve", "--config", str(config.resolve())),
            *("--listen", "127.0.0.1:0", *args),
        ]
        environment = {**os.environ, **(env or {})}
        with _process("unitcost", argv, Path(tmp), env=environment) as (proc, log_path):

            def bound() -> str | None:
                proc.check_running()
                found = _SERVING.search(log_path.read_text("utf-8", errors="replace"))
                return f"{found.group(1)}://{found.group(2)}" if found else None

            try:
                base = wait_until(bound, timeout=timeout, what="unitcost to listen")
            except TimeoutError as exc:
                raise ProcessError(f"{exc}\n--- unitcost log ---\n{proc.log_tail()}") from None
            proc.address = base.split("://", 1)[1]
            yield proc, base


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_certs(directory: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all
    signed by the CA (EC P-256: fast to make)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("unitcost test CA"))
        .issuer_name(_name("unitcost test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        common_name: str, sans: Sequence[x509.GeneralName]
    ) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key

    certs = Certs(
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
        directory / "client.crt",
        directory / "client.key",
    )
    certs.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_pem, server_key = leaf(
        "127.0.0.1",
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    certs.server_cert.write_bytes(server_pem)
    _write_key(server_key, certs.server_key)
    client_pem, client_key = leaf("prometheus", [])
    certs.client_cert.write_bytes(client_pem)
    _write_key(client_key, certs.client_key)
    return certs
