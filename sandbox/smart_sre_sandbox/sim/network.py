"""Cluster networking as a container sees it: DNS names of Services, ClusterIPs, endpoints, listening pods.

A dial succeeds only when the name resolves to a Service that exposes the port and at least one ready
endpoint behind it really listens on the target port, as kube-proxy and CoreDNS would make it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

CLUSTER_DOMAIN = "cluster.local"
DNS_SERVER = "10.96.0.10:53"


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


class Network:
    def __init__(self, services: list[dict], endpoints: list[dict], listeners: dict[str, set[int]]) -> None:
        self._services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services}
        self._endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
        self._listeners = listeners

    def dial(self, namespace: str, host: str, port: int, *, own_ip: str | None = None) -> Dial:
        host = host.strip().rstrip(".")
        if host in ("localhost", "127.0.0.1"):
            listening = own_ip is not None and port in self._listeners.get(own_ip, set())
            return Dial(Outcome.OK if listening else Outcome.REFUSED, host, port, f"127.0.0.1:{port}")
        service = self._by_ip(host) if _is_ip(host) else self._by_name(namespace, host)
        if service is None:
            if _is_ip(host):
                listening = port in self._listeners.get(host, set())
                return Dial(Outcome.OK if listening else Outcome.TIMEOUT, host, port, f"{host}:{port}")
            return Dial(Outcome.NO_SUCH_HOST, host, port, f"{host}:{port}")
        cluster_ip = service["spec"].get("clusterIP") or ""
        if cluster_ip in ("", "None"):  # headless: DNS answers with the ready pods, dialled directly
            ips = self._ready_ips(service)
            if not ips:
                return Dial(Outcome.NO_SUCH_HOST, host, port, f"{host}:{port}")
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

    def resolve(self, namespace: str, host: str) -> str | None:
        """What cluster DNS answers for `host`: a ClusterIP, a ready pod IP (headless), or None."""
        host = host.strip().rstrip(".")
        if _is_ip(host):
            return host
        service = self._by_name(namespace, host)
        if service is None:
            return None
        cluster_ip = service["spec"].get("clusterIP") or ""
        if cluster_ip in ("", "None"):
            return next(iter(self._ready_ips(service)), None)
        return cluster_ip

    def _by_ip(self, ip: str) -> dict | None:
        return next((s for s in self._services.values() if s["spec"].get("clusterIP") == ip), None)

    def _by_name(self, namespace: str, host: str) -> dict | None:
        parts = host.split(".")
        name, rest = parts[0], parts[1:]
        if rest:
            namespace, suffix = rest[0], ".".join(rest[1:])
            if suffix not in ("", "svc", f"svc.{CLUSTER_DOMAIN}"):
                return None
        return self._services.get((namespace, name))

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
