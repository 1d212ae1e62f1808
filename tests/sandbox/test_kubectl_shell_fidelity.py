"""What a user sees through the real kubectl of what containers run: shell commands, interpreters, files
from volumes, read-only root filesystems and runAsNonRoot, as on a real cluster."""

from __future__ import annotations

import json

from smart_sre_harness.testing import RunningSandbox


def apply(sandbox: RunningSandbox, manifest: str) -> None:
    sandbox.kubectl("apply", "-f", "-", input=manifest)


def container_status(sandbox: RunningSandbox, name: str) -> dict:
    statuses = (sandbox.get("pods", "default", name).get("status") or {}).get("containerStatuses") or []
    return statuses[0] if statuses else {}


def restarted(sandbox: RunningSandbox, name: str) -> dict:
    return sandbox.wait_for(
        lambda: (s := container_status(sandbox, name)).get("lastState", {}).get("terminated") and s,
        timeout=30,
    )


def test_a_script_calling_a_missing_program_logs_not_found_and_never_gets_ready(
    sandbox: RunningSandbox,
) -> None:
    sandbox.kubectl(
        "run", "app", "--image=busybox:1.36", "--command", "--", "sh", "-c", "echo boot; python3 app.py"
    )
    waited = sandbox.kubectl("wait", "--for=condition=Ready", "pod/app", "--timeout=8s", check=False)
    assert waited.returncode != 0
    terminated = restarted(sandbox, "app")["lastState"]["terminated"]
    assert terminated["exitCode"] == 127
    assert sandbox.kubectl("logs", "app", "--previous").stdout.splitlines() == [
        "boot",
        "sh: python3: not found",
    ]
    sandbox.wait_for(lambda: container_status(sandbox, "app").get("restartCount", 0) >= 2, timeout=30)


def test_a_python_image_given_a_missing_script_crash_loops_with_pythons_message(
    sandbox: RunningSandbox,
) -> None:
    sandbox.kubectl("run", "job", "--image=python:3.12-slim", "--command", "--", "python", "/app/main.py")
    terminated = restarted(sandbox, "job")["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (2, "Error")
    logs = sandbox.kubectl("logs", "job", "--previous").stdout
    assert logs == "python: can't open file '/app/main.py': [Errno 2] No such file or directory\n"


CONFIG_JOB = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  app.conf: |
    listen=8080
    mode=fast
  check.sh: |
    #!/bin/sh
    test -f /etc/settings/app.conf && echo "config present for $GREETING"
---
apiVersion: batch/v1
kind: Job
metadata: {name: show}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      volumes:
        - {name: settings, configMap: {name: settings}}
      containers:
        - name: show
          image: busybox:1.36
          env: [{name: GREETING, value: "$(ZONE)-team"}, {name: ZONE, value: eu}]
          command: ["sh", "-c", "cat /etc/settings/app.conf; ls /etc/settings; sh /etc/settings/check.sh"]
          volumeMounts: [{name: settings, mountPath: /etc/settings}]
"""


def test_files_from_a_config_map_volume_are_read_by_the_script(sandbox: RunningSandbox) -> None:
    apply(sandbox, CONFIG_JOB)
    sandbox.kubectl("wait", "--for=condition=Complete", "job/show", "--timeout=30s")
    logs = sandbox.kubectl("logs", "job/show").stdout.splitlines()
    # $(ZONE) is defined after GREETING, so Kubernetes leaves the reference as written.
    assert logs == ["listen=8080", "mode=fast", "app.conf", "check.sh", "config present for $(ZONE)-team"]


NGINX = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  volumes: [{{name: cache, emptyDir: {{}}}}, {{name: run, emptyDir: {{}}}}]
  containers:
    - name: web
      image: nginx:1.27-alpine
      securityContext: {{readOnlyRootFilesystem: true}}
      volumeMounts: {mounts}
"""


def test_nginx_on_a_read_only_root_crashes_until_its_cache_and_pid_paths_are_volumes(
    sandbox: RunningSandbox,
) -> None:
    apply(sandbox, NGINX.format(name="locked", mounts="[]"))
    mounts = json.dumps(
        [{"name": "cache", "mountPath": "/var/cache/nginx"}, {"name": "run", "mountPath": "/var/run"}]
    )
    apply(sandbox, NGINX.format(name="writable", mounts=mounts))
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/writable", "--timeout=20s")
    terminated = restarted(sandbox, "locked")["lastState"]["terminated"]
    assert terminated["exitCode"] == 1
    previous = sandbox.kubectl("logs", "locked", "--previous").stdout
    assert (
        'nginx: [emerg] mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)' in previous
    )
    assert "Configuration complete; ready for start up" in previous


def test_writes_outside_volumes_fail_on_a_read_only_root_filesystem(sandbox: RunningSandbox) -> None:
    overrides = {
        "spec": {
            "containers": [
                {
                    "name": "writer",
                    "image": "busybox:1.36",
                    "command": ["sh", "-c", "echo x > /data.txt; touch /ready; echo done"],
                    "securityContext": {"readOnlyRootFilesystem": True},
                }
            ]
        }
    }
    sandbox.kubectl(
        "run", "writer", "--image=busybox:1.36", "--restart=Never", f"--overrides={json.dumps(overrides)}"
    )
    sandbox.wait_for(
        lambda: sandbox.get("pods", "default", "writer")["status"].get("phase") == "Succeeded", timeout=20
    )
    assert sandbox.kubectl("logs", "writer").stdout.splitlines() == [
        "sh: can't create /data.txt: Read-only file system",
        "touch: /ready: Read-only file system",
        "done",
    ]


def test_run_as_non_root_with_a_root_image_is_create_container_config_error(sandbox: RunningSandbox) -> None:
    overrides = {"spec": {"securityContext": {"runAsNonRoot": True}}}
    sandbox.kubectl("run", "strict", "--image=nginx:1.27", f"--overrides={json.dumps(overrides)}")
    waiting = sandbox.wait_for(
        lambda: container_status(sandbox, "strict").get("state", {}).get("waiting", {}).get("message"),
        timeout=20,
    )
    uid = sandbox.get("pods", "default", "strict")["metadata"]["uid"]
    expected = f'container has runAsNonRoot and image will run as root (pod: "strict_default({uid})", container: strict)'
    assert waiting == expected
    assert "CreateContainerConfigError" in sandbox.kubectl("get", "pod", "strict", "--no-headers").stdout
    events = sandbox.kubectl(
        "get",
        "events",
        "--field-selector",
        "reason=Failed,involvedObject.name=strict",
        "-o",
        "jsonpath={.items[*].message}",
    ).stdout
    assert f"Error: {expected}" in events
    allowed = {"spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000}}}
    sandbox.kubectl(
        "run",
        "allowed",
        "--image=busybox:1.36",
        f"--overrides={json.dumps(allowed)}",
        "--",
        "sleep",
        "infinity",
    )
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/allowed", "--timeout=20s")


MEMORY_POD = """
apiVersion: v1
kind: Pod
metadata: {name: filler}
spec:
  volumes: [{name: scratch, emptyDir: {medium: Memory}}]
  containers:
    - name: filler
      image: busybox:1.36
      command: ["sh", "-c", "dd if=/dev/zero of=/scratch/fill bs=1M count=200; sleep infinity"]
      resources: {limits: {memory: 128Mi}}
      volumeMounts: [{name: scratch, mountPath: /scratch}]
"""


def test_filling_a_memory_empty_dir_beyond_the_limit_is_oom_killed(sandbox: RunningSandbox) -> None:
    apply(sandbox, MEMORY_POD)
    terminated = restarted(sandbox, "filler")["lastState"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)


INIT_POD = """
apiVersion: v1
kind: Pod
metadata: {name: handoff}
spec:
  volumes: [{name: work, emptyDir: {}}]
  initContainers:
    - name: fetch
      image: busybox:1.36
      command: ["sh", "-c", "echo token-42 > /work/token"]
      volumeMounts: [{name: work, mountPath: /work}]
  containers:
    - name: app
      image: busybox:1.36
      command: ["sh", "-c", "cat /work/token; while true; do sleep 30; done"]
      volumeMounts: [{name: work, mountPath: /work}]
"""


def test_an_init_container_hands_files_to_the_app_through_an_empty_dir(sandbox: RunningSandbox) -> None:
    apply(sandbox, INIT_POD)
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/handoff", "--timeout=20s")
    assert sandbox.kubectl("logs", "handoff", "-c", "app").stdout == "token-42\n"
