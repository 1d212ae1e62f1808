"""A JSON Patch shown the way a reviewer reads changes: a unified diff of the object's YAML."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import jsonpatch
import jsonpointer
import yaml

# Server-managed noise that would drown the change in the diff.
_VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


def _document(obj: Mapping[str, Any]) -> list[str]:
    shown = {key: value for key, value in obj.items() if key != "status"}
    metadata = {k: v for k, v in (shown.get("metadata") or {}).items() if k not in _VOLATILE_METADATA}
    if metadata:
        shown["metadata"] = metadata
    return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False).splitlines(keepends=True)


def patch_diff(live: Mapping[str, Any], operations: Sequence[Mapping[str, Any]], *, label: str) -> str:
    """Unified diff of `live` before and after `operations`; says so when the guards no longer hold."""
    try:
        patched = jsonpatch.apply_patch(copy.deepcopy(dict(live)), [dict(op) for op in operations])
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        return f"(the patch no longer applies to the live {label}: {error})\n"
    lines = difflib.unified_diff(_document(live), _document(patched), f"a/{label}", f"b/{label}", n=3)
    return "".join(lines) or "(no change: the live object already carries this patch)\n"
