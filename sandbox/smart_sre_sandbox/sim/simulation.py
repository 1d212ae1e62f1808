"""The whole simulated control plane and nodes, started and stopped together over one Store."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from ..errors import ApiError
from .controller import Cluster, Controller
from .daemonsets import DaemonSetController
from .deployments import DeploymentController
from .endpoints import EndpointsController
from .jobs import JobController
from .kubelet import Kubelet
from .nodes import DEFAULT_NODES, NodeSpec, node_index, node_object
from .replicasets import ReplicaSetController
from .rootca import RootCAPublisher
from .scheduler import Scheduler
from .statefulsets import StatefulSetController
from .volumes import VolumeController, default_storage_class

CONTROLLERS: tuple[type[Controller], ...] = (
    Scheduler,
    Kubelet,
    DeploymentController,
    ReplicaSetController,
    StatefulSetController,
    DaemonSetController,
    JobController,
    EndpointsController,
    VolumeController,
    RootCAPublisher,
)


class Simulation:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._tasks: list[asyncio.Task] = []

    async def add_nodes(self, nodes: list[NodeSpec] | tuple[NodeSpec, ...] = DEFAULT_NODES) -> None:
        """Register nodes (create, or replace an existing node of the same name)."""
        rt = self.cluster.rt("nodes")
        # A replaced node keeps its pod CIDR and IP; a new one takes the lowest index no node holds.
        registered = {node["metadata"]["name"]: node_index(node) for node in await self.cluster.list("nodes")}
        free = (index for index in itertools.count() if index not in registered.values())
        for spec in nodes:
            index = registered[spec.name] if spec.name in registered else next(free)
            registered.setdefault(spec.name, index)
            node = node_object(spec, index, self.cluster.clock.timestamp())
            try:
                await self.cluster.store.create(rt, node)
            except ApiError as error:
                if error.code != 409:
                    raise
                current = await self.cluster.store.get(rt, None, spec.name)
                node["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                await self.cluster.store.update(rt, node)
                node["metadata"].pop("resourceVersion")
                await self.cluster.store.update(rt, node, subresource="status")

    async def add_storage_class(self) -> None:
        """The default class the volume controller provisions for, as a cluster's add-ons create it."""
        await self.cluster.store.create(self.cluster.rt("storageclasses"), default_storage_class())

    def start(self) -> None:
        for controller_type in CONTROLLERS:
            controller = controller_type(self.cluster)
            self._tasks.append(asyncio.create_task(controller.run(), name=controller_type.__name__))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
