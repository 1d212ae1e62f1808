"""Recognise secrets by the kind of value, for `Redactor.redact`, which calls `redact_secrets`.

The shipped RBAC cannot read Secrets, so the values an application logs are usually unknown: they are
caught by what they look like. In order: private keys (PEM blocks), tokens whose vendor prefix gives
them away (AWS, GitHub, GitLab, Slack, Stripe, Google, Azure, npm, PyPI, Docker Hub, Vault, SendGrid,
OpenAI/Anthropic-style `sk-`), JWTs, Authorization headers and bearer tokens, credentials in URLs,
`password=` / `secret:` / `token=`-style pairs (`--password=x` too; not `--password x`, which
is how usage texts list flags), then high-entropy strings.

High entropy, decided so that the evidence analyzers need survives (see `looks_random`):
- hex: 32 or more hex digits with letters and digits, Shannon entropy ≥ 3.0 bits per character,
  except after `sha1:`/`sha256:`/`sha384:`/`sha512:` (image digests) or `://` (container IDs). Trace
  ids and bare commit hashes are masked too: they cannot be told from hex API keys.
- base64/base62: 20 or more characters of `[A-Za-z0-9+/_-]` (then `=` padding) with an upper-case
  letter, a lower-case letter and a digit, entropy ≥ 3.5 bits per character, whose camel-case words are
  under 3 characters long on average (random strings; identifiers and paths have longer words), and,
  if it has a `/`, one `/`-separated part with all three classes (not `Kind/name` or a path).
  Kubernetes names (lower case), UUIDs (no mixed case), quantities, IPs and ports are never candidates.

Every pattern is linear on Python's `re`: it starts with a literal or at the start of a run (a
look-behind for the run's own class), and its repetitions are possessive or bounded with disjoint
neighbours, so no input makes it backtrack. `tests/agent/test_hostile_inputs.py` times each one.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable

REDACTED = "<redacted>"

_MIN_RANDOM = 20
_MIN_HEX = 32
_HEX_ENTROPY = 3.0
_BASE64_ENTROPY = 3.5
_MAX_WORD_LENGTH = 3.0
_DIGEST_CONTEXTS = ("sha1:", "sha256:", "sha384:", "sha512:", "://")
# Values a secret-named key may have that are not secrets: an SRE needs to see "password: false".
_HARMLESS = frozenset({"", "true", "false", "null", "none", "nil", "yes", "no", "[redacted]", "***"})
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")

# (kind, pattern) for tokens recognisable by a prefix; each becomes `<redacted: KIND>`.
_TOKENS: tuple[tuple[str, str], ...] = (
    ("aws access key", r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}"),
    ("github token", r"gh[pousr]_[A-Za-z0-9]{36,255}+|github_pat_[A-Za-z0-9_]{22,255}+"),
    ("gitlab token", r"gl(?:pat|dt|ptt|rt|cbt|soat|ft|imt)-[A-Za-z0-9_-]{20,255}+"),
    ("slack token", r"xox[abposre]-[A-Za-z0-9-]{10,255}+"),
    ("slack webhook", r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,255}+"),
    ("stripe key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,255}+|whsec_[A-Za-z0-9]{24,255}+"),
    ("google api key", r"AIza[0-9A-Za-z_-]{35}"),
    ("google oauth token", r"ya29\.[0-9A-Za-z_-]{20,2048}+|GOCSPX-[A-Za-z0-9_-]{28}"),
    ("api key", r"sk-[A-Za-z0-9_-]{20,255}+"),
    ("npm token", r"npm_[A-Za-z0-9]{36}"),
    ("pypi token", r"pypi-AgE[A-Za-z0-9_-]{50,1024}+"),
    ("docker hub token", r"dckr_pat_[A-Za-z0-9_-]{20,255}+"),
    ("vault token", r"hv[sbr]\.[A-Za-z0-9_-]{24,255}+"),
    ("sendgrid key", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
    ("jwt", r"eyJ[A-Za-z0-9_-]{5,4096}+\.[A-Za-z0-9_-]{5,4096}+\.[A-Za-z0-9_-]{0,4096}+"),
)
_WORD = r"A-Za-z0-9_\-"  # what a token is made of, for the start/end guards
# The first characters of `_TOKENS`: a look-ahead for them lets `re` skip ahead instead of trying
# every alternative at every position (60 ms -> 1 ms on 64 KB).
_TOKEN_FIRST = "AGSdeghnprswxy"
_TOKEN = re.compile(
    rf"(?=[{_TOKEN_FIRST}])(?<![{_WORD}~.])(?:"
    + "|".join(f"(?P<t{index}>{pattern})" for index, (_, pattern) in enumerate(_TOKENS))
    + rf")(?![{_WORD}])"
)
_AZURE_CLIENT_SECRET = re.compile(
    r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}+(?![A-Za-z0-9_~.-])"
)

_PRIVATE_KEY = re.compile(
    r"-----BEGIN[A-Z0-9 ]{0,16}PRIVATE KEY(?: BLOCK)?-----"
    r"(?s:.*?)(?:-----END[A-Z0-9 ]{0,16}PRIVATE KEY(?: BLOCK)?-----|\Z)"
)
# `Authorization: <scheme> VALUE` (any scheme), and a bare `Bearer VALUE` unless VALUE is a plain word.
_AUTHORIZATION = re.compile(
    r"(?i)(?=[abp])(?:"
    rf"(?P<keep>(?<![{_WORD}])(?:proxy-)?authorization[\"']?[ \t]{{0,8}}[:=][ \t]{{0,8}}[\"']?"
    r"(?:(?:basic|bearer|token|digest|negotiate|apikey)[ \t]{1,8})?+)"
    r"(?P<value>[^\s\"',;<]{1,4096}+)"
    rf"|(?P<bkeep>(?<![{_WORD}])bearer[ \t]{{1,8}})"
    r"(?=(?-i:[a-z._~+/-]{0,4096}+[A-Z0-9]))"  # a digit or a capital somewhere: not a word
    r"(?P<bvalue>[A-Za-z0-9._~+/-]{8,4096}+={0,3}+))"
)
# scheme://user:PASSWORD@host
_URL_CREDENTIALS = re.compile(
    r"(?P<keep>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}+://[^\s:/@\"'<>]{0,256}+:)"
    r"(?P<value>[^\s/@\"'<>]{1,256}+)(?=@)"
)
# Key names whose value is a secret; the name must end right before the separator.
_SECRET_KEY = (
    r"(?:password|passwd|passphrase|secret|token|credentials?|api[_-]?key|apikey|access[_-]?key|"
    r"secret[_-]?key|private[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|"
    r"account[_-]?key|shared[_-]?access[_-]?key|client[_-]?secret|sig)"
)
# A value after `key=` or `key: `: quoted (maybe unterminated: cut logs) or up to a delimiter; a
# mapping or list (`{`, `[`) is structure, not a value.
VALUE = r"(?P<value>\"[^\"\n]{0,512}+\"?|'[^'\n]{0,512}+'?|[^\s\"',;&<{\[][^\s\"',;&]{0,511}+)"
_KEY_VALUE = re.compile(rf"(?i)(?=[acempst])(?P<keep>{_SECRET_KEY}[\"']?[ \t]{{0,8}}[:=][ \t]{{0,8}}){VALUE}")
_RANDOM = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}+={0,3}+")
_WORDS = re.compile(r"[A-Z]?[a-z]++|[A-Z]++|[0-9]++")


def redact_secrets(text: str) -> str:
    """`text` with every value that looks like a secret replaced by a marker naming its kind."""
    text = _PRIVATE_KEY.sub("<redacted: private key>", text)
    text = _TOKEN.sub(_token_marker, text)
    text = _AZURE_CLIENT_SECRET.sub("<redacted: azure client secret>", text)
    text = _AUTHORIZATION.sub(_AUTHORIZATION_VALUE, text)
    text = _URL_CREDENTIALS.sub(_KEPT_KEY, text)
    text = _KEY_VALUE.sub(_KEPT_KEY, text)
    return _RANDOM.sub(_random_marker, text)


def looks_random(token: str) -> bool:
    """Whether a run of base64/hex characters is random enough to be a key rather than a name."""
    core = token.rstrip("=")
    if len(core) < _MIN_RANDOM:
        return False
    if all(char in _HEX_DIGITS for char in core):
        return (
            len(core) >= _MIN_HEX
            and any(char.isdigit() for char in core)
            and any(char.isalpha() for char in core)
            and entropy(core) >= _HEX_ENTROPY
        )
    return (
        _mixed(core)
        and entropy(core) >= _BASE64_ENTROPY
        and _mean_word_length(core) < _MAX_WORD_LENGTH
        and ("/" not in core or any(_mixed(part) for part in core.split("/")))
    )


def entropy(text: str) -> float:
    """Shannon entropy of `text` in bits per character."""
    counts = Counter(text).values()
    return -sum(count / len(text) * math.log2(count / len(text)) for count in counts)


def _mixed(text: str) -> bool:
    return (
        any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)
    )


def _mean_word_length(text: str) -> float:
    words = _WORDS.findall(text)
    return sum(map(len, words)) / len(words) if words else 0.0


def _token_marker(match: re.Match[str]) -> str:
    return f"<redacted: {_TOKENS[int(str(match.lastgroup)[1:])][0]}>"


def _random_marker(match: re.Match[str]) -> str:
    token = match.group()
    if not looks_random(token):
        return token
    if all(char in _HEX_DIGITS for char in token):
        digest = match.string[max(0, match.start() - 8) : match.start()].endswith(_DIGEST_CONTEXTS)
        return token if digest else "<redacted: hex>"
    return "<redacted: high entropy>"


def _kept_or_redacted(*groups: str) -> Callable[[re.Match[str]], str]:
    """A replacement keeping the key part and masking the value, for (keep, value) group pairs."""
    pairs = list(zip(groups[::2], groups[1::2], strict=True))

    def replace(match: re.Match[str]) -> str:
        for keep, value in pairs:
            if match.group(value) is not None:
                return match.group(keep) + masked(match.group(value))
        return match.group()

    return replace


def masked(value: str, marker: str = REDACTED) -> str:
    """`value` (a `VALUE` match) replaced by `marker` inside its quotes, unless it is no secret."""
    quote = value[0] if value[:1] in ("'", '"') else ""
    inner = value[1:].rstrip(quote) if quote else value
    if inner.lower() in _HARMLESS or inner.startswith(("<redacted", "$(")) or inner.endswith(("(", "[")):
        return value  # no secret, a marker, a k8s `$(VAR)`, or code (`password = os.environ[`)
    return f"{quote}{marker}{quote if value.endswith(quote) and len(value) > 1 else ''}"


_KEPT_KEY = _kept_or_redacted("keep", "value")
_AUTHORIZATION_VALUE = _kept_or_redacted("keep", "value", "bkeep", "bvalue")
