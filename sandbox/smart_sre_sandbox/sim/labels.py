"""Selectors inside objects that the API server's selectors.py does not cover: node selector terms (Gt, Lt) and maps."""

from __future__ import annotations


def requirement_matches(labels: dict[str, str], requirement: dict) -> bool:
    """One matchExpressions entry (In, NotIn, Exists, DoesNotExist, Gt, Lt) against a label map."""
    key, operator = requirement["key"], requirement["operator"]
    values = requirement.get("values") or []
    present = key in labels
    match operator:
        case "In":
            return present and labels[key] in values
        case "NotIn":
            return not present or labels[key] not in values
        case "Exists":
            return present
        case "DoesNotExist":
            return not present
        case "Gt" | "Lt":
            try:
                actual, bound = int(labels[key]), int(values[0])
            except (KeyError, IndexError, ValueError):
                return False
            return actual > bound if operator == "Gt" else actual < bound
    return False


def map_matches(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    """A plain map selector (Service.spec.selector, nodeSelector); empty matches nothing for services."""
    labels = labels or {}
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())
