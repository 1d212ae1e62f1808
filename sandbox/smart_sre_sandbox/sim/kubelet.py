"""The kubelet of every node: runs the containers of bound pods and reports their status, like a real one.

For each pod it pulls images (ErrImagePull / ImagePullBackOff for images outside the catalogue), builds
the environment (CreateContainerConfigError), runs init containers then the app containers, applies
the restart policy with CrashLoopBackOff back-off, runs probes, writes each run's logs and keeps
status.phase, conditions and containerStatuses up to date, with events worded like the real kubelet's.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

from ..errors import ApiError
from . import backoff, envvars, images
from .containers import ContainerRuntime
from .controller import Controller
from .images import ImageRef, ImageSpec
from .network import Network
from .nodes import node_address
from .podresources import memory_limit
from .probes import Timing, check

logger = logging.getLogger(__name__)

COMPONENT = "kubelet"
CONFIG_RETRY_SECONDS = 10.0
ERR_IMAGE_PULL_SECONDS = 1.0  # how long ErrImagePull shows before ImagePullBackOff


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
        services = await cluster.list("services")
        snapshot = Snapshot(
            config_maps={_key(o): o for o in await cluster.list("configmaps")},
            secrets={_key(o): o for o in await cluster.list("secrets")},
            services=services,
            network=Network(services, await cluster.list("endpoints"), self._listeners()),
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

    def _listeners(self) -> dict[str, set[int]]:
        listening: dict[str, set[int]] = {}
        for runtime in self._pods.values():
            for container in runtime.containers.values():
                if container.phase == "running" and container.run is not None:
                    listening.setdefault(runtime.ip, set()).update(container.run.ports)
        return listening

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
                spec["name"], init=True, reason="PodInitializing"
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
            for spec in pod["spec"].get("initContainers") or []:
                container = runtime.containers[spec["name"]]
                wakes.append(await self._step(pod, runtime, container, spec, now, snapshot))
                if not container.succeeded:
                    break
            else:
                for spec in pod["spec"]["containers"]:
                    wakes.append(
                        await self._step(pod, runtime, runtime.containers[spec["name"]], spec, now, snapshot)
                    )
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

    async def _step(
        self,
        pod: dict,
        runtime: PodRuntime,
        container: ContainerRuntime,
        spec: dict,
        now: float,
        snapshot: Snapshot,
    ) -> float | None:
        if container.attempted_image and spec.get("image") != container.attempted_image:
            await self._image_changed(pod, runtime, container, now)
        if container.phase == "running":
            wake = await self._running(pod, runtime, container, spec, now)
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
            return await self._running(pod, runtime, container, spec, now)
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
            container.terminate(runtime.uid, 137, "Error", self.cluster.clock.timestamp())
            container.last_terminated = container.terminated
        container.attempted_image, container.due, container.pull_failures = "", now, 0
        container.pulling_until = None

    def _will_start(self, pod: dict, container: ContainerRuntime) -> bool:
        if container.phase != "terminated" or container.terminated is None:
            return True
        policy = pod["spec"].get("restartPolicy", "Always")
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
        run = images.run(
            image,
            images.Container(
                name=container.name,
                image=image_name,
                command=list(spec.get("command") or []),
                args=list(spec.get("args") or []),
                env=env,
                memory_limit=int(limit) if limit is not None else None,
                namespace=pod["metadata"].get("namespace", "default"),
                pod_ip=runtime.ip,
            ),
            snapshot.network,
        )
        if container.ever_started or container.terminated is not None:
            container.restart_count += 1
        stamp = self.cluster.clock.timestamp()
        if run.start_error is not None:
            container.started_at, container.ever_started = stamp, True
            container.image_name = image_name
            container.terminate(runtime.uid, 128, "StartError", stamp, run.start_error)
            await self._event(pod, runtime, "Warning", "Failed", f"Error: {run.start_error}", container)
            await self._after_exit(pod, container, now)
            return False
        await self._event(
            pod, runtime, "Normal", "Created", f"Created container: {container.name}", container
        )
        container.start(run, image, image_name, now, stamp)
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
        self, pod: dict, runtime: PodRuntime, container: ContainerRuntime, spec: dict, now: float
    ) -> float | None:
        run = container.run
        assert run is not None
        exit_at = container.exit_time()
        kill_at, kill_kind, probe_wake = await self._liveness(
            pod, runtime, container, spec, min(now, exit_at or now)
        )
        if exit_at is not None and exit_at <= now and (kill_at is None or exit_at <= kill_at):
            self._log(pod, container, run.exit_logs)
            reason = "OOMKilled" if run.oom_killed else ("Completed" if run.exit_code == 0 else "Error")
            container.terminate(runtime.uid, run.exit_code, reason, self.cluster.clock.timestamp())
            await self._after_exit(pod, container, now)
            return None
        if kill_at is not None and kill_at <= now:
            await self._event(
                pod,
                runtime,
                "Normal",
                "Killing",
                f"Container {container.name} failed {kill_kind} probe, will be restarted",
                container,
            )
            container.terminate(runtime.uid, 137, "Error", self.cluster.clock.timestamp())
            await self._after_exit(pod, container, now)
            return None
        ready_wake = await self._readiness(pod, runtime, container, spec, now)
        wakes = [w for w in (exit_at, kill_at, probe_wake, ready_wake) if w is not None]
        return min(wakes) if wakes else None

    async def _liveness(
        self, pod: dict, runtime: PodRuntime, container: ContainerRuntime, spec: dict, now: float
    ) -> tuple[float | None, str, float | None]:
        """(when the container is killed, by which probe, next probe time) for failing startup/liveness probes."""
        for kind, key in (("startup", "startupProbe"), ("liveness", "livenessProbe")):
            probe = spec.get(key)
            if not probe:
                continue
            passed, message = check(probe, spec, container.image, container.run, runtime.ip)  # type: ignore[arg-type]
            if passed:
                continue
            timing = Timing.of(probe)
            first = container.started_sim + timing.initial_delay + timing.period
            kill_at = first + (timing.failure_threshold - 1) * timing.period
            await self._report_failures(
                pod, runtime, container, kind, message, first, timing.period, min(now, kill_at)
            )
            return kill_at, kind, None if now >= first else first
        return None, "", None

    async def _readiness(
        self, pod: dict, runtime: PodRuntime, container: ContainerRuntime, spec: dict, now: float
    ) -> float | None:
        probe = spec.get("readinessProbe")
        if container.exits_at_start:
            container.ready = False
            return None
        if not probe or container.init:
            container.ready = not container.init
            return None
        timing = Timing.of(probe)
        first = container.started_sim + timing.initial_delay
        if now < first:
            container.ready = False
            return first
        passed, message = check(probe, spec, container.image, container.run, runtime.ip)  # type: ignore[arg-type]
        container.ready = passed
        if passed:
            return None
        await self._report_failures(pod, runtime, container, "readiness", message, first, timing.period, now)
        elapsed = int((now - first) // timing.period) + 1
        return first + elapsed * timing.period

    async def _report_failures(
        self,
        pod: dict,
        runtime: PodRuntime,
        container: ContainerRuntime,
        kind: str,
        message: str,
        first: float,
        period: float,
        until: float,
    ) -> None:
        """One aggregated Unhealthy event per failed probe between `first` and `until`."""
        if until < first:
            return
        failures = int((until - first) // period) + 1
        for _ in range(container.probes_reported.get(kind, 0), failures):
            await self._event(
                pod,
                runtime,
                "Warning",
                "Unhealthy",
                f"{kind.capitalize()} probe failed: {message}",
                container,
            )
        container.probes_reported[kind] = max(failures, container.probes_reported.get(kind, 0))

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
        initialized = all(c.succeeded for c in inits)
        ready = initialized and all(c.ready for c in apps)
        phase = pod_phase(spec.get("restartPolicy", "Always"), inits, apps, self._will_start, pod)
        unready = [c.name for c in apps if not c.ready]
        not_ready_reason = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
        sandbox_ready = runtime.mount_due < 0  # the pod sandbox (and its IP) exists once volumes are mounted
        conditions = [
            ("PodReadyToStartContainers", sandbox_ready, "", ""),
            (
                "Initialized",
                initialized,
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(c.name for c in inits if not c.succeeded)}]",
            ),
            ("Ready", ready, not_ready_reason, f"containers with unready status: [{' '.join(unready)}]"),
            (
                "ContainersReady",
                ready,
                not_ready_reason,
                f"containers with unready status: [{' '.join(unready)}]",
            ),
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
        if not ok and reason:
            condition.update(reason=reason, message=message)
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


def pod_phase(
    policy: str, inits: list[ContainerRuntime], apps: list[ContainerRuntime], will_start, pod: dict
) -> str:
    if not all(c.succeeded for c in inits):
        if any(c.phase == "terminated" and not will_start(pod, c) for c in inits):
            return "Failed"
        return "Pending"
    if any(c.phase == "running" for c in apps):
        return "Running"
    if not all(c.ever_started for c in apps):
        return "Pending"
    if any(will_start(pod, c) for c in apps):
        return "Running"
    return "Succeeded" if all(c.succeeded for c in apps) else "Failed"


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
