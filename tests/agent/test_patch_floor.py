"""Whatever a policy's allowedPaths say, a patch never crosses the floor: it is judged by what it changes.

Each forbidden change is tried with policies opening everything (`/*`, `/spec`, which admission now
refuses, so they stand for a policy the admission rule missed), set by its own path, inside a whole
pod spec or pod template added or replaced, and inside a whole container; moves and copies are judged
the same way. The fixes smart-sre does suggest still pass.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonpatch
import pytest

from smart_sre.api.debugpolicy import Remediation, TargetKind
from smart_sre.investigation.patch_safety import PatchRejected, floor_violations, vet_patch
from smart_sre.k8s.owners import owner_chain

from .fakes import FakeCluster
from .scenarios import NODES, NS, workload

SPEC = "/spec/template/spec"
APP = f"{SPEC}/containers/0"
WIDE_OPEN = {
    pattern: Remediation.model_construct(
        allowed_paths=[pattern], allowed_target_kinds=[TargetKind.DEPLOYMENT]
    )
    for pattern in ("/*", "/spec")
}


def pod_spec() -> dict[str, Any]:
    """A workload that already reads Secret app-db and ConfigMap app-settings, with probes and a port."""
    return {
        "securityContext": {"runAsNonRoot": True},
        "nodeSelector": {"disktype": "ssd"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "shop", "effect": "NoSchedule"}],
        "volumes": [{"name": "settings", "configMap": {"name": "app-settings"}}],
        "containers": [
            {
                "name": "app",
                "image": "registry.local/shop:1.0",
                "ports": [{"containerPort": 8080}],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {
                        "name": "LEVEL",
                        "valueFrom": {"configMapKeyRef": {"name": "app-settings", "key": "level"}},
                    },
                    {
                        "name": "DB_PASSWORD",
                        "valueFrom": {"secretKeyRef": {"name": "app-db", "key": "password"}},
                    },
                ],
                "resources": {"requests": {"memory": "256Mi"}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                "volumeMounts": [{"name": "settings", "mountPath": "/etc/shop"}],
            }
        ],
    }


async def _cluster() -> tuple[FakeCluster, list[dict]]:
    deployment, replicaset, pod = workload("shop", pod_spec(), phase="Running")
    cluster = FakeCluster([*NODES, deployment, replicaset, pod])
    return cluster, await owner_chain(cluster, pod)


Mutation = Callable[[dict[str, Any]], None]
Change = tuple[list[dict[str, Any]], Mutation]


def _container(**fields: Any) -> Mutation:
    return lambda spec: spec["containers"][0].update(fields)


def _append(key: str, item: dict[str, Any], *, container: bool = False) -> Mutation:
    def mutate(spec: dict[str, Any]) -> None:
        owner = spec["containers"][0] if container else spec
        owner.setdefault(key, []).append(item)

    return mutate


def _pod_field(name: str, value: Any) -> Change:
    return [{"op": "add", "path": f"/{name}", "value": value}], lambda spec: spec.update({name: value})


def _container_security(**fields: Any) -> Change:
    path = "/containers/0/securityContext"
    return [{"op": "add", "path": path, "value": fields}], _container(securityContext=fields)


def _added(key: str, item: dict[str, Any], *, container: bool = False) -> Change:
    owner = "/containers/0" if container else ""
    return [{"op": "add", "path": f"{owner}/{key}/-", "value": item}], _append(key, item, container=container)


SIDECAR = {"name": "sidecar", "image": "registry.local/tools:1"}
FOREIGN_SECRET = {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "cluster-admin", "key": "token"}}}
# Each forbidden change: its operations by path (relative to the pod spec), and the same change made
# to a copy of the pod spec, for the whole-subtree routes.
FORBIDDEN: dict[str, Change] = {
    "privileged": _container_security(privileged=True),
    "capabilities add": _container_security(capabilities={"add": ["SYS_ADMIN"]}),
    "allowPrivilegeEscalation": _container_security(allowPrivilegeEscalation=True),
    "container runAsUser 0": _container_security(runAsUser=0),
    "container runAsNonRoot false": _container_security(runAsNonRoot=False),
    "procMount": _container_security(procMount="Unmasked"),
    "pod runAsUser 0": (
        [{"op": "add", "path": "/securityContext/runAsUser", "value": 0}],
        lambda spec: spec["securityContext"].update(runAsUser=0),
    ),
    "pod runAsNonRoot false": (
        [{"op": "replace", "path": "/securityContext/runAsNonRoot", "value": False}],
        lambda spec: spec["securityContext"].update(runAsNonRoot=False),
    ),
    "hostNetwork": _pod_field("hostNetwork", True),
    "hostPID": _pod_field("hostPID", True),
    "hostIPC": _pod_field("hostIPC", True),
    "hostPath volume": _added("volumes", {"name": "root", "hostPath": {"path": "/"}}),
    "any new volume": _added("volumes", {"name": "scratch", "emptyDir": {}}),
    "hostPort": (
        [{"op": "add", "path": "/containers/0/ports/0/hostPort", "value": 80}],
        _container(ports=[{"containerPort": 8080, "hostPort": 80}]),
    ),
    "nodeName": _pod_field("nodeName", "worker-1"),
    "serviceAccountName": _pod_field("serviceAccountName", "admin"),
    "serviceAccount": _pod_field("serviceAccount", "admin"),
    "automountServiceAccountToken": _pod_field("automountServiceAccountToken", True),
    "runtimeClassName": _pod_field("runtimeClassName", "unsandboxed"),
    "priorityClassName": _pod_field("priorityClassName", "system-node-critical"),
    "lifecycle hook": (
        [
            {
                "op": "add",
                "path": "/containers/0/lifecycle",
                "value": {"postStart": {"exec": {"command": ["sh"]}}},
            }
        ],
        _container(lifecycle={"postStart": {"exec": {"command": ["sh"]}}}),
    ),
    "container": _added("containers", SIDECAR),
    "initContainer": _pod_field("initContainers", [SIDECAR]),
    "ephemeralContainer": _pod_field("ephemeralContainers", [SIDECAR]),
    "env from a Secret the workload did not use": _added("env", FOREIGN_SECRET, container=True),
    "envFrom a Secret the workload did not use": (
        [{"op": "add", "path": "/containers/0/envFrom", "value": [{"secretRef": {"name": "cluster-admin"}}]}],
        _container(envFrom=[{"secretRef": {"name": "cluster-admin"}}]),
    ),
    "Secret env repointed": (
        [
            {
                "op": "replace",
                "path": "/containers/0/env/2/valueFrom/secretKeyRef/name",
                "value": "cluster-admin",
            }
        ],
        lambda spec: spec["containers"][0]["env"][2]["valueFrom"]["secretKeyRef"].update(
            name="cluster-admin"
        ),
    ),
    "Secret volume": _added("volumes", {"name": "s", "secret": {"secretName": "app-db"}}),
    "volume mount": _added("volumeMounts", {"name": "settings", "mountPath": "/root"}, container=True),
}


def _routes(name: str) -> dict[str, list[dict[str, Any]]]:
    """The same forbidden change by its own path, as a whole pod spec, template and container."""
    by_path, mutate = FORBIDDEN[name]
    spec = pod_spec()
    mutate(spec)
    template = {"metadata": {"labels": {"app": "shop"}}, "spec": spec}
    routes = {
        "by path": [{**operation, "path": SPEC + operation["path"]} for operation in by_path],
        "replace the pod spec": [{"op": "replace", "path": SPEC, "value": spec}],
        "add the pod template": [{"op": "add", "path": "/spec/template", "value": template}],
    }
    if spec["containers"][0] != pod_spec()["containers"][0]:
        routes["replace the container"] = [{"op": "replace", "path": APP, "value": spec["containers"][0]}]
    return routes


CASES = [
    pytest.param(pattern, name, route, id=f"{pattern} {name} {route}")
    for pattern in WIDE_OPEN
    for name in FORBIDDEN
    for route in _routes(name)
]


@pytest.mark.parametrize(("pattern", "name", "route"), CASES)
async def test_a_forbidden_change_is_refused_whatever_the_policy_allows(
    pattern: str, name: str, route: str
) -> None:
    cluster, chain = await _cluster()
    with pytest.raises(PatchRejected, match="no policy can allow") as refused:
        await vet_patch(cluster, chain, "Deployment/shop", _routes(name)[route], WIDE_OPEN[pattern])
    assert "make such a change by hand" in str(refused.value)
    assert cluster.dry_run_calls == []


@pytest.mark.parametrize("pattern", WIDE_OPEN)
@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "replace", "path": "/spec/replicas", "value": 0}],
        [{"op": "add", "path": "/spec", "value": {"replicas": 0}}],
    ],
    ids=["by path", "replace the spec"],
)
async def test_scaling_to_zero_is_refused(pattern: str, operations: list[dict[str, Any]]) -> None:
    cluster, chain = await _cluster()
    with pytest.raises(PatchRejected, match="scales the workload to 0 replicas"):
        await vet_patch(cluster, chain, "Deployment/shop", operations, WIDE_OPEN[pattern])


async def test_the_refusal_names_what_the_patch_would_do() -> None:
    cluster, chain = await _cluster()
    with pytest.raises(PatchRejected) as refused:
        await vet_patch(
            cluster, chain, "Deployment/shop", _routes("privileged")["replace the pod spec"], WIDE_OPEN["/*"]
        )
    assert "container 'app': securityContext.privileged unset -> true" in str(refused.value)


async def test_metadata_and_the_template_labels_are_beyond_any_policy() -> None:
    cluster, chain = await _cluster()
    for path, value in (("/metadata/labels", {"team": "x"}), ("/spec/template/metadata/labels/tier", "x")):
        with pytest.raises(PatchRejected, match="no policy can allow"):
            await vet_patch(
                cluster,
                chain,
                "Deployment/shop",
                [{"op": "add", "path": path, "value": value}],
                WIDE_OPEN["/*"],
            )


async def _deployment() -> dict[str, Any]:
    cluster, _ = await _cluster()
    deployment = await cluster.get("Deployment", NS, "shop")
    assert deployment is not None
    return deployment


@pytest.mark.parametrize(
    ("operation", "crossed"),
    [
        (
            {"op": "copy", "from": f"{SPEC}/containers", "path": f"{SPEC}/initContainers"},
            "adds initContainer 'app'",
        ),
        (
            {"op": "move", "from": f"{SPEC}/nodeSelector/disktype", "path": f"{SPEC}/nodeName"},
            'pod nodeName unset -> "ssd"',
        ),
        (
            {"op": "copy", "from": f"{APP}/ports/0/containerPort", "path": f"{APP}/ports/0/hostPort"},
            "container 'app': hostPort 8080 opened",
        ),
    ],
    ids=["copy into initContainers", "move into nodeName", "copy into hostPort"],
)
async def test_moves_and_copies_are_judged_by_where_they_land(
    operation: dict[str, Any], crossed: str
) -> None:
    before = await _deployment()
    assert crossed in floor_violations(before, jsonpatch.apply_patch(before, [operation]))


def _same_spec_new_image() -> list[dict[str, Any]]:
    spec = pod_spec()
    spec["containers"][0]["image"] = "registry.local/shop:1.1"
    return [{"op": "replace", "path": SPEC, "value": spec}]


LEGITIMATE = {
    "env value": [{"op": "replace", "path": f"{APP}/env/0/value", "value": "staging"}],
    "image tag": [{"op": "replace", "path": f"{APP}/image", "value": "registry.local/shop:1.1"}],
    "resources": [{"op": "replace", "path": f"{APP}/resources/requests/memory", "value": "512Mi"}],
    "probe": [{"op": "replace", "path": f"{APP}/livenessProbe/httpGet/path", "value": "/ready"}],
    "nodeSelector": [{"op": "replace", "path": f"{SPEC}/nodeSelector/disktype", "value": "hdd"}],
    "toleration for an existing taint": [
        {
            "op": "add",
            "path": f"{SPEC}/tolerations/-",
            "value": {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
        }
    ],
    "configMapKeyRef to another ConfigMap": [
        {"op": "replace", "path": f"{APP}/env/1/valueFrom/configMapKeyRef/name", "value": "app-settings-v2"}
    ],
    "secretKeyRef to the Secret it already uses": [
        {
            "op": "add",
            "path": f"{APP}/env/-",
            "value": {"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": "app-db", "key": "user"}}},
        }
    ],
}


@pytest.mark.parametrize("name", LEGITIMATE)
@pytest.mark.parametrize("policy", ["default", *WIDE_OPEN])
async def test_the_fixes_smart_sre_suggests_still_pass(name: str, policy: str) -> None:
    cluster, chain = await _cluster()
    remediation = Remediation() if policy == "default" else WIDE_OPEN[policy]
    safe = await vet_patch(cluster, chain, "Deployment/shop", LEGITIMATE[name], remediation)
    assert safe.suggested.operations[-1].path == LEGITIMATE[name][-1]["path"]


async def test_a_whole_pod_spec_is_judged_by_what_changed_in_it() -> None:
    cluster, chain = await _cluster()
    await vet_patch(cluster, chain, "Deployment/shop", _same_spec_new_image(), WIDE_OPEN["/spec"])


async def test_tightening_security_is_not_refused() -> None:
    before = await _deployment()
    tightened = copy.deepcopy(before)
    tightened["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert floor_violations(before, tightened) == []
    assert floor_violations(tightened, before) == [
        "container 'app': securityContext.runAsUser 1000 -> unset",
        "container 'app': securityContext.allowPrivilegeEscalation false -> unset",
        "container 'app': securityContext.capabilities.drop no longer drops ALL",
    ]
