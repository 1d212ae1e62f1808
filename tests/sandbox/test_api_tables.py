"""Table printing: the STATUS, READY and RESTARTS kubectl shows, computed like kube's pod printer."""

from datetime import UTC, datetime

import pytest

from smart_sre_sandbox.resources import BUILTIN_TYPES
from smart_sre_sandbox.tables import human_duration, jsonpath, table

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
PODS = next(t for t in BUILTIN_TYPES if t.kind == "Pod")


def pod(statuses: list[dict], *, phase: str = "Running", deleting: bool = False, **status: object) -> dict:
    meta = {"name": "web", "creationTimestamp": "2026-01-01T11:55:00Z"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T12:00:00Z"
    containers = [{"name": s["name"], "image": "x"} for s in statuses] or [{"name": "app", "image": "x"}]
    return {
        "metadata": meta,
        "spec": {"containers": containers, "nodeName": "node-1"},
        "status": {"phase": phase, "containerStatuses": statuses, **status},
    }


def running(name: str = "app", ready: bool = True, restarts: int = 0) -> dict:
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {"startedAt": "2026-01-01T11:56:00Z"}},
    }


def row(obj: dict) -> list:
    return table(PODS, [obj], now=NOW)["rows"][0]["cells"]


@pytest.mark.parametrize(
    ("obj", "ready", "status", "restarts"),
    [
        (pod([running()]), "1/1", "Running", "0"),
        (pod([running(), running("side", ready=False)]), "1/2", "Running", "0"),
        (pod([], phase="Pending"), "0/1", "Pending", "0"),
        (
            pod(
                [
                    {
                        "name": "app",
                        "ready": False,
                        "restartCount": 4,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {
                            "terminated": {
                                "exitCode": 1,
                                "reason": "Error",
                                "finishedAt": "2026-01-01T11:59:00Z",
                            }
                        },
                    }
                ]
            ),
            "0/1",
            "CrashLoopBackOff",
            "4 (60s ago)",
        ),
        (
            pod(
                [
                    {
                        "name": "app",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"waiting": {"reason": "ImagePullBackOff"}},
                    }
                ],
                phase="Pending",
            ),
            "0/1",
            "ImagePullBackOff",
            "0",
        ),
        (
            pod(
                [
                    {
                        "name": "app",
                        "ready": False,
                        "restartCount": 1,
                        "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
                    }
                ]
            ),
            "0/1",
            "OOMKilled",
            "1",
        ),
        (
            pod(
                [
                    {
                        "name": "app",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                    }
                ],
                phase="Succeeded",
            ),
            "0/1",
            "Completed",
            "0",
        ),
        (
            pod(
                [
                    {
                        "name": "app",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"terminated": {"exitCode": 3}},
                    }
                ],
                phase="Failed",
            ),
            "0/1",
            "ExitCode:3",
            "0",
        ),
        (pod([running()], deleting=True), "1/1", "Terminating", "0"),
        (
            pod(
                [],
                phase="Pending",
                initContainerStatuses=[
                    {"name": "init", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
                ],
            ),
            "0/1",
            "Init:0/0",
            "0",
        ),
    ],
)
def test_pod_columns(obj: dict, ready: str, status: str, restarts: str) -> None:
    cells = row(obj)
    assert cells[1:4] == [ready, status, restarts]
    assert cells[4] == "5m"


def test_pod_table_shape() -> None:
    result = table(PODS, [pod([running()])], now=NOW, resource_version="7")
    assert result["kind"] == "Table"
    assert result["apiVersion"] == "meta.k8s.io/v1"
    names = [(c["name"], c["priority"]) for c in result["columnDefinitions"]]
    assert names[:5] == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0)]
    assert ("Node", 1) in names
    assert result["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (50 * 3600, "2d2h"),
        (400 * 86400, "400d"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_printer_column_jsonpath() -> None:
    obj = {
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Done", "status": "True"}]},
        "items": [1, 2],
    }
    assert jsonpath(obj, '.status.conditions[?(@.type=="Done")].status') == "True"
    assert jsonpath(obj, ".items[1]") == 2
    assert jsonpath(obj, ".status.missing") is None
