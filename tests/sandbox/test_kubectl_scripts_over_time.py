"""Container scripts over simulated time, as the real kubectl shows them: an init container's polling loop
that notices the Service it waits for, the classic exec liveness demo whose file disappears after 30 s,
readiness that comes and goes with a file, a sidecar's file an app waits for, log lines that appear when
the program prints them (a slow starter's "started" line, a heartbeat loop), and `kind: List` manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smart_sre_harness.testing import RunningSandbox

pytestmark = pytest.mark.kubectl

BUSYBOX = "busybox:1.36"


def pod(name: str, *containers: dict, init: list[dict] | None = None, **spec: object) -> dict:
    body: dict = {"containers": list(containers), **spec}
    if init:
        body["initContainers"] = init
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": body,
    }


def script(name: str, text: str, **fields: object) -> dict:
    return {"name": name, "image": BUSYBOX, "command": ["sh", "-c", text], **fields}


def service(name: str, app: str, port: int, target: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"port": port, "targetPort": target}]},
    }


def create(sandbox: RunningSandbox, *objects: dict) -> None:
    sandbox.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objects))


def status_column(sandbox: RunningSandbox, name: str) -> str:
    return sandbox.kubectl("get", "pod", name, "--no-headers").stdout.split()[2]


def logs(sandbox: RunningSandbox, name: str, container: str = "") -> list[str]:
    found = sandbox.kubectl("logs", name, *(["-c", container] if container else []), check=False)
    return found.stdout.splitlines()


def messages(sandbox: RunningSandbox, name: str, reason: str) -> dict[str, int]:
    listed = sandbox.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json")
    return {e["message"]: e["count"] for e in json.loads(listed.stdout)["items"] if e["reason"] == reason}


def later(sandbox: RunningSandbox, seconds: float) -> None:
    """Let `seconds` of simulated time pass."""
    sandbox.run(sandbox.sandbox.cluster.clock.sleep(seconds))


def clock(sandbox: RunningSandbox) -> float:
    """The simulated seconds on the sandbox's clock."""
    return sandbox.sandbox.cluster.clock.now()


# -- polling loops that wait on the cluster ----------------------------------------------------------


WAITS = [
    pytest.param(
        "until nslookup my-db; do echo waiting for my-db; sleep 2; done",
        "waiting for my-db",
        id="nslookup",
    ),
    pytest.param(
        "until nc -z my-db 6379; do echo waiting for my-db; sleep 2; done",
        "waiting for my-db",
        id="nc",
    ),
    pytest.param(
        "while ! wget -q -O- http://my-db:6379/; do echo not yet; sleep 1; done",
        "not yet",
        id="wget",
    ),
    pytest.param(  # a loop that counts its attempts never repeats itself exactly
        'i=0; until nc -z my-db 6379; do i=$((i+1)); echo "attempt $i"; echo retrying; sleep 2; done',
        "retrying",
        id="counting",
    ),
    pytest.param(
        "for i in $(seq 1 200); do nc -z my-db 6379 && exit 0; echo retrying; sleep 2; done; exit 1",
        "retrying",
        id="for-break",
    ),
]


@pytest.mark.parametrize(("wait", "waiting"), WAITS)
def test_an_init_container_polling_for_a_service_lets_the_pod_start_once_the_service_serves(
    sandbox: RunningSandbox, wait: str, waiting: str
) -> None:
    create(sandbox, pod("web", {"name": "app", "image": "nginx:1.27"}, init=[script("wait-db", wait)]))
    sandbox.wait_for(lambda: logs(sandbox, "web", "wait-db").count(waiting) >= 3, timeout=20)
    later(sandbox, 10)
    assert status_column(sandbox, "web") == "Init:0/1"
    polled = logs(sandbox, "web", "wait-db").count(waiting)
    # The backend: a Service whose endpoint serves the port (an HTTP server answers wget on 6379 too).
    backend = {"name": "db", "image": "sandbox/web:1.0", "env": [{"name": "PORT", "value": "6379"}]}
    # The backend first, then its Service: a name resolves as soon as its Service exists, so the loop
    # must have polled again before then (it always does here: no Service, no answer for 4 s).
    create(sandbox, pod("my-db", backend))
    later(sandbox, 4)
    create(sandbox, service("my-db", "my-db", 6379, 6379))
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=20s")
    assert status_column(sandbox, "web") == "Running"
    done = json.loads(sandbox.kubectl("get", "pod", "web", "-o", "json").stdout)["status"]
    assert done["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    waited = logs(sandbox, "web", "wait-db")
    assert waited.count(waiting) > polled  # it went on polling until then, and stopped
    later(sandbox, 10)
    assert logs(sandbox, "web", "wait-db") == waited


def test_a_polling_loop_keeps_its_printed_log_when_it_notices_the_change(sandbox: RunningSandbox) -> None:
    wait = "until nslookup cache; do echo attempt; sleep 5; done; echo found cache; sleep 3600"
    create(sandbox, pod("app", script("app", wait)))
    sandbox.wait_for(lambda: logs(sandbox, "app").count("attempt") >= 2, timeout=20)
    before = logs(sandbox, "app")
    create(sandbox, service("cache", "nothing-yet", 6379, 6379))  # DNS answers for a Service, ready or not
    sandbox.wait_for(lambda: "found cache" in logs(sandbox, "app"), timeout=20)
    after = logs(sandbox, "app")
    assert after[: len(before)] == before  # what was printed stays; the new lines follow
    assert after[-1] == "found cache"
    assert "Name:\tcache.default.svc.cluster.local" in after
    assert (
        sandbox.kubectl(
            "get", "pod", "app", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"
        ).stdout
        == "0"
    )


def test_a_check_later_in_a_script_sees_the_cluster_as_it_is_then(sandbox: RunningSandbox) -> None:
    check = "echo starting; sleep 120; nc -z my-db 6379 && echo reachable || echo unreachable; sleep infinity"
    create(sandbox, pod("app", script("app", check)))
    sandbox.wait_for(lambda: logs(sandbox, "app") == ["starting"], timeout=20)
    backend = {"name": "db", "image": "sandbox/web:1.0", "env": [{"name": "PORT", "value": "6379"}]}
    create(sandbox, pod("my-db", backend), service("my-db", "my-db", 6379, 6379))
    sandbox.wait_for(lambda: len(logs(sandbox, "app")) == 2, timeout=20)
    assert logs(sandbox, "app") == ["starting", "reachable"]


def test_an_app_waits_for_the_file_its_sidecar_writes_in_a_shared_volume(sandbox: RunningSandbox) -> None:
    shared = [{"name": "shared", "mountPath": "/shared"}]
    sidecar = script(
        "agent",
        "echo fetching config; sleep 20; echo ok > /shared/ready; sleep infinity",
        restartPolicy="Always",
        volumeMounts=shared,
    )
    app = script(
        "app",
        "until [ -f /shared/ready ]; do echo waiting for config; sleep 2; done; echo config ready; sleep infinity",
        volumeMounts=shared,
    )
    reader = script("reader", "sleep 40; cat /shared/ready; sleep infinity", volumeMounts=shared)
    create(sandbox, pod("web", app, reader, init=[sidecar], volumes=[{"name": "shared", "emptyDir": {}}]))
    sandbox.wait_for(lambda: "waiting for config" in logs(sandbox, "web", "app"), timeout=20)
    sandbox.wait_for(lambda: "config ready" in logs(sandbox, "web", "app"), timeout=20)
    waited = logs(sandbox, "web", "app")
    assert 5 <= waited.count("waiting for config") <= 11  # about 20 s of polls every 2 s
    sandbox.wait_for(lambda: logs(sandbox, "web", "reader") == ["ok"], timeout=20)  # written after it started


def test_a_loop_notices_a_file_a_container_started_after_it_writes(sandbox: RunningSandbox) -> None:
    shared = [{"name": "work", "mountPath": "/work"}]
    waiter = script(
        "waiter", "until [ -f /work/done ]; do sleep 3; done; echo go; sleep infinity", volumeMounts=shared
    )
    writer = script("writer", "sleep 15; touch /work/done; sleep infinity", volumeMounts=shared)
    create(sandbox, pod("pair", waiter, writer, volumes=[{"name": "work", "emptyDir": {}}]))
    sandbox.wait_for(lambda: status_column(sandbox, "pair") == "Running", timeout=20)
    sandbox.wait_for(lambda: logs(sandbox, "pair", "waiter") == ["go"], timeout=20)


# -- exec probes against files over time -------------------------------------------------------------


def test_the_exec_liveness_demo_passes_for_30_seconds_then_restarts_the_container(
    sandbox: RunningSandbox,
) -> None:
    liveness = {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5}
    demo = {
        "name": "liveness",
        "image": BUSYBOX,
        "args": ["/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"],
        "livenessProbe": liveness,
    }
    created = clock(sandbox)
    create(sandbox, pod("liveness-exec", demo))
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/liveness-exec", "--timeout=20s")
    sandbox.wait_for(lambda: messages(sandbox, "liveness-exec", "Killing"), timeout=20)
    assert clock(sandbox) - created >= 40  # probes at 10, 15 ... 25 s pass; at 30, 35 and 40 s they fail
    failed = "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory"
    assert messages(sandbox, "liveness-exec", "Unhealthy")[failed] >= 3
    assert list(messages(sandbox, "liveness-exec", "Killing")) == [
        "Container liveness failed liveness probe, will be restarted"
    ]
    sandbox.wait_for(
        lambda: sandbox.kubectl("get", "pod", "liveness-exec", "--no-headers").stdout.split()[3] != "0"
    )
    row = sandbox.kubectl("get", "pod", "liveness-exec", "--no-headers").stdout.split()
    assert (row[1], row[2]) == ("1/1", "Running")  # the new run has its file again


def test_readiness_follows_a_file_the_script_creates_and_removes(sandbox: RunningSandbox) -> None:
    readiness = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 2, "failureThreshold": 1}
    app = script(
        "app", "sleep 10; touch /tmp/ready; sleep 20; rm /tmp/ready; sleep 3600", readinessProbe=readiness
    )
    created = clock(sandbox)
    create(sandbox, pod("flappy", app))
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/flappy", "--timeout=20s")
    assert clock(sandbox) - created >= 10
    sandbox.kubectl("wait", "--for=condition=Ready=false", "pod/flappy", "--timeout=20s")
    assert clock(sandbox) - created >= 30
    assert sandbox.kubectl("get", "pod", "flappy", "--no-headers").stdout.split()[1:4] == [
        "0/1",
        "Running",
        "0",
    ]


# -- log lines at the time they are printed ---------------------------------------------------------


SLOW_IMAGE = {
    "apiVersion": "sandbox.smartsre.io/v1alpha1",
    "kind": "SandboxImage",
    "metadata": {"name": "registry.example.com/slow-api"},
    "spec": {"tags": ["1.0"], "language": "java", "entrypoint": "java", "startSeconds": 120},
}


def test_a_slow_starting_app_logs_that_it_started_only_once_it_serves(sandbox: RunningSandbox) -> None:
    sandbox.apply([SLOW_IMAGE])
    create(sandbox, pod("api", {"name": "app", "image": "registry.example.com/slow-api:1.0"}))
    sandbox.wait_for(lambda: status_column(sandbox, "api") == "Running", timeout=20)
    started = "INFO  [main] o.s.b.w.embedded.tomcat.TomcatWebServer : Tomcat started on port 8080 (http)"
    first = logs(sandbox, "api")
    assert first == ["INFO  [main] slow-api.Application : Starting Application v1.0 using Java 21.0.5"]
    sandbox.wait_for(lambda: started in logs(sandbox, "api"), timeout=20)
    assert logs(sandbox, "api") == [*first, started]


def test_a_heartbeat_loop_logs_a_line_every_period(sandbox: RunningSandbox) -> None:
    create(sandbox, pod("beat", script("app", "echo up; while true; do echo tick; sleep 5; done")))
    sandbox.wait_for(lambda: status_column(sandbox, "beat") == "Running", timeout=20)
    early = logs(sandbox, "beat").count("tick")
    later(sandbox, 30)
    assert logs(sandbox, "beat").count("tick") >= early + 5
    assert logs(sandbox, "beat")[0] == "up"


# -- kind: List --------------------------------------------------------------------------------------


def test_a_kind_list_manifest_applies_creates_gets_and_deletes_its_items(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    manifest = tmp_path / "list.yaml"
    items = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "fast"}},
        service("web", "web", 80, 8080),
    ]
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    applied = sandbox.kubectl("apply", "-f", str(manifest))
    assert applied.stdout.splitlines() == ["configmap/settings created", "service/web created"]
    assert sandbox.kubectl("apply", "-f", str(manifest)).stdout.splitlines() == [
        "configmap/settings unchanged",
        "service/web unchanged",
    ]
    got = sandbox.kubectl("get", "-f", str(manifest), "-o", "name").stdout.splitlines()
    assert got == ["configmap/settings", "service/web"]
    again = sandbox.kubectl("create", "-f", str(manifest), check=False)
    assert 'configmaps "settings" already exists' in again.stderr
    sandbox.kubectl("delete", "-f", str(manifest))
    created = sandbox.kubectl("create", "-f", str(manifest))
    assert created.stdout.splitlines() == ["configmap/settings created", "service/web created"]
    exported = tmp_path / "exported.yaml"  # what `kubectl get -o yaml` of several objects prints: a List
    exported.write_text(sandbox.kubectl("get", "-f", str(manifest), "-o", "yaml").stdout)
    assert "kind: List" in exported.read_text()
    assert sandbox.kubectl("apply", "-f", str(exported)).stdout.splitlines() == [
        "configmap/settings configured",
        "service/web configured",
    ]
