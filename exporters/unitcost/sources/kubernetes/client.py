"""ApiClient setup: in-cluster service account, or a kubeconfig file and context."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from unitcost.base.errors import InputError
from unitcost.config.kubernetes import KubernetesSettings


def api_client(settings: KubernetesSettings, base_dir: Path) -> client.ApiClient:
    """An ApiClient for the configured cluster. Raises InputError naming the kubeconfig file,
    the context or the in-cluster setting that could not be used."""
    configuration = client.Configuration()
    if settings.in_cluster:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise InputError(f"source.kubernetes.in_cluster: {exc}") from exc
    else:
        path = None
        if settings.kubeconfig:
            path = str(base_dir / Path(settings.kubeconfig).expanduser())
            if not Path(path).is_file():
                raise InputError(f"source.kubernetes.kubeconfig: no such file: {path}")
        try:
            config.load_kube_config(
                config_file=path, context=settings.context, client_configuration=configuration
            )
        except (ConfigException, OSError) as exc:
            where = path or "the default kubeconfig ($KUBECONFIG or ~/.kube/config)"
            context = f" (context {settings.context!r})" if settings.context else ""
            raise InputError(f"source.kubernetes.kubeconfig: {where}{context}: {exc}") from exc
    # The reflectors retry with their own backoff; urllib3's silent retries would hide outages.
    configuration.retries = False
    # One long-lived connection per watch (about a dozen) plus lists and polls: the default
    # pool (5 x CPUs) would churn connections on small machines.
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)
