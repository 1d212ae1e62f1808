"""Scrub secret-looking values from every text the agent sees or stores.

The investigation (`investigation.py`, `evidence.py`, every tool) runs each text through
`Redactor.redact` before it reaches the model and before anything is written to a report, so the
model can neither leak a secret nor be steered by one. `redact` first bounds the text and strips
control characters (`untrusted`), so hostile logs cost a fixed, small time; then it replaces, in order:
values known literally from Secrets (when the operator may read them), the values of env vars the pod
takes from Secrets wherever `NAME=value` shows up (known from the spec alone, without Secret rights),
values recognised by their kind (`secret_kinds`), and the policy's own patterns, which run on RE2 so
that no pattern a policy author writes can make redaction super-linear.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import re2

from smart_sre.investigation import untrusted
from smart_sre.investigation.secret_kinds import REDACTED, masked, redact_secrets

# Literal secret values shorter than this are not scrubbed: "1" or "on" would shred every text.
_MIN_LITERAL = 4


class SecretEnvRef(NamedTuple):
    """An env source in a pod spec that takes its value(s) from a Secret."""

    secret: str
    key: str | None  # None: `envFrom`, every key of the Secret
    env: str | None  # the env var's name; None for `envFrom` (the Secret's keys, unknown without rights)
    prefix: str = ""  # `envFrom.prefix`


def secret_marker(secret: str, key: str) -> str:
    """What stands in for a value taken from a Secret: where it came from, never what it is."""
    return f"<redacted: from secret {secret} key {key}>"


# The value of an env name known to come from a Secret. Unquoted, it may hold spaces (`a b c`): it runs
# to the next `NAME=` / `NAME:` within 512 characters, else to the end of the line: no word of it is
# left behind (possessive, so linear on any line).
_ENV_VALUE = (
    r"(?P<value>\"[^\"\n]{0,512}+\"?|'[^'\n]{0,512}+'?"
    r"|[^\s\"'][^\n]{0,511}?(?=[ \t]+[A-Za-z_][A-Za-z0-9_.-]*[\"']?[ \t]{0,8}[:=]|[ \t]*(?:\n|$))"
    r"|[^\s\"'][^\n]*+)"
)


@dataclass
class Redactor:
    """Replaces known secret literals, Secret-backed env values and secret-looking values in text."""

    extra_patterns: Iterable[str] = ()
    _literals: list[tuple[str, str]] = field(default_factory=list)  # (value, marker), longest first
    _env_markers: dict[str, str] = field(default_factory=dict)
    _env: re.Pattern[str] | None = None
    _policy: re2._Regexp | None = None

    def __post_init__(self) -> None:
        self._policy = _policy_patterns(list(self.extra_patterns))

    def add_secret_value(self, value: str, *, secret: str, key: str) -> None:
        """Remember a value read from a Secret so it is replaced wherever it shows up."""
        if len(value) >= _MIN_LITERAL:
            self._literals.append((value, secret_marker(secret, key)))
            self._literals.sort(key=lambda literal: -len(literal[0]))

    def add_secret_env(self, name: str, *, secret: str, key: str) -> None:
        """Mask the value in `NAME=value`, `NAME: value` and `"NAME": "value"` wherever they show up."""
        self._env_markers[name] = secret_marker(secret, key)
        names = "|".join(re.escape(known) for known in sorted(self._env_markers, key=len, reverse=True))
        self._env = re.compile(
            rf"(?P<name>(?<![A-Za-z0-9_])(?:{names}))(?P<sep>[\"']?[ \t]{{0,8}}[:=][ \t]{{0,8}}){_ENV_VALUE}"
        )

    def redact(self, text: str) -> str:
        """`text` bounded, cleaned and scrubbed: time and output are bounded for any input."""
        text = untrusted.clean(untrusted.cap(text))
        for literal, marker in self._literals:  # longest first: a value containing another goes whole
            text = text.replace(literal, marker)
        if self._env is not None:
            text = self._env.sub(self._env_replacement, text)
        text = redact_secrets(text)
        if self._policy is not None:
            text = self._policy.sub(_nonempty_redacted, text)
        return untrusted.cap(text)  # markers may outgrow short values: the output is bounded too

    def _env_replacement(self, match: re.Match[str]) -> str:
        name = match.group("name")
        return name + match.group("sep") + masked(match.group("value"), self._env_markers[name])


def _policy_patterns(patterns: list[str]) -> re2._Regexp | None:
    """One RE2 alternation of a policy's patterns: linear in the text whatever the patterns are."""
    if not patterns:
        return None
    options = re2.Options()
    options.log_errors = False
    options.never_capture = True  # two patterns may name a group alike
    try:
        return re2.compile("|".join(f"(?:{pattern})" for pattern in patterns), options)
    except re2.error as error:  # a policy with such a pattern is not Ready (api.debugpolicy)
        raise ValueError(f"redaction patterns are not valid RE2 syntax: {error}") from error


def _nonempty_redacted(match: re2._Match) -> str:
    """A pattern that can match nothing (`a*`) must not scatter markers between every character."""
    return REDACTED if match.end() > match.start() else ""


def secret_env_refs(pod: dict) -> list[SecretEnvRef]:
    """Every env source of the pod's containers that takes its value from a Secret."""
    refs: list[SecretEnvRef] = []
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for env in container.get("env") or []:
            ref = ((env.get("valueFrom") or {}).get("secretKeyRef")) or {}
            if ref.get("name") and ref.get("key"):
                refs.append(SecretEnvRef(ref["name"], ref["key"], env.get("name")))
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef") or {}
            if ref.get("name"):
                refs.append(SecretEnvRef(ref["name"], None, None, source.get("prefix") or ""))
    return refs


def secret_values(secret: dict) -> Iterator[tuple[str, str]]:
    """(key, value) of a Secret read from the API: `data` decoded (skipped if not text), `stringData`."""
    for key, encoded in (secret.get("data") or {}).items():
        try:
            yield key, base64.b64decode(encoded).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
    for key, value in (secret.get("stringData") or {}).items():
        yield key, str(value)
