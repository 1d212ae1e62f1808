"""What a report's summary says, judged against what the reader could see: invented names and the culprit.

The eval (runner.py) judges the summary of every scenario run, model and baseline alike:

- *invented names*: identifiers in `status.findings.summary` that appear nowhere in the scenario's
  objects nor in what the report itself showed (the evidence, tool results, the diff, the patch). A
  summary naming a container, Service, env var or quantity the reader cannot find is a made-up fact,
  however right its root cause.
- *culprit named*: every term of the scenario's `expected.mentions` appears in the summary.

This is the eval's own reading, written apart from the product's check of model summaries on purpose:
a measure must not share the code it measures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from smart_sre_sandbox.cluster import SANDBOX_API_VERSION


def _wordlist(text: str) -> frozenset[str]:
    return frozenset(text.split())


# A word, with the characters names carry inside it: `redis-master`, `LOG_LEVEL`, `512Mi`, `db:5432`.
_WORD = re.compile("[A-Za-z0-9_](?:[A-Za-z0-9_.:/'\u2019-]*[A-Za-z0-9_])?")
_INSIDE = re.compile(r"[-_./:]|[0-9]")
_UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
# What an address or a path is made of: each part must be known where the whole is not (`db:5433`,
# `livenessProbe.httpGet.path`).
_JOINS = re.compile(r"[.:/=@?&]+")
_POSSESSIVE = re.compile("['\u2019]s$")
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)[a-z]+")  # 404Mi, 250m: a number in some unit
# A span of time the analyzers compute from a probe's settings ("killed after 20s"): a measure, not a name.
_SPAN = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:h|m|s|ms))*[0-9]+(?:\.[0-9]+)?(?:h|s|ms)")
_LETTERS_JOINED = re.compile(r"[a-z]+(?:-[a-z]+)+")  # crash-loops, redis-master
_ABBREVIATIONS = _wordlist("e.g i.e")
_FORMULA = re.compile(r"\b(?:max|min)\([^()]*\)")
# The word right after one of these is a name ("container api", "Service payments").
_KIND_NOUNS = _wordlist(
    "container service configmap secret pod node deployment statefulset daemonset key port image volume"
)
# Words that follow a kind noun in plain English without naming anything ("the container is killed",
# "the image tag", "the port stays unchanged"): function words, verbs, and the nouns and states prose
# puts after a kind.
_PLAIN = _wordlist(
    """a an the is was are were be been being it its this that these those which who whose of in on at to
    for from by as into onto and or but nor not no never with without has have had does do did can cannot
    could will would should may might must doesn't isn't wasn't didn't can't won't keeps kept stays
    remains exits exited exiting crashes crashed crashing fails failed failing restarts restarted runs ran
    running uses used using needs needed lacks lacked gets got sees saw says said shows showed starts
    started listens listening dials points pointed refers refuses rejects changed changes moved set
    raised lowered bumped updated reverted removed added renamed listed above below here there
    itself then so if when while because also only still again now yet named called crash-loops
    crash-looping crash-looped tag tags name names value values field fields spec template reference
    references setting settings status state phase count limit limits request requests memory cpu probe
    probes log logs selector affinity pool address port ports key keys image images volume volumes
    unchanged missing wrong unavailable unreachable ready healthy unhealthy down up empty"""
)
# Sandbox-only documents are the catalogue and the answer; of them the reader sees only the nodes.
_SHOWN_SANDBOX_KINDS = frozenset({"SandboxNode"})


# A word cut short by a bound ("conn...", a timestamp cut at its dash "2026-01-..."): no name.
_CUT = re.compile(r"[-_:/]?(?:\.\.\.|\u2026)")


@dataclass(frozen=True)
class _Token:
    word: str  # as written, a possessive 's taken off
    possessive: bool
    before: str  # the characters between the previous word and this one
    after: str  # the characters that follow it, up to the next word


def _tokens(text: str) -> list[_Token]:
    text = text.replace("(s)", "s")  # "port(s)": one word, not a port named "s"
    # A formula's parameters ("its need plus max(25%, 256Mi) headroom") say how a value the report shows
    # was computed: a rule, not a name.
    text = _FORMULA.sub(" ", text)
    matches = list(_WORD.finditer(text))
    tokens = []
    for index, match in enumerate(matches):
        start = matches[index - 1].end() if index else 0
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        bare = _POSSESSIVE.sub("", match.group())
        tokens.append(
            _Token(bare, bare != match.group(), text[start : match.start()], text[match.end() : end])
        )
    return tokens


def is_identifier(word: str) -> bool:
    """A token shaped like a name or a quantity: `-`, `_`, `.`, `/`, `:` or a digit inside, or UPPER_SNAKE."""
    return bool(_INSIDE.search(word)) or bool(_UPPER_SNAKE.fullmatch(word))


def _kind_noun(token: _Token) -> bool:
    noun = token.word.lower()
    return not token.possessive and (noun in _KIND_NOUNS or noun.removesuffix("s") in _KIND_NOUNS)


def identifiers(summary: str) -> list[tuple[str, bool]]:
    """(identifier, whether it stands where a name stands) for each of a summary, in order, each once:
    name-shaped words (not a ratio "25%", a span "20s", a formula "max(25%, 256Mi)", a word cut short
    "conn..."), and the word right after a kind noun ("Container api", "Service `payments`", past
    "named"/"called"), unless it is a plain English word."""
    tokens = _tokens(summary)
    found: dict[str, bool] = {}
    for index, token in enumerate(tokens):
        cut = bool(_CUT.match(token.after))
        shaped = (
            is_identifier(token.word)
            and not token.after.startswith("%")
            and not _SPAN.fullmatch(token.word)
            and token.word.lower() not in _ABBREVIATIONS
        )
        if shaped and not cut:
            found.setdefault(token.word, False)
        if not _kind_noun(token):
            continue
        following = tokens[index + 1 : index + 3]
        if following and following[0].word.lower() in ("named", "called"):
            following = following[1:]
        if not following:
            continue
        name = following[0]
        if (
            name.before.strip(" `'\"") == ""
            and name.word.lower() not in _PLAIN
            and not _CUT.match(name.after)
        ):
            found[name.word] = True
    return list(found.items())


@dataclass(frozen=True)
class Known:
    """What a reader was shown, as `invented` looks it up: every word (lower case) with the parts of
    addresses and paths, and the pieces of the cluster's names (`redis` of the image `redis:7.2`,
    `orders` of the Service `orders-db`)."""

    words: frozenset[str]
    pieces: frozenset[str] = frozenset()

    def __or__(self, other: Known) -> Known:
        return Known(self.words | other.words, self.pieces | other.pieces)

    def has(self, word: str) -> bool:
        """`word` (lower case) was shown, as written or, a plain word, singular or plural."""
        if word in self.words:
            return True
        return word.isalpha() and (word + "s" in self.words or word.removesuffix("s") in self.words)

    def _value(self, word: str) -> bool:
        """`word` was shown whole, or as the number of a quantity (404 MiB for 404Mi)."""
        quantity = _QUANTITY.fullmatch(word)
        return self.has(word) or (quantity is not None and self.has(quantity.group(1)))

    def shows(self, word: str, *, as_name: bool) -> bool:
        """Whether `word` (an identifier) was shown: whole, as a quantity, or by each part of an address
        or path. A hyphenated word of letters that shares no piece with the cluster's names, where no
        name stands, is prose ("crash-loops", "security-relevant")."""
        lowered = word.lower()
        parts = [part for part in _JOINS.split(lowered) if part]
        if self._value(lowered) or (len(parts) > 1 and all(map(self._value, parts))):
            return True
        return (
            _LETTERS_JOINED.fullmatch(lowered) is not None
            and not as_name
            and not any(piece in self.pieces for piece in lowered.split("-"))
        )


def known_words(texts: Iterable[str]) -> Known:
    """Every word of `texts`, for `invented`."""
    words: set[str] = set()
    for text in texts:
        for token in _tokens(text):
            word = token.word.lower()
            words.add(word)
            words.update(part for part in _JOINS.split(word) if part)
    return Known(frozenset(words))


def shown_by_cluster(documents: Iterable[dict]) -> Known:
    """What the scenario's cluster shows a reader: its objects (names, containers, env, keys, images,
    labels, quantities) and its nodes; not the image catalogue nor the Scenario document (the answer).
    The pieces of names are those of its values, not of the field names Kubernetes gives every object."""
    shown = [
        d
        for d in documents
        if d.get("apiVersion") != SANDBOX_API_VERSION or d.get("kind") in _SHOWN_SANDBOX_KINDS
    ]
    values = " ".join(text for document in shown for text in strings(document, keys=False)).lower()
    pieces = {piece for piece in re.split(r"[^a-z]+", values) if len(piece) > 2 and piece not in _PLAIN}
    return Known(
        known_words(text for document in shown for text in strings(document)).words, frozenset(pieces)
    )


def invented(summary: str, known: Known) -> list[str]:
    """The identifiers of `summary` that nothing in `known` (`known_words`) showed."""
    return [word for word, as_name in identifiers(summary) if not known.shows(word, as_name=as_name)]


def culprit_named(summary: str, mentions: list[str] | None) -> bool | None:
    """Every expected term is in the summary (case-insensitive); None when the scenario names none."""
    if not mentions:
        return None
    text = summary.lower()
    return all(term.lower() in text for term in mentions)


def strings(value: Any, *, keys: bool = True) -> Iterator[str]:
    """Every string and number inside a JSON-like value, and its keys unless told not to."""
    if isinstance(value, dict):
        for key, item in value.items():
            if keys:
                yield str(key)
            yield from strings(item, keys=keys)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item, keys=keys)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield str(value)


def _entries(value: Any) -> list[dict]:
    """The objects of a list a report's status should hold: anyone may write a status, so a field of
    another shape reads as empty, never as a crash of the eval."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def summary_of(status: dict) -> str:
    """The report's `findings.summary`, or "" where the status holds none."""
    findings = status.get("findings")
    summary = findings.get("summary") if isinstance(findings, dict) else None
    return summary if isinstance(summary, str) else ""


def report_text(status: dict) -> Iterator[str]:
    """What a report showed besides its summary, as the reader sees it: the evidence (step 0), every tool
    result, the quotes cited, the diff against the healthy revision, the patches and why none was offered.
    The model's own observations, thoughts and tool arguments are left out: a name the model wrote there
    is no more shown than one in its summary."""
    for step in _entries(status.get("reasoningChain")):
        if step.get("index") == 0:
            yield str(step.get("observation") or "")
        yield str(step.get("result") or "")
    findings = status.get("findings")
    for evidence in _entries(findings.get("evidence") if isinstance(findings, dict) else None):
        yield str(evidence.get("quote") or "")
    for field in ("changes", "suggestedPatch", "rollbackPatch", "noPatchReason"):
        yield from strings(status.get(field))
