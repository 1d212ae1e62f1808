"""What containers of the catalogue's images do, given only their spec and the cluster's network."""

from __future__ import annotations

from smart_sre_sandbox.sim.images import Catalogue, Container
from smart_sre_sandbox.sim.kubelet import pull_error
from smart_sre_sandbox.sim.network import Network
from smart_sre_sandbox.sim.probes import check
from smart_sre_sandbox.sim.shell import run

CATALOGUE = Catalogue()
REDIS_SERVICE = {
    "metadata": {"name": "redis-master", "namespace": "shop"},
    "spec": {"clusterIP": "10.96.7.7", "ports": [{"name": "redis", "port": 6379, "targetPort": 6379}]},
}
REDIS_ENDPOINTS = {
    "metadata": {"name": "redis-master", "namespace": "shop"},
    "subsets": [{"addresses": [{"ip": "10.244.2.9"}], "ports": [{"name": "redis", "port": 6379}]}],
}


def start(
    image: str,
    *,
    env: dict | None = None,
    command: list | None = None,
    args: list | None = None,
    memory_limit: int | None = None,
    network: Network | None = None,
):
    spec = CATALOGUE.lookup(image)
    assert spec is not None, image
    container = Container(
        "app", image, command or [], args or [], env or {}, memory_limit, "shop", "10.244.1.4"
    )
    return spec, run(spec, container, network or Network([], [], {}))


def redis_network(listening: bool = True) -> Network:
    return Network([REDIS_SERVICE], [REDIS_ENDPOINTS], {"10.244.2.9": {6379}} if listening else {})


def test_api_client_crashes_with_connection_refused_until_its_redis_is_reachable() -> None:
    _, crashed = start(
        "sandbox/api-client:2.3", env={"REDIS_HOST": "redis", "REDIS_PORT": "6379"}, network=redis_network()
    )
    assert crashed.exit_code == 1
    assert "Connection refused to redis:6379" in crashed.exit_logs
    _, healthy = start("sandbox/api-client:2.3", env={"REDIS_HOST": "redis-master"}, network=redis_network())
    assert healthy.exit_after is None
    assert 8080 in healthy.ports
    _, no_backend = start(
        "sandbox/api-client:2.3", env={"REDIS_HOST": "redis-master"}, network=redis_network(listening=False)
    )
    assert no_backend.exit_code == 1


def test_runtimes_word_dns_failures_refusals_and_timeouts_differently() -> None:
    env = {
        "DATABASE_URL": "postgres://app@db:5432/orders",
        "REDIS_HOST": "redis-master.shop.svc.cluster.local",
        "REDIS_PORT": "6380",
    }
    _, go = start("sandbox/checkout:1.2", env=env, network=redis_network())
    assert any("i/o timeout" in line for line in go.exit_logs)  # the Service has no port 6380
    _, node = start("sandbox/orders:1.1", env={"REDIS_URL": "redis://cache:6379"}, network=redis_network())
    assert "Error: getaddrinfo ENOTFOUND cache" in node.exit_logs
    _, python = start(
        "sandbox/payments:1.0",
        env={"DATABASE_URL": "x", "REDIS_HOST": "redis-master"},
        network=redis_network(listening=False),
    )
    assert (
        python.exit_logs[-1]
        == "redis.exceptions.ConnectionError: Error 111 connecting to redis-master:6379. Connection refused."
    )


def test_memory_beyond_the_limit_is_oom_killed() -> None:
    _, hog = start("sandbox/memory-hog:1.0", env={"ALLOCATE_MB": "600"}, memory_limit=512 * 2**20)
    assert (hog.exit_code, hog.oom_killed) == (137, True)
    _, fits = start("sandbox/memory-hog:1.0", env={"ALLOCATE_MB": "400"}, memory_limit=512 * 2**20)
    assert fits.exit_after is None
    _, java = start("sandbox/inventory:1.0", env={"HEAP_MB": "300"}, memory_limit=256 * 2**20)
    assert java.oom_killed


def test_missing_env_bad_flags_and_bad_commands_fail_like_the_real_programs() -> None:
    _, missing = start("sandbox/checkout:1.0")
    assert missing.exit_code == 1
    assert 'level=fatal msg="missing required environment variable DATABASE_URL"' in missing.exit_logs
    _, postgres = start("postgres:16")
    assert (
        postgres.exit_logs[0] == "Error: Database is uninitialized and superuser password is not specified."
    )
    _, flag = start("sandbox/web:1.0", args=["--listen=8080"])
    assert flag.exit_code == 2
    assert flag.exit_logs[0] == "flag provided but not defined: -listen"
    _, command = start("sandbox/web:1.0", command=["/app/server"])
    assert command.start_error is not None
    assert 'exec: "/app/server": stat /app/server: no such file or directory' in command.start_error


def test_shell_images_run_their_command_for_jobs() -> None:
    _, job = start("busybox:1.36", command=["sh", "-c", "echo migrating; sleep 3 && echo done"])
    assert (job.exit_code, job.exit_after, job.logs, job.exit_logs) == (0, 3.1, ["migrating"], ["done"])
    _, failing = start("alpine:3.20", command=["sh", "-c", "migrate --up"])
    assert failing.exit_code == 127
    assert failing.logs == ["sh: migrate: not found"]
    _, idle = start("busybox:latest")
    assert (idle.exit_code, idle.exit_after) == (0, 0.1)


def test_probes_pass_only_on_served_ports_and_paths() -> None:
    spec, nginx = start("nginx:1.27")
    container = {"name": "web", "ports": [{"name": "http", "containerPort": 80}]}
    assert check({"httpGet": {"path": "/", "port": "http"}}, container, spec, nginx, "10.244.1.4") == (
        True,
        "",
    )
    assert check({"httpGet": {"path": "/healthz", "port": 80}}, container, spec, nginx, "10.244.1.4") == (
        False,
        "HTTP probe failed with statuscode: 404",
    )
    refused = check({"tcpSocket": {"port": 8080}}, container, spec, nginx, "10.244.1.4")
    assert refused == (False, "dial tcp 10.244.1.4:8080: connect: connection refused")
    redis_spec, redis = start("redis:7")
    assert check({"exec": {"command": ["redis-cli", "ping"]}}, {}, redis_spec, redis, "ip") == (True, "PONG")
    assert check({"exec": {"command": ["cat", "/tmp/healthy"]}}, {}, redis_spec, redis, "ip")[0] is False


def test_unknown_images_and_tags_fail_to_pull_with_containerd_wording() -> None:
    assert CATALOGUE.lookup("nginx:1.99") is None
    assert CATALOGUE.lookup("docker.io/library/nginx:1.27") is not None
    assert pull_error("nginx:1.99", True) == (
        'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:1.99": '
        'failed to resolve reference "docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found'
    )
    assert "pull access denied" in pull_error("acme/shop:1.0", False)
