"""A pod's life as the real kubectl shows it, the way a node would: init containers (Init:0/1, Init:Error,
Init:CrashLoopBackOff, PodInitializing), sidecars, startup, liveness and readiness probes against a program
that starts slowly, OOM kills, and the log errors a real API server and kubelet give."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from smart_sre_harness.testing import RunningSandbox, kubectl_path

pytestmark = pytest.mark.kubectl

# A scenario-declared image whose program serves /healthz on 8080 only 40 s after it starts.
SLOW_IMAGE = {
    "apiVersion": "sandbox.smartsre.io/v1alpha1",
    "kind": "SandboxImage",
    "metadata": {"name": "registry.example.com/slow-api"},
    "spec": {"tags": ["1.0"], "language": "java", "entrypoint": "java", "startSeconds": 40},
}
HEALTHZ = {"httpGet": {"path": "/healthz", "port": 8080}}


def pod(name: str, *containers: dict, init: list[dict] | None = None, restart: str = "Always") -> dict:
    spec: dict = {"restartPolicy": restart, "containers": list(containers)}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def shell(name: str, script: str, **fields: object) -> dict:
    return {"name": name, "image": "busybox:1.36", "command": ["sh", "-c", script], **fields}


def create(sandbox: RunningSandbox, *objects: dict) -> None:
    sandbox.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objects))


def status_column(sandbox: RunningSandbox, name: str) -> str:
    return sandbox.kubectl("get", "pod", name, "--no-headers").stdout.split()[2]


def jsonpath(sandbox: RunningSandbox, name: str, path: str) -> str:
    return sandbox.kubectl("get", "pod", name, "-o", f"jsonpath={{{path}}}").stdout


def events(sandbox: RunningSandbox, name: str) -> list[dict]:
    listed = sandbox.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json")
    return json.loads(listed.stdout)["items"]


def messages(sandbox: RunningSandbox, name: str, reason: str) -> dict[str, int]:
    return {e["message"]: e["count"] for e in events(sandbox, name) if e["reason"] == reason}


@contextmanager
def watched_statuses(sandbox: RunningSandbox, name: str) -> Iterator[list[str]]:
    """The STATUS column of every row `kubectl get pods --watch` prints for pod `name`, from the moment its
    watch request is answered (kubectl -v=6 logs it), so that it sees every change made after."""
    seen: list[str] = []
    process = subprocess.Popen(
        [
            kubectl_path(),
            "get",
            "pods",
            "-w",
            "--no-headers",
            f"--field-selector=metadata.name={name}",
            "-v=6",
        ],
        env={**os.environ, **sandbox.kubectl_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rows, said = process.stdout, process.stderr
    assert rows is not None
    assert said is not None
    watching = threading.Event()
    threading.Thread(target=lambda: seen.extend(line.split()[2] for line in rows), daemon=True).start()

    def read_log() -> None:  # to its end, so that kubectl never blocks on a full pipe
        for line in said:
            if "watch=true" in line:
                watching.set()

    threading.Thread(target=read_log, daemon=True).start()
    try:
        assert watching.wait(timeout=10), "kubectl get --watch did not start"
        yield seen
    finally:
        process.kill()
        process.wait()


def in_order(seen: list[str], expected: list[str]) -> bool:
    """Whether `expected` occurs in `seen` in this order (other rows may come between)."""
    rest = iter(seen)
    return all(any(status == wanted for status in rest) for wanted in expected)


# -- init containers -------------------------------------------------------------------------------


def test_an_init_container_shows_init_0_1_then_pod_initializing_then_running(sandbox: RunningSandbox) -> None:
    init = shell("migrate", "echo applying migrations; sleep 3; echo migrations done")
    with watched_statuses(sandbox, "web") as seen:
        create(
            sandbox,
            pod(
                "web", {"name": "app", "image": "python:3.12-slim", "command": ["sleep", "3600"]}, init=[init]
            ),
        )
        sandbox.wait_for(lambda: "Running" in seen, timeout=20)
    assert in_order(seen, ["Init:0/1", "PodInitializing", "Running"]), seen
    assert sandbox.kubectl("logs", "web", "-c", "migrate").stdout == "applying migrations\nmigrations done\n"
    done = json.loads(jsonpath(sandbox, "web", ".status.initContainerStatuses[0]"))
    assert (done["ready"], done["started"], done["state"]["terminated"]["reason"]) == (
        True,
        False,
        "Completed",
    )
    initialized = json.loads(jsonpath(sandbox, "web", '.status.conditions[?(@.type=="Initialized")]'))
    assert (initialized["status"], "reason" in initialized) == ("True", False)


def test_a_failed_init_container_with_restart_policy_never_fails_the_pod(sandbox: RunningSandbox) -> None:
    init = shell("migrate", "echo cannot reach the database; exit 1")
    create(sandbox, pod("job", shell("app", "echo never runs"), init=[init], restart="Never"))
    sandbox.wait_for(lambda: jsonpath(sandbox, "job", ".status.phase") == "Failed", timeout=20)
    assert status_column(sandbox, "job") == "Init:Error"
    assert sandbox.kubectl("logs", "job", "-c", "migrate").stdout == "cannot reach the database\n"
    app = sandbox.kubectl("logs", "job", "-c", "app", check=False)
    assert app.stderr.strip() == (
        'Error from server (BadRequest): container "app" in pod "job" is waiting to start: PodInitializing'
    )
    conditions = {
        c["type"]: c
        for c in json.loads(sandbox.kubectl("get", "pod", "job", "-o", "json").stdout)["status"]["conditions"]
    }
    assert (conditions["Initialized"]["reason"], conditions["Initialized"]["message"]) == (
        "ContainersNotInitialized",
        "containers with incomplete status: [migrate]",
    )
    assert (conditions["Ready"]["reason"], "message" in conditions["Ready"]) == ("PodFailed", False)
    assert jsonpath(sandbox, "job", ".status.initContainerStatuses[0].state.terminated.exitCode") == "1"


def test_a_crashing_init_container_backs_off_as_init_crash_loop_back_off(sandbox: RunningSandbox) -> None:
    init = shell("wait-db", "echo db not ready; exit 1")
    create(sandbox, pod("web", {"name": "app", "image": "nginx:1.27"}, init=[init]))
    sandbox.wait_for(lambda: status_column(sandbox, "web") == "Init:CrashLoopBackOff", timeout=20)
    row = sandbox.kubectl("get", "pod", "web", "--no-headers").stdout.split()
    assert row[1] == "0/1"
    assert int(row[3].split()[0]) >= 1  # restarts of the init container count while the pod initializes
    assert jsonpath(sandbox, "web", ".status.phase") == "Pending"
    assert sandbox.kubectl("logs", "web", "-c", "wait-db", "--previous").stdout == "db not ready\n"
    assert any(
        m.startswith("Back-off restarting failed container wait-db in pod web_default(")
        for m in messages(sandbox, "web", "BackOff")
    )


@pytest.mark.parametrize(
    "script",
    ["sleep infinity", "until nslookup mydb; do echo waiting for mydb; sleep 2; done"],
)
def test_an_init_container_that_waits_forever_keeps_the_pod_initializing(
    sandbox: RunningSandbox, script: str
) -> None:
    create(sandbox, pod("web", {"name": "app", "image": "nginx:1.27"}, init=[shell("wait", script)]))
    sandbox.wait_for(
        lambda: jsonpath(sandbox, "web", ".status.initContainerStatuses[0].state.running"), timeout=20
    )
    sandbox.run(sandbox.sandbox.cluster.clock.sleep(60))  # a simulated minute later: still waiting
    assert status_column(sandbox, "web") == "Init:0/1"
    assert jsonpath(sandbox, "web", ".status.phase") == "Pending"
    assert jsonpath(sandbox, "web", ".status.containerStatuses[0].state.waiting.reason") == "PodInitializing"


def test_a_sidecar_runs_beside_the_app_and_stops_when_a_job_pod_is_done(sandbox: RunningSandbox) -> None:
    sidecar = shell("proxy", "echo proxy up; sleep infinity", restartPolicy="Always")
    create(
        sandbox,
        pod("web", {"name": "app", "image": "nginx:1.27"}, init=[sidecar]),
        pod("task", shell("app", "echo working; sleep 2; echo done"), init=[sidecar], restart="Never"),
    )
    sandbox.wait_for(
        lambda: (
            sandbox.kubectl("get", "pod", "web", "--no-headers").stdout.split()[1:3] == ["2/2", "Running"]
        ),
        timeout=20,
    )
    assert jsonpath(sandbox, "web", ".status.initContainerStatuses[0].started") == "true"
    sandbox.wait_for(lambda: jsonpath(sandbox, "task", ".status.phase") == "Succeeded", timeout=20)
    assert status_column(sandbox, "task") == "Completed"
    assert "Stopping container proxy" in messages(sandbox, "task", "Killing")


# -- probes and slow starts -------------------------------------------------------------------------


def slow_app(name: str, **probes: dict) -> dict:
    return pod(name, {"name": "app", "image": "registry.example.com/slow-api:1.0", **probes})


def test_an_impatient_liveness_probe_kills_a_slow_starting_app(sandbox: RunningSandbox) -> None:
    sandbox.apply([SLOW_IMAGE])
    liveness = {**HEALTHZ, "periodSeconds": 5, "failureThreshold": 3}  # gives up after 15 s of its 40
    create(sandbox, slow_app("api", livenessProbe=liveness))
    sandbox.wait_for(
        lambda: jsonpath(sandbox, "api", ".status.containerStatuses[0].restartCount") not in ("", "0"),
        timeout=20,
    )
    ip = jsonpath(sandbox, "api", ".status.podIP")
    refused = f'Liveness probe failed: Get "http://{ip}:8080/healthz": dial tcp {ip}:8080: connect: connection refused'
    assert messages(sandbox, "api", "Unhealthy")[refused] >= 3
    assert messages(sandbox, "api", "Killing")["Container app failed liveness probe, will be restarted"] >= 1
    last = json.loads(jsonpath(sandbox, "api", ".status.containerStatuses[0].lastState.terminated"))
    assert (last["exitCode"], last["reason"]) == (137, "Error")
    described = sandbox.kubectl("describe", "pod", "api").stdout
    assert re.search(
        r"Warning +Unhealthy +\S+ \(x\d+ over \S+\) +kubelet +.*Liveness probe failed: Get ", described
    )


def test_a_startup_probe_holds_liveness_and_readiness_until_a_slow_app_serves(
    sandbox: RunningSandbox,
) -> None:
    sandbox.apply([SLOW_IMAGE])
    startup = {**HEALTHZ, "periodSeconds": 5, "failureThreshold": 12}  # up to 60 s to start
    liveness = {**HEALTHZ, "periodSeconds": 5, "failureThreshold": 3}
    create(sandbox, slow_app("api", startupProbe=startup, livenessProbe=liveness, readinessProbe=HEALTHZ))
    sandbox.wait_for(lambda: messages(sandbox, "api", "Unhealthy"), timeout=20)
    status = json.loads(jsonpath(sandbox, "api", ".status.containerStatuses[0]"))
    assert (status["started"], status["ready"], "running" in status["state"]) == (False, False, True)
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/api", "--timeout=20s")
    status = json.loads(jsonpath(sandbox, "api", ".status.containerStatuses[0]"))
    assert (status["started"], status["restartCount"]) == (True, 0)
    ip = jsonpath(sandbox, "api", ".status.podIP")
    refused = f'Get "http://{ip}:8080/healthz": dial tcp {ip}:8080: connect: connection refused'
    # Only the startup probe ran before the app served: at 5, 10 ... 35 s; it passed at 40 s.
    assert messages(sandbox, "api", "Unhealthy") == {f"Startup probe failed: {refused}": 7}
    assert messages(sandbox, "api", "Killing") == {}


def test_a_startup_probe_with_too_little_budget_kills_the_container(sandbox: RunningSandbox) -> None:
    sandbox.apply([SLOW_IMAGE])
    startup = {**HEALTHZ, "periodSeconds": 5, "failureThreshold": 3}
    create(sandbox, slow_app("api", startupProbe=startup, livenessProbe=HEALTHZ))
    sandbox.wait_for(lambda: messages(sandbox, "api", "Killing"), timeout=20)
    assert list(messages(sandbox, "api", "Killing")) == [
        "Container app failed startup probe, will be restarted"
    ]
    unhealthy = messages(sandbox, "api", "Unhealthy")
    assert all(m.startswith("Startup probe failed: ") for m in unhealthy)
    assert jsonpath(sandbox, "api", ".status.containerStatuses[0].lastState.terminated.exitCode") == "137"


def test_a_liveness_kill_under_restart_policy_never_is_final(sandbox: RunningSandbox) -> None:
    liveness = {"tcpSocket": {"port": 8081}, "periodSeconds": 5, "failureThreshold": 2}
    create(
        sandbox,
        pod("web", {"name": "app", "image": "sandbox/web:1.0", "livenessProbe": liveness}, restart="Never"),
    )
    sandbox.wait_for(lambda: jsonpath(sandbox, "web", ".status.phase") == "Failed", timeout=20)
    ip = jsonpath(sandbox, "web", ".status.podIP")
    assert messages(sandbox, "web", "Unhealthy") == {
        f"Liveness probe failed: dial tcp {ip}:8081: connect: connection refused": 2
    }
    assert list(messages(sandbox, "web", "Killing")) == ["Container app failed liveness probe"]
    assert status_column(sandbox, "web") == "Error"


def test_the_built_in_jvm_app_survives_default_probes_but_not_impatient_ones(sandbox: RunningSandbox) -> None:
    patient = {**HEALTHZ}  # period 10 s, 3 failures: 30 s, more than the JVM needs
    impatient = {**HEALTHZ, "periodSeconds": 2, "failureThreshold": 3}
    create(
        sandbox,
        pod("patient", {"name": "app", "image": "sandbox/inventory:1.2", "livenessProbe": patient}),
        pod("impatient", {"name": "app", "image": "sandbox/inventory:1.2", "livenessProbe": impatient}),
    )
    sandbox.wait_for(lambda: messages(sandbox, "impatient", "Killing"), timeout=20)
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/patient", "--timeout=20s")
    sandbox.run(sandbox.sandbox.cluster.clock.sleep(40))
    assert jsonpath(sandbox, "patient", ".status.containerStatuses[0].restartCount") == "0"
    assert messages(sandbox, "patient", "Killing") == {}


# -- OOM kills and logs ----------------------------------------------------------------------------


def test_an_oom_kill_emits_no_event_a_vanilla_node_would_not(sandbox: RunningSandbox) -> None:
    hog = {
        "name": "app",
        "image": "sandbox/memory-hog:1.0",
        "env": [{"name": "ALLOCATE_MB", "value": "700"}],
        "resources": {"limits": {"memory": "512Mi"}},
    }
    create(sandbox, pod("hog", hog))
    sandbox.wait_for(lambda: status_column(sandbox, "hog") == "CrashLoopBackOff", timeout=30)
    last = json.loads(jsonpath(sandbox, "hog", ".status.containerStatuses[0].lastState.terminated"))
    assert (last["reason"], last["exitCode"]) == ("OOMKilled", 137)
    reasons = {e["reason"] for e in events(sandbox, "hog")}
    assert reasons <= {"Scheduled", "Pulling", "Pulled", "Created", "Started", "BackOff"}, reasons


def test_logs_of_pods_that_never_ran_read_as_on_a_real_cluster(sandbox: RunningSandbox) -> None:
    unschedulable = pod("nowhere", {"name": "app", "image": "nginx:1.27"})
    unschedulable["spec"]["nodeSelector"] = {"disktype": "none-has-it"}
    create(sandbox, unschedulable, pod("typo", {"name": "app", "image": "nginx:1.99"}))
    sandbox.wait_for(lambda: jsonpath(sandbox, "nowhere", ".status.conditions[0].reason") == "Unschedulable")
    unscheduled = sandbox.kubectl("logs", "nowhere")
    assert (unscheduled.stdout, unscheduled.stderr) == ("", "")
    sandbox.wait_for(lambda: status_column(sandbox, "typo") == "ImagePullBackOff", timeout=20)
    failed = sandbox.kubectl("logs", "typo", check=False)
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        'Error from server (BadRequest): container "app" in pod "typo" is waiting to start: '
        "trying and failing to pull image"
    )
