"""Kubernetes LabelSelector semantics (matchLabels and matchExpressions) over a pod's labels.

Same rules as the API server: all requirements are ANDed; an empty selector selects everything;
`NotIn` and `DoesNotExist` also select objects that lack the key. The model has already refused
malformed requirements (an `In` without values), so matching never has to guess.
"""

from __future__ import annotations

from collections.abc import Mapping

from smart_sre.api.debugpolicy import LabelSelector, LabelSelectorOperator, LabelSelectorRequirement


def _requirement_holds(requirement: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    values = requirement.values or ()
    match requirement.operator:
        case LabelSelectorOperator.IN:
            return present and labels[requirement.key] in values
        case LabelSelectorOperator.NOT_IN:
            return not present or labels[requirement.key] not in values
        case LabelSelectorOperator.EXISTS:
            return present
        case LabelSelectorOperator.DOES_NOT_EXIST:
            return not present


def matches(selector: LabelSelector | None, labels: Mapping[str, str] | None) -> bool:
    """Whether `labels` satisfy `selector`; a rule without a selector selects every pod it names."""
    if selector is None:
        return True
    labels = labels or {}
    if any(labels.get(key) != value for key, value in (selector.match_labels or {}).items()):
        return False
    return all(_requirement_holds(requirement, labels) for requirement in selector.match_expressions or ())
