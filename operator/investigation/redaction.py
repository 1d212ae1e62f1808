"""Scrub secret-looking values from every text the agent sees or stores.

Redaction runs on each tool output before it reaches the model and before anything is written to a
report, so the model can neither leak a secret nor be steered by one. Values that come from Secrets
(env `valueFrom.secretKeyRef`, `envFrom.secretRef`) are known literally and replaced wherever they
appear, with a marker that says where they came from; everything else is caught by patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

REDACTED = "<redacted>"

# Keys whose value is a secret in `key=value`, `key: value` and JSON `"key": "value"` forms.
_SECRET_KEY = (
    r"(?:[A-Za-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|"
    r"access[_-]?key|private[_-]?key|client[_-]?secret|credentials?))"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys, whole block.
    (
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        "<redacted: private key>",
    ),
    # JSON Web Tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "<redacted: jwt>"),
    # Credentials in URLs: scheme://user:password@host.
    (re.compile(r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)"), r"\g<keep>" + REDACTED),
    # Authorization headers.
    (
        re.compile(r"(?i)(?P<keep>\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{8,}"),
        r"\g<keep>" + REDACTED,
    ),
    # AWS-style access key ids.
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b"), "<redacted: aws key>"),
    # Well-known token shapes (GitHub, Slack, OpenAI-like, Google API keys).
    (
        re.compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35})\b"
        ),
        "<redacted: token>",
    ),
    # JSON / YAML style: "password": "value"  or  password: value
    (
        re.compile(
            rf"(?i)(?P<keep>[\"']?{_SECRET_KEY}[\"']?[ \t]*:[ \t]*)(?!<redacted)(?:\"[^\"]*\"|'[^']*'|[^\s,;}}]+)"
        ),
        r"\g<keep>" + REDACTED,
    ),
    # Shell / env / query style: password=value, --token=value, &api_key=value
    (
        re.compile(rf"(?i)(?P<keep>{_SECRET_KEY}[ \t]*=[ \t]*)(?!<redacted)(?:\"[^\"]*\"|'[^']*'|[^\s&,;]+)"),
        r"\g<keep>" + REDACTED,
    ),
)

# Literal secret values shorter than this are not scrubbed: "1" or "on" would shred every text.
_MIN_LITERAL = 4


@dataclass
class Redactor:
    """Replaces known secret literals and secret-looking patterns in text."""

    extra_patterns: Iterable[str] = ()
    _literals: dict[str, str] = field(default_factory=dict)
    _extra: list[re.Pattern[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._extra = [re.compile(pattern) for pattern in self.extra_patterns]

    def add_secret_value(self, value: str, *, secret: str, key: str) -> None:
        """Remember a value read from a Secret so it is replaced wherever it shows up."""
        if len(value) >= _MIN_LITERAL:
            self._literals[value] = f"<redacted: from secret {secret} key {key}>"

    def redact(self, text: str) -> str:
        # Longest literals first, so a value containing another is replaced whole.
        for literal in sorted(self._literals, key=len, reverse=True):
            text = text.replace(literal, self._literals[literal])
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        for pattern in self._extra:
            text = pattern.sub(REDACTED, text)
        return text


def secret_env_refs(pod: dict) -> list[tuple[str, str | None]]:
    """(secret name, key or None for a whole `envFrom`) referenced by the pod's containers' env."""
    refs: list[tuple[str, str | None]] = []
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for env in container.get("env") or []:
            ref = ((env.get("valueFrom") or {}).get("secretKeyRef")) or {}
            if ref.get("name") and ref.get("key"):
                refs.append((ref["name"], ref["key"]))
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef") or {}
            if ref.get("name"):
                refs.append((ref["name"], None))
    return refs
