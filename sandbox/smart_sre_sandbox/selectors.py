"""Label and field selectors, parsed and matched the way the API server does."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

_LABEL_TERM = re.compile(
    r"""\s*(?:
        (?P<not>!)\s*(?P<nkey>[^\s,!=()]+)                          # !key
      | (?P<skey>[^\s,!=()]+)\s*(?P<setop>\bin\b|\bnotin\b)\s*\((?P<values>[^)]*)\)   # key in (a,b)
      | (?P<ekey>[^\s,!=()]+)\s*(?P<eqop>==|=|!=)\s*(?P<value>[^\s,!=()]*)   # key=value
      | (?P<xkey>[^\s,!=()]+)                                       # key
    )\s*(?:,|$)""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" match objects without the label too, as in Kubernetes.
        return not present or value not in self.values


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in self.requirements)


def _terms(pattern: re.Pattern[str], text: str | None, error: str) -> Iterator[re.Match[str]]:
    """Both selector syntaxes are comma-separated terms; `error` may name {text} and {rest}, the unparsed tail."""
    if not text or not text.strip():
        return
    pos = 0
    while pos < len(text):
        match = pattern.match(text, pos)
        if not match or match.end() == pos:
            raise bad_request(error.format(text=text, rest=text[pos:]))
        pos = match.end()
        yield match


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse ``app=web,tier in (a,b),!canary``; a malformed selector is a 400 like the real server's."""
    error = "unable to parse requirement: found '{rest}', expected: identifier"
    requirements: list[Requirement] = []
    for match in _terms(_LABEL_TERM, text, error):
        if match["nkey"]:
            requirements.append(Requirement(match["nkey"], "!exists"))
        elif match["skey"]:
            values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(Requirement(match["skey"], match["setop"], values))
        elif match["ekey"]:
            op = "!=" if match["eqop"] == "!=" else "="
            requirements.append(Requirement(match["ekey"], op, (match["value"],)))
        else:
            requirements.append(Requirement(match["xkey"], "exists"))
    return LabelSelector(tuple(requirements))


def selector_from_label_selector(selector: dict | None) -> LabelSelector:
    """A ``metav1.LabelSelector`` (matchLabels + matchExpressions) as a matcher; ``None`` matches nothing."""
    if selector is None:
        return LabelSelector((Requirement("", "in", ()),))
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    reqs = [Requirement(k, "=", (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        reqs.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return LabelSelector(tuple(reqs))


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    equal: bool
    value: str

    def matches(self, obj: dict) -> bool:
        derived = _DERIVED_FIELDS.get(self.path)
        actual = derived(obj) if derived else field_value(obj, self.path)
        return (actual == self.value) == self.equal


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict) -> bool:
        return all(r.matches(obj) for r in self.requirements)


def field_value(obj: dict, path: str) -> str:
    """The string a field selector compares against; absent fields compare as ""."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def _flag(path: str) -> Callable[[dict], str]:
    """A boolean the server formats with strconv.FormatBool: an absent one is "false", not ""."""
    return lambda obj: field_value(obj, path) or "false"


def _count(path: str) -> Callable[[dict], str]:
    """An integer the server formats with strconv.Itoa: an absent one is "0", not ""."""
    return lambda obj: field_value(obj, path) or "0"


def _event_source(event: dict) -> str:
    """``source`` is the reporter's component: source.component, else (events.k8s.io style) reportingComponent."""
    return field_value(event, "source.component") or field_value(event, "reportingComponent")


# Field labels whose value is not the object's field at that path, as the kinds' GetAttrs compute them.
# Each label is selectable on one kind only (check_field_labels), so one table serves all kinds.
_DERIVED_FIELDS: dict[str, Callable[[dict], str]] = {
    "spec.hostNetwork": _flag("spec.hostNetwork"),
    "spec.unschedulable": _flag("spec.unschedulable"),
    "status.replicas": _count("status.replicas"),
    "status.successful": _count("status.succeeded"),  # the Job's label names the field differently
    "source": _event_source,
}

# The field labels each kind's registry converts (GetAttrs); anything else is a 400 like on a real server.
_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
SUPPORTED_FIELDS: dict[str, frozenset[str]] = {
    "Pod": frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    "Event": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    "Node": frozenset({"spec.unschedulable"}),
    "Namespace": frozenset({"status.phase"}),
    "Secret": frozenset({"type"}),
    "ReplicaSet": frozenset({"status.replicas"}),
    "Job": frozenset({"status.successful"}),
    "PersistentVolume": frozenset({"spec.storageClassName"}),
}


def check_field_labels(kind: str, selector: FieldSelector) -> None:
    allowed = _COMMON_FIELDS | SUPPORTED_FIELDS.get(kind, frozenset())
    for requirement in selector.requirements:
        if requirement.path not in allowed:
            raise bad_request(f"field label not supported: {requirement.path}")


_FIELD_TERM = re.compile(r"\s*(?P<key>[A-Za-z0-9_.\-/]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*)\s*(?:,|$)")


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse ``status.phase=Running,spec.nodeName!=``. Any dotted object path is accepted."""
    error = "invalid field selector: '{text}': expected key=value, key==value or key!=value"
    return FieldSelector(
        tuple(
            FieldRequirement(match["key"], match["op"] != "!=", match["value"].strip())
            for match in _terms(_FIELD_TERM, text, error)
        )
    )
