"""Missing configuration: a ConfigMap, Secret or key the pod references that is not there, a file a config
volume should hold, or an env var the app says it needs.

References of every form are read, in init containers (sidecars) and containers alike: env
(configMapKeyRef, secretKeyRef), envFrom (configMapRef, secretRef, with its prefix), ConfigMap and Secret
volumes with their items, and projected volumes. The kubelet's message names the object; the container
status it sits in, or the event's field path or volume, names where it failed. Every finding names that
container (or volume) and the field; a fix re-points the field at an object or key the namespace shows
existing with the same shape (a key named like the missing one, an object holding every key the pod
reads from it): never another namespace, and for a Secret only another Secret the workload already
reads, as the safety floor allows no other. References marked `optional: true` are never causes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import jsonpointer

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    CONTAINER_LISTS,
    Candidate,
    ProposedPatch,
    container_pointer,
    quote,
    template_target,
    volume_pointer,
)
from smart_sre.investigation.evidence import Evidence
from smart_sre.investigation.mentions import missing_env_names, missing_files
from smart_sre.k8s.owners import pod_spec

_MISSING_OBJECT = re.compile(r'(?P<kind>configmap|secret) "(?P<name>[^"]+)" not found', re.IGNORECASE)
_MISSING_KEY = re.compile(
    r"couldn't find key (?P<key>\S+) in (?P<kind>ConfigMap|Secret) (?:[^/\s]+/)?(?P<name>[^\s,\]]+)"
)
# A volume's items naming a key the object lacks; newer kubelets also name the object (items ns/name).
_MISSING_ITEM = re.compile(
    r"(?:items (?:[^/\s]+/)?(?P<name>\S+) )?(?:configmap |secret )?references non-existent "
    r"(?P<kind>config|secret) key:? \"?(?P<key>[^\s\",\]]+)",
    re.IGNORECASE,
)
_VOLUME = re.compile(r'volume "(?P<volume>[^"]+)"')
_FIELD_PATH = re.compile(r"spec\.(?:initContainers|containers)\{(?P<container>[^}]+)\}")
_KINDS = {"configmap": "ConfigMap", "config": "ConfigMap", "secret": "Secret"}


@dataclass(frozen=True)
class Ref:
    """One reference of a pod spec to a ConfigMap or Secret (and, for a keyed one, a key of it)."""

    kind: str  # "ConfigMap" or "Secret"
    name: str
    key: str | None  # the key it reads: env *KeyRef and volume items; None for envFrom and whole volumes
    owner: str  # the container's name, or the volume's
    in_volume: bool
    pointer: str  # below the container or volume: the object holding `name` ("envFrom/0/configMapRef")
    name_field: str  # "name", or "secretName" for a Secret volume
    key_pointer: str | None  # below the container or volume: the field holding `key`
    optional: bool

    @property
    def field(self) -> str:
        """The name field as a human reads it: envFrom[0].configMapRef.name."""
        return _readable(f"{self.pointer}/{self.name_field}")

    @property
    def key_field(self) -> str:
        """The key field as a human reads it: env[2].valueFrom.configMapKeyRef.key."""
        return _readable(self.key_pointer or "")


def _readable(pointer: str) -> str:
    """A relative JSON pointer written the way kubectl explain and humans write fields."""
    return "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in pointer.split("/")).lstrip(".")


def _volume_refs(volume: dict) -> Iterator[Ref]:
    name = volume.get("name", "")
    sources = [(volume, "")]
    sources += [
        (source, f"projected/sources/{index}/")
        for index, source in enumerate((volume.get("projected") or {}).get("sources") or [])
    ]
    for source, prefix in sources:
        for field, kind, name_field in (
            ("configMap", "ConfigMap", "name"),
            ("secret", "Secret", "secretName" if not prefix else "name"),
        ):
            ref = source.get(field)
            if not isinstance(ref, dict) or not ref.get(name_field):
                continue
            pointer, optional = f"{prefix}{field}", bool(ref.get("optional"))
            items = ref.get("items") or []
            if not items:
                yield Ref(kind, ref[name_field], None, name, True, pointer, name_field, None, optional)
            for index, item in enumerate(items):
                yield Ref(
                    kind,
                    ref[name_field],
                    item.get("key"),
                    name,
                    True,
                    pointer,
                    name_field,
                    f"{pointer}/items/{index}/key",
                    optional,
                )


def _container_refs(container: dict) -> Iterator[Ref]:
    name = container.get("name", "")
    for index, source in enumerate(container.get("envFrom") or []):
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if ref := source.get(field):
                pointer = f"envFrom/{index}/{field}"
                yield Ref(
                    kind,
                    ref.get("name", ""),
                    None,
                    name,
                    False,
                    pointer,
                    "name",
                    None,
                    bool(ref.get("optional")),
                )
    for index, env in enumerate(container.get("env") or []):
        for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            if ref := (env.get("valueFrom") or {}).get(field):
                pointer = f"env/{index}/valueFrom/{field}"
                yield Ref(
                    kind,
                    ref.get("name", ""),
                    ref.get("key"),
                    name,
                    False,
                    pointer,
                    "name",
                    f"{pointer}/key",
                    bool(ref.get("optional")),
                )


def references(spec: dict) -> list[Ref]:
    """Every ConfigMap and Secret reference of a pod spec, in containers, init containers and volumes."""
    found = [ref for kind in CONTAINER_LISTS for c in spec.get(kind) or [] for ref in _container_refs(c)]
    found += [ref for volume in spec.get("volumes") or [] for ref in _volume_refs(volume)]
    return found


# --- What the kubelet said -------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One thing the kubelet could not find: an object, or a key of it."""

    kind: str
    name: str | None  # None: a volume item's missing key, whose object the volume names
    key: str | None


def _messages(evidence: Evidence) -> Iterator[tuple[str | None, str | None, str]]:
    """(container, volume, message) of every kubelet word on the pod: waiting statuses, then events."""
    status = evidence.pod.get("status") or {}
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        if message := ((cs.get("state") or {}).get("waiting") or {}).get("message"):
            yield cs.get("name"), None, message
    for event in evidence.events:
        message = event.get("message") or ""
        volume = _VOLUME.search(message) if event.get("reason") == "FailedMount" else None
        path = _FIELD_PATH.search((event.get("involvedObject") or {}).get("fieldPath") or "")
        yield (path["container"] if path else None), (volume["volume"] if volume else None), message


def _failures(message: str) -> Iterator[Failure]:
    if match := _MISSING_KEY.search(message):
        yield Failure(match["kind"], match["name"], match["key"])
        return
    if match := _MISSING_ITEM.search(message):
        yield Failure(_KINDS[match["kind"].lower()], match["name"], match["key"])
        return
    for match in _MISSING_OBJECT.finditer(message):  # a projected volume may name several
        yield Failure(_KINDS[match["kind"].lower()], match["name"], None)


def _matching(refs: list[Ref], failure: Failure, volume: str | None) -> list[Ref]:
    """The non-optional references the failure is about; a volume's missing key is about that volume."""
    found = []
    for ref in refs:
        if ref.optional or (failure.key is not None and ref.key != failure.key):
            continue
        if ref.kind == failure.kind and (
            ref.name == failure.name if failure.name else ref.in_volume and ref.owner == volume
        ):
            found.append(ref)
    return found


def analyze(evidence: Evidence) -> list[Candidate]:
    refs = references(pod_spec(evidence.pod))
    grouped: dict[tuple, tuple[list[str], list[Ref], str]] = {}
    for container, volume, message in _messages(evidence):
        for failure in _failures(message):
            matching = _matching(refs, failure, volume)
            if not matching and failure.name is None:
                continue
            name = failure.name or matching[0].name
            where = grouped.setdefault((failure.kind, name, failure.key), ([], matching, message))[0]
            if container and container not in where:
                where.append(container)
    candidates = []
    for (kind, name, key), (where, matching, message) in grouped.items():
        if not matching and any(ref.optional and ref.kind == kind and ref.name == name for ref in refs):
            continue  # an optional reference is never the cause
        failed = where or sorted({c for ref in matching for c in _users(evidence, ref)})
        if key is None:
            candidates.append(_missing_object(evidence, kind, name, matching, failed, message))
        else:
            candidates.append(_missing_key(evidence, kind, name, key, matching, failed, message))
    candidates += _missing_env(evidence)
    candidates += _missing_files(evidence, refs)
    return candidates


# --- Fixes -----------------------------------------------------------------------------------------


def _closest(word: str, options: list[str], cutoff: float = 0.7) -> str | None:
    normal = {re.sub(r"[-_.]", "", option.lower()): option for option in options}
    exact = normal.get(re.sub(r"[-_.]", "", word.lower()))
    if exact and exact != word:
        return exact
    matches = difflib.get_close_matches(word, [o for o in options if o != word], n=1, cutoff=cutoff)
    return matches[0] if matches else None


def _existing(evidence: Evidence, kind: str) -> dict[str, list[str]]:
    return evidence.config_keys if kind == "ConfigMap" else evidence.secret_key_names


def _known(evidence: Evidence, kind: str) -> bool:
    """Whether the namespace's objects of this kind could be listed (the shipped RBAC reads no Secrets)."""
    return kind == "ConfigMap" or bool(evidence.secret_key_names) or bool(evidence.secret_keys)


def _secrets_read(evidence: Evidence) -> set[str]:
    """Secrets the workload's template already reads: the only ones a fix may point it at."""
    return {ref.name for ref in references(pod_spec(evidence.top_owner)) if ref.kind == "Secret"}


def _pointer(evidence: Evidence, ref: Ref) -> tuple[str, str] | None:
    """("Kind/name", pointer to the container or volume of `ref` in the owner a fix changes)."""
    located = volume_pointer(evidence, ref.owner) if ref.in_volume else container_pointer(evidence, ref.owner)
    return (located[0], located[1]) if located else None


def _on_template(evidence: Evidence, ref: Ref) -> Ref | None:
    """The same reference on the template a fix changes, which may list env or volumes differently."""
    same = [
        other
        for other in references(template_target(evidence)[2])
        if (other.kind, other.name, other.key, other.owner) == (ref.kind, ref.name, ref.key, ref.owner)
    ]
    return next((other for other in same if other.pointer == ref.pointer), same[0] if same else None)


def _repoint(evidence: Evidence, refs: list[Ref], value: str, *, key: bool) -> ProposedPatch | None:
    """One patch that sets the name (or key) of every reference to `value`, in the owner's template."""
    target, operations = None, []
    for pod_ref in refs:
        ref = _on_template(evidence, pod_ref)
        if ref is None:
            return None
        located = _pointer(evidence, ref)
        field = ref.key_pointer if key else f"{ref.pointer}/{ref.name_field}"
        if located is None or field is None:
            return None
        target, base = located
        operation = {"op": "replace", "path": f"{base}/{field}", "value": value}
        if operation not in operations:
            operations.append(operation)
    return ProposedPatch(target, operations) if target and operations else None


def _users(evidence: Evidence, ref: Ref) -> list[str]:
    """The containers a reference feeds: its own, or those that mount its volume."""
    if not ref.in_volume:
        return [ref.owner]
    spec = pod_spec(evidence.pod)
    return [
        c.get("name", "")
        for kind in CONTAINER_LISTS
        for c in spec.get(kind) or []
        if any(mount.get("name") == ref.owner for mount in c.get("volumeMounts") or [])
    ]


def _where(ref: Ref | None, failed: list[str]) -> str:
    """'container worker', or 'container web, volume settings': who failed, as a finding names it."""
    containers = f"container {', '.join(failed)}" if failed else "the pod"
    return f"{containers}, volume {ref.owner}" if ref is not None and ref.in_volume else containers


def _missing_object(
    evidence: Evidence, kind: str, name: str, refs: list[Ref], failed: list[str], message: str
) -> Candidate:
    first = refs[0] if refs else None
    said = f'{_where(first, failed)}: {first.field} "{name}"' if first else f"{kind} {name}"
    more = f" (and {len(refs) - 1} more reference)" if len(refs) > 1 else ""
    needed = {ref.key for ref in refs if ref.key}
    fitting = [other for other, keys in _existing(evidence, kind).items() if needed <= set(keys)]
    better = _closest(name, fitting)
    keys = f" and the keys it reads ({', '.join(sorted(needed))})" if needed else ""
    patch, fix = None, f"; no {kind} there has a close name{keys}"
    reason = f"no existing {kind} in namespace {evidence.namespace} can stand in for {name}; create it"
    if not _known(evidence, kind):
        fix, reason = "", f"the operator may not list Secrets, so none can be checked; create {name}"
    elif better:
        fix = f'; {kind} "{better}" does' + (f" (with keys {', '.join(sorted(needed))})" if needed else "")
        if kind == "Secret" and better not in _secrets_read(evidence):
            reason = (
                f"Secret {better} exists, but a fix never points a workload at a Secret it does not read yet"
            )
        else:
            patch = _repoint(evidence, refs, better, key=False)
            reason = None if patch else f"the reference to {name} is not on the workload's template"
    return _finding(
        f"{said}{more} does not exist in namespace {evidence.namespace}{fix}.",
        message,
        0.9,
        patch,
        reason,
    )


def _missing_key(
    evidence: Evidence, kind: str, name: str, key: str, refs: list[Ref], failed: list[str], message: str
) -> Candidate:
    first = refs[0] if refs else None
    said = f'{_where(first, failed)}: {first.key_field} "{key}"' if first else f"key {key}"
    keys = _existing(evidence, kind).get(name, [])
    better = _closest(key, keys)
    patch, reason, fix = None, f"no key of {kind} {name} is close to {key!r}; add the key", ""
    if not _known(evidence, kind):
        reason = f"the operator may not list Secrets, so the keys of {name} are unknown"
    elif better:
        patch = _repoint(evidence, refs, better, key=True)
        fix = f'; it has "{better}"'
        reason = None if patch else f"the reference to {name} is not on the workload's template"
    elif refs and not any(ref.in_volume for ref in refs) and (other := _holder(evidence, kind, name, key)):
        patch = _repoint(evidence, refs, other, key=False)
        fix = f'; {kind} "{other}" has it'
        reason = None if patch else f"the reference to {name} is not on the workload's template"
    listed = f" (keys: {', '.join(keys) or 'none'})" if _known(evidence, kind) else ""
    return _finding(
        f"{said}: {kind} {name} has no such key{listed}{fix}.",
        message,
        0.9,
        patch,
        reason,
    )


def _holder(evidence: Evidence, kind: str, name: str, key: str) -> str | None:
    """Another object of the kind, named like `name`, that has exactly `key` (a Secret: one already read)."""
    holders = [other for other, keys in _existing(evidence, kind).items() if key in keys and other != name]
    if kind == "Secret":
        holders = [other for other in holders if other in _secrets_read(evidence)]
    return _closest(name, holders)


# --- What the app says it misses -------------------------------------------------------------------


def _set_names(evidence: Evidence, container: dict) -> set[str]:
    """Env names the container gets: its env entries and what its envFrom ConfigMaps supply."""
    names = {env.get("name", "") for env in container.get("env") or []}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        keys = _existing(evidence, "ConfigMap" if "configMapRef" in source else "Secret").get(
            ref.get("name", ""), []
        )
        names |= {source.get("prefix", "") + key for key in keys}
    return names


def _missing_env(evidence: Evidence) -> list[Candidate]:
    """One candidate per env name a failing container's log says it misses, fixed in that container."""
    candidates, seen = [], set()
    spec = pod_spec(evidence.pod)
    containers = {c.get("name"): c for kind in CONTAINER_LISTS for c in spec.get(kind) or []}
    for name, text in evidence.logs.items():
        container = containers.get(name)
        if container is None:
            continue
        for line in text.splitlines():
            for wanted in missing_env_names(line):
                if (name, wanted) in seen or wanted in _set_names(evidence, container):
                    continue
                seen.add((name, wanted))
                candidates.append(_env_candidate(evidence, name, container, wanted, line))
    return candidates


def _env_candidate(evidence: Evidence, name: str, container: dict, wanted: str, line: str) -> Candidate:
    env = container.get("env") or []
    # Only a near-identical name is a typo: REDIS_HOST is not a misspelt REDIS_PORT.
    renamed = _closest(wanted, [e.get("name", "") for e in env], cutoff=0.85)
    located = container_pointer(evidence, name)
    patch, reason, source = None, f"nothing in the namespace provides a value for {wanted}", ""
    if renamed and located:
        index = next(i for i, e in enumerate(located[2].get("env") or []) if e.get("name") == renamed)
        patch = ProposedPatch(
            located[0], [{"op": "replace", "path": f"{located[1]}/env/{index}/name", "value": wanted}]
        )
        source = f" It sets {renamed} instead; rename it."
    elif (found := _env_source(evidence, name, wanted)) is not None:
        entry, said = found
        source = f" {said}"
        if located and _secret_of(entry) not in {None, *_secrets_read(evidence)}:
            reason = f"Secret {_secret_of(entry)} has it, but a fix never points a workload at a Secret it does not read yet"
        elif located:
            target, pointer, template = located
            operation = (
                {"op": "add", "path": f"{pointer}/env/-", "value": entry}
                if template.get("env")
                else {"op": "add", "path": f"{pointer}/env", "value": [entry]}
            )
            patch = ProposedPatch(target, [operation])
    return _finding(
        f"container {name} exits because the environment variable {wanted} is not set.{source}",
        line,
        0.85,
        patch,
        reason,
    )


def _env_source(evidence: Evidence, container: str, name: str) -> tuple[dict, str] | None:
    """(env entry for `name`, where it comes from) from facts: a sibling container or another workload
    here sets it, or a ConfigMap (or Secret) key has its name."""
    own = evidence.top_owner["metadata"].get("uid")
    setters = [
        (c, f"container {c.get('name')} of this pod")
        for kind in CONTAINER_LISTS
        for c in pod_spec(evidence.top_owner).get(kind) or []
        if c.get("name") != container
    ]
    setters += [
        (c, f"{workload.get('kind', 'workload')} {workload['metadata']['name']}")
        for workload in evidence.workloads
        if workload["metadata"].get("uid") != own
        for c in pod_spec(workload).get("containers") or []
    ]
    for setter, where in setters:
        for env in setter.get("env") or []:
            if env.get("name") == name and (env.get("value") or env.get("valueFrom")):
                return env, f"{where} sets it; use the same value."
    for configmap, keys in sorted(evidence.config_keys.items()):
        if name in keys:
            entry = {"name": name, "valueFrom": {"configMapKeyRef": {"name": configmap, "key": name}}}
            return entry, f"ConfigMap {configmap} has key {name}; reference it."
    for secret, keys in sorted(evidence.secret_key_names.items()):
        if name in keys:
            entry = {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name}}}
            return entry, f"Secret {secret} has key {name}; reference it."
    return None


def _secret_of(entry: dict) -> str | None:
    return ((entry.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")


# --- Files a config volume should hold -------------------------------------------------------------


def _missing_files(evidence: Evidence, refs: list[Ref]) -> list[Candidate]:
    """A file the app cannot open under a ConfigMap/Secret volume's mount: the object or its items lack it."""
    spec = pod_spec(evidence.pod)
    containers = {c.get("name"): c for kind in CONTAINER_LISTS for c in spec.get(kind) or []}
    candidates, seen = [], set()
    for name, text in evidence.logs.items():
        for line in text.splitlines():
            for path in missing_files(line):
                found = _file_candidate(evidence, refs, name, containers.get(name) or {}, path, line)
                if found is not None and path not in seen:
                    seen.add(path)
                    candidates.append(found)
    return candidates


def _file_candidate(
    evidence: Evidence, refs: list[Ref], name: str, container: dict, path: str, line: str
) -> Candidate | None:
    mounts = [
        m
        for m in container.get("volumeMounts") or []
        if path.startswith(m.get("mountPath", "").rstrip("/") + "/") and not m.get("subPath")
    ]
    if not mounts:
        return None
    mount = max(mounts, key=lambda m: len(m.get("mountPath", "")))
    volume_refs = [ref for ref in refs if ref.in_volume and ref.owner == mount.get("name")]
    if not volume_refs:
        return None
    wanted = path[len(mount["mountPath"].rstrip("/")) + 1 :]
    volume = next(
        (v for v in pod_spec(evidence.pod).get("volumes") or [] if v.get("name") == mount["name"]), {}
    )
    items = [(ref, _item(volume, ref)) for ref in volume_refs if ref.key_pointer]
    said = f"container {name} cannot open {path}: volume {mount['name']} mounted at {mount['mountPath']}"
    if items:
        paths = [item.get("path") or item.get("key", "") for _, item in items]
        if wanted in paths:
            return None  # mapped: the kubelet says whether its key is missing
        better = _closest(wanted, paths)
        if better is None:
            return _finding(
                f"{said} maps only {', '.join(paths)}.",
                line,
                0.75,
                None,
                f"no item of the volume is close to {wanted}",
            )
        ref, _ = items[paths.index(better)]
        on_template = _on_template(evidence, ref)
        located = _pointer(evidence, on_template) if on_template else None
        patch = None
        if on_template and located:
            path_field = str(on_template.key_pointer).removesuffix("/key") + "/path"
            operation = {"op": "replace", "path": f"{located[1]}/{path_field}", "value": wanted}
            patch = ProposedPatch(located[0], [operation])
        return _finding(
            f'{said} maps key "{ref.key}" to "{better}", not "{wanted}".',
            line,
            0.85,
            patch,
            "the volume is not on the workload's template",
        )
    ref = volume_refs[0]
    keys = _existing(evidence, ref.kind).get(ref.name)
    if keys is None or wanted in keys:
        return None  # the object is missing (the kubelet says so) or the file should be there
    near = _closest(wanted, keys)
    hint = f'; it has "{near}"' if near else f" (keys: {', '.join(keys) or 'none'})"
    return _finding(
        f'{said} holds {ref.kind} {ref.name}, which has no key "{wanted}"{hint}.',
        line,
        0.75,
        None,
        f"rename the key in {ref.kind} {ref.name}, or map it with the volume's items",
    )


def _item(volume: dict, ref: Ref) -> dict:
    """The volume item a keyed volume reference stands for."""
    return jsonpointer.resolve_pointer(volume, "/" + str(ref.key_pointer).removesuffix("/key"), {})


def _finding(
    summary: str, said: str, score: float, patch: ProposedPatch | None = None, reason: str | None = None
) -> Candidate:
    """A MissingConfig candidate quoting the kubelet's or the app's line; its reason only without a patch."""
    return Candidate(
        root_cause=RootCause.MISSING_CONFIG,
        summary=summary,
        score=score,
        patch=patch,
        facts=(quote(said),),
        no_patch_reason=None if patch else reason,
    )
