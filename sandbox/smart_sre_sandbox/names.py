"""Name and label syntax, worded as k8s.io/apimachinery/pkg/util/validation words it.

Built-in validation (validation.py) and RBAC validation (rbac.py) both check names; keeping the checks
here lets validation import rbac without rbac importing validation back.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import invalid_value

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)

SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
    r"is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def dns_label(field: str, value: Any) -> list[dict]:
    if isinstance(value, str) and len(value) <= 63 and _DNS1123_LABEL.match(value):
        return []
    return [invalid_value(field, value, LABEL_MESSAGE)]


def dns_subdomain(field: str, value: Any) -> list[dict]:
    if isinstance(value, str) and len(value) <= 253 and _DNS1123_SUBDOMAIN.match(value):
        return []
    return [invalid_value(field, value, SUBDOMAIN_MESSAGE)]


def label_causes(labels: dict) -> list[dict]:
    """metadata.labels: qualified-name keys and short alphanumeric values."""
    causes: list[dict] = []
    for key, value in labels.items():
        if not _QUALIFIED_NAME.match(str(key)):
            causes.append(
                invalid_value(
                    "metadata.labels",
                    key,
                    "name part must consist of alphanumeric characters, '-', '_' or '.'",
                )
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                invalid_value(
                    "metadata.labels",
                    value,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                    "and must start and end with an alphanumeric character",
                )
            )
    return causes
