"""Deterministic names for reports, so the API server itself refuses duplicates.

Every replica of a Deployment, every re-listed watch event and every operator restart computes the
same name for the same problem; the second create gets 409 AlreadyExists and nothing is duplicated.
A problem is (namespace, top-level workload owner, trigger). A later occurrence of the same problem,
after the previous report closed and its cooldown passed, gets the next occurrence number.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63  # a DNS-1123 label: usable as a name and as a label value
_HASH_LEN = 10
_INVALID = re.compile(r"[^a-z0-9-]+")


def problem_key(namespace: str, owner_kind: str, owner_name: str, trigger: str) -> str:
    """A short stable hash of the problem; also stored as a label to find its reports."""
    identity = "/".join((namespace, owner_kind, owner_name, trigger))
    return hashlib.sha256(identity.encode()).hexdigest()[:_HASH_LEN]


def _slug(text: str) -> str:
    return _INVALID.sub("-", text.lower()).strip("-")


def report_name(namespace: str, owner_kind: str, owner_name: str, trigger: str, occurrence: int = 1) -> str:
    """`<owner>-<trigger>-<hash>[-<n>]`, a DNS-1123 label of at most 63 characters.

    The readable part is truncated to fit; the hash keeps truncated names distinct.
    """
    if occurrence < 1:
        raise ValueError(f"occurrence must be >= 1, got {occurrence}")
    suffix = "-" + problem_key(namespace, owner_kind, owner_name, trigger)
    if occurrence > 1:
        suffix += f"-{occurrence}"
    readable = f"{_slug(owner_name)}-{_slug(trigger)}".strip("-")
    readable = readable[: MAX_NAME - len(suffix)].rstrip("-")
    return (readable + suffix).lstrip("-") or suffix.lstrip("-")
