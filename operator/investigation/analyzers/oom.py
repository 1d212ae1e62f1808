"""Containers killed for exceeding their memory limit (OOMKilled, exit 137): raise the limit to what the
app says it allocates, within what the largest node can give."""

from __future__ import annotations

import re
from decimal import Decimal

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    Candidate,
    ProposedPatch,
    container_pointer,
    quote,
)
from smart_sre.investigation.evidence import Evidence
from smart_sre.investigation.scheduling import allocatable
from smart_sre.k8s import quantity

# "allocating 512 MiB", "loading dataset into memory (512 MiB)", "-Xmx1024m"
_ALLOCATION = re.compile(r"(?P<n>\d+)\s?(?P<unit>MiB|MB|Mi|GiB|GB|Gi)\b|-Xmx(?P<xmx>\d+)(?P<xunit>[mMgG])")
_MIB = Decimal(2**20)
_HEADROOM = 256 * _MIB  # runtime baseline on top of what the app itself allocates
_STEP = 64 * _MIB


def _oom_killed(cs: dict) -> dict | None:
    for state in (cs.get("state") or {}, cs.get("lastState") or {}):
        terminated = state.get("terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            return terminated
    return None


def _allocated(text: str) -> Decimal | None:
    largest = None
    for match in _ALLOCATION.finditer(text):
        if match["xmx"]:
            value = Decimal(match["xmx"]) * (1024 if match["xunit"].lower() == "g" else 1) * _MIB
        else:
            value = Decimal(match["n"]) * (1024 if match["unit"].startswith("G") else 1) * _MIB
        largest = value if largest is None else max(largest, value)
    return largest


def analyze(evidence: Evidence) -> list[Candidate]:
    candidates = []
    largest_node = max((allocatable(node)["memory"] for node in evidence.nodes), default=Decimal(0))
    for cs in (evidence.pod.get("status") or {}).get("containerStatuses") or []:
        terminated = _oom_killed(cs)
        if terminated is None:
            continue
        located = container_pointer(evidence, cs["name"])
        if located is None:
            continue
        target, pointer, container = located
        limits = (container.get("resources") or {}).get("limits") or {}
        limit = quantity.parse(limits.get("memory"))
        allocated = _allocated(evidence.logs.get(cs["name"], ""))
        wanted = max(limit * 2, (allocated or 0) + _HEADROOM)
        wanted = ((wanted + _STEP - 1) // _STEP) * _STEP
        facts = (f"container {cs['name']} terminated OOMKilled exit {terminated.get('exitCode', 137)}",)
        if allocated:
            facts += (quote(f"the app allocates about {quantity.format_memory(allocated)}"),)
        patch = None
        reason = None
        if not limit:
            reason = "the container has no memory limit; the node ran out of memory, not the container"
        elif largest_node and wanted > largest_node:
            reason = (
                f"the memory it needs ({quantity.format_memory(wanted)}) exceeds every node's allocatable"
            )
        else:
            value = quantity.format_memory(wanted)
            patch = ProposedPatch(
                target, [{"op": "replace", "path": f"{pointer}/resources/limits/memory", "value": value}]
            )
        summary = (
            f"Container {cs['name']} is OOMKilled: it uses more than its memory limit {limits.get('memory', 'none')}"
            + (f" (it allocates about {quantity.format_memory(allocated)})" if allocated else "")
            + (f". Raise the limit to {patch.operations[0]['value']}." if patch else ".")
        )
        candidates.append(
            Candidate(
                root_cause=RootCause.OOM_KILLED,
                summary=summary,
                score=0.95,
                patch=patch,
                facts=facts,
                no_patch_reason=reason,
            )
        )
    return candidates
