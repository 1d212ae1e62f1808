"""Validation of rbac.authorization.k8s.io/v1 objects, worded as k8s.io/kubernetes/pkg/apis/rbac/validation.

authz.py enforces them for the users a test adds (authn.py); the administrator (system:masters)
may do anything.
"""

from __future__ import annotations

from typing import Any

from .errors import invalid_value, required, unsupported
from .names import dns_subdomain
from .resources import ResourceType

GROUP = "rbac.authorization.k8s.io"
_SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def name_causes(field: str, value: Any) -> list[dict]:
    """RBAC names are path segments (``system:controller:foo`` is valid), not DNS subdomains."""
    if not isinstance(value, str) or not value:
        return [required(field, "name or generateName is required")]
    if value in (".", ".."):
        return [invalid_value(field, value, f"may not be '{value}'")]
    return [invalid_value(field, value, f"may not contain '{c}'") for c in ("/", "%") if c in value]


def default(obj: dict) -> None:
    """Subjects of kind User and Group default to the RBAC API group (v1 SetDefaults_Subject)."""
    for subject in obj.get("subjects") or []:
        if isinstance(subject, dict) and subject.get("kind") in ("User", "Group"):
            subject.setdefault("apiGroup", GROUP)


def validate(rt: ResourceType, obj: dict, old: dict | None) -> list[dict]:
    if rt.kind in ("Role", "ClusterRole"):
        causes = _rules(obj.get("rules"), namespaced=rt.kind == "Role")
        if rt.kind == "ClusterRole" and obj.get("aggregationRule") is not None:
            causes += _aggregation(obj["aggregationRule"])
        return causes
    return _binding(rt, obj, old)


def _rules(rules: Any, *, namespaced: bool) -> list[dict]:
    causes: list[dict] = []
    for i, rule in enumerate(rules or []):
        where = f"rules[{i}]"
        if not rule.get("verbs"):
            causes.append(required(f"{where}.verbs", "verbs must contain at least one value"))
        urls = rule.get("nonResourceURLs")
        if urls:
            if namespaced:
                causes.append(
                    invalid_value(
                        f"{where}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"
                    )
                )
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                causes.append(
                    invalid_value(
                        f"{where}.nonResourceURLs",
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not rule.get("apiGroups"):
            causes.append(required(f"{where}.apiGroups", "resource rules must supply at least one api group"))
        if not rule.get("resources"):
            causes.append(required(f"{where}.resources", "resource rules must supply at least one resource"))
    return causes


def _aggregation(rule: dict) -> list[dict]:
    if not rule.get("clusterRoleSelectors"):
        return [
            required(
                "aggregationRule.clusterRoleSelectors",
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            )
        ]
    return []


def _binding(rt: ResourceType, obj: dict, old: dict | None) -> list[dict]:
    ref = obj.get("roleRef") if isinstance(obj.get("roleRef"), dict) else {}
    causes: list[dict] = []
    if ref.get("apiGroup") != GROUP:
        causes.append(unsupported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
    kinds = ["Role", "ClusterRole"] if rt.kind == "RoleBinding" else ["ClusterRole"]
    if ref.get("kind") not in kinds:
        causes.append(unsupported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        causes.append(required("roleRef.name"))
    else:
        causes += name_causes("roleRef.name", ref["name"])
    if old is not None and (old.get("roleRef") or {}) != ref:
        causes.append(invalid_value("roleRef", ref, "cannot change roleRef"))
    for i, subject in enumerate(obj.get("subjects") or []):
        causes += _subject(subject, f"subjects[{i}]", namespaced=rt.namespaced)
    return causes


def _subject(subject: dict, where: str, *, namespaced: bool) -> list[dict]:
    causes: list[dict] = []
    name, kind, group = subject.get("name"), subject.get("kind"), subject.get("apiGroup", "")
    if not name:
        causes.append(required(f"{where}.name"))
    if kind == "ServiceAccount":
        if name:
            causes += dns_subdomain(f"{where}.name", name)
        if group:
            causes.append(unsupported(f"{where}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            causes.append(required(f"{where}.namespace"))
    elif kind in ("User", "Group"):
        if group != GROUP:
            causes.append(unsupported(f"{where}.apiGroup", group, [GROUP]))
    else:
        causes.append(unsupported(f"{where}.kind", kind or "", _SUBJECT_KINDS))
    return causes
