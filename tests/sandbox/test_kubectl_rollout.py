"""The real kubectl's rollout commands against the sandbox: `rollout history`, `undo` and `status` read
and write what the controllers keep (ReplicaSets for Deployments, ControllerRevisions for StatefulSets
and DaemonSets), and revision numbers move as on a real cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smart_sre_harness.testing import RunningSandbox

pytestmark = pytest.mark.kubectl

STATEFUL_SET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: redis, image: "redis:7"}]
"""

DAEMON_SET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "redis:7"}]
"""


def json_of(sandbox: RunningSandbox, *args: str) -> dict:
    return json.loads(sandbox.kubectl("get", *args, "-o", "json").stdout)


def history(sandbox: RunningSandbox, workload: str) -> list[list[str]]:
    """`kubectl rollout history` as rows of [REVISION, CHANGE-CAUSE]."""
    lines = sandbox.kubectl("rollout", "history", workload).stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("REVISION")))
    assert lines[header].split() == ["REVISION", "CHANGE-CAUSE"]
    return [line.split(None, 1) for line in lines[header + 1 :] if line.strip()]


def settled_images(sandbox: RunningSandbox, selector: str, count: int) -> set[str]:
    """The images of the `count` Ready pods of `selector`, once no other pod is left."""

    def images() -> set[str] | None:
        pods = json_of(sandbox, "pods", "-l", selector)["items"]
        ready = [
            p
            for p in pods
            if not p["metadata"].get("deletionTimestamp")
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions", [])
            )
        ]
        if len(pods) != count or len(ready) != count:
            return None
        return {c["image"] for p in pods for c in p["spec"]["containers"]}

    return sandbox.wait_for(images, timeout=30)


def roll(sandbox: RunningSandbox, workload: str, image: str) -> None:
    container = {"deployment/web": "nginx", "statefulset/db": "redis", "daemonset/agent": "agent"}[workload]
    sandbox.kubectl("set", "image", workload, f"{container}={image}")
    sandbox.kubectl("rollout", "status", workload, "--timeout=40s")


def create_web(sandbox: RunningSandbox) -> None:
    assert (
        sandbox.kubectl("create", "deployment", "web", "--image=nginx:1.25", "--replicas=2").stdout
        == "deployment.apps/web created\n"
    )
    sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=40s")


def replica_sets_by_image(sandbox: RunningSandbox) -> dict[str, dict]:
    return {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs
        for rs in json_of(sandbox, "replicasets", "-l", "app=web")["items"]
    }


def test_history_lists_each_template_change_with_its_change_cause(sandbox: RunningSandbox) -> None:
    create_web(sandbox)
    roll(sandbox, "deployment/web", "nginx:1.26")
    sandbox.kubectl("annotate", "deployment/web", "kubernetes.io/change-cause=image updated to 1.26")
    # The controller copies the Deployment's annotations onto its newest ReplicaSet, where history reads them.
    rows = sandbox.wait_for(
        lambda: (rows := history(sandbox, "deployment/web"))[-1][-1] == "image updated to 1.26" and rows
    )
    assert rows == [["1", "<none>"], ["2", "image updated to 1.26"]]
    first = sandbox.kubectl("rollout", "history", "deployment/web", "--revision=1").stdout
    assert first.startswith("deployment.apps/web with revision #1\nPod Template:")
    assert "Image:\tnginx:1.25" in first
    assert (
        json_of(sandbox, "deployment", "web")["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        == "2"
    )


def test_undo_brings_back_the_old_pods_and_renumbers_their_revision(sandbox: RunningSandbox) -> None:
    create_web(sandbox)
    original = replica_sets_by_image(sandbox)["nginx:1.25"]["metadata"]["name"]
    roll(sandbox, "deployment/web", "nginx:1.26")
    assert sandbox.kubectl("rollout", "undo", "deployment/web").stdout == "deployment.apps/web rolled back\n"
    sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=40s")
    assert settled_images(sandbox, "app=web", 2) == {"nginx:1.25"}
    # The old template's ReplicaSet is reused as revision 3; revision 1 is gone from the history.
    assert history(sandbox, "deployment/web") == [["2", "<none>"], ["3", "<none>"]]
    reused = replica_sets_by_image(sandbox)["nginx:1.25"]
    assert reused["metadata"]["name"] == original
    annotations = reused["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "3"
    assert annotations["deployment.kubernetes.io/revision-history"] == "1"
    deployment = json_of(sandbox, "deployment", "web")
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_undo_to_a_revision_and_the_revisions_it_cannot_reach(sandbox: RunningSandbox) -> None:
    create_web(sandbox)
    roll(sandbox, "deployment/web", "nginx:1.26")
    roll(sandbox, "deployment/web", "nginx:1.27")
    sandbox.kubectl("rollout", "undo", "deployment/web", "--to-revision=1")
    sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=40s")
    assert settled_images(sandbox, "app=web", 2) == {"nginx:1.25"}
    assert [row[0] for row in history(sandbox, "deployment/web")] == ["2", "3", "4"]
    skipped = sandbox.kubectl("rollout", "undo", "deployment/web", "--to-revision=4").stdout
    assert skipped == "deployment.apps/web skipped rollback (current template already matches revision 4)\n"
    gone = sandbox.kubectl("rollout", "undo", "deployment/web", "--to-revision=1", check=False)
    assert gone.returncode != 0
    assert "unable to find specified revision 1 in history" in gone.stderr


def test_revision_history_limit_prunes_the_oldest_replica_sets(sandbox: RunningSandbox) -> None:
    create_web(sandbox)
    sandbox.kubectl("patch", "deployment/web", "-p", '{"spec":{"revisionHistoryLimit":1}}')
    roll(sandbox, "deployment/web", "nginx:1.26")
    roll(sandbox, "deployment/web", "nginx:1.27")
    kept = sandbox.wait_for(lambda: len(rs := replica_sets_by_image(sandbox)) == 2 and rs)
    assert set(kept) == {"nginx:1.26", "nginx:1.27"}
    assert kept["nginx:1.26"]["spec"]["replicas"] == 0
    assert [row[0] for row in history(sandbox, "deployment/web")] == ["2", "3"]


def test_a_deployment_recreated_after_an_orphaning_delete_takes_back_its_history(
    sandbox: RunningSandbox,
) -> None:
    create_web(sandbox)
    roll(sandbox, "deployment/web", "nginx:1.26")
    running = {p["metadata"]["name"] for p in json_of(sandbox, "pods", "-l", "app=web")["items"]}
    sandbox.kubectl("delete", "deployment", "web", "--cascade=orphan")
    sandbox.kubectl("create", "deployment", "web", "--image=nginx:1.26", "--replicas=2")
    sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=40s")
    assert history(sandbox, "deployment/web") == [["1", "<none>"], ["2", "<none>"]]
    assert set(replica_sets_by_image(sandbox)) == {"nginx:1.25", "nginx:1.26"}
    assert {p["metadata"]["name"] for p in json_of(sandbox, "pods", "-l", "app=web")["items"]} == running


def test_scaling_and_the_create_commands_behave_as_on_a_cluster(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    create_web(sandbox)
    assert sandbox.kubectl("scale", "deployment/web", "--replicas=3").stdout == "deployment.apps/web scaled\n"
    assert settled_images(sandbox, "app=web", 3) == {"nginx:1.25"}
    assert history(sandbox, "deployment/web") == [["1", "<none>"]]  # scaling is no new revision
    assert len(replica_sets_by_image(sandbox)) == 1

    created = sandbox.kubectl("create", "service", "clusterip", "web", "--tcp=80:8080").stdout
    assert created == "service/web created\n"
    spec = json_of(sandbox, "service", "web")["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["selector"] == {"app": "web"}
    assert spec["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]

    config = tmp_path / "app.conf"
    config.write_text("listen 8080\n")
    created = sandbox.kubectl("create", "configmap", "web-config", f"--from-file={config}").stdout
    assert created == "configmap/web-config created\n"
    assert json_of(sandbox, "configmap", "web-config")["data"] == {"app.conf": "listen 8080\n"}


def test_stateful_set_history_and_undo_through_controller_revisions(sandbox: RunningSandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=STATEFUL_SET)
    sandbox.kubectl("rollout", "status", "statefulset/db", "--timeout=40s")
    roll(sandbox, "statefulset/db", "redis:7.2")
    assert history(sandbox, "statefulset/db") == [["1", "<none>"], ["2", "<none>"]]
    assert (
        "Image:\tredis:7\n" in sandbox.kubectl("rollout", "history", "statefulset/db", "--revision=1").stdout
    )
    rows = sandbox.kubectl("get", "controllerrevisions", "--no-headers").stdout.splitlines()
    assert sorted(row.split()[1:3] for row in rows) == [
        ["statefulset.apps/db", "1"],
        ["statefulset.apps/db", "2"],
    ]

    assert sandbox.kubectl("rollout", "undo", "statefulset/db").stdout == "statefulset.apps/db rolled back\n"
    assert settled_images(sandbox, "app=db", 2) == {"redis:7"}
    assert history(sandbox, "statefulset/db") == [["2", "<none>"], ["3", "<none>"]]
    status = sandbox.wait_for(
        lambda: (
            (s := json_of(sandbox, "statefulset", "db")["status"])["currentRevision"] == s["updateRevision"]
            and s
        )
    )
    revision_three = next(r for r in json_of(sandbox, "controllerrevisions")["items"] if r["revision"] == 3)
    assert status["updateRevision"] == revision_three["metadata"]["name"]
    labels = {
        p["metadata"]["labels"]["controller-revision-hash"]
        for p in json_of(sandbox, "pods", "-l", "app=db")["items"]
    }
    assert labels == {status["updateRevision"]}
    skipped = sandbox.kubectl("rollout", "undo", "statefulset/db", "--to-revision=3").stdout
    assert skipped.startswith(
        "statefulset.apps/db skipped rollback (current template already matches revision 3)"
    )


def test_daemon_set_history_and_undo_through_controller_revisions(sandbox: RunningSandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=DAEMON_SET)
    sandbox.kubectl("rollout", "status", "daemonset/agent", "--timeout=40s")
    roll(sandbox, "daemonset/agent", "redis:7.2")
    assert settled_images(sandbox, "app=agent", 3) == {"redis:7.2"}
    assert history(sandbox, "daemonset/agent") == [["1", "<none>"], ["2", "<none>"]]
    sandbox.kubectl("rollout", "undo", "daemonset/agent", "--to-revision=1")
    sandbox.kubectl("rollout", "status", "daemonset/agent", "--timeout=40s")
    assert settled_images(sandbox, "app=agent", 3) == {"redis:7"}
    assert history(sandbox, "daemonset/agent") == [["2", "<none>"], ["3", "<none>"]]


def test_a_controller_revision_keeps_its_data(sandbox: RunningSandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=STATEFUL_SET)
    name = sandbox.wait_for(
        lambda: sandbox.kubectl("get", "controllerrevisions", "-o", "name").stdout.strip()
    )
    replace = '[{"op": "replace", "path": "/data", "value": {}}]'
    edited = sandbox.kubectl("patch", name, "--type=json", "-p", replace, check=False)
    assert edited.returncode != 0
    assert "data: Invalid value" in edited.stderr
    assert "field is immutable" in edited.stderr
