"""The HTTP API: discovery, REST verbs, watch streams, tables, logs, fault injection."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from smart_sre_sandbox.faults import Faults
from smart_sre_sandbox.logs import PodLogs
from smart_sre_sandbox.server import build_app
from smart_sre_sandbox.store import Store

CRDS = Path(__file__).parent / "data" / "crds.yaml"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "app", "image": "shop:1"}]},
}
SCHEDULED = {**POD, "spec": {**POD["spec"], "nodeName": "sandbox-worker-1"}}


@dataclass
class Api:
    client: TestClient
    store: Store
    logs: PodLogs


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    store, logs = Store(), PodLogs()
    async with TestClient(TestServer(build_app(store, logs, Faults(), bookmark_interval=0.1))) as client:
        yield Api(client, store, logs)


async def test_discovery_documents(api: Api) -> None:
    version = await (await api.client.get("/version")).json()
    assert (version["major"], version["minor"]) == ("1", "37")
    groups = await (await api.client.get("/apis")).json()
    assert {"apps", "batch", "coordination.k8s.io", "apiextensions.k8s.io"} <= {
        g["name"] for g in groups["groups"]
    }
    core = await (await api.client.get("/api/v1")).json()
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["shortNames"] == ["po"]
    assert pods["namespaced"]
    assert "watch" in pods["verbs"]
    assert {"pods/status", "pods/log"} <= {r["name"] for r in core["resources"]}


async def test_crd_registration_serves_discovery_and_openapi(api: Api) -> None:
    for crd in yaml.safe_load_all(CRDS.read_text()):
        response = await api.client.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
        assert response.status == 201
    group = await (await api.client.get("/apis/test.sandbox.io/v1alpha1")).json()
    reports = next(r for r in group["resources"] if r["name"] == "widgetreports")
    assert reports["shortNames"] == ["wr"]
    assert reports["categories"] == ["widgets"]
    index = await (await api.client.get("/openapi/v3")).json()
    url = index["paths"]["apis/test.sandbox.io/v1alpha1"]["serverRelativeURL"]
    document = await (await api.client.get(url)).json()
    schema = document["components"]["schemas"]["io.sandbox.test.v1alpha1.WidgetPolicy"]
    assert schema["properties"]["spec"]["properties"]["rules"]["description"].startswith("Which widgets")
    patch = document["paths"]["/apis/test.sandbox.io/v1alpha1/widgetpolicies/{name}"]["patch"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}


async def test_unknown_paths_and_methods_are_status_errors(api: Api) -> None:
    response = await api.client.get("/api/v1/widgets")
    body = await response.json()
    assert response.status == 404
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"
    response = await api.client.put("/api/v1/namespaces/default/pods", json={})
    assert response.status == 405
    assert (await response.json())["reason"] == "MethodNotAllowed"
    response = await api.client.post(
        "/api/v1/namespaces/default/pods", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert (await response.json())["reason"] == "BadRequest"


async def test_create_get_list_patch_delete(api: Api) -> None:
    created = await api.client.post("/api/v1/namespaces/default/pods", json=POD)
    assert created.status == 201
    listed = await (await api.client.get("/api/v1/pods?labelSelector=app%3Dweb")).json()
    assert listed["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in listed["items"]] == ["web"]
    patched = await api.client.patch(
        "/api/v1/namespaces/default/pods/web",
        data=json.dumps({"metadata": {"labels": {"tier": "front"}}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert (await patched.json())["metadata"]["labels"] == {"app": "web", "tier": "front"}
    wrong = await api.client.patch(
        "/api/v1/namespaces/default/pods/web", data="{}", headers={"Content-Type": "text/plain"}
    )
    assert wrong.status == 415
    deleted = await api.client.delete("/api/v1/namespaces/default/pods/web")
    assert deleted.status == 200
    assert (await api.client.get("/api/v1/namespaces/default/pods/web")).status == 404


async def test_dry_run_persists_nothing(api: Api) -> None:
    response = await api.client.post("/api/v1/namespaces/default/pods?dryRun=All", json=POD)
    assert response.status == 201
    assert (await api.client.get("/api/v1/namespaces/default/pods/web")).status == 404


async def test_table_output_for_pods_and_custom_columns(api: Api) -> None:
    await api.client.post("/api/v1/namespaces/default/pods", json=POD)
    pods = await (await api.client.get("/api/v1/namespaces/default/pods", headers={"Accept": TABLE})).json()
    assert pods["kind"] == "Table"
    assert pods["rows"][0]["cells"][:3] == ["web", "0/1", "Pending"]
    for crd in yaml.safe_load_all(CRDS.read_text()):
        await api.client.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
    report = {"metadata": {"name": "r"}, "spec": {"podRef": {"name": "web"}}}
    await api.client.post("/apis/test.sandbox.io/v1alpha1/namespaces/default/widgetreports", json=report)
    result = await (
        await api.client.get(
            "/apis/test.sandbox.io/v1alpha1/namespaces/default/widgetreports", headers={"Accept": TABLE}
        )
    ).json()
    assert [c["name"] for c in result["columnDefinitions"]] == ["Name", "Pod", "Phase", "Confidence", "Age"]
    assert result["rows"][0]["cells"][:3] == ["r", "web", None]


async def read_events(response, count: int) -> list[dict]:
    events = []
    while len(events) < count:
        line = await asyncio.wait_for(response.content.readline(), 2)
        if not line:
            break
        events.append(json.loads(line))
    return events


async def test_watch_stream_from_resource_version_with_bookmarks(api: Api) -> None:
    listed = await (await api.client.get("/api/v1/namespaces/default/pods")).json()
    rv = listed["metadata"]["resourceVersion"]
    async with api.client.get(
        f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&allowWatchBookmarks=true"
    ) as response:
        await api.client.post("/api/v1/namespaces/default/pods", json=POD)
        events = await read_events(response, 2)
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert (
        events[1]["object"]["metadata"]["resourceVersion"]
        == events[0]["object"]["metadata"]["resourceVersion"]
    )


async def test_watch_too_old_resource_version_gets_410_error_event(api: Api) -> None:
    await api.client.post("/api/v1/namespaces/default/pods", json=POD)
    api.store.compact()
    async with api.client.get("/api/v1/namespaces/default/pods?watch=true&resourceVersion=1") as response:
        assert response.status == 200
        events = await read_events(response, 2)
    assert events == [{"type": "ERROR", "object": events[0]["object"]}]
    assert (events[0]["object"]["code"], events[0]["object"]["reason"]) == (410, "Expired")


async def test_watch_timeout_ends_the_stream(api: Api) -> None:
    async with api.client.get(
        "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1&resourceVersion=1"
    ) as response:
        assert await read_events(response, 1) == []


async def test_pod_logs_current_previous_and_tail(api: Api) -> None:
    await api.client.post("/api/v1/namespaces/default/pods", json=SCHEDULED)
    api.logs.write("default", "web", "app", 0, ["boot 1", "Connection refused to redis:6379"])
    api.logs.write("default", "web", "app", 1, ["boot 2"])
    crashed = {"terminated": {"exitCode": 1, "reason": "Error", "containerID": "containerd://0"}}
    status = {
        "status": {
            "containerStatuses": [
                {
                    "name": "app",
                    "restartCount": 1,
                    "ready": False,
                    "state": {"running": {}},
                    "lastState": crashed,
                }
            ]
        }
    }
    await api.client.patch(
        "/api/v1/namespaces/default/pods/web/status",
        data=json.dumps(status),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert await (await api.client.get("/api/v1/namespaces/default/pods/web/log")).text() == "boot 2\n"
    previous = await api.client.get("/api/v1/namespaces/default/pods/web/log?previous=true&tailLines=1")
    assert await previous.text() == "Connection refused to redis:6379\n"
    bad = await api.client.get("/api/v1/namespaces/default/pods/web/log?container=nope")
    assert bad.status == 400
    assert (await bad.json())["message"] == "container nope is not valid for pod web"


async def test_logs_of_a_container_never_started(api: Api) -> None:
    """As a real API server and kubelet answer: nothing for a pod no node runs, the kubelet's words for a
    container that waits to start."""
    await api.client.post("/api/v1/namespaces/default/pods", json=POD)
    unscheduled = await api.client.get("/api/v1/namespaces/default/pods/web/log")
    assert (unscheduled.status, await unscheduled.text()) == (204, "")
    await api.client.post("/api/v1/namespaces/default/pods", json={**SCHEDULED, "metadata": {"name": "api"}})
    logs = "/api/v1/namespaces/default/pods/api/log"
    created = await api.client.get(logs)
    assert (await created.json())[
        "message"
    ] == 'container "app" in pod "api" is waiting to start: ContainerCreating'
    waiting = {"name": "app", "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}
    await api.client.patch(
        "/api/v1/namespaces/default/pods/api/status",
        data=json.dumps({"status": {"containerStatuses": [waiting]}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    pulling = await api.client.get(logs)
    assert pulling.status == 400
    assert (await pulling.json())[
        "message"
    ] == 'container "app" in pod "api" is waiting to start: trying and failing to pull image'
    previous = await api.client.get(logs + "?previous=true")
    assert (await previous.json())["message"] == 'previous terminated container "app" in pod "api" not found'


async def test_injected_errors_and_retry_after(api: Api) -> None:
    fault = {
        "errors": [
            {
                "code": 429,
                "count": 1,
                "pathPrefix": "/api/v1/namespaces/default/pods",
                "verb": "list",
                "retryAfter": 2,
            }
        ]
    }
    assert (await api.client.post("/sandbox/faults", json=fault)).status == 200
    throttled = await api.client.get("/api/v1/namespaces/default/pods")
    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "2"
    assert (await api.client.get("/api/v1/namespaces/default/pods")).status == 200
    await api.client.post("/sandbox/faults", json={"errors": [{"code": 500, "count": 5}]})
    assert (await api.client.get("/api/v1/namespaces/default/configmaps")).status == 500
    await api.client.delete("/sandbox/faults")
    assert (await api.client.get("/api/v1/namespaces/default/configmaps")).status == 200
    rejected = await api.client.post("/sandbox/faults", json={"errors": [{"code": 500, "count": 0}]})
    assert rejected.status == 400


async def test_dropping_watches_closes_open_streams(api: Api) -> None:
    async with api.client.get("/api/v1/namespaces/default/pods?watch=true&resourceVersion=1") as response:
        dropped = await (await api.client.post("/sandbox/faults", json={"dropWatches": True})).json()
        assert dropped["droppedWatches"] == 1
        assert await asyncio.wait_for(response.content.read(), 2) == b""


async def test_scale_subresource(api: Api) -> None:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "shop:1"}]},
    }
    deployment = {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template},
    }
    await api.client.post("/apis/apps/v1/namespaces/default/deployments", json=deployment)
    scaled = await api.client.patch(
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        data=json.dumps({"spec": {"replicas": 3}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert (await scaled.json())["spec"]["replicas"] == 3
    current = await (await api.client.get("/apis/apps/v1/namespaces/default/deployments/web")).json()
    assert current["spec"]["replicas"] == 3
    assert current["metadata"]["generation"] == 2


async def test_follow_streams_new_lines_until_the_container_stops(api: Api) -> None:
    await api.client.post("/api/v1/namespaces/default/pods", json=SCHEDULED)
    running = {
        "status": {
            "containerStatuses": [{"name": "app", "restartCount": 0, "ready": True, "state": {"running": {}}}]
        }
    }
    headers = {"Content-Type": "application/merge-patch+json"}
    await api.client.patch(
        "/api/v1/namespaces/default/pods/web/status", data=json.dumps(running), headers=headers
    )
    api.logs.write("default", "web", "app", 0, ["first"])
    async with api.client.get("/api/v1/namespaces/default/pods/web/log?follow=true") as response:
        assert await asyncio.wait_for(response.content.readline(), 2) == b"first\n"
        api.logs.write("default", "web", "app", 0, ["second"])
        assert await asyncio.wait_for(response.content.readline(), 2) == b"second\n"
        stopped = {
            "status": {
                "containerStatuses": [
                    {
                        "name": "app",
                        "restartCount": 0,
                        "ready": False,
                        "state": {"terminated": {"exitCode": 1}},
                    }
                ]
            }
        }
        await api.client.patch(
            "/api/v1/namespaces/default/pods/web/status", data=json.dumps(stopped), headers=headers
        )
        assert await asyncio.wait_for(response.content.read(), 2) == b""


async def test_injected_latency_slows_matching_requests(api: Api) -> None:
    await api.client.post(
        "/sandbox/faults", json={"latencySeconds": 0.3, "latencyPathPrefix": "/api/v1/namespaces"}
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await api.client.get("/api/v1/namespaces/default/pods")
    assert loop.time() - started >= 0.3


async def test_aggregated_discovery_for_clients_that_ask_for_it(api: Api) -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    response = await api.client.get("/apis", headers={"Accept": accept})
    assert (
        response.headers["Content-Type"]
        == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    groups = {g["metadata"]["name"]: g for g in (await response.json())["items"]}
    deployments = next(
        r for r in groups["apps"]["versions"][0]["resources"] if r["resource"] == "deployments"
    )
    assert deployments["scope"] == "Namespaced"
    assert deployments["shortNames"] == ["deploy"]
    assert {
        "subresource": "scale",
        "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
        "verbs": ["get", "patch", "update"],
    } in deployments["subresources"]
    core = await (await api.client.get("/api", headers={"Accept": accept})).json()
    assert [g["metadata"]["name"] for g in core["items"]] == [""]


async def test_watch_list_sends_initial_events_then_a_bookmark(api: Api) -> None:
    await api.client.post("/api/v1/namespaces/default/pods", json=POD)
    url = "/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    async with api.client.get(url) as response:
        added, bookmark = await read_events(response, 2)
    assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "web")
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_a_client_leaving_a_quiet_watch_releases_it() -> None:
    store = Store()
    runner = web.AppRunner(build_app(store, PodLogs(), Faults(), bookmark_interval=0.1))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", runner.addresses[0][1])
        writer.write(
            b"GET /api/v1/namespaces/default/pods?watch=true&resourceVersion=1 HTTP/1.1\r\nHost: sandbox\r\n\r\n"
        )
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.close()
        await asyncio.sleep(0.6)  # a few bookmark intervals: the server notices the closed connection
        assert store.close_watches() == 0
    finally:
        await runner.cleanup()


async def test_clients_hanging_up_on_streams_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """`kubectl rollout status` ending or Ctrl-C on `kubectl logs -f` leaves no traceback in the server log."""
    store, logs = Store(), PodLogs()
    runner = web.AppRunner(build_app(store, logs, Faults(), bookmark_interval=0.1))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    pods = store.resource("pods")
    await store.create(pods, SCHEDULED)
    running = {"containerStatuses": [{"name": "app", "restartCount": 0, "state": {"running": {}}}]}
    await store.patch(
        pods, "default", "web", "application/merge-patch+json", {"status": running}, subresource="status"
    )
    logs.write("default", "web", "app", 0, ["first"])

    async def hang_up_on(path: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", runner.addresses[0][1])
        writer.write(f"GET {path} HTTP/1.1\r\nHost: sandbox\r\n\r\n".encode())
        await writer.drain()
        assert (await asyncio.wait_for(reader.readline(), 2)).startswith(b"HTTP/1.1 200")
        writer.transport.abort()

    try:
        await hang_up_on("/api/v1/namespaces/default/pods?watch=true&resourceVersion=1")
        await hang_up_on("/api/v1/namespaces/default/pods/web/log?follow=true")
        for i in range(3):  # the server writes to both streams after their clients left
            await store.patch(
                pods,
                "default",
                "web",
                "application/merge-patch+json",
                {"metadata": {"labels": {"n": str(i)}}},
            )
            logs.write("default", "web", "app", 0, [f"line {i}"])
            await asyncio.sleep(0.3)
        assert store.close_watches() == 0
    finally:
        await runner.cleanup()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
