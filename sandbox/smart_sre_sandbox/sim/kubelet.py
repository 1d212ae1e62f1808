"""The kubelet of every node: runs the containers of bound pods and reports their status, like a real one.

For each pod it pulls images (ErrImagePull / ImagePullBackOff for images outside the catalogue), builds
the environment (CreateContainerConfigError), runs init containers then the app containers, applies
the restart policy with CrashLoopBackOff back-off, runs probes, writes each run's logs and keeps
status.phase, conditions and containerStatuses up to date, with events worded like the real kubelet's.

Init containers run one at a time, each once the kubelet's relist saw the previous one exit 0; a failed
one fails the pod under restartPolicy Never and backs off otherwise. A sidecar (an init container with
restartPolicy Always) lets the next container start once it started, restarts whatever the pod's
policy, and is stopped when the app containers are done. Probes follow probes.plan: a startup probe
gates liveness and readiness; a startup or liveness probe that fails failureThreshold times kills the
container (exit 137, Error). status.phase and the conditions follow the kubelet's getPhase and status
generator (a terminal pod's Ready is PodCompleted or PodFailed).

A run's log lines are written as simulated time reaches them (`_catch_up`), up to its exit or kill. What
a script still has to ask the cluster (nslookup, nc, wget; a polling loop's every round) was answered as
the cluster was at its start: when the cluster answers otherwise now (a Service, its endpoints, a file
another container wrote), the script runs again with that change from now on, keeping what it printed
(`_react`), so `until nslookup db; do sleep 2; done` ends within one sleep once the Service exists. The
other containers' writes to the pod's volumes are known ahead (their scripts are simulated to the end),
so a run sees them when they happen.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from dataclasses import dataclass, field, replace

from ..errors import ApiError
from . import backoff, envvars, files, images, probes, shell
from .containers import RELIST_SECONDS, ContainerRuntime, Launch, Sibling, merged_volumes
from .controller import Controller
from .files import Change
from .images import Epoch, ImageRef, ImageSpec
from .network import Network, pod_dns
from .nodes import node_address
from .podresources import memory_limit
from .probes import NEVER

logger = logging.getLogger(__name__)

COMPONENT = "kubelet"
CONFIG_RETRY_SECONDS = 10.0
ERR_IMAGE_PULL_SECONDS = 1.0  # how long ErrImagePull shows before ImagePullBackOff
_ROUNDING = 1e-6  # simulated seconds: float noise between a moment and its recomputation


@dataclass
class PodRuntime:
    uid: str
    namespace: str
    name: str
    node: str
    ip: str
    host_ip: str
    start_time: str
    containers: dict[str, ContainerRuntime] = field(default_factory=dict)
    mount_failures: int = 0
    mount_due: float = 0.0
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)  # condition -> (status, since)
    written: dict | None = None


@dataclass
class Snapshot:
    """The cluster as one kubelet pass sees it."""

    config_maps: envvars.Lookup
    secrets: envvars.Lookup
    services: list[dict]
    endpoints: list[dict]
    network: Network


class Kubelet(Controller):
    watches = ("pods", "nodes", "configmaps", "secrets", "services", "endpoints")

    def __init__(self, cluster) -> None:
        super().__init__(cluster)
        self._pods: dict[str, PodRuntime] = {}
        self._pulled: set[tuple[str, str]] = set()  # (node, image) already on the node
        self._next_ip: dict[str, int] = {}  # pod CIDR -> host index to try next
        self._broken: set[str] = set()  # pods whose simulation failed (logged once)

    # -- the pass ---------------------------------------------------------------------------------

    async def reconcile(self) -> float | None:
        cluster, now = self.cluster, self.cluster.clock.now()
        nodes = {n["metadata"]["name"]: n for n in await cluster.list("nodes")}
        pods = [p for p in await cluster.list("pods") if p["spec"].get("nodeName") in nodes]
        services, endpoints = await cluster.list("services"), await cluster.list("endpoints")
        snapshot = Snapshot(
            config_maps={_key(o): o for o in await cluster.list("configmaps")},
            secrets={_key(o): o for o in await cluster.list("secrets")},
            services=services,
            endpoints=endpoints,
            network=Network(services, endpoints, self._listeners(now)),
        )
        live = {p["metadata"]["uid"] for p in pods}
        for uid in [uid for uid in self._pods if uid not in live]:
            gone = self._pods.pop(uid)
            cluster.logs.forget(gone.namespace, gone.name)
        due: list[float] = []
        for pod in pods:
            runtime = self._pods.get(pod["metadata"]["uid"]) or self._admit(
                pod, nodes[pod["spec"]["nodeName"]]
            )
            try:
                wake = await self._sync(pod, runtime, now, snapshot)
            except ApiError:
                raise
            except Exception:  # a pod the simulation cannot run must not stop the others
                if runtime.uid not in self._broken:
                    self._broken.add(runtime.uid)
                    logger.exception(
                        "kubelet cannot simulate pod", extra={"pod": f"{runtime.namespace}/{runtime.name}"}
                    )
                continue
            if wake is not None:
                due.append(wake)
        return min(due) - cluster.clock.now() if due else None

    def _listeners(self, now: float, leave_out: ContainerRuntime | None = None) -> dict[str, set[int]]:
        """The ports each pod IP accepts connections on: those of programs that started serving (but those
        of `leave_out`)."""
        listening: dict[str, set[int]] = {}
        for runtime in self._pods.values():
            for container in runtime.containers.values():
                if (
                    container.phase == "running"
                    and container.run is not None
                    and now >= container.serves_at()
                    and container is not leave_out
                ):
                    listening.setdefault(runtime.ip, set()).update(container.run.ports)
        return listening

    @staticmethod
    def _ports_in_use(runtime: PodRuntime, container: ContainerRuntime, now: float) -> frozenset[int]:
        """The ports the pod's other containers listen on now: the pod is one network namespace, so a
        program binding one of them fails with EADDRINUSE."""
        return frozenset(
            port
            for other in runtime.containers.values()
            if other is not container
            and other.phase == "running"
            and other.run is not None
            and now >= other.serves_at()
            for port in other.run.ports
        )

    def _allocate_ip(self, node: dict) -> str:
        """The next free address of the node's pod CIDR, like host-local IPAM: in order, .1 being the bridge,
        never one a live pod holds (even when two nodes were given the same CIDR), wrapping at the end."""
        cidr = (node.get("spec") or {}).get("podCIDR") or "10.244.0.0/24"
        network = ipaddress.ip_network(cidr, strict=False)
        taken = {runtime.ip for runtime in self._pods.values()}
        hosts = network.num_addresses - 3  # neither the network, the bridge (.1) nor the broadcast address
        start = self._next_ip.get(cidr, 2)
        for offset in range(hosts):
            index = 2 + (start - 2 + offset) % hosts
            address = str(network.network_address + index)
            if address not in taken:
                self._next_ip[cidr] = 2 + (index - 1) % hosts
                return address
        raise RuntimeError(f"pod CIDR {cidr} of node {node['metadata']['name']} is exhausted")

    def _admit(self, pod: dict, node: dict) -> PodRuntime:
        name = node["metadata"]["name"]
        runtime = PodRuntime(
            uid=pod["metadata"]["uid"],
            namespace=pod["metadata"].get("namespace", "default"),
            name=pod["metadata"]["name"],
            node=name,
            ip=self._allocate_ip(node),
            host_ip=node_address(node),
            start_time=self.cluster.clock.timestamp(),
        )
        self.cluster.logs.forget(pod["metadata"].get("namespace", "default"), pod["metadata"]["name"])
        for spec in pod["spec"].get("initContainers") or []:
            runtime.containers[spec["name"]] = ContainerRuntime(
                spec["name"],
                init=True,
                reason="PodInitializing",
                sidecar=spec.get("restartPolicy") == "Always",
            )
        waiting = "PodInitializing" if pod["spec"].get("initContainers") else "ContainerCreating"
        for spec in pod["spec"]["containers"]:
            runtime.containers[spec["name"]] = ContainerRuntime(spec["name"], init=False, reason=waiting)
        self._pods[runtime.uid] = runtime
        return runtime

    async def _sync(self, pod: dict, runtime: PodRuntime, now: float, snapshot: Snapshot) -> float | None:
        if pod["metadata"].get("deletionTimestamp"):
            return None
        wakes: list[float | None] = []
        if await self._volumes_ready(pod, runtime, now, snapshot, wakes):
            apps = [runtime.containers[c["name"]] for c in pod["spec"]["containers"]]
            # The next container in line starts once the kubelet's relist saw the previous init exit.
            opens = 0.0
            for spec in pod["spec"].get("initContainers") or []:
                container = runtime.containers[spec["name"]]
                if container.sidecar or not container.succeeded:
                    wakes.append(await self._step(pod, runtime, container, spec, now, snapshot, opens))
                if container.sidecar and (container.startup_passed or any(c.ever_started for c in apps)):
                    continue  # a started sidecar lets the next container start, and keeps running beside it
                if container.sidecar or not container.succeeded:
                    break
                opens = max(opens, (container.exited_at() or 0.0) + RELIST_SECONDS)
            else:
                for spec, container in zip(pod["spec"]["containers"], apps, strict=True):
                    wakes.append(await self._step(pod, runtime, container, spec, now, snapshot, opens))
                if self._apps_done(pod, apps):
                    await self._stop_sidecars(pod, runtime)
        await self._write_status(pod, runtime)
        found = [w for w in wakes if w is not None]
        return min(found) if found else None

    async def _volumes_ready(
        self, pod: dict, runtime: PodRuntime, now: float, snapshot: Snapshot, wakes: list
    ) -> bool:
        if runtime.mount_due < 0:
            return True
        missing = envvars.missing_volume(pod, snapshot.config_maps, snapshot.secrets)
        if missing is None:
            runtime.mount_due = -1
            return True
        if now >= runtime.mount_due:
            volume, reason = missing
            await self._event(
                pod,
                runtime,
                "Warning",
                "FailedMount",
                f'MountVolume.SetUp failed for volume "{volume}" : {reason}',
            )
            runtime.mount_failures += 1
            runtime.mount_due = now + min(CONFIG_RETRY_SECONDS * runtime.mount_failures, 120.0)
        wakes.append(runtime.mount_due)
        return False

    # -- one container ----------------------------------------------------------------------------

    def _apps_done(self, pod: dict, apps: list[ContainerRuntime]) -> bool:
        """Every app container ran and will not run again (restartPolicy Never or OnFailure)."""
        return all(c.ever_started and c.phase == "terminated" and not self._will_start(pod, c) for c in apps)

    async def _stop_sidecars(self, pod: dict, runtime: PodRuntime) -> None:
        """The app containers are done: stop the sidecars, last first, as the kubelet does."""
        for spec in reversed(pod["spec"].get("initContainers") or []):
            container = runtime.containers[spec["name"]]
            if container.sidecar and container.phase == "running":
                await self._event(
                    pod, runtime, "Normal", "Killing", f"Stopping container {container.name}", container
                )
                now = self.cluster.clock.now()
                self._catch_up(pod, container, now)
                container.terminate(runtime.uid, 137, "Error", self.cluster.clock.timestamp(), at=now)

    async def _step(
        self,
        pod: dict,
        runtime: PodRuntime,
        container: ContainerRuntime,
        spec: dict,
        now: float,
        snapshot: Snapshot,
        opens: float = 0.0,
    ) -> float | None:
        """Move one container on; one that never ran waits until its turn `opens`."""
        if not container.ever_started and container.pulling_until is None and now < opens:
            return opens
        if container.attempted_image and spec.get("image") != container.attempted_image:
            await self._image_changed(pod, runtime, container, now)
        if container.phase == "running":
            wake = await self._running(pod, runtime, container, spec, now, snapshot)
            if container.phase == "running":
                return wake
        if not self._will_start(pod, container):
            return None
        if now < container.due:
            if container.reason != "ErrImagePull":
                return container.due
            switch = container.due - backoff.pull_delay(container.pull_failures) + ERR_IMAGE_PULL_SECONDS
            if now < switch:
                return switch
            await self._image_pull_backoff(pod, runtime, container, spec.get("image", ""))
            return container.due
        started = await self._start(pod, runtime, container, spec, now, snapshot)
        if started and container.phase == "running":
            return await self._running(pod, runtime, container, spec, now, snapshot)
        return container.due if container.due > now else now + CONFIG_RETRY_SECONDS

    async def _image_changed(
        self, pod: dict, runtime: PodRuntime, container: ContainerRuntime, now: float
    ) -> None:
        """`kubectl set image` on a pod: the kubelet replaces the container at once, without back-off."""
        if container.phase == "running":
            await self._event(
                pod,
                runtime,
                "Normal",
                "Killing",
                f"Container {container.name} definition changed, will be restarted",
                container,
            )
            self._catch_up(pod, container, now)
            container.terminate(runtime.uid, 137, "Error", self.cluster.clock.timestamp(), at=now)
            container.last_terminated = container.terminated
        container.attempted_image, container.due, container.pull_failures = "", now, 0
        container.pulling_until = None

    def _will_start(self, pod: dict, container: ContainerRuntime) -> bool:
        if container.phase != "terminated" or container.terminated is None:
            return True
        policy = pod["spec"].get("restartPolicy", "Always")
        if container.sidecar:  # restarted whatever the pod's policy, until the app containers are done
            apps = self._pods[pod["metadata"]["uid"]].containers
            return not self._apps_done(pod, [apps[c["name"]] for c in pod["spec"]["containers"]])
        if container.init:
            return policy != "Never" and not container.succeeded
        return policy == "Always" or (policy == "OnFailure" and not container.succeeded)

    async def _start(
        self,
        pod: dict,
        runtime: PodRuntime,
        container: ContainerRuntime,
        spec: dict,
        now: float,
        snapshot: Snapshot,
    ) -> bool:
        image_name = container.attempted_image = spec.get("image", "")
        image = await self._pull(pod, runtime, container, spec, now)
        if image is None:
            return False
        try:
            env = envvars.resolve(
                spec,
                {**pod, "status": self._addresses(runtime)},
                snapshot.config_maps,
                snapshot.secrets,
                snapshot.services,
            )
            envvars.check_non_root(pod, spec, image.user, pod_label(pod))
        except envvars.ConfigError as error:
            container.phase, container.reason, container.message = (
                "waiting",
                "CreateContainerConfigError",
                str(error),
            )
            container.due = now + CONFIG_RETRY_SECONDS
            await self._event(pod, runtime, "Warning", "Failed", f"Error: {error}", container)
            return False
        limit = memory_limit(spec)
        earlier = sorted((c for c in runtime.containers.values() if c.run), key=lambda c: c.started_sim)
        uid = envvars.run_as_user(pod, spec, image.user)
        process = images.Container(
            name=container.name,
            image=image_name,
            command=[envvars.expand(word, env) for word in spec.get("command") or []],
            args=[envvars.expand(word, env) for word in spec.get("args") or []],
            env=env,
            memory_limit=int(limit) if limit is not None else None,
            namespace=pod["metadata"].get("namespace", "default"),
            pod_ip=runtime.ip,
            files=files.mount(
                pod,
                spec,
                image.files,
                snapshot.config_maps,
                snapshot.secrets,
                [c.volumes_at(now) for c in earlier],
                uid,
                image.owned_by(uid),
            ),
            hostname=pod["spec"].get("hostname") or pod["metadata"]["name"],
            workdir=spec.get("workingDir", ""),
            uid=uid,
            ports_in_use=self._ports_in_use(runtime, container, now),
            dns=pod_dns(pod),
        )
        # The other containers' writes to the pod's volumes while this one runs are known: it sees them.
        siblings = self._siblings(runtime, container)
        launch = Launch(process, snapshot.network, siblings, self._foreseen(siblings, now, now))
        run = shell.run(image, process, snapshot.network, launch.epochs)
        if container.ever_started or container.terminated is not None:
            container.restart_count += 1
        stamp = self.cluster.clock.timestamp()
        if run.start_error is not None:
            container.started_at, container.ever_started = stamp, True
            container.image_name = image_name
            container.terminate(runtime.uid, 128, "StartError", stamp, run.start_error, at=now)
            await self._event(pod, runtime, "Warning", "Failed", f"Error: {run.start_error}", container)
            await self._after_exit(pod, container, now)
            return False
        await self._event(
            pod, runtime, "Normal", "Created", f"Created container: {container.name}", container
        )
        container.start(run, image, image_name, now, stamp, launch)
        self._log(pod, container, run.logs)
        await self._event(pod, runtime, "Normal", "Started", f"Started container {container.name}", container)
        return True

    async def _pull(
        self, pod: dict, runtime: PodRuntime, container: ContainerRuntime, spec: dict, now: float
    ) -> ImageSpec | None:
        name = spec.get("image", "")
        image = self.cluster.images.lookup(name)
        policy = spec.get("imagePullPolicy", "IfNotPresent")
        present = (runtime.node, name) in self._pulled
        if image is not None and present and policy != "Always":
            await self._event(
                pod,
                runtime,
                "Normal",
                "Pulled",
                f'Container image "{name}" already present on machine',
                container,
            )
            return image
        if image is not None:
            seconds = 0.5 + image.size_bytes / 60_000_000
            if container.pulling_until is None:
                await self._event(pod, runtime, "Normal", "Pulling", f'Pulling image "{name}"', container)
                container.pulling_until = container.due = now + seconds
            if now < container.pulling_until:
                return None
            container.pulling_until, container.pull_failures = None, 0
            self._pulled.add((runtime.node, name))
            await self._event(
                pod,
                runtime,
                "Normal",
                "Pulled",
                f'Successfully pulled image "{name}" in {seconds:.3f}s ({seconds:.3f}s including waiting). '
                f"Image size: {image.size_bytes} bytes.",
                container,
            )
            return image
        await self._event(pod, runtime, "Normal", "Pulling", f'Pulling image "{name}"', container)
        error = pull_error(name, self.cluster.images.knows_repository(name))
        container.pull_failures += 1
        container.phase, container.reason, container.message = "waiting", "ErrImagePull", error
        container.due = now + backoff.pull_delay(container.pull_failures)
        await self._event(
            pod, runtime, "Warning", "Failed", f'Failed to pull image "{name}": {error}', container
        )
        await self._event(pod, runtime, "Warning", "Failed", "Error: ErrImagePull", container)
        return None

    async def _image_pull_backoff(
        self, pod: dict, runtime: PodRuntime, container: ContainerRuntime, image: str
    ) -> None:
        container.reason = "ImagePullBackOff"
        container.message = f'Back-off pulling image "{image}": ErrImagePull: {container.message}'
        await self._event(pod, runtime, "Normal", "BackOff", f'Back-off pulling image "{image}"', container)
        await self._event(pod, runtime, "Warning", "Failed", "Error: ImagePullBackOff", container)

    async def _running(
        self,
        pod: dict,
        runtime: PodRuntime,
        container: ContainerRuntime,
        spec: dict,
        now: float,
        snapshot: Snapshot,
    ) -> float | None:
        asks = self._react(runtime, container, now, snapshot)
        run, image = container.run, container.image
        assert run is not None
        assert image is not None
        probed = probes.plan(
            spec,
            image,
            run,
            runtime.ip,
            container.started_sim,
            container.serves_at(),
            self._inside(container, spec, now, snapshot),
        )
        exit_at = container.exit_time()
        exits = exit_at if exit_at is not None else NEVER
        ends = min(now, exits, probed.kill_at)
        self._catch_up(pod, container, ends)
        await self._report_failures(pod, runtime, container, probed, ends)
        if exits <= now and exits <= probed.kill_at:
            reason = "OOMKilled" if run.oom_killed else ("Completed" if run.exit_code == 0 else "Error")
            container.terminate(runtime.uid, run.exit_code, reason, self.cluster.clock.timestamp(), at=exits)
            await self._after_exit(pod, container, now)
            return None
        if probed.kill_at <= now:
            await self._kill(pod, runtime, container, probed.kill_kind, now)
            return None
        container.startup_passed = now >= probed.started_at
        container.ready = probed.ready(now) and not container.exits_at_start
        printed = container.started_sim + run.next_line(container.logged_until)
        wake = min(probed.next_event(now), exits, printed, asks)
        return None if wake == NEVER else wake

    def _react(
        self, runtime: PodRuntime, container: ContainerRuntime, now: float, snapshot: Snapshot
    ) -> float:
        """The run's script asks the cluster things as it goes (nslookup, nc, wget, a file a loop waits
        for), answered as the cluster was when it started. Would the cluster answer what it is still to
        ask otherwise now (a Service, its endpoints, a file the pod's other containers did not write as
        counted on)? Then the script runs again from its start: the same up to now, seeing the change
        from now on, so a polling loop notices it at its next round. Returns when it next asks (NEVER:
        nothing)."""
        run, launch, image = container.run, container.launch, container.image
        if run is None or launch is None or image is None or run.files is None:
            return NEVER
        elapsed = now - container.started_sim
        expected = run.expected(container.logged_until)
        if expected and elapsed > container.logged_until:
            siblings = self._siblings(runtime, container)
            unforeseen = functools.cache(lambda: self._unforeseen(siblings, launch, now))
            ports = run.ports if elapsed >= run.serves_from else {}
            first = shell.first_changed(expected, snapshot.network, ports, unforeseen)
            if first is not None:
                # The change happened since the log was last written: the first question after that sees it.
                since = min(first, elapsed)
                actual = merged_volumes(siblings, now)
                files = tuple(Change(since, v, p, actual.get(v, {}).get(p)) for v, p in sorted(unforeseen()))
                # What happened until now stays; what the other containers were counted on to do later is
                # counted again from what they are now.
                launch.epochs = [e for e in launch.epochs if e.since <= elapsed]
                launch.epochs += [
                    Epoch(since, snapshot.network, files),
                    *self._foreseen(siblings, container.started_sim, now),
                ]
                launch.siblings = siblings
                container.run = run = shell.run(
                    image, replace(launch.container, files=run.files.fresh()), launch.network, launch.epochs
                )
        asks = run.next_question(elapsed)
        return NEVER if asks == NEVER else max(container.started_sim + asks, now + RELIST_SECONDS)

    @staticmethod
    def _unforeseen(siblings: tuple[Sibling, ...], launch: Launch, now: float) -> set[tuple[str, str]]:
        """The paths of the pod's volumes the other containers have otherwise at `now` than the run counted."""
        actual, counted = merged_volumes(siblings, now), launch.shared(now)
        return {
            (volume, path)
            for volume in actual.keys() | counted.keys()
            for path in actual.get(volume, {}).keys() | counted.get(volume, {}).keys()
            if actual.get(volume, {}).get(path) != counted.get(volume, {}).get(path)
        }

    def _siblings(self, runtime: PodRuntime, container: ContainerRuntime) -> tuple[Sibling, ...]:
        """The pod's other containers that ran, oldest start first."""
        others = sorted(
            (c for c in runtime.containers.values() if c is not container), key=lambda c: c.started_sim
        )
        return tuple(Sibling(c.run, c.started_sim, c.ended_sim) for c in others if c.run is not None)

    @staticmethod
    def _foreseen(siblings: tuple[Sibling, ...], start: float, now: float) -> list[Epoch]:
        """The writes the other running containers make to the pod's volumes after `now` (their scripts are
        known to their end), as epochs of a run started at `start`."""
        changes: dict[float, list[Change]] = {}
        for sibling in siblings:
            for change in sibling.changes(after=now):
                changes.setdefault(change.at - start, []).append(change)
        return [Epoch(since, None, tuple(found)) for since, found in sorted(changes.items())]

    def _inside(
        self, container: ContainerRuntime, spec: dict, now: float, snapshot: Snapshot
    ) -> probes.Inside | None:
        """What the container's exec probes run in, when it has any."""
        if container.launch is None or not any(
            "exec" in (spec.get(kind) or {}) for kind in ("startupProbe", "livenessProbe", "readinessProbe")
        ):
            return None
        network = Network(snapshot.services, snapshot.endpoints, self._listeners(now, leave_out=container))
        return probes.Inside(container.launch.container, network)

    def _catch_up(self, pod: dict, container: ContainerRuntime, upto: float) -> None:
        """Write what the run printed up to `upto` (simulated seconds) that is not in its log yet."""
        if container.run is None or container.phase != "running":
            return
        elapsed = upto - container.started_sim
        exit_after = container.run.exit_after
        if exit_after is not None and elapsed >= exit_after - _ROUNDING:
            # `upto` is the exit: (start + t) - start can fall short of t, losing the lines printed at exit.
            elapsed = max(elapsed, exit_after)
        if elapsed > container.logged_until:
            self._log(pod, container, container.run.lines_between(container.logged_until, elapsed))
            container.logged_until = elapsed

    async def _kill(
        self, pod: dict, runtime: PodRuntime, container: ContainerRuntime, kind: str, now: float
    ) -> None:
        """A startup or liveness probe failed `failureThreshold` times in a row: kill the container, worded
        like kuberuntime's computePodActions. The runtime reports the SIGKILL that ends a program which
        outlives its grace period as exit 137, reason Error."""
        if container.sidecar:
            message = f"Init container {container.name} failed {kind} probe"
        else:
            restarts = pod["spec"].get("restartPolicy", "Always") != "Never"
            message = f"Container {container.name} failed {kind} probe" + (
                ", will be restarted" if restarts else ""
            )
        await self._event(pod, runtime, "Normal", "Killing", message, container)
        container.terminate(runtime.uid, 137, "Error", self.cluster.clock.timestamp(), at=now)
        await self._after_exit(pod, container, now)

    async def _report_failures(
        self, pod: dict, runtime: PodRuntime, container: ContainerRuntime, probed: probes.Plan, until: float
    ) -> None:
        """One Unhealthy event per failed probe tick up to `until`; repeats aggregate into the event's count."""
        for kind, ticks in probed.series.items():
            reported = container.probes_reported.get(kind, 0)
            failures = ticks.failures(until)
            for index in range(reported, failures):
                await self._event(
                    pod,
                    runtime,
                    "Warning",
                    "Unhealthy",
                    f"{kind.capitalize()} probe failed: {ticks.message(index)}",
                    container,
                )
            container.probes_reported[kind] = max(failures, reported)

    async def _after_exit(self, pod: dict, container: ContainerRuntime, now: float) -> None:
        if not self._will_start(pod, container):
            return
        delay = container.schedule_restart(now, pod_label(pod))
        if delay >= backoff.INITIAL_SECONDS:
            await self._event(
                pod,
                self._pods[pod["metadata"]["uid"]],
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {container.name} in pod {pod_label(pod)}",
                container,
            )

    # -- status -----------------------------------------------------------------------------------

    def _addresses(self, runtime: PodRuntime) -> dict:
        return {
            "hostIP": runtime.host_ip,
            "hostIPs": [{"ip": runtime.host_ip}],
            "podIP": runtime.ip,
            "podIPs": [{"ip": runtime.ip}],
        }

    async def _write_status(self, pod: dict, runtime: PodRuntime) -> None:
        spec = pod["spec"]
        inits = [runtime.containers[c["name"]] for c in spec.get("initContainers") or []]
        apps = [runtime.containers[c["name"]] for c in spec["containers"]]
        images_by_name = {
            c["name"]: c.get("image", "") for c in [*(spec.get("initContainers") or []), *spec["containers"]]
        }
        phase = pod_phase(spec.get("restartPolicy", "Always"), inits, apps)
        sandbox_ready = runtime.mount_due < 0  # the pod sandbox (and its IP) exists once volumes are mounted
        conditions = [
            ("PodReadyToStartContainers", sandbox_ready, "", ""),
            *pod_conditions(phase, inits, apps),
            ("PodScheduled", True, "", ""),
        ]
        status: dict = {
            "phase": phase,
            "conditions": [self._condition(runtime, *condition) for condition in conditions],
            **(
                self._addresses(runtime)
                if sandbox_ready
                else {"hostIP": runtime.host_ip, "hostIPs": [{"ip": runtime.host_ip}]}
            ),
            "startTime": runtime.start_time,
            "containerStatuses": [c.status(runtime.uid, images_by_name[c.name]) for c in apps],
        }
        if inits:
            status["initContainerStatuses"] = [c.status(runtime.uid, images_by_name[c.name]) for c in inits]
        if status == runtime.written:
            return
        if await self.cluster.patch_status("pods", pod, status) is not None:
            runtime.written = status

    def _condition(self, runtime: PodRuntime, type_: str, ok: bool, reason: str, message: str) -> dict:
        value = "True" if ok else "False"
        previous = runtime.transitions.get(type_)
        if previous is None or previous[0] != value:
            previous = runtime.transitions[type_] = (value, self.cluster.clock.timestamp())
        condition = {"type": type_, "status": value, "lastProbeTime": None, "lastTransitionTime": previous[1]}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        return condition

    # -- side effects -------------------------------------------------------------------------------

    def _log(self, pod: dict, container: ContainerRuntime, lines: list[str]) -> None:
        if lines:
            namespace = pod["metadata"].get("namespace", "default")
            self.cluster.logs.write(
                namespace, pod["metadata"]["name"], container.name, container.restart_count, lines
            )

    async def _event(
        self,
        pod: dict,
        runtime: PodRuntime,
        type_: str,
        reason: str,
        message: str,
        container: ContainerRuntime | None = None,
    ) -> None:
        await self.cluster.events.record(
            pod,
            type_,
            reason,
            message,
            component=COMPONENT,
            host=runtime.node,
            field_path=container.field_path if container else "",
        )


def pod_label(pod: dict) -> str:
    """How the kubelet names a pod in messages: name_namespace(uid)."""
    meta = pod["metadata"]
    return f"{meta['name']}_{meta.get('namespace', 'default')}({meta['uid']})"


def pod_phase(policy: str, inits: list[ContainerRuntime], apps: list[ContainerRuntime]) -> str:
    """status.phase as the kubelet's getPhase computes it from the container states."""
    pending_init = pending_sidecar = failed_init = waiting = running = stopped = succeeded = 0
    for c in inits:
        last = c.terminated if c.phase == "terminated" else c.last_terminated
        if c.sidecar:  # pending until started; a waiting sidecar keeps the pod Pending
            pending_sidecar += c.phase == "waiting" and last is None
            pending_sidecar += c.phase == "running" and not c.startup_passed
            running += c.phase == "running"
            waiting += c.phase == "waiting"
        elif c.phase == "running" or (c.phase == "waiting" and last is None):
            pending_init += 1
        elif last is not None and last["exitCode"] != 0:
            failed_init += 1
    for c in apps:
        last = c.terminated if c.phase == "terminated" else c.last_terminated
        running += c.phase == "running"
        waiting += c.phase == "waiting" and last is None
        stopped += c.phase != "running" and last is not None
        succeeded += c.phase == "terminated" and last is not None and last["exitCode"] == 0
    if failed_init and policy == "Never":
        return "Failed"
    if pending_init or (pending_sidecar and not any(c.ever_started for c in apps)) or waiting:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    if policy == "Always":
        return "Running"  # every container is restarting
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if policy == "Never" else "Running"


def pod_conditions(
    phase: str, inits: list[ContainerRuntime], apps: list[ContainerRuntime]
) -> list[tuple[str, bool, str, str]]:
    """The Initialized, Ready and ContainersReady conditions (type, ok, reason, message), worded like the
    kubelet's status generator: a terminal pod is PodCompleted or PodFailed, with no message."""
    started = any(c.ever_started for c in apps)
    incomplete = [c.name for c in inits if not (c.startup_passed if c.sidecar else c.succeeded)]
    if phase == "Succeeded":
        initialized = (True, "PodCompleted", "")
    elif started or not incomplete:
        initialized = (True, "", "")
    else:
        initialized = (
            False,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(incomplete)}]",
        )
    unready = [c.name for c in [*inits, *apps] if (c.sidecar or not c.init) and not c.ready]
    if phase in ("Succeeded", "Failed"):
        ready = (False, "PodCompleted" if phase == "Succeeded" else "PodFailed", "")
    elif unready:
        ready = (False, "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
    else:
        ready = (True, "", "")
    return [("Initialized", *initialized), ("Ready", *ready), ("ContainersReady", *ready)]


def pull_error(image: str, repository_known: bool) -> str:
    """containerd's error for an image the sandbox registry does not have."""
    ref = ImageRef.parse(image)
    registry_path = image if "/" in ref.repository.split(":")[0] and "." in image.split("/")[0] else None
    full = registry_path or (
        f"docker.io/library/{image}" if "/" not in ref.repository else f"docker.io/{image}"
    )
    if ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
        full += ":latest"
    if repository_known:
        return (
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{full}": '
            f'failed to resolve reference "{full}": {full}: not found'
        )
    return (
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{full}": failed to resolve reference '
        f'"{full}": pull access denied, repository does not exist or may require authorization: '
        "server message: insufficient_scope: authorization failed"
    )


def _key(obj: dict) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
