"""The endpoints controller: each Service with a selector gets an Endpoints object listing its pods' IPs,
ready ones under `addresses`, the others under `notReadyAddresses`."""

from __future__ import annotations

from .controller import Controller
from .labels import map_matches
from .scheduling import is_terminal


def is_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _target_port(service_port: dict, pod: dict) -> int | None:
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return port["containerPort"]
    return None


def desired_subsets(service: dict, pods: list[dict]) -> list[dict]:
    """Pods grouped by the ports they resolve to, as the real controller repacks them."""
    subsets: dict[tuple, dict] = {}
    for pod in sorted(pods, key=lambda p: (p.get("status") or {}).get("podIP", "")):
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or is_terminal(pod) or pod["metadata"].get("deletionTimestamp"):
            continue
        ports = []
        for service_port in service["spec"].get("ports") or []:
            number = _target_port(service_port, pod)
            if number is not None:
                port = {"port": number, "protocol": service_port.get("protocol", "TCP")}
                if service_port.get("name"):
                    port["name"] = service_port["name"]
                ports.append(port)
        key = tuple((p.get("name", ""), p["port"]) for p in ports)
        subset = subsets.setdefault(key, {"ports": ports})
        address = {
            "ip": ip,
            "nodeName": pod["spec"].get("nodeName", ""),
            "targetRef": {
                "kind": "Pod",
                "namespace": pod["metadata"]["namespace"],
                "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"],
            },
        }
        subset.setdefault("addresses" if is_ready(pod) else "notReadyAddresses", []).append(address)
    return [subset for subset in subsets.values() if subset["ports"]]


class EndpointsController(Controller):
    watches = ("services", "pods", "endpoints")

    def __init__(self, cluster) -> None:
        super().__init__(cluster)
        self._managed: set[tuple[str, str]] = set()

    async def reconcile(self) -> float | None:
        store, rt = self.cluster.store, self.cluster.rt("endpoints")
        services = await self.cluster.list("services")
        pods = await self.cluster.list("pods")
        existing = {
            (e["metadata"]["namespace"], e["metadata"]["name"]): e
            for e in await self.cluster.list("endpoints")
        }
        wanted: set[tuple[str, str]] = set()
        for service in services:
            selector = service["spec"].get("selector")
            if not selector or service["spec"].get("type") == "ExternalName":
                continue
            key = (service["metadata"]["namespace"], service["metadata"]["name"])
            wanted.add(key)
            members = [
                p
                for p in pods
                if p["metadata"]["namespace"] == key[0] and map_matches(selector, p["metadata"].get("labels"))
            ]
            subsets = desired_subsets(service, members)
            body = {
                "metadata": {
                    "name": key[1],
                    "namespace": key[0],
                    "labels": dict(service["metadata"].get("labels") or {}),
                },
            }
            if subsets:
                body["subsets"] = subsets
            current = existing.get(key)
            if current is None:
                await store.create(rt, body)
            elif (
                current.get("subsets") != body.get("subsets")
                or current["metadata"].get("labels", {}) != body["metadata"]["labels"]
            ):
                updated = {k: v for k, v in current.items() if k != "subsets"}
                updated["metadata"] = {**current["metadata"], "labels": body["metadata"]["labels"]}
                await store.update(rt, updated | {k: v for k, v in body.items() if k == "subsets"})
        for key in (self._managed | set(existing)) - wanted:
            if key in self._managed:
                await self.cluster.delete("endpoints", {"metadata": {"namespace": key[0], "name": key[1]}})
        self._managed = wanted
        return None
