"""TLS and basic auth for /metrics, from a Prometheus exporter-toolkit web config file.

The same file format as node_exporter's `--web.config.file`, so one file (and one runbook)
serves every exporter a platform runs:

    tls_server_config:
      cert_file: server.crt          # paths are relative to this file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional
      client_ca_file: ca.crt                         # needed to verify client certificates
      min_version: TLS12                             # optional
    basic_auth_users:
      prometheus: $2b$12$...         # bcrypt hashes only, never passwords

Unknown or unsupported keys are errors (as the toolkit's strict parsing makes them), so a typo
never silently serves without TLS or auth.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import bcrypt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from unitcost.base.errors import InputError, describe_validation_error
from unitcost.base.yamlfile import load_yaml_mapping

TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
ClientAuth = Literal["NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
#: Toolkit keys unitcost does not implement: refused by name rather than ignored.
_UNSUPPORTED = ("cipher_suites", "curve_preferences", "client_allowed_sans")
#: Successful checks are cached (keyed by a digest, never the password) because bcrypt costs
#: ~100 ms by design and Prometheus authenticates every scrape; failures are never cached.
_CACHE_SIZE = 256


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsServerConfig(_Strict):
    cert_file: str
    key_file: str
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: str | None = None
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion | None = None
    prefer_server_cipher_suites: bool = True


class HttpServerConfig(_Strict):
    #: Extra response headers (e.g. Strict-Transport-Security).
    headers: dict[str, str] = Field(default_factory=dict)


class WebConfigFile(_Strict):
    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig = Field(default_factory=HttpServerConfig)
    basic_auth_users: dict[str, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, users: dict[str, str]) -> dict[str, str]:
        for user, hashed in users.items():
            if not user or ":" in user:
                raise ValueError(f"user name {user!r}: must be non-empty and without ':'")
            if not hashed.startswith(("$2a$", "$2b$", "$2y$")) or len(hashed) != 60:
                # The hash is shown only by length: a password pasted here must not be logged.
                raise ValueError(
                    f"user {user!r}: not a bcrypt hash (a $2a$/$2b$/$2y$ string of 60 "
                    f"characters, got {len(hashed)} characters); generate one with "
                    "`htpasswd -nBC 12 '' | tr -d ':\\n'` or Python's bcrypt.hashpw"
                )
        return users


@dataclass
class WebConfig:
    """A loaded web config: the TLS context to wrap connections in (None: plain HTTP) and
    the users allowed in (empty: no auth)."""

    source: str
    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    _ok: set[bytes] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def auth_required(self) -> bool:
        return bool(self.users)

    def authorized(self, header: str | None) -> bool:
        """Whether an `Authorization` header names a user with the right password."""
        if not self.users:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        if not sep:
            return False
        hashed = self.users.get(user.decode("utf-8", "replace"))
        key = hashlib.sha256(user + b"\0" + password + b"\0" + (hashed or b"")).digest()
        with self._lock:
            if key in self._ok:
                return True
        # Unknown users still pay one bcrypt check, so timing does not reveal user names.
        ok = bcrypt.checkpw(password, hashed or _DUMMY_HASH) and hashed is not None
        if ok:
            with self._lock:
                if len(self._ok) >= _CACHE_SIZE:
                    self._ok.clear()
                self._ok.add(key)
        return ok


_DUMMY_HASH = bcrypt.hashpw(b"unitcost-no-such-user", bcrypt.gensalt(4))


def _context(tls: TlsServerConfig, base: Path, source: str) -> ssl.SSLContext:
    def path(name: str, value: str) -> str:
        resolved = base / Path(value).expanduser()
        if not resolved.is_file():
            raise InputError(f"{source}: tls_server_config.{name}: no such file: {resolved}")
        return str(resolved)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.min_version]
    if tls.max_version is not None:
        if _VERSIONS[tls.max_version] < _VERSIONS[tls.min_version]:
            raise InputError(f"{source}: tls_server_config.max_version: below min_version")
        context.maximum_version = _VERSIONS[tls.max_version]
    cert, key = path("cert_file", tls.cert_file), path("key_file", tls.key_file)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise InputError(
            f"{source}: tls_server_config: cannot load cert_file {cert} with key_file {key}: "
            f"{exc.strerror or exc}"
        ) from exc
    if tls.client_auth_type != "NoClientCert":
        if not tls.client_ca_file:
            raise InputError(
                f"{source}: tls_server_config.client_ca_file: required by client_auth_type "
                f"{tls.client_auth_type}"
            )
        ca = path("client_ca_file", tls.client_ca_file)
        try:
            context.load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError) as exc:
            raise InputError(f"{source}: tls_server_config.client_ca_file {ca}: {exc}") from exc
        required = tls.client_auth_type == "RequireAndVerifyClientCert"
        context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


def load_web_config(path: Path | str) -> WebConfig:
    """Load and check a web config file; raises InputError naming the file and the field."""
    path = Path(path)
    source = str(path)
    data = load_yaml_mapping(path)
    tls_data = data.get("tls_server_config")
    if isinstance(tls_data, dict):
        for key in _UNSUPPORTED:
            if key in tls_data:
                raise InputError(f"{source}: tls_server_config.{key}: not supported by unitcost")
    try:
        parsed = WebConfigFile.model_validate(data)
    except ValidationError as exc:
        raise _redacted(describe_validation_error(source, exc), source) from exc
    tls = (
        _context(parsed.tls_server_config, path.parent, source)
        if parsed.tls_server_config
        else None
    )
    users = {user: hashed.encode() for user, hashed in parsed.basic_auth_users.items()}
    return WebConfig(source, tls, users, dict(parsed.http_server_config.headers))


def _redacted(error: InputError, source: str) -> InputError:
    """The error without the values under basic_auth_users: a plain-text password put there
    by mistake must not reach the log through the error message."""
    lines = [
        re.sub(r" \(got .*\)$", "", line)
        if line.startswith(f"{source}: basic_auth_users")
        else line
        for line in str(error).splitlines()
    ]
    return InputError("\n".join(lines))
