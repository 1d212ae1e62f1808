"""Start errors: a container whose command or args name a program or file that is not there (runc's
StartError, a shell's 127 or 126, an interpreter that cannot open its file). The fix is what the last
healthy revision ran, else no override (the image's own entrypoint) where the facts support it; a finding
names the container and its field, and says what is missing when no fix is supported."""

from __future__ import annotations

import copy
import json

import pytest

from smart_sre.api.common import RootCause, Trigger
from smart_sre.investigation.analyzers import app_errors, changes

from .pods import deployed, investigate, on_sandbox, pod_event, vetted
from .test_changes import conclude, deployment_history, evidence_of, operations, policy, template
from .test_sandbox_agent import _crashlooping, _deployment, _failing_pod, _ready

CRASH = Trigger.CRASH_LOOP_BACK_OFF
RUNC = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
    "failed: unable to start container process: error during container init: "
)
SIDECAR = {"name": "sidecar", "image": "registry.local/sidecar:1.0"}


def _failed(
    container: str, code: int, *, reason: str = "Error", message: str = "", init: bool = False
) -> dict:
    """A pod status where `container` (an init container when `init`) last exited with `code`."""
    entry = {
        "name": container,
        "ready": False,
        "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting"}},
        "lastState": {"terminated": {"exitCode": code, "reason": reason, "message": message}},
    }
    return {
        "phase": "Pending" if init else "Running",
        "initContainerStatuses" if init else "containerStatuses": [entry],
    }


def _running(kind: str, name: str, namespace: str, image: str) -> dict:
    """A workload of `kind` whose pods of this very template all run Ready, without an override."""
    status = {
        "Deployment": {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2},
        "StatefulSet": {"replicas": 1, "readyReplicas": 1, "currentRevision": "r1", "updateRevision": "r1"},
    }[kind]
    return {
        "kind": kind,
        "apiVersion": "apps/v1",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            }
        },
        "status": status,
    }


async def _leading(
    namespace: str, container: dict, code: int, *, reason: str, message: str = "", logs: str = ""
):
    """The leading candidate for a Deployment of `container` in `namespace`, which last exited with `code`."""
    status = _failed(container["name"], code, reason=reason, message=message)
    *objects, pod = deployed(container["name"], namespace, {"containers": [container]}, status)
    _, _, _, found = await investigate([*objects, pod], pod, CRASH, {container["name"]: logs} if logs else {})
    return found[0]


def _pod_with(kind: str, container: dict) -> dict:
    """A pod spec with a healthy sidecar and `container` as an app (index 1) or init container (index 0)."""
    return (
        {"containers": [SIDECAR, container]}
        if kind == "containers"
        else {
            "containers": [SIDECAR],
            "initContainers": [container],
        }
    )


# --- The override is what fails and the image is shown to run without one -------------------------------

# Each: namespace, container kind and name, image, override, exit code (StartError: 128), the runtime's
# state message, an event, the previous run's log, and the override field that names what is missing.
REMOVED = [
    pytest.param(
        "payments", "containers", "api", "registry.local/payments:2.1", {"command": ["python3", "app.py"]},
        128, RUNC + 'exec: "python3": executable file not found in $PATH: unknown', "", "", "command",
        id="runc-not-in-path",
    ),
    pytest.param(
        "edge", "containers", "proxy", "ghcr.io/acme/proxy:1.4",
        {"command": ["/bin/sh", "-c"], "args": ["exec envoy-proxy --config /etc/envoy.yaml"]},
        127, "", "", "/bin/sh: 1: envoy-proxy: not found", "args",
        id="dash-not-found-in-args",
    ),
    pytest.param(
        "ml", "containers", "serve", "quay.io/team/model-server:0.9",
        {"command": ["bash", "-c", "gunicorn app:app --bind 0.0.0.0:8000"]},
        127, "", "", "bash: line 1: gunicorn: command not found", "command",
        id="bash-command-not-found",
    ),
    pytest.param(
        "batch", "containers", "runner", "registry.local/jobs/runner:5", {"command": ["/app/run.sh"]},
        128, "", "Error: " + RUNC + 'exec: "/app/run.sh": permission denied: unknown', "", "command",
        id="event-permission-denied",
    ),
    pytest.param(
        "web", "containers", "frontend", "registry.local/web/frontend:3.2",
        {"command": ["node"], "args": ["server.js"]},
        1, "", "", "Error: Cannot find module '/usr/src/app/server.js'\n    at Module._resolveFilename", "args",
        id="node-cannot-find-module",
    ),
    pytest.param(
        "ledger", "initContainers", "migrate", "registry.local/ledger/migrations:7",
        {"command": ["java"], "args": ["-jar", "/opt/migrate.jar"]},
        1, "", "", "Error: Unable to access jarfile /opt/migrate.jar", "args",
        id="java-jarfile-init-container",
    ),
    pytest.param(
        "reports", "initContainers", "render", "registry.local/reports:1.0", {"command": ["python3", "main.py"]},
        2, "", "", "python3: can't open file '/srv/main.py': [Errno 2] No such file or directory", "command",
        id="python-cannot-open-file-init-container",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("namespace", "kind", "name", "image", "override", "code", "message", "event", "logs", "field"), REMOVED
)
async def test_an_override_naming_what_is_missing_is_removed_where_the_image_runs_without_one(
    namespace, kind, name, image, override, code, message, event, logs, field
) -> None:
    reason = "StartError" if code == 128 else "Error"
    status = _failed(name, code, reason=reason, message=message, init=kind == "initContainers")
    *objects, pod = deployed(
        "app", namespace, _pod_with(kind, {"name": name, "image": image, **override}), status
    )
    peer = _running("StatefulSet" if kind == "initContainers" else "Deployment", "peer", namespace, image)
    objects += [pod, peer, *([pod_event(pod, "Failed", event, name)] if event else [])]
    cluster, chain, _, found = await investigate(objects, pod, CRASH, {name: logs} if logs else {})
    best, index = found[0], 1 if kind == "containers" else 0
    assert best.root_cause == RootCause.APPLICATION_ERROR
    assert best.score == app_errors.DEFAULT_SHOWN
    assert f"{'Init container' if index == 0 else 'Container'} {name} cannot start: " in best.summary
    assert f"named in its {kind}[{index}].{field}," in best.summary
    assert f"{peer['kind']}/peer runs {image} without one and is Ready" in best.summary
    assert best.patch.operations == [
        {"op": "remove", "path": f"/spec/template/spec/{kind}/{index}/{key}"}
        for key in ("command", "args")
        if key in override
    ]
    await vetted(cluster, chain, best)


async def test_a_missing_program_alone_supports_removing_the_override_with_less_confidence() -> None:
    container = {
        "name": "worker",
        "image": "registry.local/queue-worker:4",
        "command": ["sh", "-c", "python3 w.py"],
    }
    *objects, pod = deployed("queue", "jobs", {"containers": [container]}, _failed("worker", 127))
    cluster, chain, _, found = await investigate(
        [*objects, pod], pod, CRASH, {"worker": "sh: python3: not found"}
    )
    best = found[0]
    assert best.score == app_errors.DEFAULT_ASSUMED
    assert "python3, named in its containers[0].command, does not exist in the image" in best.summary
    assert "no Ready workload shows that entrypoint working" in best.summary
    assert best.patch.operations == [{"op": "remove", "path": "/spec/template/spec/containers/0/command"}]
    await vetted(cluster, chain, best)


# --- Findings only: what is missing -----------------------------------------------------------------------

FINDINGS = [
    pytest.param(
        {"command": ["python3", "app.py"]}, 2, "Error", "", "python3: can't open file '/app.py': [Errno 2] No such",
        "the override `python3 app.py` cannot run as it is, and no healthy revision or Ready workload shows a "
        "command that works with registry.local/tool:1.0",
        id="file-without-a-shown-entrypoint",
    ),
    pytest.param(
        {}, 128, "StartError", RUNC + 'exec: "docker-entrypoint.sh": executable file not found in $PATH: unknown', "",
        "no command or args override names docker-entrypoint.sh: the image registry.local/tool:1.0's own "
        "start-up fails",
        id="image-entrypoint-missing",
    ),
    pytest.param(
        {"args": ["--port", "9000"]}, 1, "Error", "", "exec /usr/local/bin/tool: exec format error",
        "no command or args override names /usr/local/bin/tool",
        id="image-for-another-architecture",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("override", "code", "reason", "message", "logs", "missing"), FINDINGS)
async def test_without_a_supported_fix_the_finding_says_what_is_missing(
    override, code, reason, message, logs, missing
) -> None:
    container = {"name": "tool", "image": "registry.local/tool:1.0", **override}
    best = await _leading("ops", container, code, reason=reason, message=message, logs=logs)
    assert best.root_cause == RootCause.APPLICATION_ERROR
    assert best.patch is None
    assert best.score >= 0.6
    assert missing in best.no_patch_reason
    assert "Container tool cannot start: " in best.summary


@pytest.mark.parametrize(
    ("override", "code", "logs"),
    [
        pytest.param(
            {"command": ["sh", "-c", "curl -s http://cfg/; exec tool"]}, 1, "sh: curl: not found", id="exit-1"
        ),
        pytest.param(
            {"command": ["node", "server.js"]}, 1, "Error: Cannot find module 'express'", id="dependency"
        ),
    ],
)
async def test_what_the_app_itself_misses_later_is_no_start_error(override, code, logs) -> None:
    container = {"name": "tool", "image": "registry.local/tool:1.0", **override}
    *objects, pod = deployed("tool", "ops", {"containers": [container]}, _failed("tool", code))
    _, _, _, found = await investigate([*objects, pod], pod, CRASH, {"tool": logs})
    assert found[0].score < 0.6
    assert "cannot start" not in found[0].summary


# --- The healthy revision's values --------------------------------------------------------------------------


def _init_template(command: list[str]) -> dict:
    revision = template()
    revision["spec"]["initContainers"] = [{"name": "wait", "image": "busybox:1.36", "command": command}]
    return revision


HISTORY = [
    pytest.param(
        template(command=["sh", "-c", "sleep 3600"]),
        template(command=["sh", "-c", "python3 app.py"]),
        "api", 127, "", "sh: python3: not found",
        [{"op": "replace", "path": "/spec/template/spec/containers/0/command", "value": ["sh", "-c", "sleep 3600"]}],
        id="command",
    ),
    pytest.param(
        template(command=["java"], args=["-jar", "/opt/app.jar"]),
        template(command=["java"], args=["-jar", "/opt/app-2.jar"]),
        "api", 1, "", "Error: Unable to access jarfile /opt/app-2.jar",
        [{"op": "replace", "path": "/spec/template/spec/containers/0/args", "value": ["-jar", "/opt/app.jar"]}],
        id="args",
    ),
    pytest.param(
        template(command=["./run.sh"], workingDir="/app"),
        template(command=["./run.sh"], workingDir="/srv"),
        "api", 128, RUNC + 'exec: "./run.sh": stat ./run.sh: no such file or directory: unknown', "",
        [{"op": "replace", "path": "/spec/template/spec/containers/0/workingDir", "value": "/app"}],
        id="working-directory",
    ),
    pytest.param(
        template(command=["/usr/bin/api-server"]),
        template(command=["/usr/bin/api-server"], image="registry.local/api:2.0-distroless"),
        "api", 128, RUNC + 'exec: "/usr/bin/api-server": stat /usr/bin/api-server: no such file or directory', "",
        [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "registry.local/api:1.0"}],
        id="image-without-the-program",
    ),
    pytest.param(
        _init_template(["sh", "-c", "until nc -z db 5432; do sleep 1; done"]),
        _init_template(["sh", "-c", "until pg_isready -h db; do sleep 1; done"]),
        "wait", 127, "", "sh: pg_isready: not found",
        [
            {
                "op": "replace",
                "path": "/spec/template/spec/initContainers/0/command",
                "value": ["sh", "-c", "until nc -z db 5432; do sleep 1; done"],
            }
        ],
        id="init-container-command",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("healthy", "broken", "container", "code", "message", "logs", "expected"), HISTORY)
async def test_the_healthy_revision_s_values_come_back_and_the_same_revert_is_offered_once(
    healthy, broken, container, code, message, logs, expected
) -> None:
    reason = "StartError" if code == 128 else "Error"
    status = _failed(container, code, reason=reason, message=message, init=container == "wait")
    objects, pod = deployment_history([healthy, broken], [1, 0], status)
    run_logs = {(pod["metadata"]["name"], container, True): logs} if logs else {}
    evidence = await evidence_of(objects, pod, CRASH, run_logs)
    (best,) = app_errors.analyze(evidence)
    assert best.score == app_errors.REVERT
    assert best.score > max(c.score for c in changes.analyze(evidence))
    assert "Put back what revision 1 ran: " in best.summary
    assert best.patch.operations == expected
    # The default policy allows command, args and image; a working directory only where a policy opens it.
    working_dir = any(op["path"].endswith("/workingDir") for op in expected)
    spec = policy("/spec/template/spec/containers/*/workingDir") if working_dir else policy()
    conclusion = await conclude(objects, pod, CRASH, run_logs, spec)
    assert operations(conclusion)[-len(expected) :] == expected
    assert [c.summary for c in conclusion.candidates if c.patch and c.patch.operations == expected] == [
        best.summary
    ]


async def test_a_finding_without_fix_leaves_the_lead_to_a_change_since_the_healthy_revision() -> None:
    healthy = template(
        command=["python3", "/app/main.py"], volumeMounts=[{"name": "code", "mountPath": "/app"}]
    )
    broken = template(
        command=["python3", "/app/main.py"], volumeMounts=[{"name": "code", "mountPath": "/srv"}]
    )
    objects, pod = deployment_history([healthy, broken], [1, 0], _failed("api", 2))
    logs = {
        (pod["metadata"]["name"], "api", True): "python3: can't open file '/app/main.py': [Errno 2] No such"
    }
    evidence = await evidence_of(objects, pod, CRASH, logs)
    (finding,) = app_errors.analyze(evidence)
    (mount,) = changes.analyze(evidence)
    assert finding.patch is None
    assert finding.score < mount.score


async def test_an_override_the_healthy_revision_ran_as_it_is_is_not_blamed() -> None:
    command = ["sh", "-c", "python3 app.py"]
    path = {"name": "PATH", "value": "/opt/venv/bin"}
    objects, pod = deployment_history(
        [template(command=command), template(command=command, env=[path])], [1, 0], _failed("api", 127)
    )
    logs = {(pod["metadata"]["name"], "api", True): "sh: python3: not found"}
    evidence = await evidence_of(objects, pod, CRASH, logs)
    (finding,) = app_errors.analyze(evidence)
    (env,) = changes.analyze(evidence)
    assert finding.patch is None
    assert "revision 1 ran healthy with the same override `sh -c python3 app.py`" in finding.no_patch_reason
    assert "look at another change" in finding.no_patch_reason
    assert finding.score < env.score
    conclusion = await conclude(objects, pod, CRASH, logs)
    assert operations(conclusion)[-1] == {"op": "remove", "path": "/spec/template/spec/containers/0/env"}


# --- A path relative to an explicit workingDir --------------------------------------------------------------

# Each: the override, workingDir, exit code, the runtime's state message, the log, and the relative path.
RELATIVE = [
    pytest.param(
        {"command": ["python3", "collector.py"], "args": ["--once"]}, "/srv/jobs", 2, "",
        "python3: can't open file '/srv/jobs/collector.py': [Errno 2] No such file or directory", "collector.py",
        id="python-reports-the-joined-path",
    ),
    pytest.param(
        {"command": ["node", "dist/index.js"]}, "/home/node", 1, "",
        "Error: Cannot find module '/home/node/dist/index.js'\n    at Module._resolveFilename", "dist/index.js",
        id="node-subdirectory",
    ),
    pytest.param(
        {"command": ["sh", "bin/entry.sh"]}, "/opt/tool", 127, "", "sh: can't open 'bin/entry.sh': No such file",
        "bin/entry.sh", id="shell-script-argument",
    ),
    pytest.param(
        {"command": ["./launch"]}, "/workspace", 128,
        RUNC + 'exec: "./launch": stat ./launch: no such file or directory: unknown', "", "./launch",
        id="runc-dot-slash",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("override", "directory", "code", "message", "logs", "path"), RELATIVE)
async def test_a_relative_path_is_said_to_be_looked_up_under_the_working_directory(
    override, directory, code, message, logs, path
) -> None:
    container = {"name": "job", "image": "registry.local/etl:3.1", "workingDir": directory, **override}
    reason = "StartError" if code == 128 else "Error"
    best = await _leading("data", container, code, reason=reason, message=message, logs=logs)
    assert best.root_cause == RootCause.BAD_CONFIG_VALUE
    assert f"`{path}` is relative, so it is looked up under workingDir {directory}." in best.summary
    assert best.patch is None
    assert best.no_patch_reason == (
        f"set containers[0].workingDir to the directory that holds {path}, or fix the path"
    )


@pytest.mark.parametrize(
    ("override", "code", "message", "logs"),
    [
        pytest.param(
            {"command": ["python3", "/srv/jobs/collector.py"]}, 2, "",
            "python3: can't open file '/srv/jobs/collector.py': [Errno 2] No such file or directory",
            id="absolute-path",
        ),
        pytest.param(
            {"command": ["collector"]}, 128,
            RUNC + 'exec: "collector": executable file not found in $PATH: unknown', "", id="program-on-path",
        ),
        pytest.param(
            {"command": ["sh", "-c", "cd /opt/etl && python3 collector.py"]}, 2, "",
            "python3: can't open file '/opt/etl/collector.py': [Errno 2] No such file or directory",
            id="script-changes-directory",
        ),
    ],
)  # fmt: skip
async def test_a_path_not_looked_up_under_the_working_directory_does_not_blame_it(
    override, code, message, logs
) -> None:
    container = {"name": "job", "image": "registry.local/etl:3.1", "workingDir": "/srv/jobs", **override}
    reason = "StartError" if code == 128 else "Error"
    best = await _leading("data", container, code, reason=reason, message=message, logs=logs)
    assert best.root_cause == RootCause.APPLICATION_ERROR
    assert "cannot start" in best.summary
    assert "workingDir" not in best.summary


@pytest.mark.parametrize(
    ("healthy", "broken", "expected", "cause"),
    [
        pytest.param(
            template(command=["python3", "sync.py"], workingDir="/opt/sync"),
            template(command=["python3", "sync.py"], workingDir="/code"),
            [{"op": "replace", "path": "/spec/template/spec/containers/0/workingDir", "value": "/opt/sync"}],
            RootCause.BAD_CONFIG_VALUE,
            id="working-directory-changed",
        ),
        pytest.param(
            template(command=["python3", "sync.py"], workingDir="/code"),
            template(command=["python3", "sync_v2.py"], workingDir="/code"),
            [{"op": "replace", "path": "/spec/template/spec/containers/0/command", "value": ["python3", "sync.py"]}],
            RootCause.APPLICATION_ERROR,
            id="relative-path-changed",
        ),
    ],
)  # fmt: skip
async def test_what_changed_since_the_healthy_revision_decides_which_setting_is_blamed(
    healthy, broken, expected, cause
) -> None:
    objects, pod = deployment_history([healthy, broken], [1, 0], _failed("api", 2))
    missing = "/code/" + broken["spec"]["containers"][0]["command"][1]
    logs = {
        (pod["metadata"]["name"], "api", True): f"python3: can't open file '{missing}': [Errno 2] No such"
    }
    (best,) = app_errors.analyze(await evidence_of(objects, pod, CRASH, logs))
    assert best.root_cause == cause
    assert "is relative, so it is looked up under workingDir /code." in best.summary
    assert "Put back what revision 1 ran: " in best.summary
    assert best.patch.operations == expected


# --- On the sandbox -----------------------------------------------------------------------------------


def _diagnose(sandbox, pod: dict):
    return on_sandbox(sandbox, pod, CRASH, policy=policy())


def _apply_fix(sandbox, name: str, conclusion) -> None:
    patch = json.dumps(operations(conclusion))
    sandbox.kubectl("patch", f"deployment/{name}", "-n", "default", "--type=json", "-p", patch)
    rolled = sandbox.kubectl("rollout", "status", f"deployment/{name}", "-n", "default", "--timeout=60s")
    assert "successfully rolled out" in rolled.stdout


@pytest.mark.kubectl
def test_a_busybox_command_without_its_interpreter_gets_the_healthy_revision_s_back_on_the_sandbox(
    sandbox,
) -> None:
    healthy = _deployment("tasks", "busybox:1.36")
    healthy["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", "sleep 3600"]
    sandbox.apply([healthy])
    _failing_pod(sandbox, "tasks", _ready)
    broken = copy.deepcopy(healthy)
    broken["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", "python3 app.py"]
    sandbox.apply([broken])
    pod = _failing_pod(
        sandbox, "tasks", lambda p: _crashlooping(p) and "python3" in json.dumps(p["spec"]["containers"][0])
    )
    conclusion = _diagnose(sandbox, pod)
    assert conclusion.findings.root_cause == RootCause.APPLICATION_ERROR
    assert "named in its containers[0].command" in conclusion.findings.summary
    assert "sh: python3: not found" in conclusion.findings.summary
    assert operations(conclusion)[-1]["value"] == ["sh", "-c", "sleep 3600"]
    _apply_fix(sandbox, "tasks", conclusion)


@pytest.mark.kubectl
def test_a_command_the_image_lacks_is_removed_where_the_image_runs_without_one_on_the_sandbox(
    sandbox,
) -> None:
    sandbox.apply([_deployment("storefront", "sandbox/web:1.1")])
    _failing_pod(sandbox, "storefront", _ready)
    broken = _deployment("catalog", "sandbox/web:1.1")
    broken["spec"]["template"]["spec"]["containers"][0]["command"] = ["python3", "app.py"]
    sandbox.apply([broken])
    pod = _failing_pod(sandbox, "catalog", _crashlooping)
    conclusion = _diagnose(sandbox, pod)
    assert "StartError" in json.dumps(pod["status"])
    assert (
        "Deployment/storefront runs sandbox/web:1.1 without one and is Ready" in conclusion.findings.summary
    )
    assert operations(conclusion)[-1] == {"op": "remove", "path": "/spec/template/spec/containers/0/command"}
    _apply_fix(sandbox, "catalog", conclusion)
