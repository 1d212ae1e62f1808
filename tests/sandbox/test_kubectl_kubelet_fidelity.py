"""What a user sees of the kubelet through the real kubectl: readiness of crashing containers, crash-loop
logs of real images, image pulls, pod IPs and OOM kills."""

from __future__ import annotations

import json

from smart_sre_harness.testing import RunningSandbox


def run_pod(sandbox: RunningSandbox, name: str, image: str, *flags: str) -> None:
    sandbox.kubectl("run", name, f"--image={image}", "--restart=Always", *flags)


def container_status(sandbox: RunningSandbox, name: str) -> dict:
    statuses = (sandbox.get("pods", "default", name).get("status") or {}).get("containerStatuses") or []
    return statuses[0] if statuses else {}


def test_a_command_that_exits_at_start_never_passes_kubectl_wait_for_ready(sandbox: RunningSandbox) -> None:
    run_pod(sandbox, "broken", "busybox:1.36", "--command", "--", "sh", "-c", "echo starting; exit 1")
    waited = sandbox.kubectl("wait", "--for=condition=Ready", "pod/broken", "--timeout=8s", check=False)
    assert waited.returncode != 0
    assert "timed out" in waited.stderr
    assert container_status(sandbox, "broken")["restartCount"] >= 1


def test_postgres_without_a_password_crash_loops_with_its_own_message(sandbox: RunningSandbox) -> None:
    run_pod(sandbox, "db", "postgres:16")
    sandbox.wait_for(lambda: container_status(sandbox, "db").get("restartCount", 0) >= 1, timeout=30)
    previous = sandbox.kubectl("logs", "db", "--previous").stdout
    assert previous.startswith("Error: Database is uninitialized and superuser password is not specified.")
    assert "ready to accept connections" not in previous
    assert container_status(sandbox, "db")["lastState"]["terminated"]["exitCode"] == 1


def test_postgres_and_mysql_start_with_the_env_their_entrypoints_accept(sandbox: RunningSandbox) -> None:
    run_pod(sandbox, "pg", "postgres:17-alpine", "--env=POSTGRES_HOST_AUTH_METHOD=trust")
    run_pod(sandbox, "my", "mysql:8.4", "--env=MYSQL_RANDOM_ROOT_PASSWORD=yes")
    run_pod(sandbox, "nopw", "mysql:8.4")
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/pg", "pod/my", "--timeout=20s")
    assert "database system is ready to accept connections" in sandbox.kubectl("logs", "pg").stdout
    assert "/usr/sbin/mysqld: ready for connections." in sandbox.kubectl("logs", "my").stdout
    sandbox.wait_for(lambda: container_status(sandbox, "nopw").get("restartCount", 0) >= 1, timeout=30)
    previous = sandbox.kubectl("logs", "nopw", "--previous").stdout
    assert "[ERROR] [Entrypoint]: Database is uninitialized and password option is not specified" in previous
    assert "\t- MYSQL_RANDOM_ROOT_PASSWORD" in previous


def test_nginx_alpine_runs_and_serves_on_port_80(sandbox: RunningSandbox) -> None:
    run_pod(sandbox, "web", "nginx:1.27-alpine", "--port=80", "--expose")
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=20s")
    sandbox.kubectl(
        "create", "job", "fetch", "--image=busybox:1.36", "--", "wget", "-q", "-O-", "http://web:80/"
    )
    sandbox.kubectl("wait", "--for=condition=Complete", "job/fetch", "--timeout=30s")
    assert "Configuration complete; ready for start up" in sandbox.kubectl("logs", "web").stdout


def test_an_unknown_tag_of_a_known_image_is_image_pull_back_off(sandbox: RunningSandbox) -> None:
    run_pod(sandbox, "typo", "python:3.12-slimm")
    sandbox.wait_for(
        lambda: (
            container_status(sandbox, "typo").get("state", {}).get("waiting", {}).get("reason")
            == "ImagePullBackOff"
        ),
        timeout=20,
    )
    listed = sandbox.kubectl("get", "pod", "typo", "--no-headers").stdout
    assert "ImagePullBackOff" in listed


def test_pods_on_nodes_declared_alike_get_distinct_ips(sandbox: RunningSandbox) -> None:
    for name in ("sandbox-worker-1", "sandbox-worker-2"):  # redeclared: both may receive the same podCIDR
        sandbox.apply(
            [
                {
                    "apiVersion": "sandbox.smartsre.io/v1alpha1",
                    "kind": "SandboxNode",
                    "metadata": {"name": name},
                    "spec": {"cpu": "4", "memory": "8Gi"},
                }
            ]
        )
    for index, node in enumerate(
        ("sandbox-worker-1", "sandbox-worker-2", "sandbox-worker-1", "sandbox-worker-2")
    ):
        overrides = json.dumps({"spec": {"nodeName": node}})
        run_pod(sandbox, f"p{index}", "redis:7", f"--overrides={overrides}")
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/p0", "pod/p1", "pod/p2", "pod/p3", "--timeout=20s")
    ips = sandbox.kubectl("get", "pods", "-o", "jsonpath={.items[*].status.podIP}").stdout.split()
    assert len(set(ips)) == len(ips) == 4
    cidrs = sandbox.kubectl("get", "nodes", "-o", "jsonpath={.items[*].spec.podCIDR}").stdout.split()
    addresses = sandbox.kubectl(
        "get", "nodes", "-o", 'jsonpath={.items[*].status.addresses[?(@.type=="InternalIP")].address}'
    ).stdout.split()
    assert len(set(cidrs)) == len(cidrs)
    assert len(set(addresses)) == len(addresses)


def test_an_oom_killed_container_shows_oom_killed_137_as_its_last_state(sandbox: RunningSandbox) -> None:
    limits = {"name": "db", "image": "mysql:8.4", "resources": {"limits": {"memory": "256Mi"}}}
    overrides = json.dumps({"spec": {"containers": [limits]}})
    run_pod(sandbox, "db", "mysql:8.4", "--env=MYSQL_ROOT_PASSWORD=s3cret", f"--overrides={overrides}")
    status = sandbox.wait_for(
        lambda: (s := container_status(sandbox, "db")).get("lastState", {}).get("terminated") and s,
        timeout=30,
    )
    terminated = status["lastState"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)
    described = sandbox.kubectl("describe", "pod", "db").stdout
    assert "Reason:       OOMKilled" in described
