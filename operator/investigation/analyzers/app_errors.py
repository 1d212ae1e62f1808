"""Crashes of the app itself (`analyzers.candidates` calls `analyze` for every investigation): rejected
command-line flags (fixed by dropping the flag), programs and files a container cannot start (fixed in its
command or args), and otherwise an exit code with the last log lines, for a human to read.

A start error (runc's StartError, exit 128; a shell's 127 "not found" or 126 "Permission denied"; an
interpreter that cannot open its file) names what could not run. When the container's `command` or
`args` override names it, the override is what fails, and the fix is the value the last healthy revision
ran (the "what changed" evidence), else no override at all, so the image's own entrypoint runs: shown to
work where a Ready workload runs the same image without one, assumed (lower score) where only a missing
program says so; a file an interpreter cannot open is never fixed on that assumption, since an
interpreter image's own entrypoint is a prompt that exits at once. When the override names it by a path
relative to an explicit `workingDir`, the runtime looked for it under that directory, which may be what is
wrong: the finding says so, the override is not dropped on assumption, and the cause is the setting
(BadConfigValue) unless the fix puts back a command, args or image.

A rejected flag is named by a log line, and logs are written by the application (or whoever controls
its input), so dropping a flag on a log's word alone could switch off authentication or TLS checks.
Flags whose name reads as a security control are therefore never removed: the candidate keeps the
cause and the quoted line, and a human fixes the flag. Every fix made from a log line quotes it.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from itertools import pairwise

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    Candidate,
    ProposedPatch,
    container_pointer,
    quote,
)
from smart_sre.investigation.analyzers.image_pull import (
    concerns,
    container_changes,
    field_name,
    ready_containers,
    template_path,
    title,
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


# What runc and containerd (StartError, exit 128) and the shells (busybox ash, dash, bash: 127 not found,
# 126 not executable) say when the program or script a container should run is missing or cannot be
# executed; `name` is what could not run. Read so only with one of those exit codes: a script that goes on
# after "sh: curl: not found" failed for some other reason.
_CANNOT_EXEC = tuple(
    re.compile(pattern)
    for pattern in (
        r'exec: "(?P<name>[^"]+)": (?P<why>executable file not found in \$PATH|stat [^:]+: no such file or '
        r"directory|permission denied|no such file or directory|exec format error)",
        r"(?:^|[\s/])(?:ba|da|a)?sh(?:: line \d+|: \d+)?: (?:line \d+: )?(?P<why>can't open) '?(?P<name>[^'\s:]+)",
        r"(?:^|[\s/])(?:ba|da|a)?sh(?:: line \d+|: \d+)?: (?:line \d+: )?(?P<name>[^\s:]+): "
        r"(?P<why>(?:command )?not found|No such file or directory|Permission denied)",
    )
)
# The same said by the container's init as its only log line (an image built for another CPU, a script
# without its execute bit), whatever the exit code; and interpreters that cannot open the file their
# command line names (python, node, java), which is a file, not a program.
_EXEC_LOGGED = re.compile(
    r"^exec (?P<name>/[^\s:]+): (?P<why>permission denied|exec format error|no such file or directory)"
)
_CANNOT_OPEN = tuple(
    re.compile(pattern)
    for pattern in (
        r"\bpython[\d.]*: (?P<why>can't open file) '(?P<name>[^']+)'",
        r"\bError: (?P<why>Cannot find module) '(?P<name>[^']+)'",
        r"\bError: (?P<why>Unable to access jarfile) (?P<name>\S+)",
        r"\bError: (?P<why>Could not find or load main class) (?P<name>\S+)",
    )
)
_START_CODES = frozenset({126, 127, 128})
_SAID = 120  # longest message quoted whole
_PROGRAM_FIELDS = ("command", "args", "workingDir", "image")  # what decides what a container runs
_OVERRIDE = ("command", "args")
REVERT = 0.85  # the healthy revision ran these values
DEFAULT_SHOWN = 0.8  # a Ready workload runs the image without an override
DEFAULT_ASSUMED = 0.6  # only the missing program says the override is what fails
_FOUND_ONLY = 0.7
_FOUND_WITH_CHANGES = 0.4  # other changes since the healthy revision lead with their reverts


@dataclass(frozen=True)
class _CannotRun:
    container: str
    name: str  # the program or file
    why: str  # the runtime's, shell's or interpreter's words for what is wrong with it
    line: str  # where it says so
    exit_code: int | None
    program: bool  # a program or script to execute, not a file an interpreter could not open


def _on_path(why: str) -> bool:
    """The runtime or shell looked the name up on $PATH (a bare name), not as a path to a file."""
    return why.lower().startswith(("executable file not found", "not found", "command not found"))


def _problem(why: str) -> str:
    lowered = why.lower()
    if "permission denied" in lowered:
        return "is not executable"
    if "exec format" in lowered:
        return "is not a program for this node's CPU architecture"
    if _on_path(why):
        return "does not exist in the image"
    return "does not exist in the container"


def _texts(evidence: Evidence, status: dict) -> list[str]:
    """What the runtime, the kubelet and the container itself said: state messages, events, logs."""
    texts = [
        (detail or {}).get("message") or ""
        for state in (status.get("state") or {}, status.get("lastState") or {})
        for detail in state.values()
    ]
    texts += [event.get("message", "") for event in evidence.events if concerns(event, status["name"])]
    texts.append(evidence.logs.get(status["name"], ""))
    return [line for text in texts for line in text.splitlines() if line.strip()]


def _cannot_run(evidence: Evidence, status: dict) -> _CannotRun | None:
    """What this container could not run, when its runtime, shell or interpreter says so."""
    state, last = status.get("state") or {}, status.get("lastState") or {}
    terminated = last.get("terminated") or state.get("terminated") or {}
    code = terminated.get("exitCode")
    started = terminated.get("reason") == "StartError" or (state.get("waiting") or {}).get("reason") in (
        "RunContainerError",
        "StartError",
    )
    patterns = [
        *(_CANNOT_EXEC if started or code in _START_CODES else ()),
        *((_EXEC_LOGGED, *_CANNOT_OPEN) if code else ()),
    ]
    for line in _texts(evidence, status):
        for pattern in patterns:
            if match := pattern.search(line):
                said = line if len(line) <= _SAID else line[match.start() :].strip()  # runc's prefix is long
                program = pattern not in _CANNOT_OPEN
                return _CannotRun(status["name"], match["name"], match["why"], said, code, program)
    return None


def _words(argument: str) -> list[str]:
    try:
        return [argument, *shlex.split(argument)]
    except ValueError:  # unbalanced quotes: the shell would fail too; its words are still the words
        return [argument, *argument.split()]


def _named_by(container: dict, name: str) -> tuple[str, str] | None:
    """(the override field, command then args, that names `name` by its path or its file name; the word)."""
    base = posixpath.basename(name.rstrip("/"))
    for field in _OVERRIDE:
        for word in (word for argument in container.get(field) or [] for word in _words(str(argument))):
            if word == name or (base and posixpath.basename(word) == base):
                return field, word
    return None


def _naming(container: dict, name: str) -> str | None:
    named = _named_by(container, name)
    return named[0] if named else None


def _relative(container: dict, found: _CannotRun) -> tuple[str, str] | None:
    """(the path as the override writes it, the workingDir) when the override names what is missing by a
    path relative to the container's explicit workingDir: the runtime looked for it under that directory,
    so the directory may be what is wrong as much as the path."""
    directory, named = container.get("workingDir"), _named_by(container, found.name)
    if not directory or named is None:
        return None
    word = named[1]
    if posixpath.isabs(word) or ("/" not in word and _on_path(found.why)):
        return None  # an absolute path, or a bare program name looked up on $PATH
    looked = posixpath.normpath(posixpath.join(directory, word))
    # An absolute name elsewhere: the script changed directory, or it is another file of that name.
    if posixpath.isabs(found.name) and posixpath.normpath(found.name) != looked:
        return None
    return word, directory


def _operation(pointer: str, old: object, new: object) -> dict:
    if old is None:
        return {"op": "remove", "path": pointer}
    return {"op": "add" if new is None else "replace", "path": pointer, "value": old}


def _revert(evidence: Evidence, found: _CannotRun) -> tuple[ProposedPatch, str, str] | None:
    """Put back the healthy revision's command, args, working directory and image where they changed:
    (patch, advice, fact), or None when none changed or the live template no longer holds the new ones."""
    changes = container_changes(evidence, found.container)
    changed = [changes[field] for field in _PROGRAM_FIELDS if field in changes]
    located = container_pointer(evidence, found.container)
    if not changed or located is None or evidence.changes is None:
        return None
    target, pointer, live = located
    fields = [change.path.rsplit("/", 1)[1] for change in changed]
    if any(
        change.old_redacted or live.get(field) != change.new
        for change, field in zip(changed, fields, strict=True)
    ):
        return None
    operations = [
        _operation(f"{pointer}/{field}", change.old, change.new)
        for change, field in zip(changed, fields, strict=True)
    ]
    values = "; ".join(
        f"{field_name(evidence, found.container, field)} {change.old_text or 'unset'}"
        for change, field in zip(changed, fields, strict=True)
    )
    revision = evidence.changes.healthy_revision
    advice = f"Put back what revision {revision} ran: {quote(values, 160)}."
    return (
        ProposedPatch(target, operations),
        advice,
        f"revision {revision} ran healthy: {evidence.changes.healthy}",
    )


def _runs_default(evidence: Evidence, image: str) -> str | None:
    """A Ready workload that runs `image` without a command or args override, if any."""
    return next(
        (
            name
            for name, container in ready_containers(evidence)
            if container.get("image") == image and not any(container.get(field) for field in _OVERRIDE)
        ),
        None,
    )


def _ran_before(evidence: Evidence, container: str) -> bool:
    """The healthy revision ran this container with the same command, args, working directory and image."""
    path = template_path(evidence, container)
    if evidence.changes is None or path is None:
        return False
    whole = any(
        path == change.path or path.startswith(change.path + "/") for change in evidence.changes.fields
    )
    return not whole and not set(container_changes(evidence, container)) & set(_PROGRAM_FIELDS)


def _removal(evidence: Evidence, found: _CannotRun) -> tuple[ProposedPatch, str, str, float] | None:
    """Drop the override that names what is missing, so the image's own entrypoint runs: (patch, advice,
    basis, score), or None where no fact supports that entrypoint working."""
    located = container_pointer(evidence, found.container)
    if located is None or _naming(located[2], found.name) is None or _ran_before(evidence, found.container):
        return None
    target, pointer, live = located
    shown = _runs_default(evidence, live.get("image", ""))
    # An interpreter image's own entrypoint is a prompt; a program named relative to workingDir may well be
    # in the image, under another directory: neither supports assuming the entrypoint works.
    if shown is None and (not found.program or _relative(live, found)):
        return None
    overrides = [name for name in _OVERRIDE if name in live]
    named = " and ".join(field_name(evidence, found.container, name) for name in overrides)
    basis = (
        f"{shown} runs {live.get('image')} without one and is Ready"
        if shown
        else "no Ready workload shows that entrypoint working, so this assumes it does"
    )
    return (
        ProposedPatch(target, [{"op": "remove", "path": f"{pointer}/{name}"} for name in overrides]),
        f"Remove the override ({named}) so the image's own entrypoint runs: {basis}.",
        basis,
        DEFAULT_SHOWN if shown else DEFAULT_ASSUMED,
    )


def _start_error(evidence: Evidence, found: _CannotRun) -> Candidate:
    live = _live(evidence, found.container)
    field = _naming(live, found.name)
    where = f", named in its {field_name(evidence, found.container, field)}," if field else ""
    code = f"exit code {found.exit_code}" if found.exit_code is not None else "it never started"
    facts = [quote(found.line), code]
    summary = (
        f"{title(evidence, found.container)} cannot start: {found.name}{where} {_problem(found.why)} "
        f"({quote(found.line, _SAID)}; {code})."
    )
    relative = _relative(live, found)
    if relative:
        path, directory = relative
        summary += f" `{path}` is relative, so it is looked up under workingDir {directory}."
    if reverted := _revert(evidence, found):
        patch, advice, fact = reverted
        facts.append(quote(fact))
        score, reason = REVERT, None
    elif removed := _removal(evidence, found):
        patch, advice, fact, score = removed
        facts.append(fact)
        reason = None
    else:
        patch, reason = None, _no_start_fix(evidence, found, field, live)
        advice = f"{reason[:1].upper()}{reason[1:]}."
        score = _FOUND_WITH_CHANGES if evidence.changes and evidence.changes.fields else _FOUND_ONLY
    return Candidate(
        root_cause=_cause(evidence, found, relative is not None, patch),
        summary=quote(f"{summary} {advice}", 400),
        score=score,
        patch=patch,
        facts=tuple(facts),
        no_patch_reason=reason,
    )


def _cause(evidence: Evidence, found: _CannotRun, relative: bool, patch: ProposedPatch | None) -> RootCause:
    """BadConfigValue where the working directory is the setting to blame: what is missing was named
    relative to it, and the fix, if any, puts back its value rather than a command, args or image (with no
    fix, unless the healthy revision ran the same settings); else the program (ApplicationError)."""
    fields = {op["path"].rsplit("/", 1)[1] for op in patch.operations} if patch else set()
    blamed = fields == {"workingDir"} if patch else not _ran_before(evidence, found.container)
    return RootCause.BAD_CONFIG_VALUE if relative and blamed else RootCause.APPLICATION_ERROR


def _no_start_fix(evidence: Evidence, found: _CannotRun, field: str | None, live: dict) -> str:
    image = live.get("image", "the image")
    if field is None:
        return (
            f"no command or args override names {found.name}: the image {image}'s own start-up fails, so fix "
            "the image or set a command that exists in it"
        )
    override = quote(" ".join(str(word) for name in _OVERRIDE for word in live.get(name) or []), 80)
    if _ran_before(evidence, found.container) and evidence.changes is not None:
        elsewhere = "another change" if evidence.changes.fields else "the image behind the same tag"
        return (
            f"revision {evidence.changes.healthy_revision} ran healthy with the same override `{override}` and "
            f"{image}, so the override is not what broke: look at {elsewhere}"
        )
    if relative := _relative(live, found):
        named = field_name(evidence, found.container, "workingDir")
        return f"set {named} to the directory that holds {relative[0]}, or fix the path"
    return (
        f"the override `{override}` cannot run as it is, and no healthy revision or Ready workload shows a "
        f"command that works with {image}: fix the override or the image"
    )


def _live(evidence: Evidence, container: str) -> dict:
    """The container as the live owner's template has it (empty when it is gone)."""
    located = container_pointer(evidence, container)
    return located[2] if located else {}


def _statuses(evidence: Evidence) -> list[dict]:
    status = evidence.pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def analyze(evidence: Evidence) -> list[Candidate]:
    flags = {name: found for name, text in evidence.logs.items() if (found := _bad_flag(text)) is not None}
    candidates = [_rejected_flag(evidence, name, *found) for name, found in flags.items()]
    for status in _statuses(evidence):
        found = _cannot_run(evidence, status) if status["name"] not in flags else None
        if found is not None and (found.program or _naming(_live(evidence, found.container), found.name)):
            candidates.append(_start_error(evidence, found))
    if candidates or not evidence.logs:
        return candidates
    for cs in _statuses(evidence):
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
                    names_culprit=False,
                )
            )
    return candidates
