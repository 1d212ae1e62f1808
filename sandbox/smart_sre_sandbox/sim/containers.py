"""One container's life on a node: starts, runs, exits, restarts with back-off, as the kubelet tracks it.

The kubelet drives it with simulated time; this class keeps the state and renders the containerStatus.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from . import backoff
from .images import ImageSpec, Run

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
    ever_started: bool = False
    probes_reported: dict[str, int] = field(default_factory=dict)  # probe kind -> failures already evented
    backoff_base: int = 0  # restartCount when the back-off last started over

    @property
    def field_path(self) -> str:
        return f"spec.{'initContainers' if self.init else 'containers'}{{{self.name}}}"

    @property
    def succeeded(self) -> bool:
        return self.phase == "terminated" and self.terminated is not None and self.terminated["exitCode"] == 0

    def start(self, run: Run, image: ImageSpec, image_name: str, now: float, stamp: str) -> None:
        self.run, self.image, self.image_name = run, image, image_name
        self.phase, self.reason, self.message = "running", "", ""
        self.started_sim, self.started_at = now, stamp
        self.terminated, self.ready, self.ever_started = None, False, True
        self.probes_reported = {}

    @property
    def exits_at_start(self) -> bool:
        """Whether the current run dies before the kubelet could report it Ready."""
        return (
            self.run is not None and self.run.exit_after is not None and self.run.exit_after <= RELIST_SECONDS
        )

    def exit_time(self) -> float | None:
        if self.phase != "running" or self.run is None or self.run.exit_after is None:
            return None
        return self.started_sim + self.run.exit_after

    def terminate(self, pod_uid: str, code: int, reason: str, stamp: str, message: str = "") -> dict:
        terminated = {
            "exitCode": code,
            "reason": reason,
            **({"message": message} if message else {}),
            "startedAt": self.started_at or stamp,
            "finishedAt": stamp,
            "containerID": container_id(pod_uid, self.name, self.restart_count),
        }
        self.phase, self.terminated, self.ready = "terminated", terminated, False
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
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.phase == "running",
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.ever_started:
            status["containerID"] = (self.terminated or {}).get("containerID") or container_id(
                pod_uid, self.name, self.restart_count
            )
        return status
