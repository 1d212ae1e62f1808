"""What changed since the workload last ran healthy: the diff in the evidence, a revert per changed field.

Histories are shaped as the controllers keep them: a Deployment's ReplicaSets (revision annotation,
pod-template-hash label), a StatefulSet's or DaemonSet's ControllerRevisions (`revision`, and `data`
holding the whole template under `$patch: replace`), pods labelled with their revision's hash.
"""

from __future__ import annotations

import copy
import json

import pytest

from smart_sre.api.common import RootCause, Trigger
from smart_sre.api.debugpolicy import DEFAULT_ALLOWED_PATHS, DebugPolicySpec, Remediation, Rule
from smart_sre.commands.kubectl_sre import render_report
from smart_sre.investigation.analyzers import changes as change_analyzer
from smart_sre.investigation.evidence import gather, learn_secret_values
from smart_sre.investigation.investigation import Conclusion, investigate
from smart_sre.investigation.patch_safety import vet_patch
from smart_sre.investigation.redaction import Redactor
from smart_sre.investigation.tools.base import ToolContext
from smart_sre.k8s.owners import owner_chain

from .fakes import FakeCluster
from .pods import on_sandbox
from .scenarios import NODES, NS
from .test_sandbox_agent import _crashlooping, _deployment, _failing_pod, _ready

REVISION = "deployment.kubernetes.io/revision"
HASH = "controller-revision-hash"


def template(name: str = "api", **container: object) -> dict:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "api", "image": "registry.local/api:1.0", **container}]},
    }


def _pod(name: str, owner: dict, pod_template: dict, status: dict, labels: dict) -> dict:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"uid-{name}",
            "labels": {**pod_template["metadata"]["labels"], **labels},
            "ownerReferences": [
                {
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {**copy.deepcopy(pod_template["spec"]), "nodeName": "worker-1"},
        "status": status,
    }


def _owner(kind: str, name: str, current: dict, **status: object) -> dict:
    return {
        "kind": kind,
        "apiVersion": "apps/v1",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{kind}-{name}", "resourceVersion": "7"},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": copy.deepcopy(current)},
        "status": status,
    }


def deployment_history(templates: list[dict], ready: list[int], status: dict) -> tuple[list[dict], dict]:
    """A Deployment whose revision N is `templates[N-1]` (a ReplicaSet with `ready[N-1]` pods Ready)
    and a failing pod of the last revision."""
    deployment = _owner("Deployment", "api", templates[-1])
    objects = [*NODES, deployment]
    for number, (revision, count) in enumerate(zip(templates, ready, strict=True), 1):
        stored = copy.deepcopy(revision)
        stored["metadata"]["labels"]["pod-template-hash"] = f"h{number}"
        objects.append(
            {
                "kind": "ReplicaSet",
                "apiVersion": "apps/v1",
                "metadata": {
                    "name": f"api-h{number}",
                    "namespace": NS,
                    "uid": f"uid-rs-{number}",
                    "annotations": {REVISION: str(number)},
                    "ownerReferences": [
                        {
                            "kind": "Deployment",
                            "name": "api",
                            "uid": deployment["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": {"replicas": count, "template": stored},
                "status": {"replicas": count, "readyReplicas": count, "availableReplicas": count},
            }
        )
    pod = _pod(
        f"api-h{len(templates)}-x1",
        objects[-1],
        templates[-1],
        status,
        {"pod-template-hash": f"h{len(templates)}"},
    )
    return [*objects, pod], pod


READY = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}


def controller_history(
    kind: str, templates: list[dict], ready: list[int], status: dict, **owner_status: object
) -> tuple[list[dict], dict]:
    """A StatefulSet or DaemonSet with a ControllerRevision per template, `ready[N-1]` Ready pods of
    revision N, and a failing pod of the last revision."""
    owner = _owner(kind, "api", templates[-1], **owner_status)
    objects: list[dict] = [*NODES, owner]
    pods = []
    for number, (revision, count) in enumerate(zip(templates, ready, strict=True), 1):
        hash_ = f"5d{number}f"
        name = f"api-{hash_}"
        # The StatefulSet's pods name their revision, the DaemonSet's its hash (its own label too).
        key = name if kind == "StatefulSet" else hash_
        label = {"controller.kubernetes.io/hash" if kind == "StatefulSet" else HASH: hash_}
        objects.append(
            {
                "kind": "ControllerRevision",
                "apiVersion": "apps/v1",
                "metadata": {
                    "name": name,
                    "namespace": NS,
                    "labels": {"app": "api", **label},
                    "ownerReferences": [
                        {"kind": kind, "name": "api", "uid": owner["metadata"]["uid"], "controller": True}
                    ],
                },
                "data": {"spec": {"template": {"$patch": "replace", **copy.deepcopy(revision)}}},
                "revision": number,
            }
        )
        pods += [_pod(f"api-{number}-{i}", owner, revision, READY, {HASH: key}) for i in range(count)]
    failing = _pod("api-failing", owner, templates[-1], status, {HASH: key})
    return [*objects, *pods, failing], failing


def crash(message: str = "", reason: str = "Error", exit_code: int = 1) -> dict:
    return {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "api",
                "ready": False,
                "restartCount": 4,
                "state": {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off 40s restarting failed container",
                    }
                },
                "lastState": {"terminated": {"reason": reason, "exitCode": exit_code, "message": message}},
            }
        ],
    }


def waiting(reason: str, message: str) -> dict:
    return {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "api",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": message}},
            }
        ],
    }


def policy(*extra_paths: str) -> DebugPolicySpec:
    return DebugPolicySpec(
        rules=[Rule(namespaces=[NS])],
        remediation=Remediation(allowed_paths=[*DEFAULT_ALLOWED_PATHS, *extra_paths]),
    )


async def evidence_of(objects: list[dict], pod: dict, trigger: Trigger, logs: dict | None = None):
    cluster = FakeCluster(objects, logs or {})
    ctx = ToolContext(cluster, NS, pod, Redactor())
    await learn_secret_values(cluster, pod, ctx.redactor)
    return await gather(ctx, await owner_chain(cluster, pod), trigger)


async def conclude(objects, pod, trigger, logs=None, spec: DebugPolicySpec | None = None) -> Conclusion:
    return await investigate(FakeCluster(objects, logs or {}), None, pod, trigger, policy=spec or policy())


def operations(conclusion: Conclusion) -> list[dict]:
    patch = conclusion.suggested_patch
    assert patch is not None, conclusion.no_patch_reason
    return [op.model_dump(mode="json", by_alias=True, exclude_none=True) for op in patch.operations]


def changed(conclusion: Conclusion) -> list[tuple[str, str | None, str | None, int]]:
    assert conclusion.status().changes is not None
    return [(f.path, f.from_, f.to, f.revision) for f in conclusion.status().changes.fields]


async def test_an_image_change_is_reported_and_the_pull_analyzer_still_leads() -> None:
    objects, pod = deployment_history(
        [template(), template(image="registry.local/api:2.0")],
        [1, 0],
        waiting("ImagePullBackOff", 'Back-off pulling image "registry.local/api:2.0"'),
    )
    conclusion = await conclude(objects, pod, Trigger.IMAGE_PULL_BACK_OFF)
    assert changed(conclusion) == [
        ("/spec/containers/0/image", "registry.local/api:1.0", "registry.local/api:2.0", 2)
    ]
    assert conclusion.status().changes.healthy == "1 pod of revision 1 Ready now"
    assert "changes since revision 1" in conclusion.reasoning_chain[0].observation
    (revert,) = change_analyzer.analyze(await evidence_of(objects, pod, Trigger.IMAGE_PULL_BACK_OFF))
    best = conclusion.candidates[0]
    assert best.root_cause == RootCause.IMAGE_PULL
    assert best.score > revert.score
    assert revert.root_cause == RootCause.IMAGE_PULL
    assert revert.summary.startswith(
        "Container api's image changed from registry.local/api:1.0 to registry.local/api:2.0 in revision 2; "
        "revision 1 ran healthy."
    )
    assert revert.patch.operations == [
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "registry.local/api:1.0"}
    ]
    # Both point at the same field and the same fix: the mechanism's candidate keeps it, with both's facts.
    assert operations(conclusion)[-1] == revert.patch.operations[0]
    assert [
        c for c in conclusion.candidates if c.patch and c.patch.operations == revert.patch.operations
    ] == [best]
    assert set(revert.facts) <= set(best.facts)


async def test_an_env_change_and_an_unrelated_annotation_change() -> None:
    healthy = template(
        env=[
            {
                "name": "DB_URL",
                "valueFrom": {"configMapKeyRef": {"name": "api-config", "key": "database_url"}},
            }
        ]
    )
    broken = copy.deepcopy(healthy)
    broken["spec"]["containers"][0]["env"][0]["valueFrom"]["configMapKeyRef"]["key"] = "db_uri"
    broken["metadata"]["annotations"] = {
        "team": "payments",
        "kubectl.kubernetes.io/restartedAt": "2026-01-05T10:00:00Z",
    }
    config = {
        "kind": "ConfigMap",
        "metadata": {"name": "api-config", "namespace": NS},
        "data": {"database_url": "postgres://db"},
    }
    message = f"couldn't find key db_uri in ConfigMap {NS}/api-config"
    objects, pod = deployment_history(
        [healthy, broken], [1, 0], waiting("CreateContainerConfigError", message)
    )
    conclusion = await conclude([*objects, config], pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR)
    # The ReplicaSets' own pod-template-hash labels and the restart annotation are not changes.
    assert changed(conclusion) == [
        ("/metadata/annotations/team", None, "payments", 2),
        (
            "/spec/containers/0/env/0",
            '{"name":"DB_URL","valueFrom":{"configMapKeyRef":{"key":"database_url","name":"api-config"}}}',
            '{"name":"DB_URL","valueFrom":{"configMapKeyRef":{"key":"db_uri","name":"api-config"}}}',
            2,
        ),
    ]
    by_path = {c.summary.split(" changed from")[0]: c for c in conclusion.candidates}
    env, annotation = by_path["Container api's env var DB_URL"], by_path["The pod template's annotation team"]
    # The missing-key analyzer shows the mechanism and leads; the env change is the next candidate.
    assert conclusion.candidates[0].root_cause == RootCause.MISSING_CONFIG
    assert "db_uri" in conclusion.candidates[0].summary
    assert conclusion.candidates[0] not in (env, annotation)
    assert conclusion.candidates[0].score > env.score > annotation.score
    assert env.root_cause == RootCause.MISSING_CONFIG
    assert env.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/env/0",
            "value": healthy["spec"]["containers"][0]["env"][0],
        }
    ]
    assert annotation.patch is None
    assert "annotations are not patched" in annotation.no_patch_reason


async def test_of_two_changed_fields_the_one_the_pod_quotes_leads_and_is_reverted_alone() -> None:
    healthy = template(env=[{"name": "LOG_LEVEL", "value": "info"}], resources={"limits": {"cpu": "500m"}})
    broken = template(
        env=[{"name": "LOG_LEVEL", "value": "debug"}],
        resources={"limits": {"cpu": "250m"}},
        command=["serve-v2"],
    )
    message = 'exec: "serve-v2": executable file not found in $PATH: unknown'
    objects, pod = deployment_history([healthy, broken], [1, 0], crash(message, "StartError", 128))
    conclusion = await conclude(objects, pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert [path for path, *_ in changed(conclusion)] == [
        "/spec/containers/0/command",
        "/spec/containers/0/env/0",
        "/spec/containers/0/resources/limits/cpu",
    ]
    reverts = [c for c in conclusion.candidates if c.patch and c.score >= change_analyzer.CHANGED]
    command = reverts[0]
    assert command.root_cause == RootCause.APPLICATION_ERROR
    assert command.score > change_analyzer.QUOTED  # the start error's candidate, with the same revert
    assert message in command.facts
    # Unquoted changes are equal: the model judges between them.
    assert [c.score for c in reverts[1:]] == [change_analyzer.CHANGED] * 2
    assert conclusion.findings.root_cause == RootCause.APPLICATION_ERROR
    assert operations(conclusion)[-1] == {"op": "remove", "path": "/spec/template/spec/containers/0/command"}
    shown = render_report(
        {
            "metadata": {"name": "api-crashloopbackoff-1", "namespace": NS},
            "spec": {"trigger": "CrashLoopBackOff"},
            "status": conclusion.status().model_dump(mode="json", by_alias=True, exclude_none=True),
        }
    )
    assert "What changed (revision 1 -> 2)" in shown
    assert "Revision 1 ran healthy: 1 pod of revision 1 Ready now" in shown
    assert '/spec/containers/0/command (revision 2): <unset> -> ["serve-v2"]' in shown
    assert "/spec/containers/0/env/0 (revision 2): LOG_LEVEL=info -> LOG_LEVEL=debug" in shown


async def test_a_statefulset_revision_is_found_through_its_controller_revisions() -> None:
    healthy, broken = (
        template(args=["--config=/etc/api/v1.yaml"]),
        template(args=["--config=/etc/api/v2.yaml"]),
    )
    objects, pod = controller_history(
        "StatefulSet",
        [healthy, broken],
        [0, 0],
        crash(),
        currentRevision="api-5d1f",
        updateRevision="api-5d2f",
    )
    logs = {("api-failing", "api", True): "fatal: open /etc/api/v2.yaml: no such file or directory"}
    conclusion = await conclude(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, logs)
    assert changed(conclusion) == [
        ("/spec/containers/0/args", '["--config=/etc/api/v1.yaml"]', '["--config=/etc/api/v2.yaml"]', 2)
    ]
    # No pod of revision 1 is left; the StatefulSet's currentRevision says its rollout completed.
    assert "currentRevision" in conclusion.status().changes.healthy
    assert conclusion.findings.root_cause == RootCause.APPLICATION_ERROR
    assert conclusion.suggested_patch.target.kind == "StatefulSet"
    assert operations(conclusion)[-1] == {
        "op": "replace",
        "path": "/spec/template/spec/containers/0/args",
        "value": ["--config=/etc/api/v1.yaml"],
    }


async def test_a_daemonset_change_no_mechanism_knows_gets_a_revert() -> None:
    """The only evidence is the diff: a changed workingDir, with nothing in logs or events about it."""
    objects, pod = controller_history(
        "DaemonSet", [template(), template(workingDir="/srv/v2")], [2, 0], crash()
    )
    conclusion = await conclude(
        objects, pod, Trigger.CRASH_LOOP_BACK_OFF, spec=policy("/spec/template/spec/containers/*/workingDir")
    )
    assert changed(conclusion) == [("/spec/containers/0/workingDir", None, "/srv/v2", 2)]
    assert conclusion.status().changes.healthy == "2 pods of revision 1 Ready now"
    best = conclusion.candidates[0]
    assert best.summary.startswith("Container api's workingDir changed from unset to /srv/v2 in revision 2")
    assert conclusion.suggested_patch.target.kind == "DaemonSet"
    assert operations(conclusion)[-1] == {
        "op": "remove",
        "path": "/spec/template/spec/containers/0/workingDir",
    }


async def test_a_change_other_pods_run_ready_with_is_an_unlikely_cause() -> None:
    # A DaemonSet pod of revision 2 is Ready on another node: the change alone does not break pods.
    objects, pod = controller_history(
        "DaemonSet", [template(), template(workingDir="/srv/v2")], [1, 1], crash()
    )
    evidence = await evidence_of(objects, pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert evidence.changes.failing_ready == 1
    assert "1 pod(s) of revision 2 are Ready with these changes" in evidence.observation
    (candidate,) = change_analyzer.analyze(evidence)
    assert candidate.score == change_analyzer.UNLIKELY


async def test_a_revert_outside_the_policy_is_found_but_not_offered() -> None:
    objects, pod = controller_history(
        "DaemonSet", [template(), template(workingDir="/srv/v2")], [1, 0], crash()
    )
    conclusion = await conclude(objects, pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert conclusion.candidates[0].patch is not None
    assert conclusion.suggested_patch is None
    assert "outside the policy's allowed paths" in conclusion.no_patch_reason


async def test_without_history_there_is_no_change_candidate() -> None:
    # One revision: nothing to compare with.
    objects, pod = deployment_history([template(command=["serve"])], [0], crash())
    evidence = await evidence_of(objects, pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert evidence.changes is None
    assert change_analyzer.analyze(evidence) == []
    # Two revisions that differ only in what `kubectl rollout restart` writes: no field changed.
    restarted = template()
    restarted["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "2026-01-05T10:00:00Z"}
    objects, pod = deployment_history([template(), restarted], [0, 0], crash())
    evidence = await evidence_of(objects, pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert evidence.changes.fields == ()
    assert "assumed: revision 1 is the one before 2" in evidence.changes.healthy
    assert "none in the pod template" in evidence.observation
    assert change_analyzer.analyze(evidence) == []


async def test_a_template_changed_again_since_the_failing_revision_is_not_reverted_blindly() -> None:
    objects, pod = deployment_history([template(), template(workingDir="/srv/v2")], [1, 0], crash())
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["workingDir"] = "/srv/v3"
    evidence = await evidence_of(objects, pod, Trigger.CRASH_LOOP_BACK_OFF)
    (candidate,) = change_analyzer.analyze(evidence)
    assert candidate.patch is None
    assert "no longer holds revision 2's value" in candidate.no_patch_reason


async def test_a_secret_inlined_in_a_revision_never_shows() -> None:
    secret = "pa55-Inlined-7f3k"
    from_secret = {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "api-db", "key": "password"}},
    }
    inlined = {"name": "DB_PASSWORD", "value": secret}
    # Someone inlined the Secret's value: the healthy revision took it from the Secret.
    objects, pod = deployment_history([template(env=[from_secret]), template(env=[inlined])], [1, 0], crash())
    conclusion = await conclude(objects, pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert changed(conclusion) == [
        (
            "/spec/containers/0/env/0",
            '{"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"key":"password","name":"api-db"}}}',
            "DB_PASSWORD=<redacted>",
            2,
        )
    ]
    shown = json.dumps(
        [
            conclusion.status().model_dump(mode="json", by_alias=True),
            [c.summary for c in conclusion.candidates],
        ]
    )
    assert secret not in shown
    # And the other way round: the revert would write the inlined value back, so there is none.
    objects, pod = deployment_history([template(env=[inlined]), template(env=[from_secret])], [1, 0], crash())
    conclusion = await conclude(objects, pod, Trigger.CRASH_LOOP_BACK_OFF)
    shown = json.dumps(
        [
            conclusion.status().model_dump(mode="json", by_alias=True),
            [c.summary for c in conclusion.candidates],
        ]
    )
    assert secret not in shown
    (revert,) = [c for c in conclusion.candidates if "env var DB_PASSWORD" in c.summary]
    # A value with spaces is masked whole: the diff knows where the value ends, text redaction cannot.
    spaced = {"name": "DB_PASSWORD", "value": "correct horse battery"}
    objects, pod = deployment_history([template(env=[from_secret]), template(env=[spaced])], [1, 0], crash())
    evidence = await evidence_of(objects, pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert evidence.changes.fields[0].new_text == "DB_PASSWORD=<redacted>"
    assert revert.patch is None
    assert "looks like a secret" in revert.no_patch_reason


async def test_the_revert_is_vetted_like_any_patch() -> None:
    objects, pod = deployment_history([template(), template(command=["serve-v2"])], [1, 0], crash())
    cluster = FakeCluster(objects)
    evidence = await evidence_of(objects, pod, Trigger.CRASH_LOOP_BACK_OFF)
    (candidate,) = change_analyzer.analyze(evidence)
    safe = await vet_patch(
        cluster, evidence.chain, candidate.patch.target, candidate.patch.operations, Remediation()
    )
    guarded = [
        op.model_dump(mode="json", by_alias=True, exclude_none=True) for op in safe.suggested.operations
    ]
    assert {
        "op": "test",
        "path": "/spec/template/spec/containers/0/command",
        "value": ["serve-v2"],
    } in guarded
    assert guarded[-1] == {"op": "remove", "path": "/spec/template/spec/containers/0/command"}


@pytest.mark.kubectl
def test_a_breaking_rollout_is_reported_and_its_revert_heals_it_on_the_sandbox(sandbox) -> None:
    """A command override no image has, rolled out over a healthy revision: the baseline reports the
    diff and offers to remove the override, and applying that completes the rollout."""
    healthy = _deployment("storefront", "sandbox/web:1.1")
    sandbox.apply([healthy])
    _failing_pod(sandbox, "storefront", _ready)
    broken = copy.deepcopy(healthy)
    broken["spec"]["template"]["spec"]["containers"][0]["command"] = ["storefront-server"]
    sandbox.apply([broken])
    pod = _failing_pod(
        sandbox, "storefront", lambda p: _crashlooping(p) and p["spec"]["containers"][0].get("command")
    )
    conclusion = on_sandbox(sandbox, pod, Trigger.CRASH_LOOP_BACK_OFF, policy=policy())
    assert changed(conclusion) == [("/spec/containers/0/command", None, '["storefront-server"]', 2)]
    assert conclusion.status().changes.healthy == "1 pod of revision 1 Ready now"
    revert = operations(conclusion)
    assert revert[-1] == {"op": "remove", "path": "/spec/template/spec/containers/0/command"}
    sandbox.kubectl(
        "patch", "deployment/storefront", "-n", "default", "--type=json", "-p", json.dumps(revert)
    )
    rolled = sandbox.kubectl("rollout", "status", "deployment/storefront", "-n", "default", "--timeout=60s")
    assert "successfully rolled out" in rolled.stdout
