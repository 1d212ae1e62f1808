"""The operator's writes: DiagnosticReports, DebugPolicy status, and the one patch a human approved.

Everything the agent reads goes through `kube.Cluster`; this subclass adds the few calls that
change the cluster, so a reviewer finds every write of the operator in one file. The operator's
reports go in and come out typed (`ObservedReport`, parsed once here); a status update is a typed
status holding only the fields it changes.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client
from pydantic import BaseModel

from smart_sre.api.debugpolicy import DebugPolicyStatus
from smart_sre.api.diagnosticreport import DiagnosticReport, DiagnosticReportStatus, ObservedReport
from smart_sre.k8s.cluster import Cluster, ClusterError

GROUP = "smartsre.io"
VERSION = "v1alpha1"
REPORTS = "diagnosticreports"
POLICIES = "debugpolicies"
MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "smart-sre-operator"


def merge_patch(status: BaseModel) -> dict[str, Any]:
    """The fields set on `status` as a JSON merge patch: a field set to None is removed. Inside a value
    None is left out, as elsewhere: a list is stored whole and would keep its nulls."""
    dumped = status.model_dump(mode="json", by_alias=True, exclude_none=True, include=status.model_fields_set)
    return {
        field.alias or name: dumped.get(field.alias or name)
        for name, field in type(status).model_fields.items()
        if name in status.model_fields_set
    }


class ClusterWriter(Cluster):
    """`Cluster` plus report CRUD, policy status and applying an approved JSON Patch."""

    async def _custom(self, method: str, *args: object, **kwargs: object) -> dict:
        return json.loads(await self._call(client.CustomObjectsApi, method, *args, **kwargs))

    async def create_report(self, report: DiagnosticReport) -> ObservedReport:
        """Create a report; raises `ClusterError` with status 409 when the name is taken."""
        created = await self._custom(
            "create_namespaced_custom_object",
            GROUP,
            VERSION,
            report.metadata.namespace,
            REPORTS,
            report.model_dump(mode="json", by_alias=True, exclude_none=True),
            field_manager=FIELD_MANAGER,
        )
        return ObservedReport.model_validate(created)

    async def get_report(self, namespace: str | None, name: str) -> dict | None:
        """The report exactly as stored, for showing it to a human (`kubectl sre show`)."""
        try:
            return await self._custom(
                "get_namespaced_custom_object", GROUP, VERSION, namespace, REPORTS, name
            )
        except ClusterError as error:
            if error.status == 404:
                return None
            raise

    async def read_report(self, namespace: str | None, name: str) -> ObservedReport | None:
        """The report as the operator acts on it."""
        body = await self.get_report(namespace, name)
        return None if body is None else ObservedReport.model_validate(body)

    async def list_reports(
        self, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[ObservedReport]:
        kwargs = {"label_selector": label_selector} if label_selector else {}
        if namespace is None:
            body = await self._custom("list_cluster_custom_object", GROUP, VERSION, REPORTS, **kwargs)
        else:
            body = await self._custom(
                "list_namespaced_custom_object", GROUP, VERSION, namespace, REPORTS, **kwargs
            )
        return [ObservedReport.model_validate(item) for item in body.get("items") or []]

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

    async def patch_report_status(
        self, report: DiagnosticReport, status: DiagnosticReportStatus
    ) -> ObservedReport:
        """Merge the fields set on `status` into the report's status (lists are replaced whole)."""
        patched = await self._custom(
            "patch_namespaced_custom_object_status",
            GROUP,
            VERSION,
            report.metadata.namespace,
            REPORTS,
            report.metadata.name,
            {"status": merge_patch(status)},
            field_manager=FIELD_MANAGER,
            _content_type=MERGE_PATCH,
        )
        return ObservedReport.model_validate(patched)

    async def delete_report(self, namespace: str, name: str) -> None:
        await self._custom("delete_namespaced_custom_object", GROUP, VERSION, namespace, REPORTS, name)

    async def patch_policy_status(self, name: str, status: DebugPolicyStatus) -> None:
        await self._custom(
            "patch_cluster_custom_object_status",
            GROUP,
            VERSION,
            POLICIES,
            name,
            {"status": merge_patch(status)},
            field_manager=FIELD_MANAGER,
            _content_type=MERGE_PATCH,
        )

    async def apply_json_patch(
        self, kind: str, namespace: str | None, name: str, operations: list[dict]
    ) -> dict:
        """Apply the operations for real, as smart-sre's own field manager."""
        return await self._json_patch(kind, namespace, name, operations, field_manager=FIELD_MANAGER)

    async def delete_pod(self, namespace: str, name: str, *, uid: str, resource_version: str) -> None:
        """Delete the pod exactly as it was read: the API server answers 409 when it was replaced (uid)
        or changed (resourceVersion) since, and 404 when it is gone."""
        preconditions = {"uid": uid, "resourceVersion": resource_version}
        await self._call(
            client.CoreV1Api, "delete_namespaced_pod", name, namespace, body={"preconditions": preconditions}
        )
