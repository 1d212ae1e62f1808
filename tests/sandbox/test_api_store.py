"""The Store's API semantics: versions, conflicts, generations, finalizers, garbage collection, watches."""

import asyncio

import pytest

from smart_sre_sandbox.errors import ApiError
from smart_sre_sandbox.store import Store


def pod(name: str, **labels: str) -> dict:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }


def deployment(name: str) -> dict:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }
    return {
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": template},
    }


def owned_by(obj: dict, owner: dict, kind: str) -> dict:
    ref = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    obj["metadata"]["ownerReferences"] = [ref]
    return obj


@pytest.fixture
def store() -> Store:
    return Store()


async def test_create_sets_identity_and_defaults(store: Store) -> None:
    created = await store.create(store.resource("pods"), pod("web"))
    meta = created["metadata"]
    assert (created["apiVersion"], created["kind"], meta["namespace"]) == ("v1", "Pod", "default")
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert created["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert created["spec"]["restartPolicy"] == "Always"


async def test_returned_objects_are_copies(store: Store) -> None:
    pods = store.resource("po")
    created = await store.create(pods, pod("web"))
    created["metadata"]["labels"]["mutated"] = "yes"
    assert "mutated" not in (await store.get(pods, "default", "web"))["metadata"]["labels"]


async def test_resource_lookup_by_any_name(store: Store) -> None:
    assert store.resource("Deployment") == store.resource("deploy") == store.resource("deployments.apps")
    with pytest.raises(ApiError) as info:
        store.resource("widgets")
    assert info.value.code == 404


async def test_errors_are_kubernetes_shaped(store: Store) -> None:
    pods = store.resource("pods")
    await store.create(pods, pod("web"))
    with pytest.raises(ApiError) as exists:
        await store.create(pods, pod("web"))
    assert exists.value.status()["reason"] == "AlreadyExists"
    assert exists.value.status()["message"] == 'pods "web" already exists'
    with pytest.raises(ApiError) as missing:
        await store.get(store.resource("deployments"), "default", "nope")
    assert (missing.value.code, missing.value.message) == (404, 'deployments.apps "nope" not found')
    with pytest.raises(ApiError) as bad:
        await store.create(
            pods, {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "app"}]}}
        )
    status = bad.value.status()
    assert status["code"] == 422
    assert status["reason"] == "Invalid"
    assert {c["field"] for c in status["details"]["causes"]} == {"metadata.name", "spec.containers[0].image"}
    assert status["message"].startswith(
        'Pod "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name"'
    )


async def test_namespace_must_exist(store: Store) -> None:
    with pytest.raises(ApiError) as info:
        await store.create(
            store.resource("pods"), {**pod("web"), "metadata": {"name": "web", "namespace": "ghost"}}
        )
    assert info.value.message == 'namespaces "ghost" not found'


async def test_stale_update_conflicts(store: Store) -> None:
    pods = store.resource("pods")
    first = await store.create(pods, pod("web"))
    first["metadata"]["labels"] = {"a": "1"}
    await store.update(pods, first)
    first["metadata"]["labels"] = {"a": "2"}
    with pytest.raises(ApiError) as info:
        await store.update(pods, first)
    assert info.value.reason == "Conflict"
    assert info.value.code == 409


async def test_generation_tracks_spec_not_status_or_metadata(store: Store) -> None:
    deployments = store.resource("deployments")
    created = await store.create(deployments, deployment("web"))
    relabeled = await store.patch(
        deployments, "default", "web", "application/merge-patch+json", {"metadata": {"labels": {"x": "y"}}}
    )
    assert relabeled["metadata"]["generation"] == 1
    assert int(relabeled["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    scaled = await store.patch(
        deployments, "default", "web", "application/merge-patch+json", {"spec": {"replicas": 3}}
    )
    assert scaled["metadata"]["generation"] == 2
    status = await store.patch(
        deployments,
        "default",
        "web",
        "application/merge-patch+json",
        {"status": {"readyReplicas": 3}},
        subresource="status",
    )
    assert status["metadata"]["generation"] == 2
    assert status["status"]["readyReplicas"] == 3


async def test_status_subresource_split(store: Store) -> None:
    deployments = store.resource("deployments")
    await store.create(deployments, deployment("web"))
    ignored = await store.patch(
        deployments, "default", "web", "application/merge-patch+json", {"status": {"replicas": 9}}
    )
    assert "replicas" not in ignored["status"]
    current = await store.get(deployments, "default", "web")
    current["spec"]["replicas"] = 5
    current["status"] = {"replicas": 2}
    after = await store.update(deployments, current, subresource="status")
    assert after["status"] == {"replicas": 2}
    assert after["spec"]["replicas"] == 1


async def test_noop_update_keeps_resource_version(store: Store) -> None:
    pods = store.resource("pods")
    created = await store.create(pods, pod("web"))
    same = await store.patch(
        pods, "default", "web", "application/merge-patch+json", {"metadata": {"labels": {}}}
    )
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_finalizers_hold_deletion_until_removed(store: Store) -> None:
    config_maps = store.resource("configmaps")
    await store.create(config_maps, {"metadata": {"name": "c", "finalizers": ["example.com/hold"]}})
    marked = await store.delete(config_maps, "default", "c")
    assert marked["metadata"]["deletionTimestamp"]
    assert (await store.get(config_maps, "default", "c"))["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiError) as info:
        await store.patch(
            config_maps,
            "default",
            "c",
            "application/merge-patch+json",
            {"metadata": {"finalizers": ["a", "example.com/hold"]}},
        )
    assert info.value.code == 422
    await store.patch(
        config_maps, "default", "c", "application/merge-patch+json", {"metadata": {"finalizers": None}}
    )
    with pytest.raises(ApiError):
        await store.get(config_maps, "default", "c")


async def _workload(store: Store) -> tuple[dict, dict, dict]:
    deploy = await store.create(store.resource("deployments"), deployment("web"))
    rs = await store.create(
        store.resource("replicasets"), owned_by(deployment("web-1"), deploy, "Deployment")
    )
    rs_pod = await store.create(store.resource("pods"), owned_by(pod("web-1-a", app="web"), rs, "ReplicaSet"))
    return deploy, rs, rs_pod


@pytest.mark.parametrize("propagation", ["Background", "Foreground"])
async def test_deleting_a_deployment_collects_replicasets_and_pods(store: Store, propagation: str) -> None:
    await _workload(store)
    await store.delete(store.resource("deployments"), "default", "web", propagation=propagation)
    assert (await store.list(store.resource("replicasets")))[0] == []
    assert (await store.list(store.resource("pods")))[0] == []
    assert (await store.list(store.resource("deployments")))[0] == []


async def test_foreground_waits_for_dependents_with_finalizers(store: Store) -> None:
    _, _, rs_pod = await _workload(store)
    pods = store.resource("pods")
    await store.patch(
        pods,
        "default",
        rs_pod["metadata"]["name"],
        "application/merge-patch+json",
        {"metadata": {"finalizers": ["hold"]}},
    )
    await store.delete(store.resource("deployments"), "default", "web", propagation="Foreground")
    rs = await store.get(store.resource("replicasets"), "default", "web-1")
    assert rs["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in rs["metadata"]["finalizers"]
    await store.patch(
        pods,
        "default",
        rs_pod["metadata"]["name"],
        "application/merge-patch+json",
        {"metadata": {"finalizers": None}},
    )
    assert (await store.list(store.resource("replicasets")))[0] == []
    assert (await store.list(store.resource("deployments")))[0] == []


async def test_orphan_keeps_dependents_without_owner(store: Store) -> None:
    await _workload(store)
    await store.delete(store.resource("deployments"), "default", "web", propagation="Orphan")
    rs = await store.get(store.resource("replicasets"), "default", "web-1")
    assert "ownerReferences" not in rs["metadata"]
    assert len((await store.list(store.resource("pods")))[0]) == 1


async def test_deleting_a_namespace_deletes_its_content(store: Store) -> None:
    namespaces, config_maps = store.resource("namespaces"), store.resource("configmaps")
    await store.create(namespaces, {"metadata": {"name": "team"}})
    await store.create(config_maps, {"metadata": {"name": "c", "namespace": "team"}})
    await store.delete(namespaces, None, "team")
    assert (await store.list(config_maps, "team"))[0] == []
    with pytest.raises(ApiError):
        await store.get(namespaces, None, "team")


async def test_dry_run_persists_and_announces_nothing(store: Store) -> None:
    pods = store.resource("pods")
    _, rv = await store.list(pods)
    events = store.watch(pods, resource_version=rv)
    dry = await store.create(pods, pod("web"), dry_run=True)
    assert dry["metadata"]["uid"]
    assert (await store.list(pods))[0] == []
    await store.create(pods, pod("real"))
    first = await asyncio.wait_for(anext(events), 1)
    assert first.object["metadata"]["name"] == "real"
    await events.aclose()


async def test_generate_name(store: Store) -> None:
    created = await store.create(
        store.resource("events"), {"metadata": {"generateName": "kopf-event-"}, "reason": "X"}
    )
    assert created["metadata"]["name"].startswith("kopf-event-")
    assert len(created["metadata"]["name"]) == 16


async def test_watch_replays_from_resource_version_and_follows_selectors(store: Store) -> None:
    pods = store.resource("pods")
    _, rv = await store.list(pods)
    await store.create(pods, pod("a", app="web"))
    await store.create(pods, pod("b", app="db"))
    events = store.watch(pods, resource_version=rv, label_selector="app=web")
    added = await asyncio.wait_for(anext(events), 1)
    assert (added.type, added.object["metadata"]["name"]) == ("ADDED", "a")
    await store.patch(
        pods, "default", "b", "application/merge-patch+json", {"metadata": {"labels": {"app": "web"}}}
    )
    await store.patch(
        pods, "default", "a", "application/merge-patch+json", {"metadata": {"labels": {"app": "gone"}}}
    )
    seen = [await asyncio.wait_for(anext(events), 1) for _ in range(2)]
    assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [("ADDED", "b"), ("DELETED", "a")]
    await events.aclose()


async def test_watch_without_version_starts_with_current_objects(store: Store) -> None:
    pods = store.resource("pods")
    await store.create(pods, pod("a"))
    events = store.watch(pods, resource_version="0")
    first = await asyncio.wait_for(anext(events), 1)
    assert (first.type, first.object["metadata"]["name"]) == ("ADDED", "a")
    await events.aclose()


async def test_too_old_resource_version_is_gone(store: Store) -> None:
    pods = store.resource("pods")
    await store.create(pods, pod("a"))
    store.compact()
    events = store.watch(pods, resource_version="1")
    with pytest.raises(ApiError) as info:
        await anext(events)
    assert (info.value.code, info.value.reason) == (410, "Expired")


async def test_bounded_history_expires_old_versions() -> None:
    store = Store(history_limit=3)
    config_maps = store.resource("configmaps")
    for i in range(5):
        await store.create(config_maps, {"metadata": {"name": f"c{i}"}})
    with pytest.raises(ApiError):
        await anext(store.watch(config_maps, resource_version="2"))


async def test_watch_bookmarks_carry_the_latest_version(store: Store) -> None:
    pods = store.resource("pods")
    events = store.watch(pods, resource_version=store.resource_version, bookmark_interval=0.05)
    bookmark = await asyncio.wait_for(anext(events), 1)
    assert bookmark.type == "BOOKMARK"
    assert bookmark.object["metadata"]["resourceVersion"] == store.resource_version
    await events.aclose()


async def test_close_watches_ends_streams(store: Store) -> None:
    events = store.watch(store.resource("pods"), resource_version=store.resource_version)
    waiter = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)
    assert store.close_watches() == 1
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, 1)


async def test_pod_spec_is_immutable_but_image(store: Store) -> None:
    pods = store.resource("pods")
    await store.create(pods, pod("web"))
    patched = await store.patch(
        pods,
        "default",
        "web",
        "application/strategic-merge-patch+json",
        {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}},
    )
    assert patched["spec"]["containers"][0]["image"] == "nginx:2"
    with pytest.raises(ApiError) as info:
        await store.patch(
            pods, "default", "web", "application/merge-patch+json", {"spec": {"restartPolicy": "Never"}}
        )
    assert info.value.causes[0]["field"] == "spec"
    assert "pod updates may not change fields" in info.value.message


async def test_bind_sets_node_and_scheduled_condition(store: Store) -> None:
    await store.create(store.resource("pods"), pod("web"))
    bound = await store.bind("default", "web", "node-1")
    assert bound["spec"]["nodeName"] == "node-1"
    assert {"type": "PodScheduled", "status": "True"}.items() <= bound["status"]["conditions"][0].items()


async def test_built_in_kinds_drop_unknown_fields_or_reject_them_when_strict(store: Store) -> None:
    pods = store.resource("pods")
    typo = pod("typo")
    typo["spec"]["containers"][0]["imagee"] = "nginx"
    created = await store.create(pods, typo)
    assert "imagee" not in created["spec"]["containers"][0]
    with pytest.raises(ApiError) as info:
        await store.create(pods, {**typo, "metadata": {"name": "strict"}}, field_validation="Strict")
    assert info.value.code == 400
    assert info.value.message == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].imagee"'
    )


async def test_built_in_kinds_reject_wrong_json_types(store: Store) -> None:
    bad = pod("bad")
    bad["spec"]["containers"][0]["env"] = [{"name": "A", "value": 1}]
    bad["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 0.5, "memory": "64Mi"}}
    with pytest.raises(ApiError) as info:
        await store.create(store.resource("pods"), bad)
    assert info.value.code == 400
    assert (
        "cannot unmarshal number into Go struct field Pod.spec.containers[0].env[0].value of type string"
        in info.value.message
    )
    bad["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    created = await store.create(store.resource("pods"), bad)
    assert created["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "500m", "memory": "64Mi"}


async def test_unsupported_field_labels_are_a_bad_request(store: Store) -> None:
    pods = store.resource("pods")
    assert (await store.list(pods, field_selector="spec.nodeName=node-1,status.phase=Running"))[0] == []
    with pytest.raises(ApiError) as info:
        await store.list(pods, field_selector="spec.containers=x")
    assert (info.value.code, info.value.message) == (400, "field label not supported: spec.containers")
    with pytest.raises(ApiError):
        await anext(store.watch(store.resource("configmaps"), field_selector="data.key=x"))
