"""The kubelet's rules as pure functions on simulated time: crash back-off, probe schedules (startup gating,
slow starts, thresholds), pod phase and conditions, which run `kubectl logs` reads, sidecars in STATUS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smart_sre_sandbox.errors import ApiError
from smart_sre_sandbox.logs import LogSource, log_source
from smart_sre_sandbox.resources import BUILTIN_TYPES
from smart_sre_sandbox.sim import backoff
from smart_sre_sandbox.sim.containers import ContainerRuntime
from smart_sre_sandbox.sim.images import Catalogue, Container, ImageSpec, Run
from smart_sre_sandbox.sim.kubelet import pod_conditions, pod_phase
from smart_sre_sandbox.sim.network import Network
from smart_sre_sandbox.sim.probes import NEVER, plan
from smart_sre_sandbox.sim.shell import run
from smart_sre_sandbox.tables import table

IMAGE = ImageSpec(repository="sandbox/slow", tags=["1"])
IP = "10.244.1.7"
HEALTHZ = {"httpGet": {"path": "/healthz", "port": 8080}}
REFUSED = f'Get "http://{IP}:8080/healthz": dial tcp {IP}:8080: connect: connection refused'


def serving() -> Run:
    return Run(ports={8080: frozenset({"/", "/healthz"})})


# -- crash back-off --------------------------------------------------------------------------------


def test_restarts_wait_0_10_20_40_seconds_up_to_5_minutes_and_start_over_after_10_minutes_running() -> None:
    container = ContainerRuntime("app", init=False)
    now, waits = 0.0, []
    for _ in range(9):  # each run crashes 1 s after it starts
        container.restart_count += container.ever_started  # as Kubelet._start counts a restart
        container.start(Run(), IMAGE, "sandbox/slow:1", now, "t")
        now += 1.0
        container.terminate("uid", 1, "Error", "t")
        waits.append(container.schedule_restart(now, "app_default(uid)"))
        now = container.due
    assert waits == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
    assert container.reason == "CrashLoopBackOff"
    assert container.message == "back-off 5m0s restarting failed container=app pod=app_default(uid)"
    container.start(Run(), IMAGE, "sandbox/slow:1", now, "t")
    now += backoff.RESET_AFTER_SECONDS  # ran 10 minutes before it failed: the back-off starts over
    container.terminate("uid", 1, "Error", "t")
    assert container.schedule_restart(now, "app_default(uid)") == 0.0
    assert container.phase == "terminated"  # restarted at once: never shown as CrashLoopBackOff


# -- probe schedules -------------------------------------------------------------------------------


def test_an_impatient_liveness_probe_kills_an_app_still_starting() -> None:
    liveness = {**HEALTHZ, "initialDelaySeconds": 5, "periodSeconds": 5, "failureThreshold": 3}
    probed = plan({"livenessProbe": liveness}, IMAGE, serving(), IP, start=100.0, serves_at=130.0)
    assert (probed.kill_at, probed.kill_kind) == (120.0, "liveness")  # 5 + 5 x 3 < 30
    ticks = probed.series["liveness"]
    assert [ticks.failures(t) for t in (109.9, 110.0, 115.0, 120.0)] == [0, 1, 2, 3]
    assert ticks.message(0) == REFUSED


def test_a_patient_liveness_probe_lets_the_app_start() -> None:
    liveness = {**HEALTHZ, "periodSeconds": 10, "failureThreshold": 3}
    probed = plan({"livenessProbe": liveness}, IMAGE, serving(), IP, start=0.0, serves_at=25.0)
    assert probed.kill_at == NEVER
    assert probed.series["liveness"].failures(1000.0) == 2  # at 10 and 20 s; 30 s passes
    assert (probed.started_at, probed.ready_at) == (0.0, 0.0)  # no readiness probe: Ready while running


def test_a_startup_probe_gates_liveness_and_readiness_until_it_passes() -> None:
    spec = {
        "startupProbe": {**HEALTHZ, "periodSeconds": 5, "failureThreshold": 10},
        "livenessProbe": {**HEALTHZ, "periodSeconds": 5, "failureThreshold": 1},
        "readinessProbe": {**HEALTHZ, "periodSeconds": 5, "successThreshold": 2},
    }
    probed = plan(spec, IMAGE, serving(), IP, start=0.0, serves_at=32.0)
    assert probed.started_at == 35.0  # the first startup tick once it serves
    assert probed.kill_at == NEVER  # liveness only runs from then on, and passes
    assert probed.series["liveness"].first == 35.0
    assert probed.series["readiness"].first == 35.0  # probed as soon as the container started
    assert probed.ready_at == 40.0  # two passes in a row
    assert probed.series["startup"].failures(35.0) == 6
    assert probed.next_event(35.0) == 40.0


def test_a_startup_probe_out_of_budget_kills_and_never_starts_the_container() -> None:
    spec = {"startupProbe": {**HEALTHZ, "periodSeconds": 5, "failureThreshold": 3}, "readinessProbe": HEALTHZ}
    probed = plan(spec, IMAGE, serving(), IP, start=0.0, serves_at=60.0)
    assert (probed.kill_at, probed.kill_kind, probed.started_at, probed.ready_at) == (
        15.0,
        "startup",
        NEVER,
        NEVER,
    )
    assert set(probed.series) == {"startup"}


def test_a_probe_the_program_answers_wrongly_fails_with_its_answer_once_it_serves() -> None:
    liveness = {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10}
    ticks = plan({"livenessProbe": liveness}, IMAGE, serving(), IP, start=0.0, serves_at=15.0).series[
        "liveness"
    ]
    assert [ticks.message(i) for i in range(3)] == [
        f'Get "http://{IP}:8080/health": dial tcp {IP}:8080: connect: connection refused',
        "HTTP probe failed with statuscode: 404",
        "HTTP probe failed with statuscode: 404",
    ]


def test_an_exec_probe_on_a_file_does_not_wait_for_the_port() -> None:
    image = ImageSpec(repository="sandbox/slow", tags=["1"], files=["/tmp/healthy"])
    exec_probe = {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 5}
    probed = plan({"readinessProbe": exec_probe}, image, serving(), IP, start=0.0, serves_at=60.0)
    assert probed.ready_at == 0.0


def busybox(script: str) -> tuple[ImageSpec, Run]:
    """A busybox container running `script`, as the kubelet starts it."""
    image = Catalogue().lookup("busybox:1.36")
    assert image is not None
    container = Container("app", "busybox:1.36", ["/bin/sh", "-c", script], [], {}, None, "default", IP)
    return image, run(image, container, Network([], [], {}))


def test_the_exec_liveness_demo_passes_while_the_file_is_there_then_kills() -> None:
    image, demo = busybox("touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600")
    liveness = {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5}
    probed = plan({"livenessProbe": liveness}, image, demo, IP, start=100.0, serves_at=100.0)
    assert (probed.kill_at, probed.kill_kind) == (140.0, "liveness")  # fails at 30, 35 and 40 s
    ticks = probed.series["liveness"]
    assert [ticks.failures(t) for t in (125.0, 130.0, 140.0)] == [0, 1, 3]
    assert ticks.message(0) == "cat: can't open '/tmp/healthy': No such file or directory"
    assert probed.next_event(120.0) == 130.0


def test_readiness_comes_and_goes_with_a_file_the_script_writes() -> None:
    image, flappy = busybox("sleep 10; touch /tmp/ready; sleep 20; rm /tmp/ready; sleep 3600")
    readiness = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 2, "failureThreshold": 2}
    probed = plan({"readinessProbe": readiness}, image, flappy, IP, start=0.0, serves_at=0.0)
    assert probed.flips == ((10.0, True), (32.0, False))  # unready after two failures in a row: 30, 32
    assert [probed.ready(t) for t in (9.0, 10.0, 31.0, 32.0)] == [False, True, True, False]
    assert probed.ready_at == 10.0
    assert probed.next_event(12.0) == 30.0  # the first failed tick, for its Unhealthy event


def test_a_startup_exec_probe_passes_once_the_script_wrote_its_file() -> None:
    image, warming = busybox("sleep 22; echo ok > /tmp/started; sleep 3600")
    startup = {"exec": {"command": ["cat", "/tmp/started"]}, "periodSeconds": 5, "failureThreshold": 10}
    probed = plan({"startupProbe": startup}, image, warming, IP, start=0.0, serves_at=0.0)
    assert (probed.started_at, probed.kill_at) == (25.0, NEVER)
    assert probed.series["startup"].failures(25.0) == 4  # 5, 10, 15 and 20 s


# -- pod phase and conditions ----------------------------------------------------------------------


def exited(name: str, code: int, *, init: bool = False, sidecar: bool = False) -> ContainerRuntime:
    container = ContainerRuntime(name, init=init, sidecar=sidecar)
    container.start(Run(), IMAGE, "x", 0.0, "t")
    container.terminate("uid", code, "Completed" if code == 0 else "Error", "t")
    return container


def running(name: str, *, init: bool = False, sidecar: bool = False, ready: bool = True) -> ContainerRuntime:
    container = ContainerRuntime(name, init=init, sidecar=sidecar)
    container.start(Run(), IMAGE, "x", 0.0, "t")
    container.startup_passed, container.ready = True, ready
    return container


def test_a_failed_init_container_fails_a_never_restarting_pod_and_it_says_so() -> None:
    inits, apps = (
        [exited("migrate", 1, init=True)],
        [ContainerRuntime("app", init=False, reason="PodInitializing")],
    )
    assert pod_phase("OnFailure", inits, apps) == "Pending"
    assert pod_phase("Never", inits, apps) == "Failed"
    assert pod_conditions("Failed", inits, apps) == [
        ("Initialized", False, "ContainersNotInitialized", "containers with incomplete status: [migrate]"),
        ("Ready", False, "PodFailed", ""),
        ("ContainersReady", False, "PodFailed", ""),
    ]


def test_a_job_pod_with_a_sidecar_succeeds_on_its_app_containers_alone() -> None:
    sidecar = exited("proxy", 137, init=True, sidecar=True)  # stopped by the kubelet
    apps = [exited("app", 0)]
    assert pod_phase("Never", [sidecar], apps) == "Succeeded"
    assert pod_conditions("Succeeded", [sidecar], apps)[0] == ("Initialized", True, "PodCompleted", "")
    starting = running("proxy", init=True, sidecar=True, ready=False)
    starting.startup_passed = False
    assert pod_phase("Always", [starting], [ContainerRuntime("app", init=False)]) == "Pending"
    assert pod_conditions(
        "Running", [running("proxy", init=True, sidecar=True, ready=False)], [running("app")]
    )[1] == (
        "Ready",
        False,
        "ContainersNotReady",
        "containers with unready status: [proxy]",
    )


# -- which run kubectl logs reads ------------------------------------------------------------------


def logged_pod(state: dict, *, restarts: int = 0, last: dict | None = None, node: str = "node-1") -> dict:
    status = {"name": "app", "restartCount": restarts, "state": state, "lastState": last or {}}
    return {
        "metadata": {"name": "web"},
        "spec": {"nodeName": node, "containers": [{"name": "app"}]},
        "status": {"containerStatuses": [status]},
    }


CRASHED = {"terminated": {"exitCode": 1, "containerID": "containerd://abc"}}


@pytest.mark.parametrize(
    ("pod", "previous", "source"),
    [
        (logged_pod({"running": {}}, restarts=2, last=CRASHED), False, LogSource(2, True)),
        (logged_pod({"running": {}}, restarts=2, last=CRASHED), True, LogSource(1, False)),
        # waiting to restart: both read the run that just crashed, lastState's
        (
            logged_pod({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=2, last=CRASHED),
            False,
            LogSource(2, False),
        ),
        (
            logged_pod({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=2, last=CRASHED),
            True,
            LogSource(2, False),
        ),
        (logged_pod({"waiting": {}}, node=""), False, None),
    ],
)
def test_logs_read_the_run_the_kubelet_would(pod: dict, previous: bool, source: LogSource | None) -> None:
    assert log_source(pod, "app", previous=previous) == source


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("ContainerCreating", "is waiting to start: ContainerCreating"),
        ("ErrImagePull", "is waiting to start: image can't be pulled"),
        ("ImagePullBackOff", "is waiting to start: trying and failing to pull image"),
        (None, "is waiting to start - no logs yet"),
    ],
)
def test_a_container_that_never_ran_has_the_kubelets_words(reason: str | None, words: str) -> None:
    pod = logged_pod({"waiting": {"reason": reason}} if reason else {"waiting": {}})
    with pytest.raises(ApiError) as info:
        log_source(pod, "app", previous=False)
    assert (info.value.code, info.value.message) == (400, f'container "app" in pod "web" {words}')


# -- sidecars in kubectl get ----------------------------------------------------------------------


def test_sidecars_count_in_ready_and_restarts_once_the_pod_initialized() -> None:
    sidecar = {
        "name": "proxy",
        "ready": True,
        "started": True,
        "restartCount": 2,
        "state": {"running": {"startedAt": "2026-01-01T11:58:00Z"}},
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T11:58:00Z"}},
    }
    app = {"name": "app", "ready": True, "restartCount": 1, "state": {"running": {}}, "lastState": {}}
    pod = {
        "metadata": {"name": "web", "creationTimestamp": "2026-01-01T11:55:00Z"},
        "spec": {
            "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "app"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [sidecar],
            "containerStatuses": [app],
        },
    }
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    cells = table(next(t for t in BUILTIN_TYPES if t.kind == "Pod"), [pod], now=now)["rows"][0]["cells"]
    assert cells[1:4] == ["2/2", "Running", "3 (2m ago)"]
