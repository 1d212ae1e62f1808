"""The standard evidence for a trigger, gathered deterministically before the model is asked anything.

A senior SRE looks at the same things first every time: status and last termination, events, the
previous run's logs for a crash, the current run's logs for a container that never gets Ready (where it
says it listens); scheduling events and node fit for a pending pod. Doing this in code keeps the small
model's job small, and gives the analyzers facts rather than guesses. Everything here is redacted before
it leaves this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from smart_sre.api.common import Trigger
from smart_sre.investigation.bounds import Bounds, namespace_bounds
from smart_sre.investigation.changes import WhatChanged, change_lines, what_changed
from smart_sre.investigation.claims import Storage, storage
from smart_sre.investigation.mentions import (
    EnvDependency,
    env_dependencies,
    failed_hosts,
    host_ports,
    is_failure,
    parse_address,
)
from smart_sre.investigation.redaction import Redactor, secret_env_refs, secret_values
from smart_sre.investigation.scheduling import NodeFit, Placement
from smart_sre.investigation.tools.base import ToolContext, cut
from smart_sre.investigation.tools.check_service import ServiceReach, describe_service, service_reach
from smart_sre.investigation.tools.explain_scheduling import fit_lines, placement
from smart_sre.investigation.tools.get_events import event_lines, list_events
from smart_sre.investigation.tools.render import container_lines, pod_status_lines
from smart_sre.k8s.cluster import ClusterError, ClusterReader
from smart_sre.k8s.owners import pod_spec

logger = logging.getLogger(__name__)

LOG_TAIL = 40
MAX_OBSERVATION_CHARS = 2800
_CRASH_TRIGGERS = frozenset({Trigger.CRASH_LOOP_BACK_OFF, Trigger.OOM_KILLED})
_MAX_DEPENDENCY_CHECKS = 4


@dataclass
class Evidence:
    """Facts about the failing pod; `observation` is their redacted text for the model."""

    trigger: Trigger
    pod: dict
    chain: list[dict]
    events: list[dict] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)  # container -> redacted log tail
    fits: list[NodeFit] = field(default_factory=list)
    placement: Placement = field(
        default_factory=Placement
    )  # Pending: nodes and their pods, to re-check a fix
    storage: Storage = field(default_factory=Storage)  # Pending with an unbound claim: classes and volumes
    bounds: Bounds = field(default_factory=Bounds)  # the namespace's LimitRanges and ResourceQuotas
    nodes: list[dict] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)
    endpoints: dict[str, dict] = field(default_factory=dict)
    reach: ServiceReach = field(default_factory=ServiceReach)  # Services of every namespace it may dial
    configmaps: dict[str, dict | None] = field(default_factory=dict)  # referenced; None = missing
    secret_keys: dict[str, list[str] | None] = field(default_factory=dict)  # referenced; None = missing
    pvcs: dict[str, dict | None] = field(default_factory=dict)  # referenced; None = missing
    config_keys: dict[str, list[str]] = field(default_factory=dict)  # every ConfigMap here -> its keys
    secret_key_names: dict[str, list[str]] = field(default_factory=dict)  # every Secret here -> key names
    workloads: list[dict] = field(default_factory=list)  # pod templates elsewhere in the namespace
    running_images: list[str] = field(default_factory=list)  # images a running container has: pulled, a fact
    dependencies: list[EnvDependency] = field(default_factory=list)  # backends the pod's env names
    dials: list[tuple[str, int]] = field(default_factory=list)  # host:port it dials: env first, then logs
    changes: WhatChanged | None = None  # the template against the last revision that ran healthy
    observation: str = ""

    @property
    def namespace(self) -> str:
        return self.pod["metadata"]["namespace"]

    @property
    def top_owner(self) -> dict:
        return self.chain[-1]

    def log_text(self) -> str:
        return "\n".join(self.logs.values())


async def learn_secret_values(cluster: ClusterReader, pod: dict, redactor: Redactor) -> None:
    """Teach the redactor the pod's Secret-backed env, so its values are scrubbed anywhere.

    Env names come from the spec, so `NAME=value` is masked even without Secret read rights (the shipped
    RBAC has none); the values themselves, and the names `envFrom` brings, only if the Secret is readable.
    """
    namespace = pod["metadata"]["namespace"]
    refs = secret_env_refs(pod)
    for ref in refs:
        if ref.env and ref.key:
            redactor.add_secret_env(ref.env, secret=ref.secret, key=ref.key)
    for name in sorted({ref.secret for ref in refs}):
        try:
            secret = await cluster.get("Secret", namespace, name)
        except ClusterError as error:  # no RBAC for Secrets: env names and kinds of values still apply
            logger.warning("cannot read secret for redaction secret=%s status=%s", name, error.status)
            continue
        prefixes = {ref.prefix for ref in refs if ref.secret == name and ref.key is None}
        for key, value in secret_values(secret or {}):
            redactor.add_secret_value(value, secret=name, key=key)
            for prefix in prefixes:
                redactor.add_secret_env(prefix + key, secret=name, key=key)


def _pull_failing(pod: dict) -> bool:
    """Whether any container, init containers included, cannot pull its image."""
    status = pod.get("status") or {}
    return any(
        ((cs.get("state") or {}).get("waiting") or {}).get("reason") in ("ErrImagePull", "ImagePullBackOff")
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    )


def failing_containers(pod: dict) -> list[str]:
    """Containers that restarted, wait with a reason, or are not ready: the ones whose logs matter."""
    status = pod.get("status") or {}
    names = []
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if cs.get("restartCount", 0) or waiting.get("reason") or not cs.get("ready", False):
            names.append(cs["name"])
    return names or [c["name"] for c in pod_spec(pod).get("containers") or []][:1]


def not_ready_containers(pod: dict) -> list[str]:
    """Containers (sidecars included) that run but are not Ready: their readiness probe is not passing."""
    status = pod.get("status") or {}
    return [
        cs["name"]
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
        if "running" in (cs.get("state") or {}) and not cs.get("ready", False)
    ]


async def _logs(ctx: ToolContext, container: str, runs: tuple[bool, ...] = (True, False)) -> str:
    """The first non-empty log tail of the container's runs, in order (True: the previous run)."""
    name = ctx.pod["metadata"]["name"]
    for previous in runs:
        try:
            text = await ctx.cluster.logs(ctx.namespace, name, container, previous=previous, tail=LOG_TAIL)
        except ClusterError:
            continue
        if text.strip():
            return ctx.redactor.redact(text)
    return ""


def referenced_names(pod: dict) -> dict[str, set[str]]:
    """ConfigMaps, Secrets and PVCs the pod spec names, whether or not they exist."""
    spec = pod_spec(pod)
    refs: dict[str, set[str]] = {"ConfigMap": set(), "Secret": set(), "PersistentVolumeClaim": set()}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if ref := source.get("configMapKeyRef"):
                refs["ConfigMap"].add(ref.get("name", ""))
            if ref := source.get("secretKeyRef"):
                refs["Secret"].add(ref.get("name", ""))
        for source in container.get("envFrom") or []:
            if ref := source.get("configMapRef"):
                refs["ConfigMap"].add(ref.get("name", ""))
            if ref := source.get("secretRef"):
                refs["Secret"].add(ref.get("name", ""))
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            refs["ConfigMap"].add(volume["configMap"].get("name", ""))
        if "secret" in volume:
            refs["Secret"].add(volume["secret"].get("secretName", ""))
        if "persistentVolumeClaim" in volume:
            refs["PersistentVolumeClaim"].add(volume["persistentVolumeClaim"].get("claimName", ""))
    return {kind: {name for name in names if name} for kind, names in refs.items()}


async def _referenced(ctx: ToolContext, evidence: Evidence) -> None:
    refs = referenced_names(evidence.pod)
    for name in sorted(refs["ConfigMap"]):
        evidence.configmaps[name] = await ctx.cluster.get("ConfigMap", ctx.namespace, name)
    for name in sorted(refs["PersistentVolumeClaim"]):
        evidence.pvcs[name] = await ctx.cluster.get("PersistentVolumeClaim", ctx.namespace, name)
    for configmap in await ctx.cluster.list("ConfigMap", ctx.namespace):
        data = {**(configmap.get("data") or {}), **(configmap.get("binaryData") or {})}
        evidence.config_keys[configmap["metadata"]["name"]] = sorted(data)
    try:
        secrets = await ctx.cluster.list("Secret", ctx.namespace)
    except ClusterError as error:  # no RBAC to read Secrets: their key names stay unknown
        if error.status != 403:
            raise
        logger.warning("cannot list secrets namespace=%s: key names unknown", ctx.namespace)
        return
    for secret in secrets:
        evidence.secret_key_names[secret["metadata"]["name"]] = sorted(secret.get("data") or {})
    for name in sorted(refs["Secret"]):
        evidence.secret_keys[name] = evidence.secret_key_names.get(name)


async def gather(ctx: ToolContext, chain: list[dict], trigger: Trigger) -> Evidence:
    """The first Observation: what every investigation of this trigger starts from."""
    pod = chain[0]
    evidence = Evidence(trigger=trigger, pod=pod, chain=chain)
    evidence.events = await list_events(ctx, "Pod", pod["metadata"]["name"])
    evidence.nodes = await ctx.cluster.list("Node")
    evidence.workloads = [
        obj
        for kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
        for obj in await ctx.cluster.list(kind, ctx.namespace)
    ]
    evidence.changes = await what_changed(ctx, chain, evidence.workloads)
    await _referenced(ctx, evidence)
    if _pull_failing(pod):
        running = await ctx.cluster.list("Pod", None, field_selector="status.phase=Running")
        evidence.running_images = sorted(
            {
                cs["image"]
                for other in running
                for cs in (other.get("status") or {}).get("containerStatuses") or []
                if cs.get("image") and ("running" in (cs.get("state") or {}) or cs.get("ready"))
            }
        )
    evidence.bounds = await namespace_bounds(ctx)
    if trigger == Trigger.PENDING:
        evidence.placement = await placement(ctx)
        evidence.fits = evidence.placement.fits(pod)
        evidence.storage = await storage(ctx, evidence.pvcs)
    elif trigger in _CRASH_TRIGGERS:
        for container in failing_containers(pod)[:2]:
            evidence.logs[container] = await _logs(ctx, container)
    elif trigger == Trigger.NOT_READY:  # readiness restarts nothing: the run failing it is the current one
        for container in not_ready_containers(pod)[:2]:
            evidence.logs[container] = await _logs(ctx, container, runs=(False,))
    evidence.dependencies = env_dependencies(pod_spec(pod), evidence.configmaps)
    evidence.dials = _dials(evidence.dependencies, evidence.log_text())
    await _services(ctx, evidence)
    evidence.observation = await _observation(ctx, evidence)
    return evidence


async def _observation(ctx: ToolContext, evidence: Evidence) -> str:
    """Most telling first (status, spec, logs, dependency checks), so a cut loses only the least."""
    pod = evidence.pod
    owners = " -> ".join(f"{o.get('kind')}/{o['metadata']['name']}" for o in evidence.chain)
    lines = [f"Pod {ctx.namespace}/{pod['metadata']['name']} trigger={evidence.trigger} owners: {owners}"]
    lines += pod_status_lines(pod)
    for container in pod_spec(pod).get("containers") or []:
        lines += container_lines(container)
    if evidence.fits:
        lines.append("node fit:")
        lines += ["  " + line for line in fit_lines(evidence.fits)]
    for name, pvc in evidence.pvcs.items():
        phase = "MISSING" if pvc is None else (pvc.get("status") or {}).get("phase", "Unknown")
        lines.append(f"PersistentVolumeClaim {name}: {phase}")
    run = "current" if evidence.trigger == Trigger.NOT_READY else "previous"
    for container, text in evidence.logs.items():
        tail = "\n".join(text.splitlines()[-10:])
        lines.append(f"logs of {container} ({run} run, last lines):\n{tail or '(empty)'}")
    lines += change_lines(evidence.changes)
    checks = [
        await describe_service(ctx, host, port, evidence.reach)
        for host, port in evidence.dials[:_MAX_DEPENDENCY_CHECKS]
    ]
    if checks:
        lines.append("dependency checks:")
        lines += ["  " + check.replace("\n", "; ") for check in checks]
    for name, configmap in evidence.configmaps.items():
        keys = "MISSING" if configmap is None else "keys " + ", ".join(sorted(configmap.get("data") or {}))
        lines.append(f"ConfigMap {name}: {cut(keys, 200)}")
    for name, keys in evidence.secret_keys.items():
        lines.append(f"Secret {name}: " + ("MISSING" if keys is None else "keys " + ", ".join(keys)))
    if evidence.events:
        lines.append("events:")
        lines += ["  " + cut(line, 200) for line in event_lines(evidence.events)[-5:]]
    return cut(ctx.redactor.redact("\n".join(lines)), MAX_OBSERVATION_CHARS)


async def _services(ctx: ToolContext, evidence: Evidence) -> None:
    """The Services the pod's addresses (its env, its failing log lines) could mean, in any namespace they
    may name; those of its own namespace also as `services` and `endpoints`."""
    hosts = [d.host for d in evidence.dependencies] + [host for host, _ in evidence.dials]
    hosts += [
        host for line in evidence.log_text().splitlines() if is_failure(line) for host in failed_hosts(line)
    ]
    addresses = [address for address in map(parse_address, hosts) if address is not None]
    evidence.reach = await service_reach(
        ctx, {a.namespace for a in addresses if a.namespace}, {a.service for a in addresses}
    )
    evidence.services = [
        s for s in evidence.reach.services if s["metadata"].get("namespace") == ctx.namespace
    ]
    evidence.endpoints = {
        name: e for (namespace, name), e in evidence.reach.endpoints.items() if namespace == ctx.namespace
    }


def _dials(dependencies: list[EnvDependency], logs: str) -> list[tuple[str, int]]:
    """(host, port) the pod's env points at, then those its logs name, without duplicates."""
    dials = [(d.host, d.port) for d in dependencies if d.port]
    for pair in host_ports(logs):
        if pair not in dials:
            dials.append(pair)
    return dials
