"""Analyzers, one per root-cause family: evidence in, ranked candidate root causes (and fixes) out."""

from __future__ import annotations

import json
from dataclasses import replace

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers import (
    app_errors,
    changes,
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
    changes.analyze,
)

MAX_CANDIDATES = 4


def distinct_fixes(ranked: list[Candidate]) -> list[Candidate]:
    """One candidate per fix: where two propose the same patch (a mechanism's fix and the revert of the
    same field), the stronger keeps it, with its own summary (it names the mechanism) and both's facts."""
    kept: dict[str, int] = {}
    result: list[Candidate] = []
    for candidate in ranked:
        key = candidate.patch and json.dumps(
            [candidate.patch.target, candidate.patch.operations], sort_keys=True
        )
        if key and key in kept:
            first = result[kept[key]]
            result[kept[key]] = replace(first, facts=tuple(dict.fromkeys((*first.facts, *candidate.facts))))
            continue
        if key:
            kept[key] = len(result)
        result.append(candidate)
    return result


def candidates(evidence: Evidence) -> list[Candidate]:
    """Every analyzer's candidates, strongest first, and Unknown last so there is always an answer."""
    found = [candidate for analyze in ANALYZERS for candidate in analyze(evidence)]
    found.sort(key=lambda candidate: -candidate.score)
    found = distinct_fixes(found)[: MAX_CANDIDATES - 1]
    found.append(
        Candidate(
            root_cause=RootCause.UNKNOWN,
            summary="The evidence does not point at a known cause; a human should look at the logs and events.",
            score=0.0,
            no_patch_reason="no cause was identified",
        )
    )
    return found
