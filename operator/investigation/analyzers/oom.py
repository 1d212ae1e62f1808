"""Containers killed for exceeding their memory limit (OOMKilled, exit 137): a new limit derived from what
the container needs, with headroom, within what the nodes and the namespace's bounds allow.

Called by `analyzers.candidates` for every investigation; it looks at each container (init containers and
sidecars too) whose current or last termination was OOMKilled. The rule for the new limit:

- the observed need is the largest memory figure the facts give for that container: a size its logs report
  (the kernel's anon-rss, "allocating 512 MiB", a heap flag such as -Xmx1g or --max-old-space-size=N) or its
  spec configures (an env var that sizes a heap, memory, cache or buffer, a heap flag in its args or env).
  The new limit is that need plus max(25%, 256Mi) for the runtime around it, rounded up to 64Mi;
- when no figure is known, or the need would not exceed the limit it was killed at (the figure was only
  part of its memory), the new limit is that limit times 2: the smallest step still likely to clear a
  working set nobody measured. A second OOM doubles again, from the limit it was then killed at.

The request is kept (never cut, and already at most the old limit); it is raised only where a LimitRange's
maxLimitRequestRatio requires it. The limit stays within the largest node's allocatable and the LimitRange
max (capped there only while it still covers the need), and the change must fit the ResourceQuota's room;
otherwise the finding names the bound and offers no patch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import Candidate, ProposedPatch, container_pointer, quote
from smart_sre.investigation.analyzers.requests import pod_limit, resource_text, set_resource
from smart_sre.investigation.bounds import Bound, Change, ceil_to
from smart_sre.investigation.evidence import Evidence
from smart_sre.investigation.scheduling import allocatable, container_requests
from smart_sre.k8s import quantity
from smart_sre.k8s.owners import pod_spec

_MIB = Decimal(2**20)
_UNITS = {"k": Decimal(1024), "m": _MIB, "g": 1024 * _MIB}
_HEADROOM = 256 * _MIB  # at least this much for the runtime around what the app itself allocates
_HEADROOM_SHARE = Decimal("0.25")
_STEP = 64 * _MIB
_FACTOR = 2  # when nothing says how much it needs: twice the limit it was killed at
# A memory figure in a log line that speaks of memory: "allocating 512 MiB", "heap 1.5 GB".
_MEMORY_LINE = re.compile(r"mem|heap|alloc|rss|oom|cache|buffer|resident", re.IGNORECASE)
_SIZE = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s?(?P<unit>[kKMG])(?:iB|B|i)\b")
_KERNEL_RSS = re.compile(r"anon-rss:(?P<n>\d+)kB")
_HEAP_FLAG = re.compile(r"-Xmx(?P<n>\d+)(?P<unit>[kKmMgG])?\b|--max-old-space-size=(?P<mib>\d+)")
# An env var that sizes memory: HEAP_MB=512, CACHE_SIZE=1g, MEMORY_LIMIT=600Mi (its name says what).
_MEMORY_ENV = re.compile(r"HEAP|MEM|CACHE|BUFFER|ALLOC", re.IGNORECASE)
_ENV_UNIT = re.compile(r"_(?P<unit>[KMG])I?B?$", re.IGNORECASE)
_ENV_VALUE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s?(?P<unit>[kKmMgG])?(?:i|iB|B|b)?$")


@dataclass(frozen=True)
class _Need:
    size: Decimal
    source: str  # where the figure comes from, quoted


def _oom_killed(cs: dict) -> dict | None:
    for state in (cs.get("state") or {}, cs.get("lastState") or {}):
        terminated = state.get("terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            return terminated
    return None


def _heap_flags(text: str) -> list[Decimal]:
    sizes = []
    for match in _HEAP_FLAG.finditer(text):
        if match["mib"]:
            sizes.append(Decimal(match["mib"]) * _MIB)
        else:  # -Xmx without a unit is in bytes
            sizes.append(Decimal(match["n"]) * _UNITS.get((match["unit"] or "").lower(), Decimal(1)))
    return sizes


def _from_logs(text: str) -> _Need | None:
    found: list[_Need] = []
    for line in text.splitlines():
        # The kernel's report names several sizes; what the process held is its anon-rss.
        sizes = [Decimal(m["n"]) * 1024 for m in _KERNEL_RSS.finditer(line)] + _heap_flags(line)
        if not sizes and _MEMORY_LINE.search(line):
            sizes += [Decimal(m["n"]) * _UNITS[m["unit"].lower()] for m in _SIZE.finditer(line)]
        found += [_Need(size, f"its log: {quote(line, 120)}") for size in sizes]
    return max(found, key=lambda need: need.size, default=None)


def _env_size(name: str, value: str) -> Decimal | None:
    if not _MEMORY_ENV.search(name):
        return None
    match = _ENV_VALUE.match(value.strip())
    if match is None:
        return None
    suffix = _ENV_UNIT.search(name)
    unit = match["unit"] or (suffix["unit"] if suffix else None)
    return Decimal(match["n"]) * _UNITS[unit.lower()] if unit else None


def _from_spec(container: dict) -> _Need | None:
    found: list[_Need] = []
    for env in container.get("env") or []:
        value = env.get("value")
        if not isinstance(value, str):
            continue
        size = _env_size(env.get("name", ""), value)
        sizes = ([size] if size else []) + _heap_flags(value)
        found += [_Need(s, f"its env {env.get('name')}={quote(value, 60)}") for s in sizes]
    for arg in [*(container.get("command") or []), *(container.get("args") or [])]:
        found += [_Need(s, f"its argument {quote(str(arg), 60)}") for s in _heap_flags(str(arg))]
    return max(found, key=lambda need: need.size, default=None)


def observed_need(log: str, container: dict) -> _Need | None:
    """The largest memory figure the container's logs report or its spec configures."""
    needs = [need for need in (_from_logs(log), _from_spec(container)) if need is not None]
    return max(needs, key=lambda need: need.size, default=None)


def _new_limit(killed_at: Decimal, need: _Need | None) -> tuple[Decimal, str]:
    if need is not None:
        wanted = ceil_to(need.size + max(need.size * _HEADROOM_SHARE, _HEADROOM), _STEP)
        if wanted > killed_at:
            return wanted, f"its need plus max(25%, 256Mi) headroom; {need.source}"
    return ceil_to(
        killed_at * _FACTOR, _STEP
    ), f"twice the {quantity.format_memory(killed_at)} it was killed at"


@dataclass
class _Proposal:
    limit: Decimal
    request: Decimal | None  # the template's explicit request after the fix; None: the limit is the request
    notes: list[str]


def _within_bounds(
    evidence: Evidence, need: _Need | None, killed_at: Decimal, limit: Decimal, request: Decimal | None
) -> _Proposal | str:
    """The limit (and request) after every cap that still covers the need; or the bound that rules it out."""
    notes = []
    floor = need.size if need else Decimal(0)
    caps: list[Bound] = [b for b in [evidence.bounds.limit_max("memory")] if b is not None]
    largest = max((allocatable(node)["memory"] for node in evidence.nodes), default=Decimal(0))
    if largest:
        caps.append(
            Bound(largest, f"the largest node's allocatable memory {quantity.format_memory(largest)}")
        )
    for cap in caps:
        if limit > cap.value:
            if cap.value < floor or cap.value <= max(request or Decimal(0), killed_at):
                return f"the memory it needs ({quantity.format_memory(limit)}) is more than {cap.source}"
            limit = quantity.parse(resource_text("memory", cap.value))
            notes.append(f"capped at {cap.source}")
    ratio = evidence.bounds.ratio_max("memory")
    if ratio is not None and request is not None and limit / request > ratio.value:
        request = ceil_to(limit / ratio.value, _MIB)
        notes.append(f"request raised as {ratio.source}")
    effective = request if request is not None else limit
    if largest and effective > largest:
        return f"a request of {quantity.format_memory(effective)} fits no node"
    return _Proposal(limit, request, notes)


def _replicas(owner: dict) -> int:
    if owner.get("kind") == "DaemonSet":
        return int((owner.get("status") or {}).get("desiredNumberScheduled") or 1)
    return int((owner.get("spec") or {}).get("replicas", 1)) if owner.get("kind") != "Pod" else 1


def _admitted(evidence: Evidence, container: dict, proposal: _Proposal, killed_at: Decimal) -> str | None:
    """The namespace bound the new values would break (LimitRange, ResourceQuota), or None."""
    before = container_requests(container)["memory"]
    request = proposal.request if proposal.request is not None else proposal.limit
    spec = pod_spec(evidence.top_owner)
    others = [c for c in spec.get("containers") or [] if c.get("name") != container.get("name")]
    others_request = sum((container_requests(c)["memory"] for c in others), Decimal(0))
    others_limit = pod_limit({"containers": others}, "memory")
    owner = evidence.top_owner
    change = Change(
        resource="memory",
        request=request,
        limit=proposal.limit,
        pod_request=others_request + request,
        pod_limit=None if others_limit is None else others_limit + proposal.limit,
        added_request=request - before,
        added_limit=proposal.limit - killed_at,
        replicas=_replicas(owner),
        surge=owner.get("kind") == "Deployment",
    )
    return evidence.bounds.violation(change)


def _killed_at(evidence: Evidence, name: str, template_limit: str | None) -> Decimal:
    """The limit the kernel enforced: the pod's own (a LimitRange default lands there, not in the template)."""
    for kind in ("initContainers", "containers"):
        for container in pod_spec(evidence.pod).get(kind) or []:
            if container.get("name") == name:
                limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
                return quantity.parse(limit or template_limit)
    return quantity.parse(template_limit)


def _candidate(evidence: Evidence, name: str, terminated: dict) -> Candidate | None:
    located = container_pointer(evidence, name)
    if located is None:
        return None
    target, pointer, container = located
    resources = container.get("resources") or {}
    template_limit = (resources.get("limits") or {}).get("memory")
    explicit = (resources.get("requests") or {}).get("memory")
    killed_at = _killed_at(evidence, name, template_limit)
    need = observed_need(evidence.logs.get(name, ""), container)
    facts = (f"container {name} terminated OOMKilled exit {terminated.get('exitCode', 137)}",)
    if need is not None:
        facts += (quote(f"it needs about {quantity.format_memory(need.size)}: {need.source}"),)
    cause = f"Container {name} is OOMKilled: it uses more than its memory limit {quantity.format_memory(killed_at)}"
    if need is not None:
        cause += f" (about {quantity.format_memory(need.size)}, from {need.source})"
    if not killed_at:
        reason = "the container has no memory limit; the node ran out of memory, not the container"
        return Candidate(RootCause.OOM_KILLED, f"{cause}.", score=0.8, facts=facts, no_patch_reason=reason)
    wanted, rule = _new_limit(killed_at, need)
    proposal = _within_bounds(
        evidence, need, killed_at, wanted, quantity.parse(explicit) if explicit else None
    )
    problem = proposal if isinstance(proposal, str) else _admitted(evidence, container, proposal, killed_at)
    if isinstance(proposal, str) or problem is not None:
        summary = f"{cause}. No higher limit is admissible: {problem}."
        return Candidate(RootCause.OOM_KILLED, summary, score=0.9, facts=facts, no_patch_reason=problem)
    value = quantity.format_memory(proposal.limit)
    operations = [set_resource(pointer, container, "limits", "memory", value)]
    change = f"container {name}'s resources.limits.memory to {value} ({rule})"
    if proposal.request is not None and explicit and proposal.request != quantity.parse(explicit):
        request = quantity.format_memory(proposal.request)
        operations.append(set_resource(pointer, container, "requests", "memory", request))
        change += f" and its resources.requests.memory {explicit} -> {request}"
    notes = f" ({'; '.join(proposal.notes)})" if proposal.notes else ""
    return Candidate(
        root_cause=RootCause.OOM_KILLED,
        summary=f"{cause}. Raise {change}{notes}.",
        score=0.95 if need is not None and not proposal.notes else 0.85,
        patch=ProposedPatch(target, operations),
        facts=facts,
    )


def analyze(evidence: Evidence) -> list[Candidate]:
    status = evidence.pod.get("status") or {}
    found = []
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        terminated = _oom_killed(cs)
        if terminated is not None and (candidate := _candidate(evidence, cs["name"], terminated)) is not None:
            found.append(candidate)
    return found
