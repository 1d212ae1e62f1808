"""Revision history on a fast clock: ControllerRevisions of StatefulSets and DaemonSets, their pruning,
StatefulSet partitions and DaemonSet update strategies, as kube-controller-manager keeps and rolls them."""

from __future__ import annotations

import pytest

from smart_sre_harness.testing import RunningSandbox

MERGE = "application/merge-patch+json"


def is_ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def image(pod: dict) -> str:
    return pod["spec"]["containers"][0]["image"]


def revision_label(pod: dict) -> str:
    return pod["metadata"]["labels"]["controller-revision-hash"]


def pods(sandbox: RunningSandbox, selector: str) -> list[dict]:
    return [
        p for p in sandbox.list("pods", "default", selector) if not p["metadata"].get("deletionTimestamp")
    ]


def workload(kind: str, name: str, image_: str, spec: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image_}]},
            },
            **spec,
        },
    }


def set_image(sandbox: RunningSandbox, resource: str, name: str, image_: str) -> None:
    containers = [{"name": "main", "image": image_}]
    sandbox.patch(resource, "default", name, {"spec": {"template": {"spec": {"containers": containers}}}})


def settled(sandbox: RunningSandbox, selector: str, count: int, images: dict[str, str]) -> list[dict]:
    """The `count` pods of `selector`, once all are Ready and pod name -> image is `images`
    (by ordinal name for StatefulSets; {"*": image} for any name)."""

    def check() -> list[dict] | None:
        found = pods(sandbox, selector)
        if len(found) != count or not all(map(is_ready, found)):
            return None
        wanted = [images.get(p["metadata"]["name"], images.get("*")) for p in found]
        return found if [image(p) for p in found] == wanted else None

    return sandbox.wait_for(check, timeout=30)


def revisions(sandbox: RunningSandbox, selector: str) -> dict[int, dict]:
    return {r["revision"]: r for r in sandbox.list("controllerrevisions", "default", selector)}


def test_stateful_set_partition_holds_lower_ordinals_at_the_current_revision(sandbox: RunningSandbox) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    sandbox.apply([workload("StatefulSet", "db", "redis:7", {"replicas": 3, "updateStrategy": strategy})])
    settled(sandbox, "app=db", 3, {"*": "redis:7"})
    set_image(sandbox, "statefulsets", "db", "redis:7.2")
    split = {"db-0": "redis:7", "db-1": "redis:7.2", "db-2": "redis:7.2"}
    settled(sandbox, "app=db", 3, split)
    history = revisions(sandbox, "app=db")
    old, new = history[1]["metadata"]["name"], history[2]["metadata"]["name"]
    status = sandbox.wait_for(
        lambda: (
            (s := sandbox.get("statefulsets", "default", "db")["status"]).get("updatedReplicas") == 2 and s
        )
    )
    assert (status["currentRevision"], status["updateRevision"]) == (old, new)
    assert (status["currentReplicas"], status["updatedReplicas"]) == (1, 2)

    # A pod below the partition that is deleted comes back at the current revision, not the update.
    sandbox.run(sandbox.store.delete(sandbox.store.resource("pods"), "default", "db-0"))
    recreated = settled(sandbox, "app=db", 3, split)
    assert {p["metadata"]["name"]: revision_label(p) for p in recreated}["db-0"] == old

    sandbox.patch(
        "statefulsets", "default", "db", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}
    )
    settled(sandbox, "app=db", 3, {"*": "redis:7.2"})
    status = sandbox.wait_for(
        lambda: (s := sandbox.get("statefulsets", "default", "db")["status"])["currentRevision"] == new and s
    )
    assert (status["currentReplicas"], status["updatedReplicas"]) == (3, 3)


def test_stateful_set_revision_history_limit_prunes_old_revisions(sandbox: RunningSandbox) -> None:
    sandbox.apply([workload("StatefulSet", "db", "redis:6", {"replicas": 1, "revisionHistoryLimit": 1})])
    settled(sandbox, "app=db", 1, {"*": "redis:6"})
    for tag in ("7", "7.2"):
        set_image(sandbox, "statefulsets", "db", f"redis:{tag}")
        settled(sandbox, "app=db", 1, {"*": f"redis:{tag}"})
    kept = sandbox.wait_for(lambda: len(r := revisions(sandbox, "app=db")) == 2 and r)
    assert sorted(kept) == [2, 3]
    owner = kept[3]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("StatefulSet", "db", True)
    assert kept[3]["data"]["spec"]["template"]["$patch"] == "replace"
    assert kept[3]["data"]["spec"]["template"]["spec"]["containers"][0]["image"] == "redis:7.2"


@pytest.mark.parametrize(
    ("rolling_update", "fewest_ready", "most_pods"),
    [
        ({"maxUnavailable": 1, "maxSurge": 0}, 2, 3),  # one node at a time goes without its pod
        ({"maxUnavailable": 0, "maxSurge": 1}, 3, 4),  # one node at a time runs old and new side by side
    ],
)
def test_daemon_set_rolling_update_replaces_one_node_at_a_time(
    sandbox: RunningSandbox, rolling_update: dict, fewest_ready: int, most_pods: int
) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": rolling_update}
    sandbox.apply([workload("DaemonSet", "agent", "redis:7", {"updateStrategy": strategy})])
    settled(sandbox, "app=agent", 3, {"*": "redis:7"})
    set_image(sandbox, "daemonsets", "agent", "redis:7.2")
    seen: list[tuple[int, int]] = []  # (Ready pods, pods)

    def done() -> bool:
        current = pods(sandbox, "app=agent")
        seen.append((sum(1 for p in current if is_ready(p)), len(current)))
        return (
            len(current) == 3 and all(map(is_ready, current)) and {image(p) for p in current} == {"redis:7.2"}
        )

    sandbox.wait_for(done, timeout=30, interval=0.01)
    assert min(ready for ready, _ in seen) == fewest_ready
    assert max(count for _, count in seen) == most_pods
    hashes = {revision_label(p) for p in pods(sandbox, "app=agent")}
    assert hashes == {revisions(sandbox, "app=agent")[2]["metadata"]["labels"]["controller-revision-hash"]}


def test_daemon_set_on_delete_replaces_only_deleted_pods(sandbox: RunningSandbox) -> None:
    sandbox.apply([workload("DaemonSet", "agent", "redis:7", {"updateStrategy": {"type": "OnDelete"}})])
    before = settled(sandbox, "app=agent", 3, {"*": "redis:7"})
    set_image(sandbox, "daemonsets", "agent", "redis:7.2")
    sandbox.wait_for(lambda: 2 in revisions(sandbox, "app=agent"))
    victim = before[0]["metadata"]["name"]
    sandbox.run(sandbox.store.delete(sandbox.store.resource("pods"), "default", victim))
    untouched = {p["metadata"]["name"]: "redis:7" for p in before[1:]}
    after = settled(sandbox, "app=agent", 3, {**untouched, "*": "redis:7.2"})
    assert sorted(image(p) for p in after) == ["redis:7", "redis:7", "redis:7.2"]
    status = sandbox.wait_for(
        lambda: (s := sandbox.get("daemonsets", "default", "agent")["status"]).get("numberReady") == 3 and s
    )
    assert (status["updatedNumberScheduled"], status["desiredNumberScheduled"]) == (1, 3)


def test_recreate_makes_the_next_revision_only_once_the_old_pods_are_gone(sandbox: RunningSandbox) -> None:
    sandbox.apply(
        [workload("Deployment", "web", "nginx:1.25", {"replicas": 2, "strategy": {"type": "Recreate"}})]
    )
    settled(sandbox, "app=web", 2, {"*": "nginx:1.25"})
    set_image(sandbox, "deployments", "web", "nginx:1.26")
    seen: list[set[str]] = []

    def done() -> bool:
        current = sandbox.list("pods", "default", "app=web")
        seen.append({image(p) for p in current})
        return len(current) == 2 and all(map(is_ready, current)) and seen[-1] == {"nginx:1.26"}

    sandbox.wait_for(done, timeout=30, interval=0.01)
    assert {"nginx:1.25", "nginx:1.26"} not in seen  # never old and new pods at once
    deployment = sandbox.get("deployments", "default", "web")
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
