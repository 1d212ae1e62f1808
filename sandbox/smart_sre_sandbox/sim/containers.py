"""One container's life on a node: starts, runs, exits, restarts with back-off, as the kubelet tracks it.

The kubelet (kubelet.py) drives it with simulated time; this class keeps the state and renders the
containerStatus: `started` once its startup probe passed, `ready` as its probes say (an init container:
once it exited 0), the current and last termination. It also keeps what the current run was started
with (`Launch`), for the kubelet to run it again when the cluster a polling loop waits on changed, and
how far its log has been written (`logged_until`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace

from . import backoff
from .files import Change, File
from .images import Container, Epoch, ImageSpec, Run
from .network import Network

NEVER = math.inf
MIN_RESTART_SECONDS = 1.0  # even an immediate restart leaves the exit visible for a sync period
# The kubelet's PLEG relists containers every second: a process that dies sooner is never seen running long
# enough to be Ready, so `kubectl wait --for=condition=Ready` never passes on a command that fails at once.
RELIST_SECONDS = 1.0


def container_id(pod_uid: str, name: str, attempt: int) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}/{attempt}".encode()).hexdigest()


def image_id(image: str) -> str:
    repository = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    if "/" not in repository:
        repository = f"docker.io/library/{repository}"
    elif "." not in repository.split("/")[0]:
        repository = f"docker.io/{repository}"
    return f"{repository}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


@dataclass(frozen=True)
class Sibling:
    """Another container's run of the pod, as a run started beside it counts on it: what it writes to the
    pod's volumes, and when."""

    run: Run
    started: float
    ended: float | None

    def volumes_at(self, now: float) -> dict[str, dict[str, File]]:
        return self.run.volumes_at((now if self.ended is None else min(now, self.ended)) - self.started)

    def changes(self, after: float) -> list[Change]:
        """Its changes to the pod's volumes after `after`, stamped with their simulated time."""
        found = self.run.files.changes if self.run.files is not None else []
        return [
            replace(change, at=self.started + change.at)
            for change in found
            if change.volume is not None
            and after < self.started + change.at <= (NEVER if self.ended is None else self.ended)
        ]


@dataclass
class Launch:
    """What the kubelet started a run with: the process, the cluster's network then, the pod's other
    containers as the run counts on them (`siblings`), and the changes it sees later (`epochs`)."""

    container: Container
    network: Network
    siblings: tuple[Sibling, ...]
    epochs: list[Epoch] = field(default_factory=list)

    def shared(self, now: float) -> dict[str, dict[str, File]]:
        """The pod's volumes as the run counts on the other containers having them at `now`."""
        return merged_volumes(self.siblings, now)


def merged_volumes(siblings: tuple[Sibling, ...], now: float) -> dict[str, dict[str, File]]:
    """The pod's writable volumes as these containers (oldest start first) have left them by `now`."""
    volumes: dict[str, dict[str, File]] = {}
    for sibling in siblings:
        volumes.update(sibling.volumes_at(now))
    return volumes


@dataclass
class ContainerRuntime:
    name: str
    init: bool
    restart_count: int = 0
    # waiting | running | terminated
    phase: str = "waiting"
    reason: str = "ContainerCreating"
    message: str = ""
    run: Run | None = None
    image: ImageSpec | None = None
    image_name: str = ""  # the image of the current or last run
    attempted_image: str = ""  # the image the kubelet last tried to pull and start
    started_sim: float = 0.0
    started_at: str = ""
    due: float = 0.0  # simulated time of the next start attempt
    terminated: dict | None = None  # current state.terminated
    last_terminated: dict | None = None
    pull_failures: int = 0
    pulling_until: float | None = None  # simulated time the image pull in progress completes
    ready: bool = False
    startup_passed: bool = False  # the current run passed its startup probe (or has none)
    sidecar: bool = False  # an init container with restartPolicy Always: runs beside the app containers
    ever_started: bool = False
    probes_reported: dict[str, int] = field(default_factory=dict)  # probe kind -> failures already evented
    backoff_base: int = 0  # restartCount when the back-off last started over
    launch: Launch | None = None  # what the current run was started with
    logged_until: float = 0.0  # seconds after the start up to which the run's log is written
    ended_sim: float | None = None  # when the current run ended (simulated seconds), if it did

    @property
    def field_path(self) -> str:
        return f"spec.{'initContainers' if self.init else 'containers'}{{{self.name}}}"

    @property
    def succeeded(self) -> bool:
        return self.phase == "terminated" and self.terminated is not None and self.terminated["exitCode"] == 0

    def start(
        self,
        run: Run,
        image: ImageSpec,
        image_name: str,
        now: float,
        stamp: str,
        launch: Launch | None = None,
    ) -> None:
        self.run, self.image, self.image_name, self.launch = run, image, image_name, launch
        self.phase, self.reason, self.message = "running", "", ""
        self.started_sim, self.started_at, self.logged_until, self.ended_sim = now, stamp, 0.0, None
        self.terminated, self.ready, self.ever_started = None, False, True
        self.startup_passed, self.probes_reported = False, {}

    @property
    def exits_at_start(self) -> bool:
        """Whether the current run dies before the kubelet could report it Ready."""
        return (
            self.run is not None and self.run.exit_after is not None and self.run.exit_after <= RELIST_SECONDS
        )

    def serves_at(self) -> float:
        """When the current run's program serves its ports (its image's start time after it started)."""
        return self.started_sim + (self.run.serves_from if self.run is not None else 0.0)

    def volumes_at(self, now: float) -> dict[str, dict[str, File]]:
        """The pod's writable volumes as the current or last run had left them by `now`."""
        if self.run is None:
            return {}
        return Sibling(self.run, self.started_sim, self.ended_sim).volumes_at(now)

    def _program_ends(self) -> float | None:
        """When the current run's program exits on its own (simulated seconds); None: it runs on."""
        if self.run is None or self.run.exit_after is None:
            return None
        return self.started_sim + self.run.exit_after

    def exited_at(self) -> float | None:
        """When the terminated run's program exited on its own, if it did."""
        return self._program_ends() if self.phase == "terminated" else None

    def exit_time(self) -> float | None:
        """When the running program will exit on its own, if it will."""
        return self._program_ends() if self.phase == "running" else None

    def terminate(
        self, pod_uid: str, code: int, reason: str, stamp: str, message: str = "", at: float | None = None
    ) -> dict:
        """The run ended (at `at`, simulated seconds, when known): its containerStatus termination."""
        terminated = {
            "exitCode": code,
            "reason": reason,
            **({"message": message} if message else {}),
            "startedAt": self.started_at or stamp,
            "finishedAt": stamp,
            "containerID": container_id(pod_uid, self.name, self.restart_count),
        }
        self.phase, self.terminated, self.ready, self.startup_passed = "terminated", terminated, False, False
        self.ended_sim = at
        return terminated

    def schedule_restart(self, now: float, pod_label: str) -> float:
        """After an exit that will be restarted: when, and the CrashLoopBackOff wait state if any."""
        if now - self.started_sim >= backoff.RESET_AFTER_SECONDS:
            self.backoff_base = self.restart_count
        delay = backoff.restart_delay(self.restart_count - self.backoff_base)
        self.due = now + max(delay, MIN_RESTART_SECONDS)
        self.last_terminated = self.terminated
        if delay >= backoff.INITIAL_SECONDS:
            self.phase, self.reason = "waiting", "CrashLoopBackOff"
            self.message = (
                f"back-off {backoff.describe(delay)} restarting failed container={self.name} pod={pod_label}"
            )
        return delay

    def status(self, pod_uid: str, image: str) -> dict:
        state: dict
        if self.phase == "running":
            state = {"running": {"startedAt": self.started_at}}
        elif self.phase == "terminated" and self.terminated is not None:
            state = {"terminated": self.terminated}
        else:
            state = {
                "waiting": {"reason": self.reason, **({"message": self.message} if self.message else {})}
            }
        status = {
            "name": self.name,
            "image": image,
            "imageID": image_id(self.image_name) if self.ever_started else "",
            # An init container is ready once it exited 0 (prober_manager.UpdatePodStatus); a sidecar as probed.
            "ready": self.succeeded if self.init and not self.sidecar else self.ready,
            "restartCount": self.restart_count,
            "started": self.phase == "running" and self.startup_passed,
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.ever_started:
            status["containerID"] = (self.terminated or {}).get("containerID") or container_id(
                pod_uid, self.name, self.restart_count
            )
        return status
