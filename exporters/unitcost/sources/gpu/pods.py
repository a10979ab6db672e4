"""Pod UID -> namespace/pod, from a PodList: the kubelet's /pods or the API server's
`/api/v1/pods?fieldSelector=spec.nodeName=<node>` (same JSON; either works).

Static pods run under their config hash; the API's mirror pod carries that hash in the
`kubernetes.io/config.mirror` annotation, so both keys resolve.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from unitcost.data.gpu import PodRef

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class PodsUnavailable(Exception):
    """The pod list could not be read this time; `str()` names the URL and the cause."""


def in_cluster_pods_url(node: str) -> str | None:
    """The API server's pods-on-this-node URL when running in a pod; None outside a cluster."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    selector = urllib.parse.quote(f"spec.nodeName={node}")
    return f"https://{host}:{port}/api/v1/pods?fieldSelector={selector}"


def parse_pod_list(data: Any, source: str) -> dict[str, PodRef]:
    """A PodList's items by UID (and by mirror hash for static pods)."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise PodsUnavailable(f"{source}: not a PodList (no items list)")
    pods: dict[str, PodRef] = {}
    for i, item in enumerate(data["items"]):
        meta = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(meta, dict) or not meta.get("uid") or not meta.get("name"):
            raise PodsUnavailable(f"{source}: items[{i}].metadata: needs uid and name")
        status = item.get("status") or {}
        ref = PodRef(
            namespace=str(meta.get("namespace", "")),
            name=str(meta["name"]),
            uid=str(meta["uid"]),
            phase=str(status.get("phase", "Unknown")),
        )
        pods[ref.uid] = ref
        mirror = (meta.get("annotations") or {}).get(MIRROR_ANNOTATION)
        if mirror:
            pods[str(mirror)] = ref
    return pods


class PodDirectory:
    """Reads the pod list on `refresh()`; `lookup()` answers from the last good list."""

    def __init__(
        self,
        url: str,
        *,
        token_path: Path | None = None,
        ca_path: Path | None = None,
        insecure: bool = False,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.token_path = token_path
        self.timeout = timeout
        self._context: ssl.SSLContext | None = None
        if url.startswith("https://"):
            if insecure:  # the kubelet's self-signed serving certificate
                self._context = ssl._create_unverified_context()
            else:
                cafile = str(ca_path) if ca_path and ca_path.exists() else None
                self._context = ssl.create_default_context(cafile=cafile)
        self._pods: dict[str, PodRef] = {}
        #: The last good list's raw items (the network collector reads pod IPs from them).
        self.items: list[Any] = []

    @classmethod
    def in_cluster(cls, url: str, insecure: bool = False) -> PodDirectory:
        """With the pod's service account token and CA when they exist."""
        token = SERVICE_ACCOUNT / "token"
        return cls(
            url,
            token_path=token if token.exists() else None,
            ca_path=SERVICE_ACCOUNT / "ca.crt",
            insecure=insecure,
        )

    def fetch(self, url: str | None = None) -> Any:
        """GET `url` (default: the pod list's) as JSON, with this directory's credentials."""
        url = url or self.url
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.token_path is not None:
            try:  # re-read each time: projected tokens rotate
                token = self.token_path.read_text().strip()
            except OSError as exc:
                raise PodsUnavailable(f"token {self.token_path}: {exc.strerror}") from exc
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as r:
                body = r.read()
        except urllib.error.HTTPError as exc:
            raise PodsUnavailable(f"GET {url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PodsUnavailable(f"GET {url}: {reason}") from exc
        try:
            return json.loads(body)
        except ValueError as exc:
            raise PodsUnavailable(f"GET {url}: response is not JSON: {exc}") from exc

    def refresh(self) -> None:
        data = self.fetch()
        self._pods = parse_pod_list(data, f"GET {self.url}")
        self.items = data["items"]

    def lookup(self, uid: str) -> PodRef | None:
        return self._pods.get(uid)
