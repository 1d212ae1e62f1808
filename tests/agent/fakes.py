"""A dict-backed ClusterReader for fast unit tests: the same JSON a real API server returns."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import jsonpatch

from smart_sre.k8s.cluster import KINDS, ClusterError


@dataclass
class FakeCluster:
    objects: list[dict]
    logs_by_run: dict[tuple[str, str, bool], str] = field(default_factory=dict)  # (pod, container, previous)
    dry_run_calls: list[tuple[str, str, list[dict]]] = field(default_factory=list)
    forbidden: frozenset[str] = frozenset()  # kinds RBAC denies, e.g. {"Secret"} as the shipped RBAC does

    def _check_allowed(self, kind: str) -> None:
        if kind in self.forbidden:
            raise ClusterError(403, f'{kind.lower()}s is forbidden: User "smart-sre" cannot read resource')

    def _matches(self, obj: dict, kind: str, namespace: str | None) -> bool:
        return obj["kind"] == kind and (
            namespace is None or not KINDS[kind].namespaced or obj["metadata"].get("namespace") == namespace
        )

    async def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        self._check_allowed(kind)
        for obj in self.objects:
            if self._matches(obj, kind, namespace) and obj["metadata"]["name"] == name:
                return copy.deepcopy(obj)
        return None

    async def list(self, kind, namespace=None, *, field_selector=None, label_selector=None) -> list[dict]:
        self._check_allowed(kind)
        wanted = dict(term.split("=", 1) for term in field_selector.split(",")) if field_selector else {}
        found = []
        for obj in self.objects:
            if not self._matches(obj, kind, namespace):
                continue
            if all(_field(obj, path) == value for path, value in wanted.items()):
                found.append(copy.deepcopy(obj))
        return found

    async def logs(self, namespace, pod, container, *, previous=False, tail=100) -> str:
        text = self.logs_by_run.get((pod, container, previous))
        if text is None:
            raise ClusterError(400, f'previous terminated container "{container}" in pod "{pod}" not found')
        return "\n".join(text.splitlines()[-tail:])

    async def node_metrics(self, name: str) -> dict | None:
        return None

    async def dry_run_patch(self, kind, namespace, name, operations) -> dict:
        self.dry_run_calls.append((kind, name, operations))
        live = await self.get(kind, namespace, name)
        if live is None:
            raise ClusterError(404, f'{kind.lower()}s "{name}" not found')
        try:
            return jsonpatch.apply_patch(live, operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            raise ClusterError(422, str(error)) from error


def _field(obj: dict, path: str) -> str:
    value: object = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)
