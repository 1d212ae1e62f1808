"""The controllers' shared views: copied once per change, current after every write, guarded in tests."""

from smart_sre_sandbox.sim.cache import ViewCache
from smart_sre_sandbox.store import Store

MERGE = "application/merge-patch+json"


def pod(name: str, namespace: str = "default") -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }


async def test_a_view_is_shared_until_its_object_changes_and_then_shows_the_change() -> None:
    store = Store()
    pods = store.resource("pods")
    await store.create(pods, pod("a"))
    await store.create(pods, pod("b"))
    cache = ViewCache(store, detect_mutations=False)
    first = cache.list(pods)
    assert [p["metadata"]["name"] for p in first] == ["a", "b"]
    await store.patch(pods, "default", "b", MERGE, {"metadata": {"labels": {"app": "api"}}})
    second = cache.list(pods)
    assert second[0] is first[0]  # unchanged: not copied again
    assert second[1]["metadata"]["labels"] == {"app": "api"}
    assert "managedFields" not in second[1]["metadata"]  # no controller reads them
    assert second[1]["kind"] == "Pod"


async def test_namespaces_filter_and_deleted_objects_leave_the_cache() -> None:
    store = Store()
    pods = store.resource("pods")
    await store.create(store.resource("namespaces"), {"metadata": {"name": "shop"}})
    await store.create(pods, pod("a"))
    await store.create(pods, pod("b", "shop"))
    cache = ViewCache(store, detect_mutations=False)
    assert [p["metadata"]["name"] for p in cache.list(pods, "shop")] == ["b"]
    await store.delete(pods, "default", "a")
    assert [p["metadata"]["name"] for p in cache.list(pods)] == ["b"]


async def test_the_detector_names_a_view_modified_in_place_and_hands_out_a_fresh_one() -> None:
    store = Store()
    pods = store.resource("pods")
    await store.create(pods, pod("a"))
    cache = ViewCache(store)  # tests/conftest.py turns the detector on for the whole suite
    cache.list(pods)[0]["spec"]["nodeName"] = "worker-1"  # what a controller must not do
    again = cache.list(pods)
    assert cache.mutations == ["pods default/a"]
    assert "nodeName" not in again[0]["spec"]
    assert (await store.get(pods, "default", "a"))["spec"].get("nodeName") is None
    cache.list(pods)
    assert cache.mutations == ["pods default/a"]  # reported once
