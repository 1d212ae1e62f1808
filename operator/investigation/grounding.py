"""Grounding: a sentence a model wrote reaches a human only if every identifier in it is in the evidence.

`Investigation.findings` checks the model's summary with `invented`; a summary that names anything the
investigation never showed falls back to the analyzers' (or the explanation's) text. Identifiers are
tokens shaped like names or quantities (`redis-cache`, `512Mi`, `DB_HOST`, `8080`) and any word right
after a kind noun ("container api", "Service payments"): a plain word in that place is a name too, which
is how a prompt's example container leaked into reports before. A name after a kind noun must be one
of that kind's known names where the investigation knows them (the pod's containers, the Services and
hosts, the nodes), else appear in the evidence as a whole word. `dropped` is the other half: the
names of what to fix that the analyzers' text gives and the model's leaves out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set

# Names, numbers and quantities: `redis-cache`, `512Mi`, `10.0.0.1:6379`, `DB_HOST`.
_SHAPED = re.compile(
    r"[A-Za-z0-9]+(?:[-_./:][A-Za-z0-9]+)+|[A-Za-z]*[0-9][A-Za-z0-9]*|[A-Z][A-Z0-9]*_[A-Z0-9_]+"
)
_KIND_NOUNS = (
    "container|service|configmap|secret|pod|node|deployment|statefulset|daemonset|replicaset|job|"
    "key|port|image|volume|claim|persistentvolumeclaim|namespace|variable|env"
)
_AFTER_KIND = re.compile(
    rf"\b(?P<kind>{_KIND_NOUNS})s?\s+[`'\"]?(?P<name>[A-Za-z0-9][A-Za-z0-9_.:/-]*)", re.I
)
# What a cause names for a human to change: its quoted values ("log_level", `cat /run/beat`) and the
# spec's own camelCase fields (livenessProbe.exec, readOnlyRootFilesystem).
_NAMED = re.compile(r'"([^"]+)"|`([^`]+)`|\b([a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+(?:\.[A-Za-z0-9]+)*)')
_PLACEHOLDER = re.compile(r"<[^<>\s]{1,40}>")
# Words that may follow a kind noun without being a name ("the container is", "a port that").
_PLAIN = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "was",
        "are",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "which",
        "who",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "and",
        "or",
        "but",
        "not",
        "no",
        "with",
        "without",
        "has",
        "have",
        "had",
        "does",
        "do",
        "did",
        "can",
        "cannot",
        "could",
        "will",
        "would",
        "should",
        "may",
        "must",
        "keeps",
        "kept",
        "exits",
        "exited",
        "crashes",
        "crashed",
        "fails",
        "failed",
        "restarts",
        "restarted",
        "runs",
        "ran",
        "uses",
        "used",
        "named",
        "called",
        "listed",
        "above",
        "below",
        "here",
        "there",
        "itself",
        "limit",
        "limits",
        "request",
        "requests",
        "name",
        "names",
        "value",
        "values",
        "spec",
        "template",
        "field",
        "fields",
        "reference",
        "references",
        "setting",
        "settings",
    ]
)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*[A-Za-z0-9_]|[A-Za-z0-9_]", text))


def invented(summary: str, known: str, names: Mapping[str, Set[str]] | None = None) -> list[str]:
    """Identifiers in `summary` that the evidence `known` never showed, in order of appearance.

    `names` maps a kind noun (lower case, singular: "container", "service", "node") to every name of
    that kind the investigation knows; a word after that noun must be one of them."""
    names = names or {}
    words = _words(known)
    found: list[str] = []
    found += _PLACEHOLDER.findall(summary)  # an example's `<name>` copied verbatim
    for token in _SHAPED.findall(summary):
        if token not in known:
            found.append(token)
    for match in _AFTER_KIND.finditer(summary):
        kind, name = match.group("kind").lower(), match.group("name").rstrip(".:,;")
        if name.lower() in _PLAIN:
            continue
        allowed = names.get(kind)
        if (name not in allowed) if allowed else (name not in words):
            found.append(name)
    return list(dict.fromkeys(found))


def dropped(summary: str, cause: str) -> list[str]:
    """What `cause` (the analyzers' text) names for a human to change that `summary` leaves out. A small
    model copying a cause into JSON ends the string at its first quote, or retells "livenessProbe.exec
    `cat /run/beat` fails" as "Liveness probe failed": grounded, but without the very names to fix."""
    named = (next(part for part in groups if part) for groups in _NAMED.findall(cause))
    return [name for name in dict.fromkeys(named) if name not in summary]
