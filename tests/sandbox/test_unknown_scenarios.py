"""The "unknown" scenarios (scenarios/unknown/: failures no analyzer of smart-sre explains) on the sandbox:
each loads, its watched workload shows the trigger it claims, and the hand fix an SRE would make (applied
with the real kubectl) makes every pod of the workload Ready, so the set measures explanations of real,
fixable failures."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from smart_sre.api.common import RootCause
from smart_sre_harness.eval.scenarios import DEFAULT_DIR, WATCH_LABEL, Scenario, load_sets
from smart_sre_harness.eval.stage import CHECK_WINDOW, detect
from smart_sre_harness.testing import DEFAULT_TIME_SCALE, RunningSandbox
from smart_sre_sandbox.cluster import scenario_nodes

TEMPLATE = "/spec/template/spec"


def at(field: str, value: object, op: str = "replace") -> dict:
    """One JSON patch operation on a field of the failing Deployment's pod template."""
    return {"op": op, "path": f"{TEMPLATE}/{field}", "value": value}


def empty_dir(name: str, mount_path: str) -> list[dict]:
    """A writable emptyDir for the first container, mounted at `mount_path`."""
    return [
        at("volumes", [{"name": name, "emptyDir": {}}], "add"),
        at("containers/0/volumeMounts", [{"name": name, "mountPath": mount_path}], "add"),
    ]


# The hand fix of each scenario: a JSON patch of its failing Deployment.
FIXES: dict[str, list[dict]] = {
    "readonly-rootfs-tmp-upload-scanner": empty_dir("tmp", "/tmp"),
    "sidecar-port-clash-session-gateway": [
        at("containers/1/env", [{"name": "HTTP_PORT", "value": "9102"}], "add")
    ],
    "mount-hides-app-campaign-site": [at("containers/0/volumeMounts/0/mountPath", "/usr/src/app/public")],
    "runasuser-spool-permission-mail-relay": empty_dir("spool", "/var/spool/relay"),
    "init-missing-volumemount-sentiment-server": [
        at("initContainers/0/volumeMounts", [{"name": "models", "mountPath": "/models"}], "add")
    ],
    "subpath-missing-key-edge-relay": [at("containers/0/volumeMounts/0/subPath", "relay.yml")],
    "readonly-volumemount-state-doc-vault": [at("containers/0/volumeMounts/1/readOnly", False)],
    "dnspolicy-default-service-name-supplier-portal": [at("dnsPolicy", "ClusterFirst")],
    "automount-token-off-preview-reaper": [at("automountServiceAccountToken", True)],
}
UNKNOWN = load_sets(DEFAULT_DIR, ["unknown"])


def failing_workload(scenario: Scenario) -> dict:
    """The Deployment whose pods the scenario's policy watches."""
    [workload] = scenario.watched()
    assert workload["kind"] == "Deployment", scenario.name
    return workload


@pytest.fixture(params=UNKNOWN, ids=lambda scenario: scenario.name)
def scenario(request: pytest.FixtureRequest) -> Scenario:
    return request.param


@pytest.fixture
def sandbox_options(scenario: Scenario) -> dict[str, Any]:
    return {"time_scale": DEFAULT_TIME_SCALE, "nodes": scenario_nodes([scenario.path]) or None}


def watched(sandbox: RunningSandbox, namespace: str) -> list[dict]:
    pods = sandbox.list("pods", namespace, label_selector="=".join(WATCH_LABEL))
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def shows(sandbox: RunningSandbox, namespace: str, trigger: str) -> bool:
    return any(
        (found := detect(pod)) is not None and found.trigger == trigger for pod in watched(sandbox, namespace)
    )


def healthy(sandbox: RunningSandbox, namespace: str, replicas: int) -> bool:
    pods = watched(sandbox, namespace)
    ready = [
        pod
        for pod in pods
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pod.get("status", {}).get("conditions", [])
        )
    ]
    return len(pods) == len(ready) == replicas


def test_the_unknown_set_holds_eight_or_more_scenarios_each_with_its_culprit_and_a_hand_fix() -> None:
    assert len(UNKNOWN) >= 8
    assert {scenario.name for scenario in UNKNOWN} == set(FIXES)
    workloads = [failing_workload(scenario) for scenario in UNKNOWN]
    assert len({w["metadata"]["namespace"] for w in workloads}) == len(workloads)
    images = {w["spec"]["template"]["spec"]["containers"][0]["image"] for w in workloads}
    assert len(images) == len(workloads)
    for scenario in UNKNOWN:
        expected = scenario.spec.expected
        assert scenario.set == "unknown"
        assert expected.mentions, scenario.name
        assert expected.root_cause != RootCause.UNKNOWN, scenario.name


def test_the_workload_fails_with_its_trigger_and_the_hand_fix_heals_it(
    sandbox: RunningSandbox, scenario: Scenario
) -> None:
    workload = failing_workload(scenario)
    namespace, name = workload["metadata"]["namespace"], workload["metadata"]["name"]
    replicas = workload["spec"]["replicas"]
    sandbox.apply(scenario.path)
    trigger = scenario.spec.expected.trigger
    sandbox.wait_for(lambda: shows(sandbox, namespace, trigger), timeout=30, interval=0.2)
    assert not healthy(sandbox, namespace, replicas)

    patch = json.dumps(FIXES[scenario.name])
    sandbox.kubectl("patch", "deployment", name, "-n", namespace, "--type=json", "-p", patch)
    sandbox.wait_for(lambda: healthy(sandbox, namespace, replicas), timeout=40, interval=0.2)
    sandbox.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=30s")
    time.sleep(sandbox.sandbox.clock.real_seconds(CHECK_WINDOW))  # and it stays so, as the eval judges
    assert healthy(sandbox, namespace, replicas)
