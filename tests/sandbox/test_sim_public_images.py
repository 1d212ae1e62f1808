"""Docker Hub's official images in the catalogue: their tags, default commands, ports and env rules."""

from __future__ import annotations

import pytest

from smart_sre_sandbox.sim.images import Catalogue, Container, Run
from smart_sre_sandbox.sim.network import Network
from smart_sre_sandbox.sim.shell import run

CATALOGUE = Catalogue()


def start(image: str, env: dict[str, str] | None = None, command: list[str] | None = None) -> Run:
    spec = CATALOGUE.lookup(image)
    assert spec is not None, image
    container = Container("main", image, command or [], [], env or {}, None, "default", "10.244.1.4")
    return run(spec, container, Network([], [], {}))


@pytest.mark.parametrize(
    ("image", "port"),
    [
        ("nginx:1.27-alpine", 80),
        ("httpd:2.4", 80),
        ("redis:7.4-alpine", 6379),
        ("mongo:7.0", 27017),
        ("rabbitmq:3.13-management", 5672),
        ("memcached:1.6-alpine", 11211),
        ("registry:2", 5000),
    ],
)
def test_servers_listen_on_their_documented_port_without_configuration(image: str, port: int) -> None:
    started = start(image)
    assert started.exit_after is None
    assert set(started.ports) == {port}


@pytest.mark.parametrize(
    "image", ["python:3.12-slim", "python:3.9-slim-buster", "node:20-alpine", "golang:1.23", "ubuntu:24.04"]
)
def test_runtimes_and_distros_exit_0_at_once_without_a_command(image: str) -> None:
    started = start(image)
    assert (started.exit_after, started.exit_code) == (0.1, 0)


def test_a_command_runs_in_the_image_shell() -> None:
    started = start("debian:bookworm-slim", command=["bash", "-c", "echo hello && exit 3"])
    assert (started.logs, started.exit_code) == (["hello"], 3)


def test_tags_that_docker_hub_does_not_have_fail_to_pull() -> None:
    assert CATALOGUE.lookup("python:3.12-slim-buster") is None  # buster images stopped at 3.11
    assert CATALOGUE.lookup("postgres:99") is None


@pytest.mark.parametrize(
    ("image", "env"),
    [
        ("mysql:8.0", {"MYSQL_ALLOW_EMPTY_PASSWORD": "yes"}),
        ("mariadb:11.4", {"MARIADB_ROOT_PASSWORD": "s3cret"}),
        ("mariadb:lts", {"MYSQL_ROOT_PASSWORD": "s3cret"}),
        ("postgres:16", {"POSTGRES_HOST_AUTH_METHOD": "trust"}),
    ],
)
def test_databases_start_with_any_password_option_their_entrypoint_accepts(image: str, env: dict) -> None:
    assert start(image, env).exit_after is None


def test_databases_without_a_password_option_exit_1_with_their_entrypoint_wording() -> None:
    postgres = start("postgres:16", {"POSTGRES_HOST_AUTH_METHOD": "md5"})
    assert (postgres.exit_code, postgres.logs) == (1, [])
    assert (
        postgres.exit_logs[0] == "Error: Database is uninitialized and superuser password is not specified."
    )
    mariadb = start("mariadb:11.4")
    assert mariadb.exit_code == 1
    assert mariadb.exit_logs[1] == (
        "\tYou need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, "
        "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
    )
    assert not any("ready for connections" in line for line in mariadb.logs)
