"""Crashes of the app itself: rejected command-line flags (fixed by dropping the flag), and otherwise
an exit code with the last log lines, for a human to read.

A rejected flag is named by a log line, and logs are written by the application (or whoever controls
its input), so dropping a flag on a log's word alone could switch off authentication or TLS checks.
Flags whose name reads as a security control are therefore never removed: the candidate keeps the
cause and the quoted line, and a human fixes the flag. Every fix made from a log line quotes it.
"""

from __future__ import annotations

import re
from itertools import pairwise

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    Candidate,
    ProposedPatch,
    container_pointer,
    quote,
)
from smart_sre.investigation.evidence import Evidence

# How runtimes report a flag they do not know: Python argparse, getopt and Node ("unrecognized
# arguments", "unknown option"), Go's flag package, the JVM and picocli ("Unrecognized option",
# "Unknown option"). yargs ("Unknown argument: name") and nginx ("invalid option: "x"") name it
# without its dashes; other wordings must show the dash, so prose ("invalid argument: 42") is no flag.
_BAD_FLAG = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"(?:unrecognized|unknown|invalid) (?:option|flag|argument)s?:? ['\"]?(?P<flag>-[^\s'\",]+)",
        r"(?:unknown argument|invalid option)s?: ['\"]?(?P<flag>\w[^\s'\",]*)",
        r"flag provided but not defined: (?P<flag>-\S+)",
    )
)
# Words of a flag's name that mean it guards something: authentication, transport security, keys and
# secrets, request forgery and origins, access control, isolation, integrity and audit. Matched per
# word of the name (split at '-', '_', '.' and camelCase), and on two words joined ("read-only").
_SECURITY_WORD = re.compile(
    r"o?auth\w*|authn|authz|oidc|saml|jwt|sso|login|m?tls|ssl|https|hsts|certs?|certificates?|ca"
    r"|cafile|certfile|keyfile|\w*keys?|keystore|truststore|secure|insecure|unsafe|verify\w*"
    r"|verification|tokens?|passw(?:or)?ds?|secrets?|credentials?|creds?|\w*crypt\w*|hmac"
    r"|[cx]srf|cors|origins?|rbac|acls?|permissions?|perms?|privileged?|privileges?|sandbox\w*"
    r"|seccomp|apparmor|selinux|readonly|audit\w*|sign|signs|signed|signing|signatures?"
    r"|allowlist|denylist|whitelist|blacklist|firewall"
)
_WORD_BREAK = re.compile(r"[-_.]+|(?<=[a-z0-9])(?=[A-Z])")


def security_relevant(flag: str) -> bool:
    """True when a word of the flag's name reads as a security control (`--require-auth`,
    `-tlsVerify=false`, `--read-only`), whatever the flag's syntax; `--max-connections` is not."""
    name = flag.lstrip("-").split("=")[0]
    words = [word.lower() for word in _WORD_BREAK.split(name) if word]
    joined = [first + second for first, second in pairwise(words)]
    return any(_SECURITY_WORD.fullmatch(word) for word in (*words, *joined))


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


def _flag_fix(evidence: Evidence, container_name: str, flag: str) -> tuple[ProposedPatch | None, str | None]:
    """The patch dropping `flag` from the container's args or command, or why there is none."""
    located = container_pointer(evidence, container_name)
    if located:
        target, pointer, container = located
        for field in ("args", "command"):
            kept = _without(container.get(field) or [], flag)
            if kept is not None:
                operation = {"op": "replace", "path": f"{pointer}/{field}", "value": kept}
                return ProposedPatch(target, [operation]), None
    return None, f"{flag} is not in the container's args or command"


def _rejected_flag(evidence: Evidence, container_name: str, flag: str, line: str) -> Candidate:
    """The candidate for a flag the app rejects: dropped from the spec unless it is a security control."""
    said = quote(line)
    if security_relevant(flag):
        patch = None
        reason = (
            f'the log line "{said}" rejects {flag}, whose name reads as a security control: removing or '
            "changing it on a log's word could weaken the app, so fix the flag by hand"
        )
        advice = "Fix the flag by hand; it looks security-relevant, so no patch is proposed."
    else:
        patch, reason = _flag_fix(evidence, container_name, flag)
        advice = "Remove the flag."
    return Candidate(
        root_cause=RootCause.APPLICATION_ERROR,
        summary=f"Container {container_name} exits at start because it rejects the flag {flag}, as its log "
        f'says: "{quote(line, 120)}". {advice}',
        score=0.85,
        patch=patch,
        facts=(said,),
        no_patch_reason=reason,
    )


def analyze(evidence: Evidence) -> list[Candidate]:
    candidates = [
        _rejected_flag(evidence, container_name, *found)
        for container_name, text in evidence.logs.items()
        if (found := _bad_flag(text)) is not None
    ]
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
