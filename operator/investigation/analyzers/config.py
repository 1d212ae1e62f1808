"""Missing configuration: a ConfigMap, Secret or key the pod references that is not there, or an env
var the app says it needs. Fixes only point at names that exist in the namespace."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    Candidate,
    ProposedPatch,
    container_pointer,
    quote,
)
from smart_sre.investigation.evidence import Evidence
from smart_sre.k8s.owners import pod_spec

_MISSING_OBJECT = re.compile(r'(?P<kind>configmap|secret) "(?P<name>[^"]+)" not found', re.IGNORECASE)
_MISSING_KEY = re.compile(
    r"couldn't find key (?P<key>\S+) in (?P<kind>ConfigMap|Secret) (?:[^/\s]+/)?(?P<name>\S+)"
)
_MISSING_ENV = (
    re.compile(r"missing required environment variable:? '?(?P<name>[A-Z][A-Z0-9_]*)'?", re.IGNORECASE),
    re.compile(r"KeyError: '(?P<name>[A-Z][A-Z0-9_]*)'"),
    re.compile(r"Required environment variable '(?P<name>[A-Z][A-Z0-9_]*)' is not set"),
    re.compile(r"environment variable (?P<name>[A-Z][A-Z0-9_]*) (?:is )?(?:not set|unset|required)"),
)
_REF = {"configmap": ("configMapKeyRef", "configMapRef"), "secret": ("secretKeyRef", "secretRef")}


def _messages(evidence: Evidence) -> list[str]:
    status = evidence.pod.get("status") or {}
    texts = [
        ((cs.get("state") or {}).get("waiting") or {}).get("message", "")
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    ]
    texts += [event.get("message", "") for event in evidence.events]
    return [text for text in texts if text]


def _closest(word: str, options: list[str]) -> str | None:
    normal = {re.sub(r"[-_.]", "", option.lower()): option for option in options}
    exact = normal.get(re.sub(r"[-_.]", "", word.lower()))
    if exact and exact != word:
        return exact
    matches = difflib.get_close_matches(word, [o for o in options if o != word], n=1, cutoff=0.75)
    return matches[0] if matches else None


def analyze(evidence: Evidence) -> list[Candidate]:
    candidates = []
    seen: set[str] = set()
    for message in _messages(evidence):
        if (match := _MISSING_KEY.search(message)) and message not in seen:
            seen.add(message)
            candidates.append(
                _missing_key(evidence, match["kind"].lower(), match["name"], match["key"], message)
            )
        elif (match := _MISSING_OBJECT.search(message)) and message not in seen:
            seen.add(message)
            candidates.append(_missing_object(evidence, match["kind"].lower(), match["name"], message))
    for line in evidence.log_text().splitlines():
        for pattern in _MISSING_ENV:
            if (match := pattern.search(line)) and match["name"] not in seen:
                seen.add(match["name"])
                candidates.append(_missing_env(evidence, match["name"], line))
    return candidates


def _env_refs(evidence: Evidence, kind: str, name: str, key: str | None = None) -> Iterator[tuple[str, str]]:
    """(container name, path of the reference inside the container) of references to kind/name(/key)."""
    key_ref, from_ref = _REF[kind]
    for container in pod_spec(evidence.pod).get("containers") or []:
        for index, env in enumerate(container.get("env") or []):
            ref = (env.get("valueFrom") or {}).get(key_ref) or {}
            if ref.get("name") == name and (key is None or ref.get("key") == key):
                yield container["name"], f"env/{index}/valueFrom/{key_ref}"
        for index, source in enumerate(container.get("envFrom") or []):
            if ((source.get(from_ref) or {}).get("name")) == name and key is None:
                yield container["name"], f"envFrom/{index}/{from_ref}"


def _repoint(
    evidence: Evidence, refs: Iterable[tuple[str, str]], field: str, value: str
) -> ProposedPatch | None:
    """One patch that sets `field` ("name" or "key") of every reference to `value`, in the owner's template."""
    target = None
    operations = []
    for container, ref_path in refs:
        located = container_pointer(evidence, container)
        if located:
            target, pointer, _ = located
            operations.append({"op": "replace", "path": f"{pointer}/{ref_path}/{field}", "value": value})
    return ProposedPatch(target, operations) if target and operations else None


def _existing(evidence: Evidence, kind: str) -> dict[str, list[str]]:
    return evidence.config_keys if kind == "configmap" else evidence.secret_key_names


def _missing_key(evidence: Evidence, kind: str, name: str, key: str, message: str) -> Candidate:
    keys = _existing(evidence, kind).get(name, [])
    better = _closest(key, keys)
    patch = _repoint(evidence, _env_refs(evidence, kind, name, key), "key", better) if better else None
    fix = f" It has {better!r}; reference that key." if better else ""
    return Candidate(
        root_cause=RootCause.MISSING_CONFIG,
        summary=f"The container cannot start: {kind} {name} has no key {key!r} (keys: {', '.join(keys) or 'none'}).{fix}",
        score=0.9,
        patch=patch,
        facts=(quote(message),),
        no_patch_reason=None
        if patch
        else f"no existing key of {kind} {name} is close to {key!r}; add the key",
    )


def _missing_object(evidence: Evidence, kind: str, name: str, message: str) -> Candidate:
    existing = _existing(evidence, kind)
    wanted_keys = {
        ((env.get("valueFrom") or {}).get(_REF[kind][0]) or {}).get("key")
        for container in pod_spec(evidence.pod).get("containers") or []
        for env in container.get("env") or []
        if (((env.get("valueFrom") or {}).get(_REF[kind][0]) or {}).get("name")) == name
    } - {None}
    fitting = [other for other, keys in existing.items() if wanted_keys <= set(keys)]
    better = _closest(name, fitting)
    patch = _repoint(evidence, _env_refs(evidence, kind, name), "name", better) if better else None
    fix = f" {kind} {better} exists with the keys it needs; reference it." if better else ""
    return Candidate(
        root_cause=RootCause.MISSING_CONFIG,
        summary=f"The container cannot start: {kind} {name} does not exist in namespace {evidence.namespace}.{fix}",
        score=0.9,
        patch=patch,
        facts=(quote(message),),
        no_patch_reason=None if patch else f"no existing {kind} can stand in for {name}; create it",
    )


def _missing_env(evidence: Evidence, name: str, line: str) -> Candidate:
    entry = _env_source(evidence, name)
    containers = pod_spec(evidence.pod).get("containers") or []
    patch = None
    if entry is not None and containers:
        located = container_pointer(evidence, containers[0]["name"])
        if located:
            target, pointer, container = located
            if container.get("env"):
                operation = {"op": "add", "path": f"{pointer}/env/-", "value": entry}
            else:
                operation = {"op": "add", "path": f"{pointer}/env", "value": [entry]}
            patch = ProposedPatch(target, [operation])
    source = f" {_describe(entry)}" if entry else ""
    return Candidate(
        root_cause=RootCause.MISSING_CONFIG,
        summary=f"The app exits because the environment variable {name} is not set.{source}",
        score=0.85,
        patch=patch,
        facts=(quote(line),),
        no_patch_reason=None if patch else f"nothing in the namespace provides a value for {name}",
    )


def _env_source(evidence: Evidence, name: str) -> dict | None:
    """An env entry for `name` from facts: another workload here sets it, or a ConfigMap/Secret key has its name."""
    own = evidence.top_owner["metadata"].get("uid")
    for workload in evidence.workloads:
        if workload["metadata"].get("uid") == own:
            continue
        for container in pod_spec(workload).get("containers") or []:
            for env in container.get("env") or []:
                if env.get("name") == name:
                    return env
    for configmap, keys in sorted(evidence.config_keys.items()):
        if name in keys:
            return {"name": name, "valueFrom": {"configMapKeyRef": {"name": configmap, "key": name}}}
    for secret, keys in sorted(evidence.secret_key_names.items()):
        if name in keys:
            return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name}}}
    return None


def _describe(entry: dict) -> str:
    source = entry.get("valueFrom") or {}
    if ref := source.get("configMapKeyRef"):
        return f"ConfigMap {ref['name']} has key {ref['key']}; reference it."
    if ref := source.get("secretKeyRef"):
        return f"Secret {ref['name']} has key {ref['key']}; reference it."
    return "Another workload in the namespace sets it; use the same value."
