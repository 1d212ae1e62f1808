"""Read-only access to the cluster for the agent, as plain Kubernetes JSON dicts.

The official `kubernetes` client is synchronous; every call runs in a worker thread so the event loop
stays free. Objects come back as the API server's JSON (camelCase keys), which is what the analyzers,
the patch checks and `jsonpatch` work on. The only call that sends a body is a `dryRun=All` patch: it
asks the API server to validate a patch and persists nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

logger = logging.getLogger(__name__)

JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class KindMethods:
    """The typed client's methods for one kind: (api class, read, list, patch) names."""

    api: type
    read: str
    list: str
    patch: str
    namespaced: bool = True


KINDS: dict[str, KindMethods] = {
    "Pod": KindMethods(
        client.CoreV1Api, "read_namespaced_pod", "list_namespaced_pod", "patch_namespaced_pod"
    ),
    "Service": KindMethods(
        client.CoreV1Api, "read_namespaced_service", "list_namespaced_service", "patch_namespaced_service"
    ),
    "Endpoints": KindMethods(
        client.CoreV1Api,
        "read_namespaced_endpoints",
        "list_namespaced_endpoints",
        "patch_namespaced_endpoints",
    ),
    "ConfigMap": KindMethods(
        client.CoreV1Api,
        "read_namespaced_config_map",
        "list_namespaced_config_map",
        "patch_namespaced_config_map",
    ),
    "Secret": KindMethods(
        client.CoreV1Api, "read_namespaced_secret", "list_namespaced_secret", "patch_namespaced_secret"
    ),
    "PersistentVolumeClaim": KindMethods(
        client.CoreV1Api,
        "read_namespaced_persistent_volume_claim",
        "list_namespaced_persistent_volume_claim",
        "patch_namespaced_persistent_volume_claim",
    ),
    "Event": KindMethods(
        client.CoreV1Api, "read_namespaced_event", "list_namespaced_event", "patch_namespaced_event"
    ),
    # What binds a claim and bounds a pod's resources; read, never patched.
    "PersistentVolume": KindMethods(
        client.CoreV1Api,
        "read_persistent_volume",
        "list_persistent_volume",
        "patch_persistent_volume",
        namespaced=False,
    ),
    "StorageClass": KindMethods(
        client.StorageV1Api,
        "read_storage_class",
        "list_storage_class",
        "patch_storage_class",
        namespaced=False,
    ),
    "LimitRange": KindMethods(
        client.CoreV1Api,
        "read_namespaced_limit_range",
        "list_namespaced_limit_range",
        "patch_namespaced_limit_range",
    ),
    "ResourceQuota": KindMethods(
        client.CoreV1Api,
        "read_namespaced_resource_quota",
        "list_namespaced_resource_quota",
        "patch_namespaced_resource_quota",
    ),
    "Node": KindMethods(client.CoreV1Api, "read_node", "list_node", "patch_node", namespaced=False),
    "Deployment": KindMethods(
        client.AppsV1Api,
        "read_namespaced_deployment",
        "list_namespaced_deployment",
        "patch_namespaced_deployment",
    ),
    "ReplicaSet": KindMethods(
        client.AppsV1Api,
        "read_namespaced_replica_set",
        "list_namespaced_replica_set",
        "patch_namespaced_replica_set",
    ),
    "StatefulSet": KindMethods(
        client.AppsV1Api,
        "read_namespaced_stateful_set",
        "list_namespaced_stateful_set",
        "patch_namespaced_stateful_set",
    ),
    "DaemonSet": KindMethods(
        client.AppsV1Api,
        "read_namespaced_daemon_set",
        "list_namespaced_daemon_set",
        "patch_namespaced_daemon_set",
    ),
    "ControllerRevision": KindMethods(  # StatefulSet and DaemonSet history; read, never patched
        client.AppsV1Api,
        "read_namespaced_controller_revision",
        "list_namespaced_controller_revision",
        "patch_namespaced_controller_revision",
    ),
    "Job": KindMethods(
        client.BatchV1Api, "read_namespaced_job", "list_namespaced_job", "patch_namespaced_job"
    ),
}


class ClusterError(Exception):
    """The API server refused or failed a request; `status` is its HTTP code (0 when unreachable)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = 1  # how many times the caller asked before giving up

    @property
    def transient(self) -> bool:
        """The API server may answer differently on a retry: it was unreachable, overloaded or failing."""
        return self.status == 0 or self.status == 429 or self.status >= 500


class ClusterReader(Protocol):
    """What the tools, the evidence and the patch checks need from a cluster."""

    async def get(self, kind: str, namespace: str | None, name: str) -> dict | None: ...

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict]: ...

    async def logs(
        self, namespace: str, pod: str, container: str, *, previous: bool = False, tail: int = 100
    ) -> str: ...

    async def node_metrics(self, name: str) -> dict | None: ...

    async def dry_run_patch(
        self, kind: str, namespace: str | None, name: str, operations: list[dict]
    ) -> dict: ...


class Cluster:
    """`ClusterReader` over the official client, configured from a kubeconfig or in-cluster."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._api_client = api_client
        self._apis: dict[type, Any] = {}

    @classmethod
    def from_config(cls, kubeconfig: str | None = None, context: str | None = None) -> Cluster:
        """In-cluster config when running in a pod and no kubeconfig is named, else the kubeconfig."""
        configuration = client.Configuration()
        if kubeconfig is None:
            try:
                config.load_incluster_config(client_configuration=configuration)
                return cls(client.ApiClient(configuration))
            except config.ConfigException:
                pass
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        return cls(client.ApiClient(configuration))

    def close(self) -> None:
        self._api_client.close()

    def _api(self, api_class: type) -> Any:
        if api_class not in self._apis:
            self._apis[api_class] = api_class(self._api_client)
        return self._apis[api_class]

    async def _call(self, api_class: type, method: str, *args: Any, **kwargs: Any) -> bytes:
        bound = getattr(self._api(api_class), method)

        def call() -> bytes:
            try:
                return bound(*args, _preload_content=False, **kwargs).data
            except ApiException as error:
                raise ClusterError(error.status or 0, _api_message(error)) from error
            except (OSError, urllib3.exceptions.HTTPError) as error:  # refused, timed out, retries spent
                raise ClusterError(0, f"cannot reach the API server: {error}") from error

        return await asyncio.to_thread(call)

    async def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        methods = KINDS[kind]
        args = (name, namespace) if methods.namespaced else (name,)
        try:
            return json.loads(await self._call(methods.api, methods.read, *args))
        except ClusterError as error:
            if error.status == 404:
                return None
            raise

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict]:
        methods = KINDS[kind]
        method, args = methods.list, (namespace,)
        if not methods.namespaced:
            args = ()
        elif namespace is None:
            method, args = methods.list.replace("_namespaced_", "_") + "_for_all_namespaces", ()
        kwargs = {
            key: value
            for key, value in (("field_selector", field_selector), ("label_selector", label_selector))
            if value
        }
        body = json.loads(await self._call(methods.api, method, *args, **kwargs))
        items = body.get("items") or []
        for item in items:  # list items carry no kind of their own
            item.setdefault("kind", kind)
        return items

    async def logs(
        self, namespace: str, pod: str, container: str, *, previous: bool = False, tail: int = 100
    ) -> str:
        data = await self._call(
            client.CoreV1Api,
            "read_namespaced_pod_log",
            pod,
            namespace,
            container=container,
            previous=previous,
            tail_lines=tail,
        )
        return data.decode("utf-8", errors="replace")

    async def node_metrics(self, name: str) -> dict | None:
        """metrics.k8s.io usage of a node, or None when the cluster does not serve it."""
        try:
            data = await self._call(
                client.CustomObjectsApi,
                "get_cluster_custom_object",
                "metrics.k8s.io",
                "v1beta1",
                "nodes",
                name,
            )
        except ClusterError as error:
            if error.status in (404, 503):
                return None
            raise
        return json.loads(data)

    async def dry_run_patch(
        self, kind: str, namespace: str | None, name: str, operations: list[dict]
    ) -> dict:
        return await self._json_patch(kind, namespace, name, operations, dry_run="All")

    async def _json_patch(
        self, kind: str, namespace: str | None, name: str, operations: list[dict], **options: str
    ) -> dict:
        """RFC 6902 operations on one object; a failing `test` guard comes back as a `ClusterError`."""
        methods = KINDS[kind]
        args = (name, namespace) if methods.namespaced else (name,)
        data = await self._call(
            methods.api, methods.patch, *args, operations, _content_type=JSON_PATCH, **options
        )
        return json.loads(data)


def _api_message(error: ApiException) -> str:
    """The `message` of a Kubernetes Status body, or the HTTP reason."""
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except (ValueError, AttributeError):
        return str(error.reason)
