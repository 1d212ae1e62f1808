"""The kubelet on a fast clock: crash loops, OOM kills, config errors, image pulls, probes, Jobs."""

from __future__ import annotations

import re

from smart_sre_harness.testing import RunningSandbox


def pod(name: str, container: dict, **spec: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", **container}], **spec},
    }


def status_of(sandbox: RunningSandbox, name: str, container: str = "app") -> dict:
    statuses = (sandbox.get("pods", "default", name).get("status") or {}).get("containerStatuses") or []
    return next((s for s in statuses if s["name"] == container), {})


def events_for(sandbox: RunningSandbox, name: str) -> list[dict]:
    return [e for e in sandbox.list("events", "default") if e["involvedObject"]["name"] == name]


def test_crash_loop_backs_off_with_growing_restart_count_and_keeps_previous_logs(
    sandbox: RunningSandbox,
) -> None:
    sandbox.apply("seed-crashloop")
    checkout = sandbox.wait_for(lambda: sandbox.list("pods", "default", "component=checkout"))[0]["metadata"][
        "name"
    ]
    status = sandbox.wait_for(
        lambda: (
            (s := status_of(sandbox, checkout)).get("restartCount", 0) >= 3 and "waiting" in s["state"] and s
        ),
        timeout=30,
    )
    waiting = status["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"
    assert re.fullmatch(
        rf"back-off (20s|40s|1m20s|2m40s|5m0s) restarting failed container=app pod={checkout}_default\(.+\)",
        waiting["message"],
    )
    terminated = status["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
    assert terminated["startedAt"] <= terminated["finishedAt"]
    assert sandbox.get("pods", "default", checkout)["status"]["phase"] == "Running"
    previous = sandbox.logs.read("default", checkout, "app", previous=True, attempt=status["restartCount"])
    assert "Connection refused to redis:6379" in previous
    back_off = [e for e in events_for(sandbox, checkout) if e["reason"] == "BackOff"]
    assert back_off[0]["count"] >= 2
    assert back_off[0]["message"].startswith(
        f"Back-off restarting failed container app in pod {checkout}_default("
    )


def test_every_run_keeps_the_lines_it_printed_as_it_exited(sandbox: RunningSandbox) -> None:
    """A program that prints its error and exits at once: each run's log holds the error, whatever the
    float noise between its start and its exit time (it used to drop the lines of some runs)."""
    sandbox.apply([pod("flags", {"image": "sandbox/web:1.0", "args": ["--bogus-flag=1"]})])
    sandbox.wait_for(lambda: status_of(sandbox, "flags").get("restartCount", 0) >= 3, timeout=60)
    for attempt in range(3):
        log = sandbox.logs.read("default", "flags", "app", attempt=attempt)
        assert "flag provided but not defined: -bogus-flag" in log, (attempt, log)


def test_memory_over_the_limit_is_oom_killed(sandbox: RunningSandbox) -> None:
    sandbox.apply(
        [
            pod(
                "hog",
                {
                    "image": "sandbox/memory-hog:1.0",
                    "env": [{"name": "ALLOCATE_MB", "value": "700"}],
                    "resources": {"limits": {"memory": "512Mi"}},
                },
            )
        ]
    )
    status = sandbox.wait_for(
        lambda: status_of(sandbox, "hog").get("lastState", {}).get("terminated"), timeout=20
    )
    assert (status["exitCode"], status["reason"]) == (137, "OOMKilled")


def test_missing_config_map_key_blocks_the_container_until_it_is_added(sandbox: RunningSandbox) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-config", "namespace": "default"},
        "data": {"MODE": "fast"},
    }
    env = [
        {"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "LOG_LEVEL"}}}
    ]
    sandbox.apply([config, pod("api", {"image": "sandbox/web:1.0", "env": env})])
    waiting = sandbox.wait_for(
        lambda: (
            status_of(sandbox, "api").get("state", {}).get("waiting", {}).get("reason")
            == "CreateContainerConfigError"
            and status_of(sandbox, "api")["state"]["waiting"]
        )
    )
    assert waiting["message"] == "couldn't find key LOG_LEVEL in ConfigMap default/app-config"
    assert any(
        e["message"] == "Error: couldn't find key LOG_LEVEL in ConfigMap default/app-config"
        for e in events_for(sandbox, "api")
    )
    assert sandbox.get("pods", "default", "api")["status"]["phase"] == "Pending"
    sandbox.patch("configmaps", "default", "app-config", {"data": {"LOG_LEVEL": "info"}})
    sandbox.wait_for(lambda: status_of(sandbox, "api").get("ready"), timeout=20)


def test_unknown_tag_fails_to_pull_then_backs_off(sandbox: RunningSandbox) -> None:
    sandbox.apply([pod("web", {"image": "nginx:1.99"})])
    sandbox.wait_for(
        lambda: status_of(sandbox, "web").get("state", {}).get("waiting", {}).get("reason") == "ErrImagePull"
    )
    waiting = sandbox.wait_for(
        lambda: (
            (w := status_of(sandbox, "web")["state"].get("waiting", {})).get("reason") == "ImagePullBackOff"
            and w
        )
    )
    assert waiting["message"].startswith(
        'Back-off pulling image "nginx:1.99": ErrImagePull: rpc error: code = NotFound'
    )
    messages = {e["message"] for e in events_for(sandbox, "web")}
    assert {
        "Error: ErrImagePull",
        "Error: ImagePullBackOff",
        'Back-off pulling image "nginx:1.99"',
    } <= messages
    assert any(m.startswith('Failed to pull image "nginx:1.99": ') for m in messages)
    assert sandbox.get("pods", "default", "web")["status"]["phase"] == "Pending"


def test_failing_liveness_probe_restarts_the_container(sandbox: RunningSandbox) -> None:
    probe = {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 5, "failureThreshold": 2}
    sandbox.apply([pod("web", {"image": "nginx:1.27", "livenessProbe": probe})])
    sandbox.wait_for(lambda: status_of(sandbox, "web").get("restartCount", 0) >= 2, timeout=20)
    by_reason = {e["reason"]: e for e in events_for(sandbox, "web")}
    assert (
        by_reason["Unhealthy"]["message"] == "Liveness probe failed: HTTP probe failed with statuscode: 404"
    )
    assert by_reason["Killing"]["message"] == "Container app failed liveness probe, will be restarted"


def test_failing_readiness_probe_keeps_the_pod_out_of_its_service(sandbox: RunningSandbox) -> None:
    ready = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 5}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]},
    }
    sandbox.apply([service, pod("web", {"image": "nginx:1.27", "readinessProbe": ready})])
    unhealthy = sandbox.wait_for(
        lambda: [e for e in events_for(sandbox, "web") if e["reason"] == "Unhealthy"]
    )
    assert unhealthy[0]["message"].startswith('Readiness probe failed: Get "http://10.244.')
    assert unhealthy[0]["message"].endswith(":8080: connect: connection refused")
    assert status_of(sandbox, "web")["state"].get("running")
    assert status_of(sandbox, "web")["ready"] is False
    endpoints = next(e for e in sandbox.list("endpoints", "default") if e["metadata"]["name"] == "web")
    assert "addresses" not in endpoints["subsets"][0]
    assert endpoints["subsets"][0]["notReadyAddresses"][0]["targetRef"]["name"] == "web"


def test_job_pod_runs_to_completion(sandbox: RunningSandbox) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "migrate",
                            "image": "busybox:1.36",
                            "command": ["sh", "-c", "echo applying; sleep 2; echo done"],
                        }
                    ],
                }
            }
        },
    }
    sandbox.apply([job])
    finished = sandbox.wait_for(
        lambda: [
            c
            for c in (sandbox.get("jobs", "default", "migrate").get("status") or {}).get("conditions") or []
            if c["type"] == "Complete"
        ],
        timeout=20,
    )
    assert finished[0]["status"] == "True"
    pods = sandbox.list("pods", "default", "job-name=migrate")
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]
    assert sandbox.logs.read("default", pods[0]["metadata"]["name"], "migrate") == "applying\ndone\n"


def test_setting_a_pods_image_replaces_the_container_at_once(sandbox: RunningSandbox) -> None:
    sandbox.apply([pod("web", {"image": "nginx:1.99"})])
    sandbox.wait_for(
        lambda: (
            status_of(sandbox, "web").get("state", {}).get("waiting", {}).get("reason") == "ImagePullBackOff"
        )
    )
    sandbox.patch(
        "pods", "default", "web", {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}
    )
    status = sandbox.wait_for(lambda: (s := status_of(sandbox, "web")).get("ready") and s)
    assert (status["image"], status["restartCount"]) == ("nginx:1.27", 0)
    sandbox.patch(
        "pods", "default", "web", {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}
    )
    status = sandbox.wait_for(
        lambda: (s := status_of(sandbox, "web")).get("restartCount") == 1 and s.get("ready") and s
    )
    assert status["image"] == "nginx:1.26"
    killing = [e for e in events_for(sandbox, "web") if e["reason"] == "Killing"]
    assert killing[0]["message"] == "Container app definition changed, will be restarted"
