"""Which cluster the Kubernetes source reads, and the ApiClient for it.

The cluster is found before connecting, so `unitcost validate` can say which one `serve` would
read. The order is kube-state-metrics' (client-go's BuildConfigFromFlags) and, outside a pod,
kubectl's:

1. `in_cluster: true`: the pod's service account, or an error;
2. a kubeconfig or a context named by a flag or the config: that kubeconfig (a context alone:
   the default kubeconfig below) and that context;
3. in a pod (KUBERNETES_SERVICE_HOST/PORT set, a service-account token mounted): its service
   account;
4. $KUBECONFIG: its files, merged in order as kubectl merges them (the first file that names
   an entry wins);
5. ~/.kube/config.

Nothing found is an error that says what was looked for, and that the simulator runs only when
asked for (`unitcost demo`, `source.kind: simulator`): made-up costs must never pass for real.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import (
    SERVICE_HOST_ENV_NAME,
    SERVICE_PORT_ENV_NAME,
    InClusterConfigLoader,
)
from kubernetes.config.kube_config import ConfigNode, KubeConfigMerger

from unitcost.base.errors import InputError
from unitcost.config.kubernetes import KubernetesSettings

#: Where Kubernetes mounts a pod's service account (token, ca.crt). Read at each call, so
#: tests can point it at a temporary directory.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = "~/.kube/config"

SIMULATOR_HINT = (
    "the simulated cluster runs only with `unitcost demo` or `source.kind: simulator` in a config"
)


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    """The cluster the source will read, found without connecting."""

    #: The API server's URL.
    server: str
    #: How it was found, for people: the kubeconfig files and why them, or the service account.
    found: str
    #: kubeconfig files, merged in order; empty for the pod's service account.
    kubeconfig: tuple[str, ...] = ()
    #: The kubeconfig context and the cluster entry it names ("" in-cluster).
    context: str = ""
    cluster: str = ""
    #: The service-account directory (token, ca.crt), in-cluster only.
    service_account: Path | None = None

    def describe(self) -> str:
        if self.service_account is not None:
            return f"{self.server} (in-cluster: {self.found})"
        return f"{self.server} (context {self.context}, cluster {self.cluster}; {self.found})"


def find_cluster(settings: KubernetesSettings, base_dir: Path) -> ClusterTarget:
    """The cluster `settings` lead to (module docstring), from the environment and files only.
    Raises InputError naming what was looked for, or the file, field and value that is wrong."""
    account = SERVICE_ACCOUNT_DIR
    outside = _why_not_in_pod(account)
    if settings.in_cluster:
        if outside:
            raise InputError(f"source.kubernetes.in_cluster: not in a pod: {outside}")
        return _in_cluster(account)
    if settings.kubeconfig:
        path = base_dir / Path(settings.kubeconfig).expanduser()
        if not path.exists():
            raise InputError(f"source.kubernetes.kubeconfig: no such file: {path}")
        return _from_kubeconfig((str(path),), f"kubeconfig {path}", settings.context)
    if settings.context is None and not outside:
        return _in_cluster(account)
    # What was looked for, in order, for the error below.
    looked = ["--kubeconfig (not given)"]
    if settings.context is None:
        looked.append(f"a pod's service account ({outside})")
    listed = os.environ.get("KUBECONFIG", "")
    if listed:
        paths = [os.path.expanduser(p) for p in listed.split(os.pathsep) if p]
        existing = tuple(p for p in paths if Path(p).is_file())
        if existing:
            return _from_kubeconfig(existing, f"$KUBECONFIG {listed}", settings.context)
        looked.append(f"$KUBECONFIG ({listed}: no such file)")
    else:
        home = Path(DEFAULT_KUBECONFIG).expanduser()
        if home.is_file():
            return _from_kubeconfig((str(home),), f"kubeconfig {home}", settings.context)
        looked += ["$KUBECONFIG (unset)", f"{DEFAULT_KUBECONFIG} ({home}: no such file)"]
    if settings.context is not None:
        raise InputError(
            f"no kubeconfig to find context {settings.context!r} in: looked for "
            f"{', '.join(looked)}. Pass --kubeconfig FILE"
        )
    raise InputError(
        f"no Kubernetes cluster found: looked for {', '.join(looked)}. Pass --kubeconfig FILE "
        f"[--context NAME]; {SIMULATOR_HINT}"
    )


def _why_not_in_pod(account: Path) -> str:
    """'' in a pod, else why this is not one."""
    missing = [n for n in (SERVICE_HOST_ENV_NAME, SERVICE_PORT_ENV_NAME) if not os.environ.get(n)]
    if missing:
        return f"{' and '.join(missing)} unset"
    if not (account / "token").is_file():
        return f"no service-account token at {account / 'token'}"
    return ""


def _in_cluster(account: Path) -> ClusterTarget:
    host, port = os.environ[SERVICE_HOST_ENV_NAME], os.environ[SERVICE_PORT_ENV_NAME]
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return ClusterTarget(server, f"service account {account}", service_account=account)


def _plain(node: Any) -> Any:
    return node.value if isinstance(node, ConfigNode) else node


def _from_kubeconfig(paths: tuple[str, ...], found: str, context: str | None) -> ClusterTarget:
    """The context (given, else the current one) and its cluster's server, read from the
    files merged as kubectl merges them (the first file to name an entry or the current
    context wins); no credential is used."""
    try:
        merger = KubeConfigMerger(os.pathsep.join(paths))
        doc: dict[str, Any] = _plain(merger.config) or {}
        contexts = {str(c.get("name")): c for c in map(_plain, doc.get("contexts") or [])}
        clusters = {str(c.get("name")): c for c in map(_plain, doc.get("clusters") or [])}
        # The client's merger keeps the last file's current-context; kubectl the first's.
        current = next(
            (str(c) for f in merger.config_files.values() if (c := f.get("current-context"))), ""
        )
    except (ConfigException, OSError, yaml.YAMLError, AttributeError, TypeError) as exc:
        reason = " ".join(str(exc).split())  # YAML errors span lines; messages are one
        raise InputError(f"{found}: not a kubeconfig: {reason}") from exc
    names = ", ".join(sorted(contexts)) or "none"
    name = context if context is not None else current
    if not name:
        raise InputError(f"{found}: no current-context; pass --context NAME (contexts: {names})")
    if name not in contexts:
        raise InputError(f"{found}: no context {name!r} (contexts: {names})")
    cluster = str((contexts[name].get("context") or {}).get("cluster") or "")
    server = str((clusters.get(cluster, {}).get("cluster") or {}).get("server") or "")
    if not server:
        raise InputError(f"{found}: context {name!r}: cluster {cluster!r} has no server")
    return ClusterTarget(server, found, paths, name, cluster)


def api_client(settings: KubernetesSettings, base_dir: Path) -> client.ApiClient:
    """An ApiClient for the cluster `settings` lead to (find_cluster). Raises InputError naming
    the kubeconfig, context or service account that could not be used."""
    return client_for(find_cluster(settings, base_dir))


def client_for(target: ClusterTarget) -> client.ApiClient:
    configuration = client.Configuration()
    try:
        if target.service_account is not None:
            InClusterConfigLoader(
                token_filename=str(target.service_account / "token"),
                cert_filename=str(target.service_account / "ca.crt"),
            ).load_and_set(configuration)
        else:
            config.load_kube_config(
                config_file=os.pathsep.join(target.kubeconfig),
                context=target.context,
                client_configuration=configuration,
            )
    except (ConfigException, OSError) as exc:
        raise InputError(f"{target.found}: {exc}") from exc
    # The reflectors retry with their own backoff; urllib3's silent retries would hide outages.
    configuration.retries = False
    # One long-lived connection per watch (about a dozen) plus lists and polls: the default
    # pool (5 x CPUs) would churn connections on small machines.
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)
