"""Probes of every kind (liveness, readiness, startup) and handler (httpGet, tcpSocket, grpc, exec): a fix
uses only what the facts show working (a port the app logs it listens on, a path another probe of the
container passes with or its access log shows served); without one, the safer tcpSocket form on a port
that answered, a startup probe for an app killed while starting, or findings that say what is missing.
Each mechanism over varied names, namespaces, runtimes and kubelet wordings."""

from __future__ import annotations

import json

import pytest

from smart_sre.api.common import RootCause, Trigger
from smart_sre.api.debugpolicy import DEFAULT_ALLOWED_PATHS
from smart_sre.investigation.analyzers.base import Candidate
from smart_sre.investigation.listening import (
    configured_listens,
    listening,
    logged_seconds,
    served_paths,
    stated_start_seconds,
)
from smart_sre.investigation.patch_safety import path_allowed
from smart_sre_harness import builders

from .pods import config, deployed, investigate, on_sandbox, pod_event, vetted

KILLED = {"exitCode": 137, "reason": "Error"}


def _status(name: str, *, restarts: int = 4, ready: bool = False, last: dict | None = KILLED) -> dict:
    """A container status: crash-looping after `restarts` kills, or (no restarts) running and not Ready."""
    if restarts:
        state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}}
    else:
        state = {"running": {"startedAt": "2026-01-05T10:00:00Z"}}
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": state,
        "lastState": {"terminated": last} if restarts and last else {},
    }


def _container(name: str, image: str = "registry.local/app:1.0", **probes: dict) -> dict:
    return {"name": name, "image": image, **probes}


async def _probed(
    name: str,
    namespace: str,
    containers: list[dict],
    failures: list[tuple[str, str, str]],  # (container, kind, kubelet failure text)
    logs: dict[str, str] | None = None,
    *,
    statuses: list[dict] | None = None,
    killed: str = "",  # the kind whose Killing event the kubelet recorded
    extra: list[dict] | None = None,
    count: int = 3,  # how many times the event says each probe failed
) -> tuple:
    """Investigate a workload whose probes the kubelet reports failing; (cluster, chain, candidate)."""
    spec: dict = {"containers": containers}
    failing = {container for container, _, _ in failures}
    statuses = statuses or [_status(c) for c in failing]
    objects = deployed(name, namespace, spec, {"containerStatuses": statuses})
    pod = objects[-1]
    events = []
    for index, (container, kind, why) in enumerate(failures):
        event = pod_event(pod, "Unhealthy", f"{kind} probe failed: {why}", container)
        event["metadata"]["name"] += f".{index}"
        event["count"] = count
        events.append(event)
        if kind.lower() == killed:
            kill = pod_event(
                pod, "Killing", f"Container {container} failed {killed} probe, will be restarted"
            )
            kill["involvedObject"]["fieldPath"] = f"spec.containers{{{container}}}"
            events.append(kill)
    cluster, chain, _, found = await investigate(
        [*objects, *events, *(extra or [])], pod, Trigger.CRASH_LOOP_BACK_OFF, logs
    )
    probe = next((c for c in found if c.root_cause == RootCause.PROBE_FAILURE), None)
    assert probe is not None, [c.summary for c in found]
    return cluster, chain, probe, found


def _replaced(path: str, value: object) -> list[dict]:
    """The one operation of a fix that replaces the value at `path` under the pod template's spec."""
    return [{"op": "replace", "path": f"/spec/template/spec/{path}", "value": value}]


def _operations(candidate: Candidate) -> list[dict]:
    assert candidate.patch is not None, candidate.no_patch_reason
    return candidate.patch.operations


# --- Reading where a process listens --------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "port", "host"),
    [
        ("listening on :8080", 8080, ""),
        ('level=info msg="http server listening" addr=:9090', 9090, ""),
        ("INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)", 8000, "0.0.0.0"),
        ("[2026-01-05 10:00:00 +0000] [1] [INFO] Listening at: http://0.0.0.0:8000 (1)", 8000, "0.0.0.0"),
        ("Server listening on port 3000", 3000, ""),
        ("Tomcat started on port(s): 8080 (http) with context path ''", 8080, ""),
        ("o.s.b.web.embedded.netty.NettyWebServer  : Netty started on port 8081", 8081, ""),
        ("Now listening on: http://[::]:5000", 5000, "[::]"),
        ("* Listening on http://0.0.0.0:9292", 9292, "0.0.0.0"),
        (" * Running on http://127.0.0.1:5000", 5000, "127.0.0.1"),
        ("1:M 05 Jan 2026 10:00:00.001 * Running mode=standalone, port=6379.", 6379, ""),
        ('LOG:  listening on IPv4 address "0.0.0.0", port 5432', 5432, "0.0.0.0"),
        ("started TCP listener on [::]:5672", 5672, "[::]"),
        ("gRPC server listening at [::]:50051", 50051, "[::]"),
        ("Listening and serving HTTP on :8088", 8088, ""),
        ('{"msg":"MongoDB starting","attr":{"pid":1,"port":27017,"dbPath":"/data/db"}}', 27017, ""),
    ],
)
def test_listen_lines_of_every_runtime(line: str, port: int, host: str) -> None:
    (found,) = listening(line)
    assert (found.port, found.host) == (port, host)
    assert found.loopback == host.startswith("127.")


@pytest.mark.parametrize(
    "line",
    [
        "Starting connection pool to orders-db:5432",
        "starting worker for queue redis:6379",
        "Error: listen EADDRINUSE: address already in use :::8080",
        "Server started at 10:00:05",
        "Started Application in 27.3 seconds (process running for 28.1)",
        "INFO  [main] inventory.Application : Starting Application v1.0 using Java 21.0.5",
        "dial tcp 10.96.0.12:5432: connect: connection refused",
    ],
)
def test_dials_errors_times_and_versions_are_not_listens(line: str) -> None:
    assert listening(line) == []


def test_server_config_access_logs_and_start_up_times() -> None:
    nginx = (
        "server {\n  listen 8080;\n  listen [::]:8080 default_server;\n  location /ready { return 200; }\n}"
    )
    assert [listen.port for listen in configured_listens(nginx)] == [8080, 8080]
    access = "\n".join(
        [
            '10.244.1.1 - - [05/Jan/2026:10:00:00 +0000] "GET /ready HTTP/1.1" 200 2 "-" "kube-probe/1.31"',
            'INFO:     10.0.0.1:5000 - "GET /health HTTP/1.1" 404 Not Found',
            "GET /livez 200 3.2 ms - 2",
        ]
    )
    assert served_paths(access) == ["/ready", "/livez"]
    assert stated_start_seconds("Started Application in 95.2 seconds (process running for 96)") == 95.2
    assert stated_start_seconds("model warm-up takes ~3 minutes") == 180
    assert (
        logged_seconds("2026-01-05T10:00:00Z loading\nstill loading\n2026-01-05 10:00:42,500 loading") == 42.5
    )


# --- Wrong port -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "container", "kind", "handler", "probe_port", "log", "listens"),
    [
        (
            "finance",
            "api",
            "Liveness",
            "httpGet",
            8081,
            "INFO:     Uvicorn running on http://0.0.0.0:8080",
            8080,
        ),
        ("shop", "web", "Liveness", "tcpSocket", 80, "Server listening on port 3000", 3000),
        ("media", "encoder", "Readiness", "httpGet", 8080, "Tomcat started on port(s): 9000 (http)", 9000),
        ("edge", "gateway", "Liveness", "grpc", 9090, "gRPC server listening at [::]:50051", 50051),
        ("crm", "portal", "Startup", "httpGet", 5000, "Now listening on: http://[::]:5001", 5001),
        ("ruby", "store", "Liveness", "tcpSocket", 3000, "* Listening on http://0.0.0.0:9292", 9292),
    ],
)
async def test_a_probe_on_the_wrong_port_is_aimed_at_the_port_the_app_logs(
    namespace: str, container: str, kind: str, handler: str, probe_port: int, log: str, listens: int
) -> None:
    action = {"port": probe_port, **({"path": "/healthz"} if handler == "httpGet" else {})}
    field = f"{kind.lower()}Probe"
    app = _container(container, **{field: {handler: action, "periodSeconds": 5}})
    why = f"dial tcp 10.244.1.5:{probe_port}: connect: connection refused"
    if handler == "httpGet":
        why = f'Get "http://10.244.1.5:{probe_port}/healthz": {why}'
    sidecar = _container("proxy", "registry.local/envoy:1.30")
    readiness_only = kind == "Readiness"  # running, never restarted, not Ready
    cluster, chain, probe, found = await _probed(
        container,
        namespace,
        [sidecar, app],
        [(container, kind, why)],
        {container: f"booting\n{log}"},
        statuses=[_status(container, restarts=0)] if readiness_only else None,
        killed="" if readiness_only else kind.lower(),
    )
    assert found[0] is probe
    assert probe.score >= 0.85
    assert _operations(probe) == _replaced(f"containers/1/{field}/{handler}/port", listens)
    assert probe.summary.startswith(f"container {container}: {field}.{handler}.port {probe_port}")
    assert f"listens on {listens}" in probe.summary
    assert " ".join(log.split())[:30] in probe.summary
    await vetted(cluster, chain, probe)


async def test_a_named_probe_port_is_aimed_at_the_named_port_of_the_listening_number() -> None:
    ports = [{"name": "http", "containerPort": 8000}, {"name": "admin", "containerPort": 8001}]
    probe = {"httpGet": {"path": "/healthz", "port": "admin"}}
    app = {**_container("billing", livenessProbe=probe), "ports": ports}
    why = 'Get "http://10.1.2.3:8001/healthz": dial tcp 10.1.2.3:8001: connect: connection refused'
    log = "[INFO] Listening at: http://0.0.0.0:8000 (1)"
    cluster, chain, found, _ = await _probed(
        "billing", "payments", [app], [("billing", "Liveness", why)], {"billing": log}, killed="liveness"
    )
    assert _operations(found)[0]["value"] == "http"
    await vetted(cluster, chain, found)


# --- Wrong path -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "container", "liveness", "readiness", "expected"),
    [
        (
            "logistics",
            "tracker",
            {"path": "/health", "port": 8080},
            {"path": "/healthz", "port": 8080},
            "path",
        ),
        ("shop", "cart", {"path": "/alive", "port": "http"}, {"path": "/ready", "port": 3000}, "path"),
        ("media", "thumbs", {"path": "/status", "port": 8080}, {"path": "/", "port": 8080}, "path"),
        (
            "ops",
            "console",
            {"path": "/healthz", "port": 8080},
            {"path": "/actuator/health", "port": 9000},
            "handler",
        ),
        ("search", "indexer", {"path": "/ping", "port": 7000}, {"path": "/-/ready", "port": 7000}, "path"),
    ],
)
async def test_a_404_liveness_path_takes_the_path_the_passing_readiness_probe_uses(
    namespace: str, container: str, liveness: dict, readiness: dict, expected: str
) -> None:
    app = {
        **_container(
            container,
            livenessProbe={"httpGet": liveness, "periodSeconds": 10},
            readinessProbe={"httpGet": readiness, "periodSeconds": 5},
        ),
        "ports": [{"name": "http", "containerPort": 3000}],
    }
    cluster, chain, probe, _ = await _probed(
        container,
        namespace,
        [app],
        [(container, "Liveness", "HTTP probe failed with statuscode: 404")],
        {container: "started"},
        killed="liveness",
    )
    pointer = "/spec/template/spec/containers/0/livenessProbe/httpGet"
    if expected == "path":
        assert _operations(probe) == [
            {"op": "replace", "path": f"{pointer}/path", "value": readiness["path"]}
        ]
    else:
        assert _operations(probe) == [{"op": "replace", "path": pointer, "value": readiness}]
    assert f"livenessProbe.httpGet.path {liveness['path']} answers 404" in probe.summary
    assert "readinessProbe passes" in probe.summary
    await vetted(cluster, chain, probe)


async def test_a_path_the_access_log_shows_served_is_used_when_no_probe_passes() -> None:
    app = _container("docs", "nginx:1.27", livenessProbe={"httpGet": {"path": "/healthz", "port": 80}})
    log = '10.244.0.1 - - [05/Jan/2026:10:00:00 +0000] "GET /nginx-health HTTP/1.1" 200 2 "-" "curl/8.5"'
    cluster, chain, probe, _ = await _probed(
        "docs",
        "web",
        [app],
        [("docs", "Liveness", "HTTP probe failed with statuscode: 404")],
        {"docs": log},
        killed="liveness",
    )
    assert _operations(probe)[0]["value"] == "/nginx-health"
    await vetted(cluster, chain, probe)


@pytest.mark.parametrize(
    ("namespace", "container", "image", "port", "paths"),
    [
        ("web", "nginx", "nginx:1.27", 80, ("/healthz", "/ready")),
        ("docs", "site", "httpd:2.4", 8080, ("/live", "/ready")),
        ("shop", "front", "registry.local/front:3.1", "http", ("/health", "/healthz")),
        ("data", "api", "registry.local/api:0.9", 9000, ("/status", "/status")),
        ("ml", "serve", "registry.local/serve:2.0", 8501, ("/v1/health", "/v1/ready")),
    ],
)
async def test_when_no_path_is_shown_served_both_probes_become_tcp_checks_of_the_answering_port(
    namespace: str, container: str, image: str, port: int | str, paths: tuple[str, str]
) -> None:
    app = {
        **_container(
            container,
            image,
            livenessProbe={
                "httpGet": {"path": paths[0], "port": port},
                "periodSeconds": 7,
                "failureThreshold": 4,
            },
            readinessProbe={"httpGet": {"path": paths[1], "port": port}, "periodSeconds": 3},
        ),
        "ports": [{"name": "http", "containerPort": 8080}],
    }
    failures = [
        (container, "Liveness", "HTTP probe failed with statuscode: 404"),
        (container, "Readiness", "HTTP probe failed with statuscode: 404"),
    ]
    cluster, chain, probe, _ = await _probed(
        container, namespace, [app], failures, {container: "worker ready"}, killed="liveness"
    )
    operations = _operations(probe)
    for field in ("livenessProbe", "readinessProbe"):
        pointer = f"/spec/template/spec/containers/0/{field}"
        assert {"op": "remove", "path": f"{pointer}/httpGet"} in operations
        assert {"op": "add", "path": f"{pointer}/tcpSocket", "value": {"port": port}} in operations
    assert not any(op.get("path", "").endswith("/path") for op in operations)  # never an unproven path
    assert "no path is shown served" in probe.summary
    await vetted(cluster, chain, probe)


# --- Exec probes ----------------------------------------------------------------------------------

_OCI = (
    "OCI runtime exec failed: exec failed: unable to start container process: "
    'exec: "{0}": executable file not found in $PATH: unknown'
)


@pytest.mark.parametrize(
    ("namespace", "container", "command", "why", "log", "port"),
    [
        (
            "shop",
            "web",
            ["curl", "-f", "localhost:8080/healthz"],
            _OCI.format("curl"),
            "listening on :8080",
            8080,
        ),
        (
            "ml",
            "model",
            ["sh", "-c", "wget -qO- localhost:8000"],
            "sh: wget: not found",
            "Uvicorn running on http://0.0.0.0:8000",
            8000,
        ),
        (
            "ops",
            "agent",
            ["bash", "-c", "pgrep agent"],
            "bash: line 1: pgrep: command not found",
            "Server listening on port 3000",
            3000,
        ),
        (
            "db",
            "proxy",
            ["/bin/health"],
            'exec: "/bin/health": stat /bin/health: no such file or directory',
            "started TCP listener on [::]:6432",
            6432,
        ),
        (
            "api",
            "core",
            ["grpc_health_probe", "-addr=:9090"],
            "command failed: exit code 127",
            "gRPC server listening at [::]:9090",
            9090,
        ),
    ],
)
async def test_an_exec_probe_whose_command_the_image_lacks_checks_the_listening_port(
    namespace: str, container: str, command: list[str], why: str, log: str, port: int
) -> None:
    app = _container(container, livenessProbe={"exec": {"command": command}, "periodSeconds": 15})
    cluster, chain, probe, _ = await _probed(
        container, namespace, [app], [(container, "Liveness", why)], {container: log}, killed="liveness"
    )
    pointer = "/spec/template/spec/containers/0/livenessProbe"
    assert _operations(probe) == [
        {"op": "remove", "path": f"{pointer}/exec"},
        {"op": "add", "path": f"{pointer}/tcpSocket", "value": {"port": port}},
    ]
    assert "is not in the image" in probe.summary
    await vetted(cluster, chain, probe)


async def test_an_exec_probe_whose_command_is_missing_and_no_port_is_known_gets_findings() -> None:
    app = _container("worker", livenessProbe={"exec": {"command": ["pidof", "worker"]}})
    _, _, probe, _ = await _probed(
        "queue",
        "jobs",
        [app],
        [("worker", "Liveness", _OCI.format("pidof"))],
        {"worker": "consuming jobs"},
        killed="liveness",
    )
    assert probe.patch is None
    assert "pidof is not in the image" in probe.summary
    assert "no port the app listens on" in probe.no_patch_reason


@pytest.mark.parametrize(
    ("command", "why", "log", "index", "value"),
    [
        (
            ["redis-cli", "-p", "6380", "ping"],
            "Could not connect to Redis at 127.0.0.1:6380: Connection refused",
            "Running mode=standalone, port=6379.",
            2,
            "6379",
        ),
        (
            ["sh", "-c", "nc -z localhost 8081"],
            "nc: connect to localhost port 8081 (tcp) failed: Connection refused",
            "listening on :8080",
            2,
            "nc -z localhost 8080",
        ),
        (
            ["pg_isready", "-h", "127.0.0.1", "-p", "5433"],
            "127.0.0.1:5433 - no response",
            'listening on IPv4 address "0.0.0.0", port 5432',
            4,
            "5432",
        ),
        (
            ["wget", "-q", "http://127.0.0.1:9001/health"],
            "wget: can't connect to remote host (127.0.0.1:9001): Connection refused",
            "Server listening on port 9000",
            2,
            "http://127.0.0.1:9000/health",
        ),
        (
            ["curl", "-sf", "localhost:3001/ping"],
            "curl: (7) Failed to connect to localhost port 3001 after 0 ms: Couldn't connect to server",
            "Now listening on: http://[::]:3000",
            2,
            "localhost:3000/ping",
        ),
    ],
)
async def test_an_exec_probe_dialling_the_wrong_port_is_aimed_at_the_listening_port(
    command: list[str], why: str, log: str, index: int, value: str
) -> None:
    app = _container("store", livenessProbe={"exec": {"command": command}})
    cluster, chain, probe, _ = await _probed(
        "store", "cache", [app], [("store", "Liveness", why)], {"store": log}, killed="liveness"
    )
    assert _operations(probe) == _replaced(f"containers/0/livenessProbe/exec/command/{index}", value)
    await vetted(cluster, chain, probe)


# --- Slow start -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "container", "log", "probe", "ports", "env", "budget"),
    [
        (
            "stock",
            "inventory",
            "INFO  [main] inventory.Application : Starting Application v1.0 using Java 21.0.5",
            {
                "httpGet": {"path": "/actuator/health", "port": 8080},
                "periodSeconds": 5,
                "failureThreshold": 3,
            },
            [{"containerPort": 8080}],
            [],
            300,
        ),
        (
            "ml",
            "model",
            "INFO:model:loading weights (this takes about 240 seconds)",
            {"tcpSocket": {"port": "http"}, "periodSeconds": 10},
            [{"name": "http", "containerPort": 8000}],
            [],
            480,
        ),
        (
            "search",
            "elastic",
            "[2026-01-05T10:00:00,000][INFO ][o.e.n.Node] initializing ...",
            {
                "httpGet": {"path": "/_cluster/health", "port": 9200},
                "initialDelaySeconds": 10,
                "periodSeconds": 10,
            },
            [],
            [{"name": "HTTP_PORT", "value": "9200"}],
            300,
        ),
        (
            "shop",
            "catalog",
            "> catalog@2.1.0 start\n> node server.js\nwarming caches",
            {"httpGet": {"path": "/healthz", "port": 3000}, "periodSeconds": 30, "failureThreshold": 5},
            [{"containerPort": 3000}],
            [],
            480,
        ),
        (
            "erp",
            "legacy",
            "2026-01-05 10:00:00 booting\n2026-01-05 10:01:40 migrating schema, please wait",
            {"grpc": {"port": 50051}, "periodSeconds": 20, "failureThreshold": 2},
            [{"containerPort": 50051}],
            [],
            400,
        ),
    ],
)
async def test_an_app_killed_by_liveness_while_starting_gets_a_startup_probe_and_keeps_its_port(
    namespace: str, container: str, log: str, probe: dict, ports: list, env: list, budget: int
) -> None:
    app = {**_container(container, livenessProbe=probe), "ports": ports, "env": env}
    handler = next(h for h in ("httpGet", "tcpSocket", "grpc") if h in probe)
    why = f"dial tcp 10.244.2.7:{probe[handler]['port']}: connect: connection refused"
    cluster, chain, found, _ = await _probed(
        container, namespace, [app], [(container, "Liveness", why)], {container: log}, killed="liveness"
    )
    (operation,) = _operations(found)
    assert operation["op"] == "add"
    assert operation["path"] == "/spec/template/spec/containers/0/startupProbe"
    startup = operation["value"]
    assert startup[handler] == probe[handler]  # the same check, on the same port
    assert startup["failureThreshold"] * startup["periodSeconds"] >= budget
    assert not any("port" in op["path"] for op in _operations(found))
    assert "killed it" in found.summary
    assert found.score >= 0.6
    await vetted(cluster, chain, found)


@pytest.mark.parametrize(
    ("container", "startup", "ports", "log", "threshold", "said"),
    [
        (
            "ledger",
            {"httpGet": {"path": "/started", "port": 8080}, "periodSeconds": 5, "failureThreshold": 6},
            [{"containerPort": 8080}],
            "Loading ledger\nReplaying the journal; startup takes ~95.4 seconds",
            39,  # twice the 95.4 s it states, in 5 s periods
            "95.4s",
        ),
        (
            "claims",
            {"httpGet": {"path": "/actuator/health/liveness", "port": "http"}, "periodSeconds": 10},
            [{"name": "http", "containerPort": 8080}],
            "INFO [main] c.e.claims.rules.RuleCache : warming rule cache (41,822 rules)",
            30,  # unknown: 300 s
            "do not say how long",
        ),
        (
            "geo",
            {
                "tcpSocket": {"port": 7000},
                "initialDelaySeconds": 10,
                "periodSeconds": 2,
                "failureThreshold": 5,
            },
            [{"containerPort": 7000}],
            'level=info msg="building spatial index"',
            145,  # unknown: 300 s after the 10 s delay, in 2 s periods
            "killed after 18s",
        ),
        (
            "ranker",
            {"grpc": {"port": 50051}, "periodSeconds": 15, "failureThreshold": 4},
            [{"containerPort": 50051}],
            "INFO:ranker:loading model, this takes about 4 minutes",
            32,  # twice the 240 s it states
            "240s",
        ),
        (
            "archive",
            {"tcpSocket": {"port": "data"}, "periodSeconds": 30, "failureThreshold": 10},
            [{"name": "data", "containerPort": 9400}],
            "replaying 1.2 TB of segments",
            36,  # unknown, and the kubelet already allowed 270 s: four times that
            "killed after 270s",
        ),
    ],
)
async def test_an_impatient_startup_probe_gets_a_larger_failure_threshold(
    container: str, startup: dict, ports: list, log: str, threshold: int, said: str
) -> None:
    app = {**_container(container, startupProbe=startup), "ports": ports}
    handler = next(h for h in ("httpGet", "tcpSocket", "grpc") if h in startup)
    why = "dial tcp 10.244.1.9:8080: connect: connection refused"
    if handler == "httpGet":
        why = f'Get "http://10.244.1.9:8080{startup[handler]["path"]}": {why}'
    cluster, chain, found, _ = await _probed(
        container, "batch", [app], [(container, "Startup", why)], {container: log}, killed="startup"
    )
    assert _operations(found) == [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/startupProbe/failureThreshold",
            "value": threshold,
        }
    ]
    assert found.summary.startswith(f"container {container}: startupProbe on port")
    assert said in found.summary
    await vetted(cluster, chain, found)


# --- Findings only ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "probe", "why", "log", "said"),
    [
        (
            "nothing known",
            {"httpGet": {"path": "/healthz", "port": 8080}},
            "dial tcp 10.1.1.1:8080: connect: connection refused",
            "worker started",
            "do not show which port",
        ),
        (
            "loopback bind",
            {"httpGet": {"path": "/", "port": 5000}},
            "dial tcp 10.1.1.1:5000: connect: connection refused",
            " * Running on http://127.0.0.1:5000",
            "all addresses",
        ),
        (
            "app unhealthy",
            {"httpGet": {"path": "/healthz", "port": 8080}},
            "HTTP probe failed with statuscode: 500",
            "listening on :8080",
            "reports itself unhealthy",
        ),
        (
            "two servers",
            {"tcpSocket": {"port": 7000}},
            "dial tcp 10.1.1.1:7000: connect: connection refused",
            "http listening on :8080\ngrpc listening on :9090",
            "8080, 9090",
        ),
        (
            "exec output",
            {"exec": {"command": ["cat", "/tmp/healthy"]}},
            "cat: can't open '/tmp/healthy': No such file or directory",
            "listening on :8080",
            "does not show what it should check",
        ),
    ],
)
async def test_without_a_working_value_the_probe_gets_findings_that_say_what_is_missing(
    case: str, probe: dict, why: str, log: str, said: str
) -> None:
    app = _container("app", livenessProbe=probe)
    _, _, found, _ = await _probed(
        "svc", "team-a", [app], [("app", "Liveness", why)], {"app": log}, killed="liveness"
    )
    assert found.patch is None, case
    assert said in found.no_patch_reason, found.no_patch_reason
    assert found.summary.startswith("container app: livenessProbe")


@pytest.mark.parametrize(
    ("kind", "exit_code", "log"),
    [
        ("Readiness", 1, "Error: connect ECONNREFUSED 10.96.0.12:5432"),
        ("Readiness", 2, "error: unknown option '--debug'"),
        ("Liveness", 1, "KeyError: 'DATABASE_URL'"),
        ("Readiness", 127, "sh: python3: not found"),
        ("Liveness", 255, "panic: runtime error: invalid memory address or nil pointer dereference"),
    ],
)
async def test_probes_of_a_container_that_exits_on_its_own_rank_below_its_exit(
    kind: str, exit_code: int, log: str
) -> None:
    field = f"{kind.lower()}Probe"
    app = _container("worker", **{field: {"httpGet": {"path": "/healthz", "port": 8080}}})
    why = 'Get "http://10.1.0.7:8080/healthz": dial tcp 10.1.0.7:8080: connect: connection refused'
    status = _status("worker", last={"exitCode": exit_code, "reason": "Error"})
    _, _, found, _ = await _probed(
        "worker", "jobs", [app], [("worker", kind, why)], {"worker": log}, statuses=[status]
    )
    assert found.score < 0.3  # a symptom: the generic "exits with code N" outranks it
    assert found.symptom  # and the model is never asked whether it is the cause


async def test_a_readiness_probe_of_a_running_container_uses_the_port_its_passing_liveness_probe_checks() -> (
    None
):
    probes = {
        "livenessProbe": {"tcpSocket": {"port": 8443}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
    }
    why = 'Get "http://10.1.0.4:8080/ready": dial tcp 10.1.0.4:8080: connect: connection refused'
    cluster, chain, found, _ = await _probed(
        "front",
        "portal",
        [_container("front", **probes)],
        [("front", "Readiness", why)],
        statuses=[_status("front", restarts=0)],
        count=12,  # 12 failures 5 s apart: it ran a minute, and liveness (no failure) passed meanwhile
    )
    assert _operations(found) == _replaced("containers/0/readinessProbe/httpGet/port", 8443)
    assert "livenessProbe passes on it" in found.summary
    await vetted(cluster, chain, found)


async def test_the_probe_of_a_sidecar_init_container_is_fixed_in_its_own_list() -> None:
    sidecar = {
        **_container(
            "envoy", "envoyproxy/envoy:v1.30", livenessProbe={"httpGet": {"path": "/ready", "port": 9902}}
        ),
        "restartPolicy": "Always",
    }
    app = _container("app")
    statuses = [_status("envoy"), {**_status("app", restarts=0), "ready": True}]
    why = 'Get "http://10.1.0.4:9902/ready": dial tcp 10.1.0.4:9902: connect: connection refused'
    objects_logs = {
        "envoy": "starting main dispatch loop\nall clusters initialized. listening on 0.0.0.0:9901"
    }
    spec = {"initContainers": [sidecar], "containers": [app]}
    objects = deployed(
        "mesh", "edge", spec, {"initContainerStatuses": statuses[:1], "containerStatuses": statuses[1:]}
    )
    pod = objects[-1]
    event = pod_event(pod, "Unhealthy", f"Liveness probe failed: {why}")
    event["involvedObject"]["fieldPath"] = "spec.initContainers{envoy}"
    cluster, chain, _, found = await investigate(
        [*objects, event], pod, Trigger.CRASH_LOOP_BACK_OFF, objects_logs
    )
    probe = next(c for c in found if c.root_cause == RootCause.PROBE_FAILURE)
    assert _operations(probe) == _replaced("initContainers/0/livenessProbe/httpGet/port", 9901)
    assert probe.summary.startswith("container envoy:")
    await vetted(cluster, chain, probe)


@pytest.mark.parametrize(
    "path",
    [
        "/spec/template/spec/containers/0/startupProbe",
        "/spec/template/spec/containers/2/livenessProbe/tcpSocket",
        "/spec/template/spec/containers/1/readinessProbe/httpGet/path",
        "/spec/template/spec/initContainers/0/livenessProbe/httpGet/port",
        "/spec/template/spec/initContainers/1/startupProbe/failureThreshold",
        "/spec/template/spec/containers/0/livenessProbe/exec/command/2",
    ],
)
def test_the_default_policy_allows_every_probe_fix(path: str) -> None:
    assert path_allowed("Deployment", path, DEFAULT_ALLOWED_PATHS)


async def test_nginx_config_in_a_configmap_shows_the_listening_port() -> None:
    site = config(
        "ConfigMap",
        "site-conf",
        "web",
        {"default.conf": "server {\n  listen 8080;\n  root /usr/share/nginx/html;\n}\n"},
    )
    app = {
        **_container("nginx", "nginx:1.27", livenessProbe={"tcpSocket": {"port": 80}}),
        "volumeMounts": [{"name": "conf", "mountPath": "/etc/nginx/conf.d"}],
    }
    objects_extra = [site]
    why = "dial tcp 10.1.0.8:80: connect: connection refused"
    spec_volume = {"name": "conf", "configMap": {"name": "site-conf"}}
    cluster, chain, found, _ = await _probed_with_volume(app, spec_volume, why, objects_extra)
    assert _operations(found)[0]["value"] == 8080
    assert "ConfigMap site-conf" in found.summary
    await vetted(cluster, chain, found)


async def _probed_with_volume(app: dict, volume: dict, why: str, extra: list[dict]):
    spec = {"containers": [app], "volumes": [volume]}
    objects = deployed("site", "web", spec, {"containerStatuses": [_status(app["name"])]})
    pod = objects[-1]
    events = [pod_event(pod, "Unhealthy", f"Liveness probe failed: {why}", app["name"])]
    cluster, chain, _, found = await investigate(
        [*objects, *events, *extra],
        pod,
        Trigger.CRASH_LOOP_BACK_OFF,
        {app["name"]: "nginx: start worker processes"},
    )
    return cluster, chain, next(c for c in found if c.root_cause == RootCause.PROBE_FAILURE), found


# --- On the sandbox -----------------------------------------------------------------------------


def test_a_slow_starter_killed_by_liveness_is_healed_by_the_offered_startup_probe(sandbox) -> None:
    image = {
        "apiVersion": "sandbox.smartsre.io/v1alpha1",
        "kind": "SandboxImage",
        "metadata": {"name": "registry.local/warehouse"},
        "spec": {"tags": ["3.2"], "language": "java", "entrypoint": "java", "startSeconds": 45},
    }
    liveness = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5, "failureThreshold": 3}
    deployment = builders.deployment(
        "warehouse", image="registry.local/warehouse:3.2", labels={"app": "warehouse"}
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container.update(ports=[{"containerPort": 8080}], livenessProbe=liveness)
    sandbox.apply([image, deployment])

    def crash_looping() -> dict | None:
        for pod in sandbox.list("pods", "default", label_selector="app=warehouse"):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                if ((status.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff":
                    return pod
        return None

    pod = sandbox.wait_for(crash_looping, timeout=30)
    conclusion = on_sandbox(sandbox, pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert conclusion.findings.root_cause == RootCause.PROBE_FAILURE
    assert "container app: livenessProbe on port 8080" in conclusion.findings.summary
    patch = conclusion.suggested_patch
    assert patch is not None, conclusion.no_patch_reason
    operations = [op.model_dump(mode="json", by_alias=True, exclude_none=True) for op in patch.operations]
    added = next(op for op in operations if op["op"] == "add")
    assert added["path"] == "/spec/template/spec/containers/0/startupProbe"
    assert added["value"]["httpGet"].items() >= liveness["httpGet"].items()  # the same check and port
    sandbox.kubectl(
        "patch", "deployment/warehouse", "-n", "default", "--type=json", "-p", json.dumps(operations)
    )

    def ready() -> bool:
        pods = sandbox.list("pods", "default", label_selector="app=warehouse")
        return any(
            pod["spec"]["containers"][0].get("startupProbe")
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (pod.get("status") or {}).get("conditions") or []
            )
            for pod in pods
        )

    sandbox.wait_for(ready, timeout=30)
