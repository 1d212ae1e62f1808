"""Explaining what no analyzer covers: the pod spec's settings as options, and the line that shows one.

`Investigation.explain` calls `settings` when the chosen candidate names no culprit (an exit code and
a log line, or nothing at all): every setting of the failing workload's pod template becomes an option
named by its content ("container web workingDir: /srv/app"), the model picks one by calibrated
likelihood (`adjudication`), and `explanation` writes the sentence from the chosen setting and the
evidence line that shares the most words with it. The text is built from the spec and the evidence
only, so it cannot name anything the cluster did not show; it is findings only, never a patch.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Iterator

from smart_sre.investigation.analyzers.base import CONTAINER_LISTS, quote, template_target
from smart_sre.investigation.evidence import Evidence, failing_containers
from smart_sre.investigation.mentions import container_env
from smart_sre.investigation.tools.base import cut

MAX_SETTINGS = 24
NAMED_CHARS = 200  # a culprit as a report names it: leaves the summary (400) room for the line showing it
# What the API server fills in when a field is left out: a field holding its default was most likely
# never written by anyone, so it is no option; the same field set otherwise (dnsPolicy: Default) is.
_DEFAULTS: dict[str, frozenset[str]] = {
    field: frozenset(values)
    for field, values in {
        "terminationMessagePath": ["/dev/termination-log"],
        "terminationMessagePolicy": ["File"],
        "imagePullPolicy": ["IfNotPresent", "Always"],  # which one depends on the tag
        "protocol": ["TCP"],
        "scheme": ["HTTP"],
        "successThreshold": ["1"],
        "schedulerName": ["default-scheduler"],
        "dnsPolicy": ["ClusterFirst"],
        "restartPolicy": ["Always"],
        "terminationGracePeriodSeconds": ["30"],
        "enableServiceLinks": ["true"],
        "priority": ["0"],
        "preemptionPolicy": ["PreemptLowerPriority"],
        "defaultMode": ["420"],
    }.items()
}
_ITEM_KEYS = ("mountPath", "name", "containerPort", "key")  # what names one element of a list
_WORD = re.compile(r"[a-z0-9]{3,}")
_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")  # readOnlyRootFilesystem -> read Only Root ...
_WHO = re.compile(r"^(?:container \S+|pod) ")  # whose setting it is: every option of a container has it
# A setting of one element of a list: "container web volumeMounts[mountPath=/data]" and its field.
_ELEMENT = re.compile(r"^(?P<element>(?:container \S+|pod) \S*\])\.[^:\s]+: ")
_SHARED = ("ports", "volumeMounts")  # what a pod's containers share: its network and its volumes
# Warning events that restate the trigger for any cause: "Back-off restarting failed container ...".
_RESTATED = frozenset({"BackOff"})
# A line that says something went wrong, in any runtime's wording: the line a failure is shown by.
_TROUBLE = re.compile(
    r"error|fatal|panic|exception|traceback|cannot|can't|could not|couldn't|unable|fail|denied|refused|"
    r"not found|no such|missing|invalid|already in use|read-only|timed? ?out|exceeded|didn't|insufficient",
    re.I,
)


def _text(value: object) -> str:
    """A scalar as the spec's YAML shows it: `true`, not `True`."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _leaves(value: object, path: str) -> Iterator[tuple[str, str]]:
    """(readable path, value) for every set field under `value`; list elements are named by their key."""
    if isinstance(value, dict):
        for key, child in value.items():
            if _text(child) not in _DEFAULTS.get(key, ()):
                yield from _leaves(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            if value:
                yield path, " ".join(str(item) for item in value)
            return
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            key = next((k for k in _ITEM_KEYS if k in item), None)
            rest = {k: v for k, v in item.items() if k != key}
            label = f"{path}[{key}={item[key]}]" if key else f"{path}[{index}]"
            yield from _leaves(rest, label) if rest else iter([(path, str(item[key]))])
    elif value not in (None, "", {}):
        yield path, _text(value)


def settings(evidence: Evidence) -> list[str]:
    """The settings a human could have got wrong, as options: the failing containers' first (with the env
    their ConfigMaps give them, which the spec only names), then the pod's own, then what other containers
    share with them (ports, mounts)."""
    _, _, spec = template_target(evidence)
    failing = set(failing_containers(evidence.pod))
    mine: list[str] = []
    shared: list[str] = []
    for kind in CONTAINER_LISTS:
        for container in spec.get(kind) or []:
            name = container.get("name", "")
            fields = {k: v for k, v in container.items() if k != "name"}
            for path, value in _leaves(fields, ""):
                option = f"container {name} {path}: {value}"
                if name in failing:
                    mine.append(option)
                elif path.split("[")[0].split(".")[0] in _SHARED:
                    shared.append(option)
            if name in failing:
                mine += [
                    f"container {name} env[name={env}] ({source}): {value}"
                    for env, value, _, source in container_env(container, evidence.configmaps)
                    if source is not None
                ]
            else:  # what a container lacks can be the fault too: a mount it never got
                shared += [f"container {name} {field}: none" for field in _SHARED if not container.get(field)]
    pod = {k: v for k, v in spec.items() if k not in CONTAINER_LISTS}
    own = [f"pod {path}: {value}" for path, value in _leaves(pod, "")]
    return list(dict.fromkeys([*mine, *own, *shared]))[:MAX_SETTINGS]


def whole(setting: str, options: tuple[str, ...]) -> str:
    """A setting of a list element named with its element's other settings: the mount, not one of its
    fields (`volumeMounts[mountPath=/data] (name: data; subPath: app.yaml)`, the chosen one first). The
    fields of one element share its label and most of their words, so a small model's choice between
    them is close to even (margins of tenths, docs/eval.md), while the element is what a human edits."""
    match = _ELEMENT.match(setting)
    if match is None:
        return setting
    element = match["element"]
    siblings = [option for option in options if option != setting and option.startswith(f"{element}.")]
    if not siblings:
        return setting
    fields = "; ".join(option.removeprefix(f"{element}.") for option in [setting, *siblings])
    return cut(f"{element} ({fields})", NAMED_CHARS)


def describe(document: dict, operation: dict) -> str:
    """A patch operation named by content: `replace container web env LOG_LEVEL value = "info"`.

    List indexes in the path are replaced by the element's name (its `name`, `mountPath`, ...), read
    from `document`, the object the patch applies to; the template's prefix is left out."""
    node: object = document
    named: list[str] = []
    for segment in operation.get("path", "").split("/")[1:]:
        segment = segment.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
            key = next((k for k in _ITEM_KEYS if isinstance(node, dict) and k in node), None)
            named[-1:] = [f"{named[-1].removesuffix('s')} {node[key]}" if key and named else segment]
            continue
        node = node.get(segment) if isinstance(node, dict) else None
        if segment not in ("spec", "template", "jobTemplate"):
            named.append(segment)
    value = f" = {json.dumps(operation['value'])}" if "value" in operation else ""
    return f"{operation.get('op', 'change')} {' '.join(named)}{value}"


def _log_lines(evidence: Evidence) -> list[str]:
    return [line for text in evidence.logs.values() for line in text.splitlines() if line.strip()]


def evidence_lines(evidence: Evidence) -> list[str]:
    """The lines that show how the pod fails: its failing containers' logs, then the events' messages (not
    the kubelet's back-off, which follows any crash)."""
    return _log_lines(evidence) + [
        event["message"]
        for event in evidence.events
        if event.get("message") and event.get("reason") not in _RESTATED
    ]


def failure_line(evidence: Evidence, facts: tuple[str, ...]) -> str | None:
    """The line that shows how the pod fails: the last that says something went wrong, from the analyzer's
    quotes, then the logs, then the warning events; else the analyzer's quote or the last log line. (The
    last line a process prints is often a banner, such as its runtime's version; the kubelet's back-off
    event follows every crash and says nothing of why.)"""
    warnings = [
        event.get("message", "")
        for event in evidence.events
        if event.get("type") == "Warning" and event.get("reason") not in _RESTATED
    ]
    logs = _log_lines(evidence)
    for lines in (facts, logs, warnings):
        if troubled := [line for line in lines if _TROUBLE.search(line)]:
            return quote(troubled[-1])
    found = [*facts, *logs[-1:]]
    return quote(found[0]) if found else None


def showing(setting: str, lines: list[str]) -> str | None:
    """The line sharing the most words with the setting (its path and value, not whose it is: the
    container's name is in every event about it), among those that say something went wrong if any
    does (an image "already present on machine" shares its name with half the spec); the latest wins a
    tie."""
    words = set(_WORD.findall(_WHO.sub("", setting).lower()))
    troubled = [line for line in lines if _TROUBLE.search(line)]
    best, best_overlap = None, 0
    for line in troubled or lines:
        overlap = len(words & set(_WORD.findall(line.lower())))
        if overlap and overlap >= best_overlap:
            best, best_overlap = line, overlap
    return quote(best) if best else None


def _terms(text: str) -> set[str]:
    """The words of a setting or a line as both would spell them: camelCase and separators split, a
    plural's s dropped, and each two neighbours joined too, so `readOnlyRootFilesystem` and "read-only
    file system" share `readonly` and `filesystem`."""
    parts = [part.lower() for part in _PART.findall(text)]
    parts = [part[:-1] if len(part) > 3 and part.endswith("s") else part for part in parts]
    joined = [a + b for a, b in itertools.pairwise(parts)]
    return {term for term in (*parts, *joined) if len(term) >= 2}


def relevance(options: list[str], lines: list[str]) -> list[float]:
    """How much each setting shares with the lines that show the failure: the terms of its path and value
    found in them, each weighted by how few options carry it (a term every option has tells none apart).
    The prior of the culprit question; the model's reading of the failure decides among the likely."""
    shown = set().union(*(_terms(line) for line in lines)) if lines else set()
    own = [_terms(_WHO.sub("", option)) for option in options]
    carried = Counter(term for terms in own for term in terms)
    return [sum(math.log(1 + len(options) / carried[term]) for term in terms & shown) for terms in own]


def explanation(setting: str, line: str | None) -> str:
    """The sentence a report leads with: the chosen setting and the line that shows it. (How sure the
    model was is in `status.adjudications`: a number here would be one the cluster never showed.)"""
    shown = f' The evidence: "{line}".' if line else ""
    return f"No known cause covers this failure; the model points at {setting} (findings only).{shown}"
