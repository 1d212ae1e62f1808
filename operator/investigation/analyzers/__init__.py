"""Analyzers, one per root-cause family: evidence in, ranked candidate root causes (and fixes) out."""

from __future__ import annotations

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers import (
    app_errors,
    config,
    dependency,
    image_pull,
    oom,
    probes,
    scheduling,
)
from smart_sre.investigation.analyzers.base import Analyzer, Candidate
from smart_sre.investigation.evidence import Evidence

ANALYZERS: tuple[Analyzer, ...] = (
    scheduling.analyze,
    image_pull.analyze,
    config.analyze,
    oom.analyze,
    dependency.analyze,
    probes.analyze,
    app_errors.analyze,
)

MAX_CANDIDATES = 4


def candidates(evidence: Evidence) -> list[Candidate]:
    """Every analyzer's candidates, strongest first, and Unknown last so there is always an answer."""
    found = [candidate for analyze in ANALYZERS for candidate in analyze(evidence)]
    found.sort(key=lambda candidate: -candidate.score)
    found = found[: MAX_CANDIDATES - 1]
    found.append(
        Candidate(
            root_cause=RootCause.UNKNOWN,
            summary="The evidence does not point at a known cause; a human should look at the logs and events.",
            score=0.0,
            no_patch_reason="no cause was identified",
        )
    )
    return found
