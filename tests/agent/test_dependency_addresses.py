"""Dependency addresses of every form (`host`, `host:port`, URLs of any scheme, `svc.ns`, `svc.ns.svc`,
`svc.ns.svc.cluster.local`), across namespaces and by port number or name. A fix names a Service the
facts show serving the port with ready endpoints, in the form the user wrote; otherwise findings say
what is missing. Failure lines are read the same way in every runtime's words."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smart_sre.api.common import RootCause, Trigger
from smart_sre.investigation.mentions import (
    EnvDependency,
    env_dependencies,
    failed_hosts,
    failed_ports,
    is_failure,
    parse_address,
)
from smart_sre.investigation.redaction import Redactor
from smart_sre.investigation.suggestions import suggested_steps
from smart_sre.investigation.tools.base import ToolContext
from smart_sre.investigation.tools.check_service import describe_service
from smart_sre.investigation.tools.inventory import take_inventory
from smart_sre.k8s.cluster import ClusterError

from .fakes import FakeCluster
from .pods import deployed, investigate, vetted, waiting
from .scenarios import NODES

LINES = yaml.safe_load((Path(__file__).parent / "data" / "runtime_log_lines.yaml").read_text())


def service(name: str, namespace: str, *ports: dict, ready: int = 1) -> list[dict]:
    """A Service and its Endpoints (`ready` ready addresses), as the endpoints controller writes them."""
    spec_ports = [{"targetPort": p["port"], **p} for p in ports]
    subset_ports = [
        {
            "port": p["targetPort"] if isinstance(p["targetPort"], int) else p["port"],
            **({"name": p["name"]} if "name" in p else {}),
        }
        for p in spec_ports
    ]
    addresses = [{"ip": f"10.1.0.{i + 10}"} for i in range(ready)]
    return [
        {
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": spec_ports},
        },
        {
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace},
            "subsets": [{"addresses": addresses, "ports": subset_ports}] if ready else [],
        },
    ]


def _client(name: str, namespace: str, env: list[dict], *, second: bool = False, init: bool = False):
    """A workload whose container `name` (the second one, or an init container) dials what `env` says."""
    client = {"name": name, "image": f"registry.local/{name}:2.0", "env": env}
    other = {"name": "proxy", "image": "registry.local/proxy:1.0"}
    if init:
        spec = {"initContainers": [client], "containers": [other]}
    else:
        spec = {"containers": [other, client] if second else [client]}
    return deployed(name, namespace, spec, waiting(name, "CrashLoopBackOff", init=init))


def _best(found, cause: RootCause):
    return next(c for c in found if c.root_cause == cause)


# --- Reading addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "service", "namespace", "respelled"),
    [
        ("redis", "redis", None, "cache"),
        ("orders-db.shop", "orders-db", "shop", "cache.shop"),
        ("search.data.svc", "search", "data", "cache.data.svc"),
        ("mq.events.svc.cluster.local", "mq", "events", "cache.events.svc.cluster.local"),
        ("mongo-0.mongo.data.svc.cluster.local", "mongo", "data", "mongo-0.cache.data.svc.cluster.local"),
    ],
)
def test_every_service_address_form_is_read_and_respelled_in_its_own_form(
    host: str, service: str, namespace: str | None, respelled: str
) -> None:
    address = parse_address(host)
    assert (address.service, address.namespace) == (service, namespace)
    assert address.spelled("cache", namespace or "own", "own") == respelled


def test_a_short_name_is_qualified_only_when_the_service_lies_elsewhere() -> None:
    assert parse_address("db").spelled("orders-db", "shop", "web") == "orders-db.shop"
    assert parse_address("api.stripe.com") is None


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [
        ("postgresql://app:s3cret@orders-db.shop:5432/orders?sslmode=disable", "orders-db.shop", 5432),
        (
            "jdbc:postgresql://ledger-db.finance.svc.cluster.local/ledger",
            "ledger-db.finance.svc.cluster.local",
            5432,
        ),
        ("redis+sentinel://:pw@sentinel:26379/mymaster", "sentinel", 26379),
        ("mongodb://mongo-0.mongo:27017,mongo-1.mongo:27017/app", "mongo-0.mongo", 27017),
        ("kafka-0.kafka:9092,kafka-1.kafka:9092", "kafka-0.kafka", 9092),
        ("https://payments.billing.svc/v1", "payments.billing.svc", 443),
    ],
)
def test_addresses_in_env_values_of_every_form(value: str, host: str, port: int) -> None:
    spec = {"containers": [{"name": "app", "env": [{"name": "TARGET", "value": value}]}]}
    (first, *_) = env_dependencies(spec)
    assert (first.container, first.host, first.port) == ("app", host, port)


def test_host_and_port_vars_read_a_port_by_number_or_by_name_and_configmap_values() -> None:
    env = [
        {"name": "DB_HOST", "value": "orders-db"},
        {"name": "DB_PORT", "value": "postgres"},
        {"name": "CACHE_HOSTNAME", "valueFrom": {"configMapKeyRef": {"name": "deps", "key": "cache"}}},
    ]
    spec = {"initContainers": [{"name": "wait", "env": env}], "containers": [{"name": "app"}]}
    configmaps = {"deps": {"data": {"cache": "redis.cache", "QUEUE_URL": "amqp://mq.events:5672"}}}
    spec["containers"][0]["envFrom"] = [{"configMapRef": {"name": "deps"}}]
    found = env_dependencies(spec, configmaps)
    assert [(d.container, d.name, d.host, d.port, d.port_name) for d in found] == [
        ("wait", "DB_HOST", "orders-db", None, "postgres"),
        ("wait", "CACHE_HOSTNAME", "redis.cache", None, None),
        ("app", "QUEUE_URL", "mq.events", 5672, None),
    ]
    assert found[1].source == "ConfigMap deps key cache"
    assert found[1].env is None


@pytest.mark.parametrize(
    ("value", "host", "new_host", "new_port", "respelled", "reported"),
    [
        (
            "redis://:pw@cache:6380/0",
            "cache",
            "redis-cache",
            6379,
            "redis://:pw@redis-cache:6380/0",
            "redis://:pw@cache:6379/0",
        ),
        (
            "http://api.web.svc/v1",
            "api.web.svc",
            "gateway.web.svc",
            8080,
            "http://gateway.web.svc/v1",
            "http://api.web.svc:8080/v1",
        ),
    ],
)
def test_rewriting_a_host_or_port_keeps_the_rest(
    value, host, new_host, new_port, respelled, reported
) -> None:
    port = 6380 if ":6380" in value else None
    dependency = EnvDependency("app", 0, "URL", value, host, port)
    assert dependency.with_host(new_host) == respelled
    assert dependency.with_port(new_port) == reported


@pytest.mark.parametrize("entry", LINES["hosts"], ids=lambda e: f"{e['runtime']}: {e['line'][:40]}")
def test_failure_lines_of_every_runtime_name_their_host_and_port(entry: dict) -> None:
    assert is_failure(entry["line"])
    assert failed_hosts(entry["line"]) == entry["hosts"]
    assert set(entry.get("ports", [])) <= set(failed_ports(entry["line"]))


# --- Fixes and findings -----------------------------------------------------------------------------


async def test_a_host_qualified_with_another_namespace_is_corrected_in_that_form() -> None:
    *objects, pod = _client(
        "storefront",
        "web",
        [{"name": "DB_HOST", "value": "order-db.shop"}, {"name": "DB_PORT", "value": "5432"}],
    )
    objects += [pod, *service("orders-db", "shop", {"name": "pg", "port": 5432, "targetPort": "pg"})]
    objects += service("orders-db", "web-staging", {"port": 5432}, ready=0)
    log = "dial tcp: lookup order-db.shop on 10.96.0.10:53: no such host"
    cluster, chain, evidence, found = await investigate(
        objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"storefront": log}
    )
    assert "orders-db.shop" in evidence.observation  # the Services that could be meant, in any namespace
    best = found[0]
    assert best.root_cause == RootCause.BAD_CONFIG_VALUE
    assert best.summary.startswith(
        "container storefront: DB_HOST=order-db.shop: Service order-db does not exist"
    )
    assert best.patch.operations == [
        {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "orders-db.shop"}
    ]
    await vetted(cluster, chain, best)


async def test_a_full_url_keeps_scheme_userinfo_path_and_cluster_domain() -> None:
    url = "redis://:hunter2@cache-redis.cache.svc.cluster.local:6379/0"
    *objects, pod = _client(
        "sessions", "auth", [{"name": "MODE", "value": "x"}, {"name": "REDIS_URL", "value": url}], second=True
    )
    objects += [pod, *service("redis-cache", "cache", {"name": "redis", "port": 6379})]
    objects += service("cache-proxy", "cache", {"port": 80})
    log = "Error: getaddrinfo ENOTFOUND cache-redis.cache.svc.cluster.local"
    cluster, chain, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"sessions": log})
    best = found[0]
    assert best.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/1/env/1/value",
            "value": "redis://:hunter2@redis-cache.cache.svc.cluster.local:6379/0",
        }
    ]
    await vetted(cluster, chain, best)


async def test_a_short_name_stays_short_when_the_service_is_in_the_pods_namespace() -> None:
    *objects, pod = _client(
        "reports", "analytics", [{"name": "DATABASE_URL", "value": "postgres://reporting-dbb:5432/r"}]
    )
    objects += [pod, *service("reporting-db", "analytics", {"port": 5432})]
    objects += service("reporting-db", "analytics-old", {"port": 5432})
    log = 'psycopg2.OperationalError: could not translate host name "reporting-dbb" to address: Name or service not known'
    _, _, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"reports": log})
    assert found[0].patch.operations[0]["value"] == "postgres://reporting-db:5432/r"


async def test_a_wrong_port_is_corrected_to_the_port_the_service_serves_by_name() -> None:
    env = [{"name": "DB_HOST", "value": "ledger-db.finance"}, {"name": "DB_PORT", "value": "6432"}]
    *objects, pod = _client("ledger", "accounts", env, init=True)
    objects += [
        pod,
        *service("ledger-db", "finance", {"name": "postgres", "port": 5432, "targetPort": "postgres"}),
    ]
    log = "java.net.ConnectException: Connection refused: ledger-db.finance/10.96.8.4:6432"
    cluster, chain, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"ledger": log})
    best = found[0]
    assert "serves only port(s) 5432 (postgres)" in best.summary
    assert best.patch.operations == [
        {"op": "replace", "path": "/spec/template/spec/initContainers/0/env/1/value", "value": "5432"}
    ]
    await vetted(cluster, chain, best)


async def test_a_service_without_ready_endpoints_is_a_dependency_down_not_a_fix() -> None:
    *objects, pod = _client("cart", "shop", [{"name": "REDIS_ADDR", "value": "redis.cache:6379"}])
    objects += [
        pod,
        *service("redis", "cache", {"port": 6379}, ready=0),
        *service("redis-2", "cache", {"port": 6379}),
    ]
    log = "redis: dial tcp 10.96.3.3:6379: connect: connection refused"
    _, _, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"cart": log})
    best = found[0]
    assert best.root_cause == RootCause.DEPENDENCY_UNAVAILABLE
    assert "the dependency itself is down" in best.summary
    assert best.patch is None


async def test_no_service_in_reach_serving_the_port_is_findings_only() -> None:
    *objects, pod = _client(
        "worker", "jobs", [{"name": "QUEUE_HOST", "value": "rabbit"}, {"name": "QUEUE_PORT", "value": "6379"}]
    )
    objects += [pod, *service("rabbitmq", "jobs", {"port": 5672})]
    log = "Redis::CannotConnectError: Error connecting to Redis on rabbit:6379 (SocketError)"
    _, _, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"worker": log})
    best = found[0]
    assert best.patch is None
    assert "no Service in reach serves port 6379" in best.summary


async def test_a_value_from_a_configmap_is_findings_that_name_the_configmap_key() -> None:
    container = {
        "name": "api",
        "image": "registry.local/api:1",
        "envFrom": [{"configMapRef": {"name": "api-env"}}],
    }
    *objects, pod = deployed("api", "core", {"containers": [container]}, waiting("api", "CrashLoopBackOff"))
    configmap = {
        "kind": "ConfigMap",
        "metadata": {"name": "api-env", "namespace": "core"},
        "data": {"SEARCH_URL": "http://serch:9200"},
    }
    objects += [pod, configmap, *service("search", "core", {"port": 9200})]
    log = "System.Net.Sockets.SocketException (00000001): Name or service not known (serch:9200)"
    _, _, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"api": log})
    best = found[0]
    assert best.root_cause == RootCause.BAD_CONFIG_VALUE
    assert best.patch is None
    assert (
        best.no_patch_reason
        == "SEARCH_URL comes from ConfigMap api-env key SEARCH_URL; change it there to http://search:9200"
    )


async def test_a_host_only_the_logs_name_gets_findings_naming_the_close_service() -> None:
    *objects, pod = _client("billing", "fin", [{"name": "MODE", "value": "x"}])
    objects += [pod, *service("ledger-db", "fin", {"port": 5432})]
    log = "Caused by: java.net.UnknownHostException: ledger-dbb: Name or service not known"
    _, _, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"billing": log})
    best = _best(found, RootCause.BAD_CONFIG_VALUE)
    assert "ledger-db" in best.summary
    assert best.patch is None


class _NamespacedOnly(FakeCluster):
    """RBAC that lets the operator list Services only namespace by namespace."""

    async def list(self, kind, namespace=None, **kwargs):
        if kind == "Service" and namespace is None:
            raise ClusterError(403, "services is forbidden at the cluster scope")
        return await super().list(kind, namespace, **kwargs)


async def test_without_cluster_wide_rights_the_named_namespaces_are_searched() -> None:
    *objects, pod = _client("orders", "shop", [{"name": "MQ_URL", "value": "amqp://rabit.events:5672"}])
    objects += [
        pod,
        *service("rabbit", "events", {"port": 5672}),
        *service("rabbitmq", "other", {"port": 5672}),
    ]
    log = "Error: getaddrinfo ENOTFOUND rabit.events"
    cluster = _NamespacedOnly([*NODES, *objects])
    _, chain, evidence, found = await investigate(
        [], pod, Trigger.CRASH_LOOP_BACK_OFF, {"orders": log}, cluster
    )
    assert not evidence.reach.cluster_wide
    assert found[0].patch.operations[0]["value"] == "amqp://rabbit.events:5672"
    await vetted(cluster, chain, found[0])


# --- The model's suggested check names the Service where it lives -----------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("ledger-db", "ledger-db"),
        ("ledger-db.billing", "ledger-db"),  # the pod's own namespace, written qualified
        ("ledger-db.finance", "ledger-db.finance"),
        ("ledger-db.finance.svc", "ledger-db.finance"),
        ("ledger-db.finance.svc.cluster.local", "ledger-db.finance"),
    ],
)
async def test_the_suggested_check_service_step_names_the_namespace_the_address_names(
    host: str, expected: str
) -> None:
    """A dependency in another namespace is checked there: the step the model is offered (and may copy)
    asks check_service for `svc.ns`, which the inventory allows, and the tool looks in that namespace."""
    namespace = "finance" if "finance" in host else "billing"
    objects = service("ledger-db", namespace, {"port": 5432}, ready=0)
    *workload, pod = _client(
        "invoicer", "billing", [{"name": "DB_HOST", "value": host}, {"name": "DB_PORT", "value": "5432"}]
    )
    logs = {"invoicer": f"dial tcp {host}:5432: connect: connection refused"}
    cluster, _, evidence, _ = await investigate(
        [*workload, pod, *objects], pod, Trigger.CRASH_LOOP_BACK_OFF, logs
    )
    inventory = await take_inventory(cluster, evidence)
    checks = [
        s["action"] for s in suggested_steps(evidence, inventory) if s["action"]["tool"] == "check_service"
    ]
    assert checks == [{"tool": "check_service", "args": {"name": expected, "port": 5432}}]
    assert expected in inventory.hosts
    ctx = ToolContext(cluster, "billing", pod, Redactor())
    answer = await describe_service(ctx, expected, 5432)
    assert answer.startswith(f"Service ledger-db exists in namespace {namespace}")
