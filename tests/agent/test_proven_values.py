"""A mechanism's fix and the "what changed" revert of the same field: the value a revision was seen running
healthy with is written under the mechanism's diagnosis, unless that health is only assumed, the old value
is shown broken or gone, or it would lower a quantity the mechanism raises.

Histories are built as in `test_changes` (a Deployment's ReplicaSets, a StatefulSet's or DaemonSet's
ControllerRevisions); the mechanisms are the real analyzers where the shape allows, else a candidate as
an analyzer would write it.
"""

from __future__ import annotations

import copy

from smart_sre.api.common import RootCause, Trigger
from smart_sre.investigation.analyzers import candidates, changes, proven_values
from smart_sre.investigation.analyzers.base import Candidate, ProposedPatch
from smart_sre.investigation.evidence import Evidence

from .pods import pod_event
from .scenarios import NS
from .test_changes import controller_history, crash, deployment_history, evidence_of, template

SPEC = "/spec/template/spec"
LIVE, READY = "/health/live", "/health/ready"


def _probes(liveness: str, readiness: str = READY, port: str = "http") -> dict:
    return {
        "ports": [{"name": "http", "containerPort": 8080}],
        "livenessProbe": {"httpGet": {"path": liveness, "port": port}, "periodSeconds": 5},
        "readinessProbe": {"httpGet": {"path": readiness, "port": port}, "periodSeconds": 5},
    }


def _probe_killed(objects: list[dict], pod: dict, why: str = "statuscode: 404") -> list[dict]:
    """The kubelet's events for a container its liveness probe keeps killing."""
    failed = pod_event(pod, "Unhealthy", f"Liveness probe failed: HTTP probe failed with {why}", "api")
    killing = pod_event(pod, "Killing", "Container api failed liveness probe, will be restarted", "api")
    return [*objects, failed, killing]


async def _ranked(objects: list[dict], pod: dict, trigger: Trigger, logs: dict | None = None):
    evidence = await evidence_of(objects, pod, trigger, logs)
    return evidence, candidates(evidence)


def _strongest(found: list[Candidate], cause: RootCause) -> Candidate:
    """The strongest candidate of the cause: the mechanism's (a revert of the same family scores below)."""
    return next(c for c in found if c.root_cause == cause)


async def test_a_probe_path_goes_back_to_the_one_the_healthy_revision_ran() -> None:
    objects, pod = deployment_history(
        [template(**_probes(LIVE)), template(**_probes("/healthz"))], [1, 0], crash(exit_code=137)
    )
    _, found = await _ranked(_probe_killed(objects, pod), pod, Trigger.CRASH_LOOP_BACK_OFF)
    probe = _strongest(found, RootCause.PROBE_FAILURE)
    # The whole probe as revision 1 ran it, not the readiness path the probe analyzer would borrow.
    assert probe.patch.operations == [
        {
            "op": "replace",
            "path": f"{SPEC}/containers/0/livenessProbe",
            "value": _probes(LIVE)["livenessProbe"],
        }
    ]
    assert probe.summary.startswith("container api: livenessProbe.httpGet.path /healthz answers 404")
    assert (
        f"Instead, the fix sets container api's livenessProbe.httpGet.path back to {LIVE}, the value "
        "revision 1 ran healthy." in probe.summary
    )
    assert "revision 1 ran healthy: 1 pod of revision 1 Ready now" in probe.facts
    assert any("Liveness probe failed" in fact for fact in probe.facts)
    # One candidate carries that fix: the revert merged into the mechanism's.
    assert [c for c in found if c.patch and c.patch.operations == probe.patch.operations] == [probe]


async def test_an_assumed_healthy_revision_is_only_named_as_the_alternative() -> None:
    # No pod of revision 1 is Ready, and a DaemonSet has no completed rollout to show: health is assumed.
    objects, pod = controller_history(
        "DaemonSet",
        [template("edge-proxy", **_probes(LIVE)), template("edge-proxy", **_probes("/livez"))],
        [0, 0],
        crash(exit_code=137),
    )
    evidence, found = await _ranked(_probe_killed(objects, pod), pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert not changes.observed(evidence.changes)
    probe = _strongest(found, RootCause.PROBE_FAILURE)
    assert probe.patch.operations == [
        {"op": "replace", "path": f"{SPEC}/containers/0/livenessProbe/httpGet/path", "value": READY}
    ]
    assert (
        f"Alternative: container api's livenessProbe.httpGet.path back to {LIVE}, as revision 1 ran it "
        "(revision 1 is only assumed healthy)." in probe.summary
    )
    # A StatefulSet whose rollout of revision 1 completed showed it healthy: the value is taken.
    objects, pod = controller_history(
        "StatefulSet",
        [template(**_probes(LIVE)), template(**_probes("/livez"))],
        [0, 0],
        crash(exit_code=137),
        currentRevision="api-5d1f",
    )
    evidence, found = await _ranked(_probe_killed(objects, pod), pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert changes.observed(evidence.changes)
    assert _strongest(found, RootCause.PROBE_FAILURE).patch.operations[0]["path"] == (
        f"{SPEC}/containers/0/livenessProbe"
    )


def _memory(request: str, limit: str, heap: str = "256") -> dict:
    return {
        "env": [{"name": "HEAP_MB", "value": heap}],
        "resources": {"requests": {"memory": request}, "limits": {"memory": limit}},
    }


async def test_a_memory_limit_goes_back_to_the_healthy_one_but_never_below_the_need() -> None:
    killed = crash(reason="OOMKilled", exit_code=137)
    objects, pod = deployment_history(
        [template(**_memory("512Mi", "640Mi")), template(**_memory("320Mi", "384Mi"))], [2, 0], killed
    )
    _, found = await _ranked(objects, pod, Trigger.OOM_KILLED)
    oom = _strongest(found, RootCause.OOM_KILLED)
    # The need (a 256 MiB heap) with headroom is 512Mi; revision 1 ran healthy with 640Mi.
    assert oom.patch.operations == [
        {"op": "replace", "path": f"{SPEC}/containers/0/resources/limits/memory", "value": "640Mi"}
    ]
    assert "Container api is OOMKilled" in oom.summary
    assert (
        "Instead, the fix sets container api's resources.limits.memory back to 640Mi, the value revision 1 "
        "ran healthy." in oom.summary
    )
    assert any("it needs about 256Mi" in fact for fact in oom.facts)
    # The same change also raised the heap: the old 640Mi is below what the mechanism shows it needs now.
    objects, pod = deployment_history(
        [template(**_memory("512Mi", "640Mi")), template(**_memory("320Mi", "384Mi", heap="1024"))],
        [1, 0],
        killed,
    )
    _, found = await _ranked(objects, pod, Trigger.OOM_KILLED)
    oom = _strongest(found, RootCause.OOM_KILLED)
    assert oom.patch.operations == [
        {"op": "replace", "path": f"{SPEC}/containers/0/resources/limits/memory", "value": "1280Mi"}
    ]
    assert (
        "Alternative: container api's resources.limits.memory back to 640Mi, as revision 1 ran it "
        "(below the 1280Mi the facts call for)." in oom.summary
    )


async def test_a_node_selector_revision_2_added_is_removed_rather_than_retargeted() -> None:
    pending = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
            }
        ],
    }
    pinned = template("renderer")
    pinned["spec"]["nodeSelector"] = {"disktype": "nvme"}  # worker-2 carries disktype=ssd
    objects, pod = deployment_history([template("renderer"), pinned], [1, 0], pending)
    del pod["spec"]["nodeName"]
    _, found = await _ranked(objects, pod, Trigger.PENDING)
    placement = _strongest(found, RootCause.UNSATISFIABLE_SCHEDULING)
    assert placement.patch.operations == [{"op": "remove", "path": f"{SPEC}/nodeSelector/disktype"}]
    assert (
        "Instead, the fix unsets the pod's nodeSelector.disktype again, as revision 1 ran healthy."
        in placement.summary
    )


def _mechanism(operations: list[dict], *facts: str, summary: str = "Something fails.") -> Candidate:
    """A candidate as a mechanism analyzer writes one, for the Deployment `deployment_history` builds."""
    return Candidate(
        root_cause=RootCause.BAD_CONFIG_VALUE,
        summary=summary,
        score=0.85,
        patch=ProposedPatch("Deployment/api", operations),
        facts=facts,
    )


async def _weighed(objects: list[dict], pod: dict, trigger: Trigger, mechanism: Candidate) -> Candidate:
    evidence: Evidence = await evidence_of(objects, pod, trigger)
    return proven_values(mechanism, changes.reverts(evidence), evidence)


async def test_an_env_value_goes_back_to_what_the_healthy_revision_dialled() -> None:
    objects, pod = deployment_history(
        [
            template(env=[{"name": "CACHE_URL", "value": "redis://cache.shop:6379"}]),
            template(env=[{"name": "CACHE_URL", "value": "redis://cache-v2.shop:6379"}]),
        ],
        [3, 0],
        crash("dial tcp: lookup cache-v2.shop: no such host"),
    )
    # A mechanism that would point it at another Service it found.
    mechanism = _mechanism(
        [{"op": "replace", "path": f"{SPEC}/containers/0/env/0/value", "value": "redis://cache.other:6379"}],
        "dial tcp: lookup cache-v2.shop: no such host",
        summary="Container api cannot resolve cache-v2.shop. Point CACHE_URL at cache.other.",
    )
    weighed = await _weighed(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, mechanism)
    assert weighed.root_cause == RootCause.BAD_CONFIG_VALUE
    assert weighed.patch.operations == [
        {
            "op": "replace",
            "path": f"{SPEC}/containers/0/env/0",
            "value": {"name": "CACHE_URL", "value": "redis://cache.shop:6379"},
        }
    ]
    assert weighed.summary == (
        "Container api cannot resolve cache-v2.shop. Point CACHE_URL at cache.other. Instead, the fix sets "
        "container api's env var CACHE_URL.value back to redis://cache.shop:6379, the value revision 1 ran "
        "healthy."
    )
    assert "revision 1 ran healthy: 3 pods of revision 1 Ready now" in weighed.facts
    # A mechanism that writes revision 1's value already is left as it is.
    same = _mechanism(
        [{"op": "replace", "path": f"{SPEC}/containers/0/env/0/value", "value": "redis://cache.shop:6379"}]
    )
    assert await _weighed(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, same) is same


async def test_an_image_tag_the_facts_show_broken_is_not_put_back() -> None:
    objects, pod = deployment_history(
        [template(image="ghcr.io/acme/billing:3.1"), template(image="ghcr.io/acme/billing:3.2")],
        [1, 0],
        crash(),
    )
    unpullable = 'Failed to pull image "ghcr.io/acme/billing:3.1": manifest unknown'
    mechanism = _mechanism(
        [{"op": "replace", "path": f"{SPEC}/containers/0/image", "value": "ghcr.io/acme/billing:3.0"}],
        unpullable,
    )
    weighed = await _weighed(objects, pod, Trigger.IMAGE_PULL_BACK_OFF, mechanism)
    assert weighed.patch == mechanism.patch
    assert weighed.summary.startswith(
        "Something fails. Alternative: container api's image back to ghcr.io/acme/billing:3.1, as revision 1 "
        "ran it (the facts name it: Failed to pull image"
    )
    # Nothing names the old tag broken: it is taken.
    mechanism = _mechanism(mechanism.patch.operations, "tag 3.2 of ghcr.io/acme/billing does not exist")
    weighed = await _weighed(objects, pod, Trigger.IMAGE_PULL_BACK_OFF, mechanism)
    assert weighed.patch.operations[0]["value"] == "ghcr.io/acme/billing:3.1"


async def test_a_revert_to_a_configmap_that_is_gone_keeps_the_mechanisms_fix() -> None:
    def env(configmap: str, key: str) -> dict:
        return {"name": "DB_URL", "valueFrom": {"configMapKeyRef": {"name": configmap, "key": key}}}

    objects, pod = deployment_history(
        [template(env=[env("orders-config-v1", "db_url")]), template(env=[env("orders-config", "db_uri")])],
        [1, 0],
        crash(),
    )
    present = {
        "kind": "ConfigMap",
        "metadata": {"name": "orders-config", "namespace": NS},
        "data": {"db": ""},
    }
    mechanism = _mechanism(
        [{"op": "replace", "path": f"{SPEC}/containers/0/env/0/valueFrom/configMapKeyRef/key", "value": "db"}]
    )
    weighed = await _weighed([*objects, present], pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR, mechanism)
    assert weighed.patch == mechanism.patch
    assert (
        "(it names ConfigMap orders-config-v1, which the evidence does not show there now)" in weighed.summary
    )
    # While the old ConfigMap is still there, revision 1's reference is taken.
    old = copy.deepcopy(present)
    old["metadata"]["name"] = "orders-config-v1"
    weighed = await _weighed([*objects, present, old], pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR, mechanism)
    assert weighed.patch.operations == [
        {"op": "replace", "path": f"{SPEC}/containers/0/env/0", "value": env("orders-config-v1", "db_url")}
    ]


async def test_a_fix_that_rewrites_more_than_the_changed_field_is_kept() -> None:
    objects, pod = deployment_history(
        [template(resources={"limits": {"cpu": "1"}}), template(resources={"limits": {"cpu": "250m"}})],
        [1, 0],
        crash(),
    )
    whole = {"op": "replace", "path": f"{SPEC}/containers/0/resources", "value": {"limits": {"cpu": "2"}}}
    weighed = await _weighed(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, _mechanism([whole]))
    assert weighed.patch.operations == [whole]
    assert "(the fix rewrites more than that field)" in weighed.summary
    # Another field entirely: nothing to weigh.
    other = _mechanism([{"op": "remove", "path": f"{SPEC}/containers/0/command"}])
    assert await _weighed(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, other) is other
