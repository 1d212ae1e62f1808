"""Failing liveness/readiness/startup probes: a probe aimed at a port the app does not listen on, or a
path it does not serve. Fixes use the port the app logs it listens on, or a path a sibling probe uses."""

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

_PROBE_FAILED = re.compile(r"(?P<kind>Liveness|Readiness|Startup) probe failed: (?P<why>.*)", re.IGNORECASE)
_LISTENING = re.compile(
    r"(?:listening|running on|started on port|listen)\D{0,40}?:?(?P<port>\d{2,5})\b", re.IGNORECASE
)
_FIELD = {"liveness": "livenessProbe", "readiness": "readinessProbe", "startup": "startupProbe"}


def _listening_port(text: str) -> int | None:
    ports = [int(m["port"]) for m in _LISTENING.finditer(text)]
    return ports[-1] if ports else None


def analyze(evidence: Evidence) -> list[Candidate]:
    candidates = []
    seen = set()
    for event in evidence.events:
        match = _PROBE_FAILED.search(event.get("message", ""))
        if not match or match["kind"].lower() in seen:
            continue
        seen.add(match["kind"].lower())
        probe_field = _FIELD[match["kind"].lower()]
        container_name = (
            ((event.get("involvedObject") or {}).get("fieldPath") or "").partition("{")[2].rstrip("}")
        )
        containers = [c["name"] for c in (evidence.pod.get("spec") or {}).get("containers") or []]
        container_name = (
            container_name if container_name in containers else (containers[0] if containers else "")
        )
        located = container_pointer(evidence, container_name)
        patch = None
        detail = ""
        if located:
            target, pointer, container = located
            probe = container.get(probe_field) or {}
            patch, detail = _fix(evidence, target, f"{pointer}/{probe_field}", probe, container, match["why"])
        candidates.append(
            Candidate(
                root_cause=RootCause.PROBE_FAILURE,
                score=0.85 if _probe_explains(evidence, container_name, probe_field) else 0.3,
                summary=f"The {match['kind'].lower()} probe of {container_name} fails ({quote(match['why'], 120)}), so the kubelet restarts or unreadies it.{detail}",
                patch=patch,
                facts=(quote(event.get("message", "")),),
                no_patch_reason=None
                if patch
                else "the logs do not show which port or path the app really serves",
            )
        )
    return candidates


def _probe_explains(evidence: Evidence, container: str, probe_field: str) -> bool:
    """A probe explains the failure unless the container exits on its own (a readiness probe never
    restarts anything, and an app that exits with an error was not killed by a liveness probe)."""
    for cs in (evidence.pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") != container:
            continue
        terminated = (cs.get("lastState") or {}).get("terminated") or {}
        exited_itself = terminated.get("exitCode") not in (None, 0, 137, 143)
        if exited_itself or (probe_field == "readinessProbe" and cs.get("restartCount", 0)):
            return False
    return True


def _fix(evidence: Evidence, target: str, pointer: str, probe: dict, container: dict, why: str):
    handler = next((h for h in ("httpGet", "tcpSocket", "grpc") if h in probe), None)
    if handler is None:
        return None, ""
    port = probe[handler].get("port")
    listening = _listening_port(evidence.log_text())
    if listening and isinstance(port, int) and port != listening:
        operation = {"op": "replace", "path": f"{pointer}/{handler}/port", "value": listening}
        return ProposedPatch(
            target, [operation]
        ), f" The app listens on {listening}, the probe checks {port}."
    if handler == "httpGet" and "statuscode: 404" in why:
        for other in ("livenessProbe", "readinessProbe", "startupProbe"):
            sibling = (container.get(other) or {}).get("httpGet") or {}
            if sibling.get("path") and sibling.get("path") != probe["httpGet"].get("path"):
                operation = {"op": "replace", "path": f"{pointer}/httpGet/path", "value": sibling["path"]}
                return ProposedPatch(
                    target, [operation]
                ), f" Path {probe['httpGet'].get('path')} answers 404; {other} uses {sibling['path']}."
    return None, ""
