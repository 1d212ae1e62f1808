"""A pod's DNS as the kubelet configures it from dnsPolicy, hostNetwork and dnsConfig: only the cluster's
DNS knows Services, so a pod on the node's resolver (`dnsPolicy: Default`, or ClusterFirst on the host
network) cannot find one by any name, and its programs say so in their own words."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from smart_sre_harness.testing import DEFAULT_TIME_SCALE, RunningSandbox
from smart_sre_sandbox.sim.images import Catalogue, Container
from smart_sre_sandbox.sim.network import NODE_DNS, Dns, Network, Outcome, cluster_first, pod_dns
from smart_sre_sandbox.sim.shell import run

DB = {
    "metadata": {"name": "db", "namespace": "shop"},
    "spec": {"clusterIP": "10.96.3.3", "ports": [{"name": "pg", "port": 5432}]},
}
DB_ENDPOINTS = {
    "metadata": {"name": "db", "namespace": "shop"},
    "subsets": [{"addresses": [{"ip": "10.244.2.9"}], "ports": [{"name": "pg", "port": 5432}]}],
}
NETWORK = Network([DB], [DB_ENDPOINTS], {"10.244.2.9": {5432}})


def pod(**spec: Any) -> dict:
    return {"metadata": {"name": "p", "namespace": "shop"}, "spec": spec}


@pytest.mark.parametrize(
    ("spec", "nameserver"),
    [
        ({}, "10.96.0.10"),
        ({"dnsPolicy": "ClusterFirst"}, "10.96.0.10"),
        ({"dnsPolicy": "Default"}, NODE_DNS),
        ({"dnsPolicy": "ClusterFirst", "hostNetwork": True}, NODE_DNS),
        ({"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": True}, "10.96.0.10"),
        ({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1", "10.96.0.10"]}}, "1.1.1.1"),
    ],
)
def test_the_policy_decides_which_nameserver_answers(spec: dict, nameserver: str) -> None:
    assert pod_dns(pod(**spec)).nameserver == nameserver


def test_a_service_resolves_by_every_name_form_through_the_cluster_dns_only() -> None:
    here, elsewhere = cluster_first("shop"), cluster_first("web")
    for name in ("db", "db.shop", "db.shop.svc", "db.shop.svc.cluster.local", "db.shop.svc.cluster.local."):
        assert NETWORK.resolve(here, name) == "10.96.3.3", name
        assert NETWORK.resolve(pod_dns(pod(dnsPolicy="Default")), name) is None, name
    assert NETWORK.resolve(elsewhere, "db") is None
    assert NETWORK.resolve(elsewhere, "db.shop") == "10.96.3.3"
    custom = pod_dns(
        pod(
            dnsPolicy="None",
            dnsConfig={"nameservers": ["10.96.0.10"], "searches": ["shop.svc.cluster.local"]},
        )
    )
    assert NETWORK.resolve(custom, "db") == "10.96.3.3"
    assert NETWORK.resolve(custom, "db.shop") is None  # svc.cluster.local is not on its search path


def test_a_go_app_on_the_nodes_resolver_names_that_server_when_the_service_name_fails() -> None:
    image = Catalogue().lookup("sandbox/checkout:1.2")
    assert image is not None
    env = {"DATABASE_URL": "postgres://checkout@db:5432/orders"}
    app = Container("app", "sandbox/checkout:1.2", [], [], env, None, "shop", "10.244.1.4")
    assert run(image, app, NETWORK).exit_after is None  # ClusterFirst: it connects and serves
    on_node = run(image, replace(app, dns=Dns(NODE_DNS)), NETWORK)
    assert on_node.exit_code == 1
    assert any(f"lookup db on {NODE_DNS}:53: no such host" in line for line in on_node.exit_logs)
    assert NETWORK.dial(Dns(NODE_DNS), "10.96.3.3", 5432).outcome is Outcome.OK  # an IP needs no DNS


def asker(name: str, **spec: object) -> dict:
    """A busybox pod that looks the Service db up, then idles."""
    container = {
        "name": "ask",
        "image": "busybox:1.36",
        "command": ["sh", "-c", "nslookup db; sleep infinity"],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {**spec, "containers": [container]},
    }


LOOKUPS = {
    "apiVersion": "v1",
    "kind": "List",
    "items": [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"ports": [{"port": 5432}]},
        },
        asker("cluster-dns"),
        asker("node-dns", dnsPolicy="Default"),
    ],
}


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"time_scale": DEFAULT_TIME_SCALE}


def test_nslookup_of_a_service_fails_on_the_nodes_resolver_and_answers_on_the_clusters(
    sandbox: RunningSandbox,
) -> None:
    sandbox.kubectl("apply", "-f", "-", input=json.dumps(LOOKUPS))
    for name in ("cluster-dns", "node-dns"):
        sandbox.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=20s")
    cluster = sandbox.wait_for(lambda: sandbox.kubectl("logs", "cluster-dns").stdout, timeout=10)
    assert "Server:\t\t10.96.0.10" in cluster
    assert "Name:\tdb.default.svc.cluster.local" in cluster
    node = sandbox.wait_for(lambda: sandbox.kubectl("logs", "node-dns").stdout, timeout=10)
    assert node.splitlines() == [f"Server:\t\t{NODE_DNS}", "** server can't find db: NXDOMAIN"]
