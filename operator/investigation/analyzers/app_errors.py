"""Crashes of the app itself: rejected command-line flags (fixed by dropping the flag), and otherwise
an exit code with the last log lines, for a human to read."""

from __future__ import annotations

import re

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    Candidate,
    ProposedPatch,
    container_pointer,
    quote,
)
from smart_sre.investigation.evidence import Evidence

_BAD_FLAG = (
    re.compile(r"unrecognized arguments: (?P<flag>\S+)"),
    re.compile(r"unknown (?:option|flag):? '?(?P<flag>-[^\s']+)'?"),
    re.compile(r"Unrecognized option: (?P<flag>\S+)"),
    re.compile(r"flag provided but not defined: (?P<flag>-\S+)"),
)


def _bad_flag(text: str) -> tuple[str, str] | None:
    for line in text.splitlines():
        for pattern in _BAD_FLAG:
            if match := pattern.search(line):
                return match["flag"], line
    return None


def _without(arguments: list[str], flag: str) -> list[str] | None:
    """The argument list without the rejected flag (None when the flag is not in it)."""
    name = flag.lstrip("-").split("=")[0]
    kept = [a for a in arguments if not (a.startswith("-") and a.lstrip("-").split("=")[0] == name)]
    return kept if len(kept) < len(arguments) else None


def analyze(evidence: Evidence) -> list[Candidate]:
    candidates = []
    for container_name, text in evidence.logs.items():
        found = _bad_flag(text)
        if found is None:
            continue
        flag, line = found
        located = container_pointer(evidence, container_name)
        patch = None
        if located:
            target, pointer, container = located
            for field in ("args", "command"):
                kept = _without(container.get(field) or [], flag)
                if kept is not None:
                    patch = ProposedPatch(
                        target, [{"op": "replace", "path": f"{pointer}/{field}", "value": kept}]
                    )
                    break
        candidates.append(
            Candidate(
                root_cause=RootCause.APPLICATION_ERROR,
                summary=f"Container {container_name} exits at start because it rejects the flag {flag}: {quote(line, 120)}. Remove the flag.",
                score=0.85,
                patch=patch,
                facts=(quote(line),),
                no_patch_reason=None if patch else f"{flag} is not in the container's args or command",
            )
        )
    if candidates or not evidence.logs:
        return candidates
    for cs in (evidence.pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (
            ((cs.get("lastState") or {}).get("terminated"))
            or ((cs.get("state") or {}).get("terminated"))
            or {}
        )
        if terminated.get("exitCode") not in (None, 0) and terminated.get("reason") != "OOMKilled":
            last = [line for line in evidence.logs.get(cs["name"], "").splitlines() if line.strip()][-1:]
            candidates.append(
                Candidate(
                    root_cause=RootCause.APPLICATION_ERROR,
                    summary=f"Container {cs['name']} exits with code {terminated['exitCode']}"
                    + (f": {quote(last[0], 160)}" if last else "."),
                    score=0.3,
                    facts=tuple(quote(line) for line in last),
                    no_patch_reason="the logs show no cause that a change to the pod spec would fix",
                )
            )
    return candidates
