"""The sandbox cluster: the API server and the simulation over one Store, in one asyncio process.

async with Sandbox(time_scale=10, users={"alice": ["sre"]}) as sandbox:
    sandbox.write_kubeconfig(Path("sandbox.kubeconfig"))  # the administrator
    sandbox.write_kubeconfig(Path("alice.kubeconfig"), user="alice")  # alice, as RBAC lets her
    await sandbox.apply_file(Path("sandbox/scenarios/seed-crashloop.yaml"))
"""

from __future__ import annotations

import base64
import copy
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from .authn import ADMIN, Authenticator
from .errors import ApiError
from .faults import Faults
from .logs import PodLogs
from .server import build_app
from .sim.clock import Clock
from .sim.controller import Cluster
from .sim.images import Catalogue, image_spec
from .sim.nodes import DEFAULT_NODES, NodeSpec
from .sim.simulation import Simulation
from .store import Store
from .tls import ServingCertificate, serving_certificate

logger = logging.getLogger(__name__)

SANDBOX_API_VERSION = "sandbox.smartsre.io/v1alpha1"
# Sandbox-only documents a scenario file may carry; everything else is applied as Kubernetes objects.
SANDBOX_KINDS = ("SandboxNode", "SandboxImage", "Scenario")
_FIRST = {"Namespace": 0, "CustomResourceDefinition": 1}
SHUTDOWN_SECONDS = 3.0


def read_documents(path: Path) -> list[dict]:
    """The objects of a multi-document YAML file (List kinds expanded), with a clear error for bad files."""
    try:
        loaded = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    documents = []
    for document in loaded:
        if document is None:
            continue
        if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
            raise ValueError(f"{path}: every document needs apiVersion and kind, got {str(document)[:80]!r}")
        documents.extend((document.get("items") or []) if document["kind"].endswith("List") else [document])
    return documents


def node_specs(document: dict) -> NodeSpec:
    """A SandboxNode document (metadata.name + spec) as a NodeSpec."""
    return NodeSpec(name=document["metadata"]["name"], **(document.get("spec") or {}))


def _node_spec(node: dict | NodeSpec) -> NodeSpec:
    """Sandbox(nodes=...) takes NodeSpecs, their fields as dicts, or SandboxNode documents."""
    if isinstance(node, NodeSpec):
        return node
    return node_specs(node) if "metadata" in node else NodeSpec(**node)


def scenario_nodes(paths: list[Path]) -> list[NodeSpec]:
    """The nodes scenario files declare (kind: SandboxNode); empty when they use the default nodes."""
    return [node_specs(d) for path in paths for d in read_documents(path) if d["kind"] == "SandboxNode"]


class Sandbox:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        nodes: list[dict] | list[NodeSpec] | None = None,
        crds_dir: Path | None = None,
        users: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``users``: username -> groups of users besides the administrator, each with a token of its own."""
        self.host, self.port = host, port
        self.clock = Clock(time_scale)
        # One time source: AGE, "(5s ago)", creation and log stamps agree with what the simulation writes.
        self.store = Store(clock=self.clock.wall)
        self.logs = PodLogs(clock=self.clock.wall)
        self.faults = Faults()
        self.cluster = Cluster(self.store, self.logs, self.clock, Catalogue())
        self.simulation = Simulation(self.cluster)
        self.nodes = [_node_spec(n) for n in nodes] if nodes else list(DEFAULT_NODES)
        self.crds_dir = crds_dir
        self.authenticator = Authenticator()
        for username, groups in (users or {}).items():
            self.authenticator.add(username, groups)
        self.url = ""  # the plain-HTTP port: the administrator's (see authn.py)
        self.secure_url = ""  # the TLS port: every user's
        self._certificate: ServingCertificate | None = None
        self.kubectl_cache: Path | None = None
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await self.simulation.add_nodes(self.nodes)
        await self.simulation.add_storage_class()
        if self.crds_dir is not None:
            for path in sorted(self.crds_dir.glob("*.yaml")):
                await self.apply_file(path)
        # Open watch streams are closed on stop; a stuck client must not hold shutdown for aiohttp's 60s.
        self._runner = web.AppRunner(
            build_app(self.store, self.logs, self.faults, authenticator=self.authenticator),
            access_log=None,
            shutdown_timeout=SHUTDOWN_SECONDS,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.port = port
        self.url = f"http://{host}:{port}"
        self._certificate = serving_certificate(host)
        secure = web.TCPSite(self._runner, self.host, 0, ssl_context=self._certificate.context)
        await secure.start()
        self.secure_url = f"https://{host}:{self._runner.addresses[1][1]}"
        self.cluster.root_ca = self._certificate.ca_pem.decode()
        self.kubectl_cache = Path(tempfile.mkdtemp(prefix="smart-sre-sandbox-kubectl-cache-"))
        self.simulation.start()
        logger.info(
            "sandbox started",
            extra={"url": self.url, "nodes": len(self.nodes), "time_scale": self.clock.time_scale},
        )

    async def stop(self) -> None:
        await self.simulation.stop()
        self.store.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.kubectl_cache is not None:
            shutil.rmtree(self.kubectl_cache, ignore_errors=True)
            self.kubectl_cache = None

    def add_user(self, username: str, groups: Sequence[str] = ()) -> str:
        """A new user in ``groups`` (and system:authenticated), with no rights until RBAC grants some;
        returns its bearer token."""
        return self.authenticator.add(username, groups)

    def write_kubeconfig(self, path: Path, *, user: str = ADMIN.username) -> Path:
        """A kubeconfig that talks to this sandbox as ``user``: the administrator on the plain port,
        anyone else on the TLS port (the only one kubectl sends a token to)."""
        token = self.authenticator.token_for(user)
        cluster: dict[str, str] = {"server": self.url}
        if user != ADMIN.username:
            if self._certificate is None:
                raise RuntimeError("the sandbox is not running: start it before writing a user's kubeconfig")
            cluster = {
                "server": self.secure_url,
                "certificate-authority-data": base64.b64encode(self._certificate.ca_pem).decode(),
            }
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": cluster}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {
                    "name": "sandbox",
                    "context": {"cluster": "sandbox", "user": user, "namespace": "default"},
                }
            ],
            "current-context": "sandbox",
            "preferences": {},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def kubectl_env(self, kubeconfig: Path) -> dict[str, str]:
        """Environment for a kubectl on this sandbox: its kubeconfig and a discovery cache of its own.

        kubectl caches discovery per host:port for hours, so a later sandbox on the same port would
        otherwise be shown the resource types (CRDs) of an earlier one.
        """
        if self.kubectl_cache is None:
            raise RuntimeError("the sandbox is not running: start it before pointing kubectl at it")
        return {"KUBECONFIG": str(kubeconfig.resolve()), "KUBECACHEDIR": str(self.kubectl_cache)}

    async def apply_file(self, path: Path) -> list[dict]:
        """Create or update every object of a YAML file (scenario files may carry sandbox documents)."""
        return await self.apply(read_documents(Path(path)))

    async def apply(self, documents: list[dict]) -> list[dict]:
        applied = []
        ordered = sorted(documents, key=lambda d: _FIRST.get(d["kind"], 2))
        for document in ordered:
            if document["apiVersion"] == SANDBOX_API_VERSION:
                await self._apply_sandbox_document(document)
            else:
                applied.append(await self._apply_object(document))
        return applied

    async def _apply_sandbox_document(self, document: dict) -> None:
        kind = document["kind"]
        if kind == "SandboxNode":
            await self.simulation.add_nodes([node_specs(document)])
        elif kind == "SandboxImage":
            self.cluster.images.add(image_spec(document))
        elif kind != "Scenario":  # a Scenario describes the scenario for its users: the cluster ignores it
            raise ValueError(
                f"unknown sandbox document kind {kind!r}; expected one of {', '.join(SANDBOX_KINDS)}"
            )

    async def _apply_object(self, document: dict) -> dict[str, Any]:
        document = copy.deepcopy(document)  # like `kubectl apply`, never write into the caller's manifest
        group = document["apiVersion"].rpartition("/")[0]
        rt = self.store.resource(document["kind"], group=group)
        meta = document.setdefault("metadata", {})
        try:
            return await self.store.create(rt, document)
        except ApiError as error:
            if error.code != 409:
                raise
        current = await self.store.get(rt, meta.get("namespace"), meta["name"])
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        return await self.store.update(rt, document)
