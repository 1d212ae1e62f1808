"""API discovery documents (/version, /api, /apis, group versions), in the legacy (unaggregated) form.

kubectl asks for aggregated discovery first; answering with plain ``application/json`` makes client-go
fall back to these documents, exactly as it does against servers without aggregated discovery.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .resources import ResourceType

KUBE_VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.1-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
    "binding": ["create"],
}
_GROUP_PRIORITY = ("", "apps", "batch", "coordination.k8s.io", "discovery.k8s.io", "apiextensions.k8s.io")


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_order(group: str) -> tuple[int, str]:
    return (
        (_GROUP_PRIORITY.index(group), group) if group in _GROUP_PRIORITY else (len(_GROUP_PRIORITY), group)
    )


def group_versions(types: list[ResourceType]) -> dict[str, list[str]]:
    """Group -> versions, preferred version first (the order types were registered in)."""
    groups: dict[str, list[str]] = {}
    for rt in sorted(types, key=lambda t: _group_order(t.group)):
        versions = groups.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
    return groups


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(types: list[ResourceType]) -> dict[str, Any]:
    groups = [_group(g, v) for g, v in group_versions(types).items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(types: list[ResourceType], group: str) -> dict[str, Any] | None:
    versions = group_versions(types).get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def api_resource_list(types: list[ResourceType], group: str, version: str) -> dict[str, Any] | None:
    served = [t for t in types if t.group == group and t.version == version]
    if not served:
        return None
    resources: list[dict[str, Any]] = []
    for rt in served:
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular or rt.kind.lower(),
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
            "storageVersionHash": hashlib.sha256(f"{rt.group}/{rt.version}/{rt.kind}".encode()).hexdigest()[
                :11
            ],
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            sub_entry = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": {"scale": "Scale", "binding": "Binding"}.get(sub, rt.kind),
                "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"]),
            }
            if sub == "scale":
                sub_entry.update(group="autoscaling", version="v1")
            resources.append(sub_entry)
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def _resource_discovery(rt: ResourceType) -> dict[str, Any]:
    kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": kind,
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular or rt.kind.lower(),
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subresources = []
    for sub in rt.subresources:
        response = {"scale": {"group": "autoscaling", "version": "v1", "kind": "Scale"}}.get(sub, kind)
        if sub == "binding":
            response = {"group": "", "version": "v1", "kind": "Binding"}
        subresources.append(
            {"subresource": sub, "responseKind": response, "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"])}
        )
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated(types: list[ResourceType], *, core: bool) -> dict[str, Any]:
    """The apidiscovery.k8s.io/v2 list: the core group for /api, every named group for /apis."""
    items = []
    for group, versions in group_versions(types).items():
        if (group == "") != core:
            continue
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [
                    {
                        "version": version,
                        "resources": [
                            _resource_discovery(t) for t in types if t.group == group and t.version == version
                        ],
                        "freshness": "Current",
                    }
                    for version in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }
