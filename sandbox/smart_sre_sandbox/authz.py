"""Authorization: RBAC over the stored Roles, ClusterRoles and their bindings, as kube-apiserver runs it.

routes/authorization.py calls it twice: its middleware authorizes every API request (a denial is the
real 403 Forbidden Status), and the review endpoints (SubjectAccessReview, SelfSubjectAccessReview)
answer with the same decision. A request is described by `Attributes`, parsed from the URL as the
API server's RequestInfoFactory does, so a user without access gets 403 before the server looks the
resource up.

The decision is the API server's union of authorizers: members of ``system:masters`` may do
anything (the reason is empty), otherwise RBAC looks for a rule that allows the request in the
ClusterRoleBindings, then the RoleBindings of the request's namespace, naming what allowed it
(``RBAC: allowed by RoleBinding "x/ns" of ClusterRole "y" to User "alice"``). The bootstrap policy
that lets every authenticated user read discovery and health and review its own access
(system:discovery, system:basic-user; system:public-info-viewer also for anonymous requests) is
built in without being stored, so ``kubectl get clusterroles`` lists only what was applied.
Aggregated ClusterRoles are not aggregated; impersonation is not served.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .authn import AUTHENTICATED, MASTERS, UNAUTHENTICATED, UserInfo
from .errors import ApiError
from .registry import Registry

RBAC = "rbac.authorization.k8s.io"
_SPECIAL_VERBS = ("proxy", "watch")  # /api/v1/watch/... : the verb is in the path
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do: a verb on a resource (and name, namespace) or on a non-resource path."""

    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def combined_resource(self) -> str:
        """``pods`` or ``pods/log``: how rules and messages name the resource."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def request_attributes(user: UserInfo, method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """The attributes of an HTTP request, parsed as k8s.io/apiserver's RequestInfoFactory parses them."""
    parts = [part for part in path.split("/") if part]
    non_resource = Attributes(user, method.lower(), resource_request=False, path=path)
    if len(parts) < 3 or parts[0] not in ("api", "apis") or (parts[0] == "apis" and len(parts) < 4):
        return non_resource
    group = parts[1] if parts[0] == "apis" else ""
    rest = parts[2:] if parts[0] == "apis" else parts[1:]
    version, rest = rest[0], rest[1:]
    if rest and rest[0] in _SPECIAL_VERBS:
        verb, rest = rest[0], rest[1:]
    else:
        verb = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch"}.get(
            method, "delete" if method == "DELETE" else ""
        )
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 and verb != "proxy" else ""
    if not name and verb == "delete":
        verb = "deletecollection"
    if not name and verb == "get":
        verb = "watch" if query.get("watch", "").lower() in ("true", "1") else "list"
        name = _name_from_field_selector(query.get("fieldSelector", ""))
    return Attributes(
        user,
        verb,
        resource_request=True,
        path=path,
        group=group,
        version=version,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def _name_from_field_selector(selector: str) -> str:
    """A list or watch of ``metadata.name=x`` is authorized as a request for ``x`` (resourceNames rules)."""
    for term in selector.split(","):
        key, _, value = term.replace("==", "=").partition("=")
        if key.strip() == "metadata.name":
            return value.strip()
    return ""


def forbidden(attributes: Attributes, reason: str = "") -> ApiError:
    """The 403 of k8s.io/apiserver's responsewriters.Forbidden, e.g. ``deployments.apps "web" is
    forbidden: User "mallory" cannot patch resource "deployments" in API group "apps" in the namespace "default"``."""
    message = denial(attributes) + (f": {reason}" if reason else "")
    if not attributes.resource_request:
        return ApiError(403, "Forbidden", f"forbidden: {message}")
    qualified = f"{attributes.resource}.{attributes.group}" if attributes.group else attributes.resource
    details = {"kind": attributes.resource}
    if attributes.group:
        details["group"] = attributes.group
    if attributes.name:
        details["name"] = attributes.name
        return ApiError(
            403, "Forbidden", f'{qualified} "{attributes.name}" is forbidden: {message}', details=details
        )
    return ApiError(403, "Forbidden", f"{qualified} is forbidden: {message}", details=details)


def denial(attributes: Attributes) -> str:
    """``User "u" cannot <verb> resource "<res>" in API group "<g>" in the namespace "<ns>"`` (or at the
    cluster scope, or ``cannot get path "/x"``)."""
    who = f'User "{attributes.user.username}" cannot {attributes.verb}'
    if not attributes.resource_request:
        return f'{who} path "{attributes.path}"'
    what = f'{who} resource "{attributes.combined_resource}" in API group "{attributes.group}"'
    if attributes.namespace:
        return f'{what} in the namespace "{attributes.namespace}"'
    return f"{what} at the cluster scope"


# The bootstrap policy every cluster starts with, as much of it as the sandbox's users need.
_BOOTSTRAP_ROLES: dict[str, list[dict]] = {
    "system:discovery": [
        {
            "nonResourceURLs": [
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            ],
            "verbs": ["get"],
        }
    ],
    "system:public-info-viewer": [
        {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}
    ],
    "system:basic-user": [
        {
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            "verbs": ["create"],
        },
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
    ],
}
_BOOTSTRAP_BINDINGS: list[dict] = [
    {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": group} for group in groups],
    }
    for name, groups in (
        ("system:basic-user", [AUTHENTICATED]),
        ("system:discovery", [AUTHENTICATED]),
        ("system:public-info-viewer", [AUTHENTICATED, UNAUTHENTICATED]),
    )
]


class Authorizer:
    """The privileged group, then RBAC over the objects stored in ``registry``."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def authorize(self, attributes: Attributes) -> Decision:
        if MASTERS in attributes.user.groups:
            return Decision(True)
        errors: list[str] = []
        for source, rules in self._rule_sources(attributes, errors):
            if any(_allows(rule, attributes) for rule in rules):
                return Decision(True, f"RBAC: allowed by {source}")
        if not errors:
            return Decision(False)
        return Decision(False, "RBAC: " + (errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"))

    def _rule_sources(self, attributes: Attributes, errors: list[str]) -> Iterator[tuple[str, list[dict]]]:
        """(who grants, their rules) for each binding that applies to the user, as RBAC visits them."""
        user = attributes.user
        stored_bindings = self._stored("clusterrolebindings")
        bindings = [b for _, b in sorted(stored_bindings.items())]
        bindings += [b for b in _BOOTSTRAP_BINDINGS if ("", b["metadata"]["name"]) not in stored_bindings]
        for binding in bindings:
            subject = _subject_for(binding, user, "")
            if subject is None:
                continue
            rules = self._role_rules(binding["roleRef"], "", errors)
            if rules is not None:
                yield (
                    _describe("ClusterRoleBinding", binding, binding["metadata"]["name"], subject, ""),
                    rules,
                )
        if not attributes.namespace:
            return
        for (namespace, name), binding in sorted(self._stored("rolebindings").items()):
            if namespace != attributes.namespace:
                continue
            subject = _subject_for(binding, user, namespace)
            if subject is None:
                continue
            rules = self._role_rules(binding["roleRef"], namespace, errors)
            if rules is not None:
                yield _describe("RoleBinding", binding, f"{name}/{namespace}", subject, namespace), rules

    def _stored(self, plural: str) -> dict[tuple[str, str], dict]:
        return self._registry.stored(self._registry.resource(plural, RBAC))

    def _role_rules(self, ref: dict, namespace: str, errors: list[str]) -> list[dict] | None:
        """The rules of a roleRef; a missing role is an error the denial's reason reports."""
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "ClusterRole":
            role = self._stored("clusterroles").get(("", name))
            if role is None and name in _BOOTSTRAP_ROLES:
                return _BOOTSTRAP_ROLES[name]
        else:
            role = self._stored("roles").get((namespace, name))
        if role is None:
            errors.append(f'{(kind or "").lower()}.{RBAC} "{name}" not found')
            return None
        return role.get("rules") or []


def _subject_for(binding: dict, user: UserInfo, namespace: str) -> dict | None:
    """The first subject of a binding that is ``user`` (by name, group or service account)."""
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User" and name == user.username:
            return subject
        if kind == "Group" and name in user.groups:
            return subject
        if kind == "ServiceAccount":
            account_namespace = subject.get("namespace") or namespace
            if account_namespace and user.username == f"system:serviceaccount:{account_namespace}:{name}":
                return subject
    return None


def _describe(kind: str, binding: dict, name: str, subject: dict, namespace: str) -> str:
    """``ClusterRoleBinding "x" of ClusterRole "y" to Group "z"``, as RBAC's rule describers write it."""
    subject_name = subject["name"]
    if subject["kind"] == "ServiceAccount":
        subject_name = f"{subject_name}/{subject.get('namespace') or namespace}"
    ref = binding["roleRef"]
    return f'{kind} "{name}" of {ref["kind"]} "{ref["name"]}" to {subject["kind"]} "{subject_name}"'


def _allows(rule: dict, attributes: Attributes) -> bool:
    """rbac's RuleAllows: verbs, then API groups, resources (with ``*/sub``) and names, or non-resource URLs."""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attributes.verb not in verbs:
        return False
    if not attributes.resource_request:
        return any(
            url == "*"
            or url == attributes.path
            or (url.endswith("*") and attributes.path.startswith(url[:-1]))
            for url in rule.get("nonResourceURLs") or []
        )
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attributes.group not in groups:
        return False
    resources = rule.get("resources") or []
    wanted = attributes.combined_resource
    if not any(
        r in ("*", wanted) or (attributes.subresource and r == f"*/{attributes.subresource}")
        for r in resources
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or attributes.name in names
