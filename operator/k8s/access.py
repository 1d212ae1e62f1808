"""May the human who approved a patch make that change themselves? A SubjectAccessReview says.

The approval path (smart_sre.lifecycle.approval) asks `may_patch` before it applies an approved patch
with the operator's own rights, which reach far more than any one approver's: applying a patch its
approver could not have made would lend those rights to them (a confused deputy). It passes the
approver the API server vouched for: spec.approval.approvedBy and approverGroups, which
deploy/base/approval-admission-policy.yaml admits only from that very user and only with groups they
are in. The review asks the cluster's own authorizer (RBAC, or whatever the cluster runs) whether
that user may ``patch`` the target's resource, by name, in its namespace.

Every failure (no such kind, a refused or failed review, an unreachable server) is an `Access` that
is not allowed, with the reason, never an exception: an approval that cannot be checked is not
applied. The operator's ClusterRole needs ``create`` on ``subjectaccessreviews`` (authorization.k8s.io).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from kubernetes import client

from smart_sre.api.diagnosticreport import PatchTarget
from smart_sre.k8s.cluster import Cluster, ClusterError


@dataclass(frozen=True)
class Access:
    """The review's answer; ``reason`` says who allowed it, or why not, for the report's conditions."""

    allowed: bool
    reason: str


async def _resource(cluster: Cluster, group: str, version: str, kind: str) -> str | None:
    """The resource (plural) serving ``kind`` in ``group/version``, from the API server's discovery."""
    if group:
        data = await cluster._call(client.CustomObjectsApi, "get_api_resources", group, version)
    else:
        data = await cluster._call(client.CoreV1Api, "get_api_resources")
    for entry in json.loads(data).get("resources") or []:
        if entry.get("kind") == kind and "/" not in entry.get("name", ""):
            return str(entry["name"])
    return None


async def may_patch(cluster: Cluster, *, user: str, groups: Sequence[str], target: PatchTarget) -> Access:
    """Whether ``user`` (in ``groups``) may patch ``target``, by a SubjectAccessReview through ``cluster``."""
    if not user:
        return Access(False, "nobody to check: the approval names no approver (spec.approval.approvedBy)")
    group, _, version = target.api_version.rpartition("/")
    try:
        resource = await _resource(cluster, group, version, target.kind)
    except ClusterError as error:
        return Access(False, f"cannot look up the resource of {target.kind} ({target.api_version}): {error}")
    if resource is None:
        return Access(False, f"the API server serves no {target.kind} in {target.api_version}")
    review = client.V1SubjectAccessReview(
        api_version="authorization.k8s.io/v1",
        kind="SubjectAccessReview",
        spec=client.V1SubjectAccessReviewSpec(
            user=user,
            groups=list(groups),
            resource_attributes=client.V1ResourceAttributes(
                namespace=target.namespace,
                verb="patch",
                group=group,
                version=version,
                resource=resource,
                name=target.name,
            ),
        ),
    )
    try:
        answer = json.loads(
            await cluster._call(client.AuthorizationV1Api, "create_subject_access_review", review)
        )
    except ClusterError as error:
        return Access(False, f"cannot review the access of {user!r}: {error}")
    status = answer.get("status") or {}
    detail = status.get("reason") or status.get("evaluationError") or ""
    what = f'patch resource "{resource}" in API group "{group}" in the namespace "{target.namespace}"'
    if status.get("allowed") and not status.get("denied"):
        return Access(True, detail or f'User "{user}" may {what}')
    return Access(False, f'User "{user}" cannot {what}' + (f": {detail}" if detail else ""))


@dataclass(frozen=True)
class Identity:
    """Who the API server says a client is: what a decision names as its approver."""

    username: str
    groups: tuple[str, ...]


async def who_am_i(cluster: Cluster) -> Identity:
    """The user ``cluster``'s credentials authenticate as, by a SelfSubjectReview (`kubectl auth whoami`).

    A decision must carry exactly this name (and only these groups): the approval admission policy
    refuses any other, and the operator checks this user's own rights before it applies anything.
    Raises ClusterError when the API server cannot say (before Kubernetes 1.28, or unreachable).
    """
    review = client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview")
    answer = json.loads(await cluster._call(client.AuthenticationV1Api, "create_self_subject_review", review))
    user = (answer.get("status") or {}).get("userInfo") or {}
    if not user.get("username"):
        raise ClusterError(0, "the API server's SelfSubjectReview named no user")
    return Identity(str(user["username"]), tuple(str(group) for group in user.get("groups") or ()))
