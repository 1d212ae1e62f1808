"""The agent against the sandbox cluster through the real `kubernetes` client, with a scripted model."""

from __future__ import annotations

import asyncio
import base64
import json

import jsonpatch
import pytest

from smart_sre.api.common import RootCause, Trigger
from smart_sre.k8s.cluster import Cluster, ClusterError

from .pods import on_sandbox
from .scripted import ScriptedInference

FINISH = {"observation": "cause is clear", "thought": "conclude", "action": {"tool": "finish"}}


def _failing_pod(sandbox, prefix: str, predicate) -> dict:
    def find():
        for pod in sandbox.list("pods", "default"):
            if pod["metadata"]["name"].startswith(prefix) and predicate(pod):
                return pod
        return None

    return sandbox.wait_for(find, timeout=30)


def _crashlooping(pod: dict) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(
        ((s.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff" for s in statuses
    )


def _unschedulable(pod: dict) -> bool:
    return any(c.get("reason") == "Unschedulable" for c in (pod.get("status") or {}).get("conditions") or [])


def _diagnose(sandbox, pod: dict, trigger: Trigger, steps: list[dict]):
    return on_sandbox(sandbox, pod, trigger, model=ScriptedInference(steps))


def test_pending_seed_on_the_sandbox(sandbox) -> None:
    sandbox.apply("seed-pending")
    pod = _failing_pod(sandbox, "report-generator", _unschedulable)
    step = {
        "observation": "pending: insufficient memory",
        "thought": "compare the request with the nodes",
        "action": {"tool": "explain_scheduling", "args": {"pod": pod["metadata"]["name"]}},
    }
    diagnosis = _diagnose(sandbox, pod, Trigger.PENDING, [step, FINISH])
    assert "Insufficient memory" in diagnosis.reasoning_chain[1].result
    assert diagnosis.findings.root_cause == RootCause.INSUFFICIENT_RESOURCES
    patch = diagnosis.suggested_patch
    assert patch is not None, diagnosis.no_patch_reason
    assert patch.target.kind == "Deployment"
    assert patch.dry_run.passed


def test_crashloop_seed_on_the_sandbox_and_a_stale_target(sandbox) -> None:
    sandbox.apply("seed-crashloop")
    pod = _failing_pod(sandbox, "checkout", _crashlooping)
    step = {
        "observation": "Connection refused to redis:6379",
        "thought": "is there a Service redis on 6379?",
        "action": {"tool": "check_service", "args": {"name": "redis", "port": 6379}},
    }
    diagnosis = _diagnose(sandbox, pod, Trigger.CRASH_LOOP_BACK_OFF, [step, FINISH])
    assert "Connection refused to redis:6379" in diagnosis.reasoning_chain[0].observation
    assert diagnosis.findings.root_cause == RootCause.BAD_CONFIG_VALUE
    patch = diagnosis.suggested_patch
    assert patch is not None, diagnosis.no_patch_reason
    operations = [op.model_dump(mode="json", by_alias=True, exclude_none=True) for op in patch.operations]
    # Someone changes the env after the analysis: the guarded patch must fail, not clobber.
    sandbox.kubectl("set", "env", "deployment/checkout", "REDIS_HOST=redis-cache", "-n", "default")
    cluster = Cluster.from_config(str(sandbox.kubeconfig))
    try:
        with pytest.raises(ClusterError) as failure:
            asyncio.run(cluster.dry_run_patch("Deployment", "default", "checkout", operations))
    finally:
        cluster.close()
    assert failure.value.status == 422
    live = sandbox.get("deployments", "default", "checkout")
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(live, operations)


def test_secret_backed_env_is_redacted_on_the_sandbox(sandbox) -> None:
    secret_value = "pa55-from-vault-9931"
    sandbox.apply("seed-crashloop")
    sandbox.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "checkout-db", "namespace": "default"},
                "data": {"password": base64.b64encode(secret_value.encode()).decode()},
            }
        ]
    )
    sandbox.kubectl(
        "set", "env", "deployment/checkout", "--from=secret/checkout-db", "--prefix=DB_", "-n", "default"
    )
    pod = _failing_pod(
        sandbox,
        "checkout",
        lambda p: (
            _crashlooping(p)
            and any(e["name"] == "DB_PASSWORD" for e in p["spec"]["containers"][0].get("env", []))
        ),
    )
    step = {
        "observation": "crash",
        "thought": "look at the pod",
        "action": {"tool": "inspect_object", "args": {"object": f"Pod/{pod['metadata']['name']}"}},
    }
    model = ScriptedInference([step, FINISH])
    diagnosis = on_sandbox(sandbox, pod, Trigger.CRASH_LOOP_BACK_OFF, model=model)
    assert (
        "DB_PASSWORD=<redacted: from secret checkout-db key password>" in diagnosis.reasoning_chain[1].result
    )
    assert secret_value not in "".join(model.prompts) + diagnosis.status().model_dump_json(by_alias=True)


def _deployment(name: str, image: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def _ready(pod: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def test_unknown_image_tag_is_fixed_with_a_tag_running_in_the_cluster(sandbox) -> None:
    sandbox.apply([_deployment("storefront", "sandbox/web:1.1")])
    _failing_pod(sandbox, "storefront", _ready)
    sandbox.apply([_deployment("catalog", "sandbox/web:9.9")])

    def pull_failing(pod: dict) -> bool:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return any(
            ((s.get("state") or {}).get("waiting") or {}).get("reason") == "ImagePullBackOff"
            for s in statuses
        )

    pod = _failing_pod(sandbox, "catalog", pull_failing)
    diagnosis = _diagnose(sandbox, pod, Trigger.IMAGE_PULL_BACK_OFF, [FINISH])
    assert diagnosis.findings.root_cause == RootCause.IMAGE_PULL
    operations = [
        op.model_dump(mode="json", by_alias=True, exclude_none=True)
        for op in diagnosis.suggested_patch.operations
    ]
    assert operations[-1]["value"] == "sandbox/web:1.1"
    sandbox.kubectl(
        "patch", "deployment/catalog", "-n", "default", "--type=json", "-p", json.dumps(operations)
    )
    _failing_pod(sandbox, "catalog", _ready)


def test_oom_killed_app_is_healed_by_the_raised_limit(sandbox) -> None:
    hog = _deployment("hog", "sandbox/memory-hog:1.0")
    container = hog["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "ALLOCATE_MB", "value": "300"}]
    container["resources"] = {"requests": {"memory": "64Mi"}, "limits": {"memory": "128Mi"}}
    sandbox.apply([hog])

    def oom_killed(pod: dict) -> bool:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return any(
            ((s.get("lastState") or {}).get("terminated") or {}).get("reason") == "OOMKilled"
            for s in statuses
        )

    pod = _failing_pod(sandbox, "hog", oom_killed)
    diagnosis = _diagnose(sandbox, pod, Trigger.OOM_KILLED, [FINISH])
    assert diagnosis.findings.root_cause == RootCause.OOM_KILLED
    operations = [
        op.model_dump(mode="json", by_alias=True, exclude_none=True)
        for op in diagnosis.suggested_patch.operations
    ]
    sandbox.kubectl("patch", "deployment/hog", "-n", "default", "--type=json", "-p", json.dumps(operations))
    _failing_pod(sandbox, "hog", _ready)
