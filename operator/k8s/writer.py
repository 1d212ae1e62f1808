"""The operator's writes: DiagnosticReports, DebugPolicy status, and the one patch a human approved.

Everything the agent reads goes through `kube.Cluster`; this subclass adds the few calls that
change the cluster, so a reviewer finds every write of the operator in one file.
"""

from __future__ import annotations

import json

from kubernetes import client

from smart_sre.k8s.cluster import Cluster, ClusterError

GROUP = "smartsre.io"
VERSION = "v1alpha1"
REPORTS = "diagnosticreports"
POLICIES = "debugpolicies"
MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "smart-sre-operator"


class ClusterWriter(Cluster):
    """`Cluster` plus report CRUD, policy status and applying an approved JSON Patch."""

    async def _custom(self, method: str, *args: object, **kwargs: object) -> dict:
        return json.loads(await self._call(client.CustomObjectsApi, method, *args, **kwargs))

    async def create_report(self, namespace: str, body: dict) -> dict:
        """Create a report; raises `ClusterError` with status 409 when the name is taken."""
        return await self._custom(
            "create_namespaced_custom_object",
            GROUP,
            VERSION,
            namespace,
            REPORTS,
            body,
            field_manager=FIELD_MANAGER,
        )

    async def get_report(self, namespace: str, name: str) -> dict | None:
        try:
            return await self._custom(
                "get_namespaced_custom_object", GROUP, VERSION, namespace, REPORTS, name
            )
        except ClusterError as error:
            if error.status == 404:
                return None
            raise

    async def list_reports(
        self, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict]:
        kwargs = {"label_selector": label_selector} if label_selector else {}
        if namespace is None:
            body = await self._custom("list_cluster_custom_object", GROUP, VERSION, REPORTS, **kwargs)
        else:
            body = await self._custom(
                "list_namespaced_custom_object", GROUP, VERSION, namespace, REPORTS, **kwargs
            )
        return body.get("items") or []

    async def patch_report(self, namespace: str, name: str, body: dict, *, field_manager: str) -> dict:
        """Merge-patch the report itself (its spec): how a human's decision is recorded."""
        return await self._custom(
            "patch_namespaced_custom_object",
            GROUP,
            VERSION,
            namespace,
            REPORTS,
            name,
            body,
            field_manager=field_manager,
            _content_type=MERGE_PATCH,
        )

    async def patch_report_status(self, namespace: str, name: str, status: dict) -> dict:
        """Merge `status` into the report's status subresource (lists are replaced whole)."""
        return await self._custom(
            "patch_namespaced_custom_object_status",
            GROUP,
            VERSION,
            namespace,
            REPORTS,
            name,
            {"status": status},
            field_manager=FIELD_MANAGER,
            _content_type=MERGE_PATCH,
        )

    async def delete_report(self, namespace: str, name: str) -> None:
        await self._custom("delete_namespaced_custom_object", GROUP, VERSION, namespace, REPORTS, name)

    async def patch_policy_status(self, name: str, status: dict) -> dict:
        return await self._custom(
            "patch_cluster_custom_object_status",
            GROUP,
            VERSION,
            POLICIES,
            name,
            {"status": status},
            field_manager=FIELD_MANAGER,
            _content_type=MERGE_PATCH,
        )

    async def apply_json_patch(
        self, kind: str, namespace: str | None, name: str, operations: list[dict]
    ) -> dict:
        """Apply the operations for real, as smart-sre's own field manager."""
        return await self._json_patch(kind, namespace, name, operations, field_manager=FIELD_MANAGER)
