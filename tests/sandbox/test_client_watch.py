"""The official `kubernetes` client's watch against the sandbox: dropped streams and 410 Gone."""

import threading
from collections.abc import Iterator

import pytest
import requests
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

NOT_ROOT_CA = "metadata.name!=kube-root-ca.crt"  # the ConfigMap the cluster publishes in every namespace

pytestmark = pytest.mark.slow


@pytest.fixture
def core(sandbox) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    yield client.CoreV1Api(api_client)
    api_client.close()


def config_map(name: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"k": "v"})


def test_watch_resumes_after_the_server_drops_the_stream(sandbox, core: client.CoreV1Api) -> None:
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    seen: list[tuple[str, str]] = []
    watcher = watch.Watch()
    streaming = threading.Event()

    def follow() -> None:
        for event in watcher.stream(core.list_namespaced_config_map, "default", resource_version=rv):
            seen.append((event["type"], event["object"].metadata.name))
            streaming.set()
            if event["object"].metadata.name == "after-drop":
                watcher.stop()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    core.create_namespaced_config_map("default", config_map("before-drop"))
    assert streaming.wait(10)
    dropped = requests.post(f"{sandbox.url}/sandbox/faults", json={"dropWatches": True}, timeout=5).json()
    assert dropped["droppedWatches"] >= 1
    core.create_namespaced_config_map("default", config_map("after-drop"))
    thread.join(15)
    assert not thread.is_alive()
    assert seen == [("ADDED", "before-drop"), ("ADDED", "after-drop")]


def test_too_old_resource_version_is_410_and_a_relist_recovers(sandbox, core: client.CoreV1Api) -> None:
    stale = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", config_map("first"))
    requests.post(
        f"{sandbox.url}/sandbox/faults", json={"compactHistory": True}, timeout=5
    ).raise_for_status()

    with pytest.raises(ApiException) as gone:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=stale):
            pass
    assert gone.value.status == 410

    # An informer re-lists, then watches from there (kube-root-ca.crt is the cluster's own).
    listing = core.list_namespaced_config_map("default", field_selector=NOT_ROOT_CA)
    assert [c.metadata.name for c in listing.items] == ["first"]
    core.create_namespaced_config_map("default", config_map("second"))
    watcher = watch.Watch()
    for event in watcher.stream(
        core.list_namespaced_config_map, "default", resource_version=listing.metadata.resource_version
    ):
        assert (event["type"], event["object"].metadata.name) == ("ADDED", "second")
        watcher.stop()


def test_throttling_is_retried_and_server_errors_surface(sandbox, core: client.CoreV1Api) -> None:
    fault = {"errors": [{"code": 429, "count": 1, "verb": "list", "retryAfter": 1}]}
    requests.post(f"{sandbox.url}/sandbox/faults", json=fault, timeout=5).raise_for_status()
    # urllib3 honours Retry-After on 429
    assert core.list_namespaced_config_map("default", field_selector=NOT_ROOT_CA).items == []
    requests.post(
        f"{sandbox.url}/sandbox/faults", json={"errors": [{"code": 500, "verb": "list"}]}, timeout=5
    )
    with pytest.raises(ApiException) as failed:
        core.list_namespaced_config_map("default")
    assert failed.value.status == 500
    assert "injected fault" in failed.value.body
    assert core.list_namespaced_config_map("default", field_selector=NOT_ROOT_CA).items == []
