"""What a pod's containers share and what they may touch, as Linux and the kubelet decide it: one network
namespace (a port two containers bind: EADDRINUSE), node ports (hostPort: kube-scheduler's NodePorts), the
image's root-owned files (a uid other than root: EACCES), a subPath naming a key the ConfigMap lacks (an
empty directory) and the files a program opens at start (sim/images.py, files.py, scheduling.py)."""

from __future__ import annotations

import pytest

from smart_sre_sandbox.sim import files
from smart_sre_sandbox.sim.images import Catalogue, Container, ImageSpec, Run, image_spec, program
from smart_sre_sandbox.sim.network import Network
from smart_sre_sandbox.sim.scheduling import Placement, host_ports, ports_conflict, schedule
from smart_sre_sandbox.sim.shell import run

CATALOGUE = Catalogue()
NETWORK = Network([], [], {})
CONFIG = {("shop", "relay-config"): {"data": {"relay.yml": "port: 4318\n"}}}


def pod(*volumes: dict) -> dict:
    return {
        "metadata": {"name": "api-0", "namespace": "shop", "uid": "u1"},
        "spec": {"volumes": list(volumes), "containers": []},
    }


def start(
    image: str | ImageSpec,
    command: list[str] | None = None,
    *,
    env: dict[str, str] | None = None,
    uid: int | None = 0,
    pod_spec: dict | None = None,
    mounts: list[dict] | None = None,
    ports_in_use: frozenset[int] = frozenset(),
) -> Run:
    spec = image if isinstance(image, ImageSpec) else CATALOGUE.lookup(image)
    assert spec is not None, image
    container = {"volumeMounts": mounts or []}
    filesystem = files.mount(
        pod_spec or pod(), container, spec.files, CONFIG, {}, [], uid, spec.owned_by(uid)
    )
    name = image if isinstance(image, str) else f"{spec.repository}:{spec.tags[0]}"
    process = Container(
        "app",
        name,
        command or [],
        [],
        env or {},
        None,
        "shop",
        "10.244.1.4",
        files=filesystem,
        uid=uid,
        ports_in_use=ports_in_use,
    )
    return run(spec, process, NETWORK)


def output(result: Run) -> list[str]:
    return result.logs + result.exit_logs


@pytest.mark.parametrize(
    ("image", "lines"),
    [
        (
            "busybox:1.36",
            [
                "touch: /var/lib/marker: Permission denied",
                "mkdir: can't create directory '/opt/data': Permission denied",
                "sh: can't create /etc/app.conf: Permission denied",
            ],
        ),
        (
            "debian:12",
            [
                "touch: cannot touch '/var/lib/marker': Permission denied",
                "mkdir: cannot create directory '/opt/data': Permission denied",
                "sh: 1: cannot create /etc/app.conf: Permission denied",
            ],
        ),
    ],
)
def test_a_user_other_than_root_writes_only_to_tmp_and_volumes(image: str, lines: list[str]) -> None:
    script = (
        "touch /var/lib/marker; mkdir /opt/data; echo x > /etc/app.conf; "
        "touch /tmp/ok && touch /data/ok && echo written"
    )
    volume = {"name": "data", "emptyDir": {}}
    mounts = [{"name": "data", "mountPath": "/data"}]
    as_user = start(image, ["sh", "-c", script], uid=1000, pod_spec=pod(volume), mounts=mounts)
    assert output(as_user) == [*lines, "written"]
    as_root = start(image, ["sh", "-c", script], uid=0, pod_spec=pod(volume), mounts=mounts)
    assert output(as_root) == ["written"]


def test_nginx_as_a_non_root_user_cannot_create_its_cache_unless_it_is_a_volume() -> None:
    denied = start("nginx:1.27", uid=101)
    assert denied.exit_code == 1
    assert (
        'nginx: [emerg] mkdir() "/var/cache/nginx/client_temp" failed (13: Permission denied)'
        in denied.exit_logs
    )
    volumes = ({"name": "cache", "emptyDir": {}}, {"name": "run", "emptyDir": {}})
    mounts = [{"name": "cache", "mountPath": "/var/cache/nginx"}, {"name": "run", "mountPath": "/var/run"}]
    served = start("nginx:1.27", uid=101, pod_spec=pod(*volumes), mounts=mounts)
    assert (served.exit_after, set(served.ports)) == (None, {80})


SPOOLER = image_spec(
    {
        "metadata": {"name": "registry.example/mail/spooler"},
        "spec": {
            "tags": ["1.0"],
            "language": "python",
            "user": "1000",
            "writesTo": [
                {
                    "path": "/var/spool/mail",
                    "error": ["{exception}: [Errno {errno}] {strerror}: '/var/spool/mail/queue'"],
                }
            ],
        },
    }
)


def test_an_image_user_writes_its_own_directories_and_another_uid_or_a_read_only_root_cannot() -> None:
    assert start(SPOOLER, uid=1000).exit_after is None
    other = start(SPOOLER, uid=2000)
    assert other.exit_logs == ["PermissionError: [Errno 13] Permission denied: '/var/spool/mail/queue'"]
    read_only = files.Filesystem(SPOOLER.files, read_only_root=True, uid=1000, owned=SPOOLER.owned_by(1000))
    container = Container(
        "app", "registry.example/mail/spooler:1.0", [], [], {}, None, "shop", "10.244.1.4", files=read_only
    )
    crashed = program(SPOOLER, container, NETWORK, [])
    assert crashed.exit_logs == ["OSError: [Errno 30] Read-only file system: '/var/spool/mail/queue'"]


RELAY = image_spec(
    {
        "metadata": {"name": "registry.example/otel/relay"},
        "spec": {
            "tags": ["0.9"],
            "reads": [
                {
                    "path": "/etc/relay/relay.yaml",
                    "missing": ["error=open {path}: no such file or directory"],
                    "directory": ["error=read {path}: is a directory"],
                }
            ],
        },
    }
)
CONFIG_VOLUME = {"name": "config", "configMap": {"name": "relay-config"}}


@pytest.mark.parametrize(
    ("mount", "lines"),
    [
        ({"mountPath": "/etc/relay/relay.yaml", "subPath": "relay.yml"}, None),
        (
            {"mountPath": "/etc/relay/relay.yaml", "subPath": "relay.yaml"},
            ["error=read /etc/relay/relay.yaml: is a directory"],
        ),
        (
            {"mountPath": "/etc/relay/relay.yml", "subPath": "relay.yml"},
            ["error=open /etc/relay/relay.yaml: no such file or directory"],
        ),
    ],
)
def test_a_subpath_naming_a_missing_key_mounts_an_empty_directory(
    mount: dict, lines: list[str] | None
) -> None:
    result = start(RELAY, pod_spec=pod(CONFIG_VOLUME), mounts=[{"name": "config", **mount}])
    assert (result.exit_code, result.exit_logs) == ((1, lines) if lines else (0, []))
    assert (result.exit_after is None) == (lines is None)


def test_a_script_finds_a_directory_where_a_missing_subpath_key_was_meant_to_be() -> None:
    mounts = [{"name": "config", "mountPath": "/etc/relay/relay.yaml", "subPath": "relay.yaml"}]
    script = "test -d /etc/relay/relay.yaml && echo directory; cat /etc/relay/relay.yaml"
    result = start("busybox:1.36", ["sh", "-c", script], pod_spec=pod(CONFIG_VOLUME), mounts=mounts)
    assert output(result) == ["directory", "cat: read error: Is a directory"]


# Each runtime's own words for EADDRINUSE: Go's net package, Node, uvicorn, Spring Boot, nginx.
@pytest.mark.parametrize(
    ("image", "line"),
    [
        (
            "sandbox/web:1.0",
            'level=fatal msg="http server failed" error="listen tcp :8080: bind: address already in use"',
        ),
        ("sandbox/orders:1.0", "Error: listen EADDRINUSE: address already in use :::8080"),
        (
            "sandbox/payments:1.0",
            "ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8080): address already in use",
        ),
        ("sandbox/inventory:1.0", "Web server failed to start. Port 8080 was already in use."),
        ("nginx:1.27", "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"),
    ],
)
def test_a_port_another_container_of_the_pod_listens_on_cannot_be_bound(image: str, line: str) -> None:
    spec = CATALOGUE.lookup(image)
    assert spec is not None
    env = {"DATABASE_URL": "configured"}
    port = next(iter(start(image, env=env).ports))
    taken = start(image, env=env, ports_in_use=frozenset({port}))
    assert (taken.exit_code, taken.ports) == (1, {})
    assert line in taken.exit_logs
    assert taken.exit_after == max(1.0, spec.start_seconds)  # a slow starter binds when it is ready to serve
    assert start(image, env=env, ports_in_use=frozenset({port + 1})).exit_after is None


def hosted(name: str, node: str | None, *ports: dict) -> dict:
    spec: dict = {"containers": [{"name": "web", "ports": list(ports)}]}
    if node:
        spec["nodeName"] = node
    return {
        "metadata": {"name": name, "namespace": "shop", "uid": name, "creationTimestamp": "x"},
        "spec": spec,
    }


NODE = {
    "metadata": {"name": "solo", "labels": {}},
    "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
}


def test_a_host_port_taken_on_the_only_node_leaves_the_pod_unschedulable_in_kube_schedulers_words() -> None:
    first = hosted("first", "solo", {"containerPort": 80, "hostPort": 8080})
    placement = Placement([NODE], [first])
    second = hosted("second", None, {"containerPort": 80, "hostPort": 8080, "protocol": "TCP"})
    assert schedule(second, placement, {}).message == (
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )
    for fits in (
        hosted("udp", None, {"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}),
        hosted("other-port", None, {"containerPort": 80, "hostPort": 8081}),
        hosted("no-host-port", None, {"containerPort": 8080}),
    ):
        assert schedule(fits, placement, {}).node == "solo"


def test_host_ports_conflict_on_one_address_or_on_every_address() -> None:
    pinned = host_ports(hosted("a", None, {"containerPort": 9100, "hostPort": 9100, "hostIP": "10.0.0.5"}))
    assert pinned == [("TCP", "10.0.0.5", 9100)]
    assert ports_conflict(pinned, {("TCP", "0.0.0.0", 9100)})
    assert ports_conflict(pinned, {("TCP", "10.0.0.5", 9100)})
    assert not ports_conflict(pinned, {("TCP", "10.0.0.6", 9100)})
