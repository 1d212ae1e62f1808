"""Cluster networking as a container sees it: DNS names of Services, ClusterIPs, endpoints, listening pods.

A dial succeeds only when the name resolves to a Service that exposes the port and at least one ready
endpoint behind it really listens on the target port, as kube-proxy and CoreDNS would make it. Names
resolve through the pod's own resolver (`pod_dns`, from its dnsPolicy): only the cluster's DNS knows
Services, so on the node's resolver (`dnsPolicy: Default`) no Service name resolves.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

CLUSTER_DOMAIN = "cluster.local"
CLUSTER_DNS = "10.96.0.10"  # the kube-dns Service: CoreDNS, which answers for Services
DNS_SERVER = f"{CLUSTER_DNS}:53"
# What the nodes' own /etc/resolv.conf names: the gateway of their network (node_ip: 172.18.0.x). It
# answers for names outside the cluster and knows no Service.
NODE_DNS = "172.18.0.1"


class Outcome(Enum):
    OK = "ok"
    REFUSED = "refused"  # nothing listens (no ready endpoints, or the backend does not listen)
    NO_SUCH_HOST = "no-such-host"  # DNS has no such name
    TIMEOUT = "timeout"  # the ClusterIP exists but does not expose that port


@dataclass(frozen=True)
class Dial:
    outcome: Outcome
    host: str
    port: int
    address: str  # what the client connected to: "10.96.4.12:6379" (or the name when DNS failed)
    server: str = DNS_SERVER  # the nameserver asked ("lookup db on 10.96.0.10:53: no such host")


@dataclass(frozen=True)
class Dns:
    """A pod's resolv.conf as the kubelet writes it (`pod_dns`): the nameserver that answers (the first
    one: a resolver takes its NXDOMAIN as final) and the search path. Only the cluster's DNS knows
    Services, so a pod on another resolver cannot find one by any name."""

    nameserver: str
    searches: tuple[str, ...] = ()

    @property
    def server(self) -> str:
        return f"{self.nameserver}:53"

    @property
    def cluster(self) -> bool:
        return self.nameserver == CLUSTER_DNS

    def names(self, host: str) -> list[str]:
        """The names asked for, in order: with `options ndots:5` a name of fewer dots goes through the
        search path first; a trailing dot makes it absolute."""
        if host.endswith("."):
            return [host.rstrip(".")]
        searched = [f"{host}.{domain}" for domain in self.searches]
        return [*searched, host] if host.count(".") < 5 else [host, *searched]


def cluster_first(namespace: str, searches: tuple[str, ...] = ()) -> Dns:
    """The cluster's DNS with the namespace's search path (dnsPolicy ClusterFirst)."""
    own = (f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN)
    return Dns(CLUSTER_DNS, (*own, *searches))


def pod_dns(pod: dict) -> Dns:
    """The resolver the kubelet gives a pod (its getPodDNSType): ClusterFirst, or ClusterFirstWithHostNet,
    the cluster's DNS; Default the node's resolv.conf, and so does ClusterFirst on the host network;
    None only what dnsConfig lists. dnsConfig's nameservers come after the policy's, its searches too."""
    spec = pod.get("spec") or {}
    config = spec.get("dnsConfig") or {}
    nameservers, searches = list(config.get("nameservers") or []), tuple(config.get("searches") or [])
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not spec.get("hostNetwork")):
        return cluster_first(pod["metadata"].get("namespace", "default"), searches)
    if policy == "None":
        return Dns(nameservers[0] if nameservers else "", searches)
    return Dns(NODE_DNS, searches)


class Network:
    def __init__(self, services: list[dict], endpoints: list[dict], listeners: dict[str, set[int]]) -> None:
        self._services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services}
        self._endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
        self._listeners = listeners

    def dial(self, dns: Dns, host: str, port: int, *, own_ip: str | None = None) -> Dial:
        """Connect to `host`:`port` from a pod that resolves names with `dns`."""
        host = host.strip()
        if host.rstrip(".") in ("localhost", "127.0.0.1"):
            listening = own_ip is not None and port in self._listeners.get(own_ip, set())
            return Dial(Outcome.OK if listening else Outcome.REFUSED, host, port, f"127.0.0.1:{port}")
        unknown = Dial(Outcome.NO_SUCH_HOST, host, port, f"{host}:{port}", dns.server)
        service = self._by_ip(host) if _is_ip(host) else self._by_name(dns, host)
        if service is None:
            if _is_ip(host):
                listening = port in self._listeners.get(host, set())
                return Dial(Outcome.OK if listening else Outcome.TIMEOUT, host, port, f"{host}:{port}")
            return unknown
        cluster_ip = service["spec"].get("clusterIP") or ""
        if cluster_ip in ("", "None"):  # headless: DNS answers with the ready pods, dialled directly
            ips = self._ready_ips(service)
            if not ips:
                return unknown
            listening = port in self._listeners.get(ips[0], set())
            return Dial(Outcome.OK if listening else Outcome.REFUSED, host, port, f"{ips[0]}:{port}")
        address = f"{cluster_ip}:{port}"
        service_port = next((p for p in service["spec"].get("ports") or [] if p.get("port") == port), None)
        if service_port is None:
            return Dial(Outcome.TIMEOUT, host, port, address)
        backends = self._ready_backends(service, service_port)
        if not any(target in self._listeners.get(ip, set()) for ip, target in backends):
            return Dial(Outcome.REFUSED, host, port, address)
        return Dial(Outcome.OK, host, port, address)

    def resolve(self, dns: Dns, host: str) -> str | None:
        """What the pod's DNS answers for `host`: a ClusterIP, a ready pod IP (headless), or None."""
        host = host.strip()
        if _is_ip(host):
            return host
        service = self._by_name(dns, host)
        if service is None:
            return None
        cluster_ip = service["spec"].get("clusterIP") or ""
        if cluster_ip in ("", "None"):
            return next(iter(self._ready_ips(service)), None)
        return cluster_ip

    def _by_ip(self, ip: str) -> dict | None:
        return next((s for s in self._services.values() if s["spec"].get("clusterIP") == ip), None)

    def _by_name(self, dns: Dns, host: str) -> dict | None:
        """The Service the first name of the search path that exists stands for (`name.ns.svc.cluster.local`)."""
        if not dns.cluster:
            return None
        suffix = f".svc.{CLUSTER_DOMAIN}"
        for name in dns.names(host):
            labels = name.removesuffix(suffix).split(".") if name.endswith(suffix) else []
            if len(labels) == 2 and (service := self._services.get((labels[1], labels[0]))) is not None:
                return service
        return None

    def _endpoints_of(self, service: dict) -> dict:
        return self._endpoints.get((service["metadata"]["namespace"], service["metadata"]["name"])) or {}

    def _ready_ips(self, service: dict) -> list[str]:
        return [
            a["ip"]
            for subset in self._endpoints_of(service).get("subsets") or []
            for a in subset.get("addresses") or []
        ]

    def _ready_backends(self, service: dict, service_port: dict) -> list[tuple[str, int]]:
        """(ip, target port) of each ready endpoint address serving `service_port`."""
        endpoints = self._endpoints_of(service)
        backends = []
        for subset in endpoints.get("subsets") or []:
            ports = subset.get("ports") or []
            port = next((p for p in ports if p.get("name", "") == service_port.get("name", "")), None)
            if port is None and len(ports) == 1:
                port = ports[0]
            if port is None:
                continue
            backends.extend((address["ip"], port["port"]) for address in subset.get("addresses") or [])
        return backends


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
