"""The catalogue of images the sandbox can run, and what each image's own program does.

Behaviour depends only on the container spec (command, args, env, limits, volumes) and the cluster as a
container sees it (Services, endpoints, listening pods): never on a scenario's expected answer.

The built-in images and their tags are data, in the package's images/*.yaml (builtin.yaml: the sandbox's
own apps; dockerhub.yaml: Docker Hub's official images; any other tag, or any other image, fails to pull);
scenarios may add images with ``kind: SandboxImage`` documents of the same form (see scenarios/README.md).
The kubelet (kubelet.py) starts containers through shell.run, which decides what runs (this image's
program, a shell script, a tool, an interpreter) and calls `program` for the image's own.

Every image uses a baseline of memory (busybox 1 MiB, nginx 8 MiB ... inventory 180 MiB): a memory limit
below what a program uses is OOMKilled. Beyond its program an image declares, as data, its userland (busybox
or GNU tools, which shell /bin/sh is), its USER (runAsNonRoot), its interpreters and how they fail on a
missing file, the paths its program writes at start (a read-only root filesystem, or a uid other than the
owner's, crashes it unless a volume is mounted there) and the files it opens at start (a mount over them
crashes it). Its port is the pod's: taken by another container of the pod, the program cannot bind it.
Probes hit what the running program really serves: its port and paths (httpGet, tcpSocket) or its tools
and files (exec).

A `Run` is one start's whole timeline: lines by simulated time, when it serves its ports (a slow
starter prints its "listening" line then), its files over time, the loops it goes round for ever
(`Cycle`), and when it exits. The kubelet replays it as its clock advances; `Epoch` is the cluster a
run is started again on when what a loop waits on changed (shell.py).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from . import applogs
from .applogs import Language
from .files import EACCES, EISDIR, ENOENT, ERRNO, STRERROR, Change, File, Filesystem
from .network import Dial, Dns, Network, Outcome, cluster_first
from .quantity import parse

Behaviour = Literal["server", "app", "shell", "batch"]
SHELLS = frozenset({"sh", "ash", "bash"})
SHELL_TOOLS = frozenset({"sh", "ash", "sleep", "cat", "ls", "wget", "nc", "nslookup"})
NETWORK_TOOLS = frozenset({"nc", "nslookup", "wget", "curl"})
# The tools each userland brings besides the image's own `tools` (those shell.py knows how to run).
_COREUTILS = (
    "sh sleep cat ls env printenv dd touch mkdir rm date hostname tail head grep id whoami true false echo"
)
USERLAND_TOOLS = {
    "busybox": frozenset(f"{_COREUTILS} printf test [ seq ash wget nc nslookup".split()),
    "gnu": frozenset(f"{_COREUTILS} printf test [ seq".split()),
    "none": frozenset(),
}
START_SECONDS = 1.0  # time from start to the first crash of a misconfigured app
_ERRNO_PLACEHOLDER = re.compile(r"\{(errno|code|strerror|error|exception)\}")  # in a Write's error lines
# The OSError subclass Python raises for an errno (PEP 3151); the others raise OSError itself.
_PYTHON_EXCEPTIONS = {EACCES: "PermissionError", ENOENT: "FileNotFoundError", EISDIR: "IsADirectoryError"}


# Scenario files spell the fields in camelCase like Kubernetes objects; Python code uses snake_case.
_MODEL_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Dependency(BaseModel):
    """A backend the app dials at start: host and port from env, with defaults."""

    model_config = _MODEL_CONFIG

    protocol: str  # "redis", "postgres", "http" ...: only for log wording
    host_env: str
    port_env: str | None = None
    default_port: int


class Interpreter(BaseModel):
    """A runtime that runs a file named on its command line (python app.py, node x.js, java -jar x.jar)."""

    model_config = _MODEL_CONFIG

    programs: list[str]  # the names it answers to: python, python3
    file_flag: str | None = None  # the file follows this flag (java: -jar); else it is the first operand
    inline_flags: list[str] = Field(default_factory=list)  # these take code or a module instead (-c, -m)
    # Printed when the file is not there: {program} is the name as invoked, {path} the path as given,
    # {abspath} the path from the working directory.
    missing_file: list[str]
    exit_code: int = 1


class Write(BaseModel):
    """A path the program writes to at start. When it is not writable (a read-only root filesystem without
    a volume there, a read-only mount, or a root-owned directory of the image for another user) the
    program prints `error`: fatal, it exits 1 at start; otherwise the lines replace the start line
    `instead` and it goes on. The lines may name the failure as the program's runtime does: {errno} (30),
    {code} (EROFS), {strerror} (Read-only file system), {error} (read-only file system, as Go words it),
    {exception} (Python's OSError class for it: PermissionError for EACCES, OSError for EROFS)."""

    model_config = _MODEL_CONFIG

    path: str
    error: list[str]
    fatal: bool = True
    instead: str | None = None


class Read(BaseModel):
    """A file the program opens at start (its script, its config): when the path is missing it prints
    `missing`, when it is a directory (a subPath naming a key the ConfigMap lacks mounts one) `directory`,
    and exits `exitCode`. {path} in the lines is the path."""

    model_config = _MODEL_CONFIG

    path: str
    missing: list[str]
    directory: list[str]
    exit_code: int = 1


class ImageSpec(BaseModel):
    model_config = _MODEL_CONFIG

    repository: str
    tags: list[str]
    behaviour: Behaviour = "app"
    language: Language = "go"
    entrypoint: str = "app"  # the binary a `command:` override must name
    port: int | None = 8080  # None: listens nowhere
    port_env: str | None = "PORT"
    protocol: Literal["http", "tcp"] = "http"
    http_paths: list[str] = Field(default_factory=lambda: ["/", "/healthz", "/readyz"])
    required_env: list[str] = Field(default_factory=list)
    # At least one must hold: "NAME" (set, non-empty) or "NAME=value" (set to exactly that), as entrypoint
    # scripts accept MYSQL_ROOT_PASSWORD or MYSQL_ALLOW_EMPTY_PASSWORD or MYSQL_RANDOM_ROOT_PASSWORD.
    required_env_one_of: list[str] = Field(default_factory=list)
    missing_env_message: list[str] | None = None  # exact lines to print instead of the language's wording
    dependencies: list[Dependency] = Field(default_factory=list)
    url_envs: list[str] = Field(default_factory=list)  # env vars holding scheme://host:port URLs to dial
    depends_on_env: str | None = "DEPENDS_ON"
    flags: list[str] | None = None  # accepted --flags; None = arguments are not checked
    memory_mib: int = 16
    allocate_env: str | None = None  # MiB the app allocates on top of its baseline
    run_seconds: float = 5.0  # batch images
    # Seconds from the process start until it serves its port and paths (a JVM warming up, a model
    # loading): probes before then fail like a connection refused. 0: serves at once.
    start_seconds: float = 0.0
    files: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=lambda: sorted(SHELL_TOOLS))
    size_bytes: int = 12_345_678
    start_lines: list[str] | None = None  # exact startup lines instead of the language's wording
    # Printed only once the program passed its env and dependency checks: a server's "ready" wording, which
    # a crash at start (postgres without POSTGRES_PASSWORD) never reaches.
    ready_lines: list[str] = Field(default_factory=list)
    exec_replies: dict[str, str] = Field(default_factory=dict)  # exec probe command -> output
    # busybox: busybox's tools and wording; gnu: GNU coreutils'; none: no tools besides `tools` (distroless).
    userland: Literal["busybox", "gnu", "none"] = "busybox"
    shell: Literal["ash", "dash", "bash"] = "ash"  # what /bin/sh is, for its error wording
    user: str = ""  # the image config's USER: "" runs as root, a number as that uid, a name is unverifiable
    workdir: str = "/"
    env: dict[str, str] = Field(
        default_factory=lambda: {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    )
    interpreters: list[Interpreter] = Field(default_factory=list)
    writes_to: list[Write] = Field(default_factory=list)
    reads: list[Read] = Field(default_factory=list)
    # What the program prints when its port is already taken in the pod's network namespace (another
    # container of the pod listens on it); {port} is the port. None: its language's wording.
    address_in_use: list[str] | None = None
    # An argument that keeps the program in the foreground (nginx: "daemon off"): given a command or args
    # without it, the program forks into the background and the started process exits 0.
    foreground_arg: str | None = None

    def owned_by(self, uid: int | None) -> list[str]:
        """The directories of the image that `uid` owns: those its program writes to, when `uid` is the
        image's own non-root USER (its Dockerfile gives them to that user)."""
        user = self.user.split(":")[0]
        own = int(user) if user.isdigit() else (None if user else 0)
        return [write.path for write in self.writes_to] if own != 0 and uid == own else []

    def binaries(self) -> set[str]:
        interpreters = {name for interpreter in self.interpreters for name in interpreter.programs}
        return {
            self.entrypoint,
            *self.tools,
            *self.exec_replies,
            *interpreters,
            *USERLAND_TOOLS[self.userland],
        }


_DEFAULT_PORTS = {
    "redis": 6379,
    "postgres": 5432,
    "postgresql": 5432,
    "mysql": 3306,
    "http": 80,
    "https": 443,
}


def image_spec(document: dict) -> ImageSpec:
    """A SandboxImage document as an ImageSpec: metadata.name is the repository, spec the fields."""
    return ImageSpec(repository=document["metadata"]["name"], **(document.get("spec") or {}))


@functools.cache
def builtin_images() -> tuple[ImageSpec, ...]:
    """The images every sandbox runs, read once from the package's images/*.yaml (in name order)."""
    folder = resources.files("smart_sre_sandbox") / "images"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    return tuple(image_spec(document) for f in files for document in yaml.safe_load_all(f.read_text()))


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        name, _, digest = image.partition("@")
        last_slash = name.rfind("/")
        repository, tag = name, "latest"
        if ":" in name[last_slash + 1 :]:
            repository, _, tag = name.rpartition(":")
        for prefix in ("docker.io/library/", "docker.io/", "library/"):
            if repository.startswith(prefix):
                repository = repository[len(prefix) :]
        return cls(repository, digest or tag)


class Catalogue:
    """The images a sandbox can pull: the built-in ones unless ``images`` says otherwise, plus added ones."""

    def __init__(self, images: Iterable[ImageSpec] | None = None) -> None:
        self._images = {image.repository: image for image in (builtin_images() if images is None else images)}

    def add(self, image: ImageSpec) -> None:
        self._images[image.repository] = image

    def lookup(self, image: str) -> ImageSpec | None:
        ref = ImageRef.parse(image)
        spec = self._images.get(ref.repository)
        return spec if spec is not None and ref.tag in spec.tags else None

    def knows_repository(self, image: str) -> bool:
        return ImageRef.parse(image).repository in self._images

    def __iter__(self) -> Iterator[ImageSpec]:
        return iter(self._images.values())


Line = tuple[float, str]  # (seconds after the container started, the text)
# What a script asked the cluster and was answered: ("dial", dns, host, port, own_ip) -> Dial,
# ("resolve", dns, host) -> address; ("file", volume, path) -> None for a path of a shared volume.
Question = tuple
Answer = object
Asked = tuple[float, Question, Answer]  # when (seconds after the start), what, and the answer


@dataclass(frozen=True)
class Cycle:
    """A loop the script goes round without end as far as the cluster it saw goes: from `first`, a round
    every `period` seconds until `until`, each printing `lines` (seconds into the round, text) and asking
    the cluster `watches` (question, answer) again. A change in those answers is what it waits for."""

    first: float
    period: float
    lines: tuple[Line, ...] = ()
    watches: tuple[tuple[Question, Answer], ...] = ()
    until: float = math.inf

    def rounds(self, after: float, upto: float) -> range:
        """The rounds (numbered from 0) that start after `after` and at or before `upto`."""
        end = min(upto, self.until - 1e-9)
        if end < self.first:
            return range(0)
        low = max(0, math.floor((after - self.first) / self.period) + 1) if after >= self.first else 0
        return range(low, math.floor((end - self.first) / self.period) + 1)

    def start_of(self, index: int) -> float:
        return self.first + index * self.period

    def next_round(self, after: float) -> float:
        """When its first round after `after` starts; math.inf when it has none."""
        following = self.rounds(after, max(after, self.first) + self.period)
        return self.start_of(following[0]) if following else math.inf


@dataclass(frozen=True)
class Epoch:
    """A change to the cluster as a script sees it, from `since` (seconds after its start) on: its network
    (None: as before), and the files other containers of the pod changed in shared volumes then."""

    since: float
    network: Network | None = None
    changes: tuple[Change, ...] = ()


@dataclass
class Run:
    """What one start of a container does: lines at start, lines later (by simulated time), loops it goes
    round, its files over time, then either keeps running or exits."""

    logs: list[str] = field(default_factory=list)  # printed at the start
    timed: list[Line] = field(default_factory=list)  # printed later, in time order
    exit_after: float | None = None  # simulated seconds after the start; None = runs until stopped
    exit_code: int = 0
    oom_killed: bool = False
    start_error: str | None = None  # the runtime could not start the process (StartError, exit 128)
    ports: dict[int, frozenset[str] | None] = field(default_factory=dict)  # port -> HTTP paths (None: TCP)
    serves_from: float = 0.0  # seconds after the start from which the program answers on `ports`
    detached: bool = False  # the program forked into the background: its caller sees it exit 0 at once
    # The container's files as the run changes them over time; its writable volumes are the pod's, for
    # the containers started after it.
    files: Filesystem | None = None
    cycles: list[Cycle] = field(default_factory=list)
    asked: list[Asked] = field(default_factory=list)  # what it asked the cluster, in the order it did

    @property
    def exit_logs(self) -> list[str]:
        """The lines printed after the start (a loop's endless rounds aside): all a run that exits printed
        after its start lines."""
        bounded = [at for at, _ in self.timed] + [c.until for c in self.cycles if c.until < math.inf]
        return self.lines_between(0.0, max(bounded, default=0.0))

    def exits(self, after: float, code: int, lines: list[str]) -> Run:
        self.exit_after, self.exit_code = after, code
        self.timed += [(after, line) for line in lines]
        return self

    def volumes_at(self, moment: float) -> dict[str, dict[str, File]]:
        """The pod's writable volumes as this run had left them `moment` seconds after its start."""
        return self.files.as_of(moment).volumes() if self.files is not None else {}

    def lines_between(self, after: float, upto: float) -> list[str]:
        """What it printed after `after` and up to `upto` (seconds after the start), in time order."""
        found = [(at, line) for at, line in self.timed if after < at <= upto]
        for cycle in self.cycles:
            for index in cycle.rounds(after - cycle.period, upto):
                start = cycle.start_of(index)
                found += [(start + at, line) for at, line in cycle.lines if after < start + at <= upto]
        return [line for _, line in sorted(found, key=lambda pair: pair[0])]

    def expected(self, after: float) -> list[Asked]:
        """What it asks the cluster after `after`, with the answers it counted on (a loop: from its next
        round on)."""
        found = [asked for asked in self.asked if asked[0] > after]
        for cycle in self.cycles:
            following = cycle.next_round(after)
            if following < math.inf:
                found += [(following, question, answer) for question, answer in cycle.watches]
        return found

    def next_question(self, after: float) -> float:
        """When it next asks the cluster something after `after`; math.inf when never."""
        return min((at for at, _, _ in self.expected(after)), default=math.inf)

    def next_line(self, after: float) -> float:
        """When it next prints something after `after`; math.inf when never."""
        moments = [at for at, _ in self.timed if at > after]
        for cycle in self.cycles:
            for index in cycle.rounds(after - cycle.period, max(after, cycle.first) + cycle.period):
                moments += [cycle.start_of(index) + at for at, _ in cycle.lines]
        return min((m for m in moments if m > after), default=math.inf)


@dataclass(frozen=True)
class Container:
    """A container spec with its env resolved, as the runtime hands it to the process."""

    name: str
    image: str
    command: list[str]
    args: list[str]
    env: dict[str, str]
    memory_limit: int | None  # bytes
    namespace: str
    pod_ip: str
    files: Filesystem | None = None  # None: only the image's files, all writable
    hostname: str = ""
    workdir: str = ""  # the spec's workingDir; "" = the image's
    uid: int | None = 0  # None: a user name the image gives
    ports_in_use: frozenset[int] = frozenset()  # ports other containers of the pod listen on
    dns: Dns | None = None  # its resolv.conf (network.pod_dns); None: ClusterFirst in its namespace

    @property
    def resolver(self) -> Dns:
        """The DNS its names are looked up with."""
        return self.dns or cluster_first(self.namespace)


def program(image: ImageSpec, container: Container, network: Network, argv: list[str]) -> Run:
    """One start of the image's own program (its entrypoint) with these arguments."""
    ref = ImageRef.parse(container.image)
    app = ref.repository.rsplit("/", 1)[-1]
    lines = (
        list(image.start_lines)
        if image.start_lines is not None
        else applogs.starting(image.language, app, ref.tag)
    )
    files = container.files or Filesystem(image.files)
    unwritable = [
        (write, _failure(write.error, error))
        for write in image.writes_to
        if (error := files.write_error(write.path)) is not None
    ]
    for write, error in unwritable:
        if not write.fatal and write.instead in lines:
            at = lines.index(write.instead)
            lines[at : at + 1] = error
    result = Run(logs=lines)
    if image.flags is not None:
        unknown = [
            arg for arg in argv if arg.startswith("-") and arg.lstrip("-").split("=")[0] not in image.flags
        ]
        if unknown:
            name = {"python": "main.py", "node": image.entrypoint}.get(
                image.language, f"/app/{image.entrypoint}"
            )
            return result.exits(0.2, 2, applogs.bad_flag(image.language, name, unknown[0], image.flags))
    allocated = _allocation(image, container.env, argv)
    used = (image.memory_mib + allocated) * 2**20 + files.charged
    if container.memory_limit is not None and used > container.memory_limit:
        result.oom_killed = True
        return result.exits(
            START_SECONDS + 2.0, 137, applogs.out_of_memory(image.language, image.memory_mib + allocated)
        )
    missing = _missing_env(image, container.env)
    if missing is not None:
        message = image.missing_env_message or applogs.missing_env(image.language, missing)
        return result.exits(START_SECONDS, 1, list(message))
    unread = _unreadable(image, files)
    if unread is not None:
        return result.exits(START_SECONDS, *unread)
    fatal = next((error for write, error in unwritable if write.fatal), None)
    if fatal is not None:
        return result.exits(START_SECONDS, 1, fatal)
    for protocol, dial in _dial_dependencies(image, container, network):
        if dial.outcome is not Outcome.OK:
            return result.exits(START_SECONDS, 1, applogs.dial_failed(image.language, protocol, dial))
        result.logs += applogs.connected(image.language, protocol, dial)
    if image.behaviour == "batch":
        result.logs += image.ready_lines
        duration = container.env.get("DURATION_SECONDS", "")
        seconds = float(duration) if duration.replace(".", "", 1).isdigit() else image.run_seconds
        return result.exits(seconds, 0, applogs.batch_done(image.language, int(seconds * 100)))
    # What it prints once it serves, which a slow starter (start_seconds) prints only then.
    serving = list(image.ready_lines)
    port = _listen_port(image, container.env, argv)
    if port is not None and port in container.ports_in_use:
        # bind(2) fails with EADDRINUSE when the program gets to listening: a slow starter late.
        lines = image.address_in_use or applogs.address_in_use(image.language, port)
        bound = max(START_SECONDS, image.start_seconds)
        return result.exits(bound, 1, [line.replace("{port}", str(port)) for line in lines])
    if port is not None:
        result.ports[port] = frozenset(image.http_paths) if image.protocol == "http" else None
        if image.start_lines is None:
            serving += applogs.listening(image.language, port)
    result.serves_from = image.start_seconds
    if image.start_seconds > 0:
        result.timed += [(image.start_seconds, line) for line in serving]
    else:
        result.logs += serving
    foreground = image.foreground_arg
    if foreground and (container.command or container.args) and not any(foreground in arg for arg in argv):
        result.detached = True
    return result


def _failure(lines: list[str], error: str) -> list[str]:
    """A program's lines about a failed write, with the errno named as its runtime names it."""
    words = {
        "errno": str(ERRNO[error]),
        "code": error,
        "strerror": STRERROR[error],
        "error": STRERROR[error].lower(),
        "exception": _PYTHON_EXCEPTIONS.get(error, "OSError"),
    }
    return [_ERRNO_PLACEHOLDER.sub(lambda m: words[m.group(1)], line) for line in lines]


def _unreadable(image: ImageSpec, files: Filesystem) -> tuple[int, list[str]] | None:
    """The exit code and lines of the first file the program opens at start that is not a file."""
    for read in image.reads:
        if files.file(read.path) is not None:
            continue
        lines = read.directory if files.is_dir(read.path) else read.missing
        return read.exit_code, [line.replace("{path}", read.path) for line in lines]
    return None


def _missing_env(image: ImageSpec, env: dict[str, str]) -> str | None:
    """The first required variable the environment lacks (for one-of groups, the first named), or None."""
    missing = next((name for name in image.required_env if not env.get(name)), None)
    if missing is not None or not image.required_env_one_of:
        return missing
    for requirement in image.required_env_one_of:
        name, is_value, value = requirement.partition("=")
        if env.get(name) and (not is_value or env[name] == value):
            return None
    return image.required_env_one_of[0].partition("=")[0]


def _allocation(image: ImageSpec, env: dict[str, str], argv: list[str]) -> int:
    """MiB the program allocates beyond its baseline: from its env var or an --allocate flag."""
    raw = env.get(image.allocate_env, "") if image.allocate_env else ""
    for arg in argv:
        if arg.startswith("--allocate="):
            raw = arg.split("=", 1)[1]
    if not raw:
        return 0
    try:
        return int(raw) if raw.isdigit() else int(parse(raw) / 2**20)
    except ValueError:
        return 0


def _listen_port(image: ImageSpec, env: dict[str, str], argv: list[str]) -> int | None:
    port = image.port
    if image.port_env and env.get(image.port_env, "").isdigit():
        port = int(env[image.port_env])
    for arg in argv:
        if arg.lstrip("-").startswith("port=") and arg.split("=", 1)[1].isdigit():
            port = int(arg.split("=", 1)[1])
    return port


def _dial_dependencies(image: ImageSpec, container: Container, network: Network) -> list[tuple[str, Dial]]:
    env, targets = container.env, []
    for dep in image.dependencies:
        if dep.host_env in env:
            port = env.get(dep.port_env or "", "")
            targets.append(
                (dep.protocol, env[dep.host_env], int(port) if port.isdigit() else dep.default_port)
            )
    for name in image.url_envs:
        url = urlsplit(env.get(name, ""))
        default = _DEFAULT_PORTS.get(url.scheme, 80)
        try:
            port = url.port or default
        except ValueError:
            # The port is no number: the client library would refuse the URL; dial the scheme's port.
            port = default
        if url.hostname:
            targets.append((url.scheme or "http", url.hostname, port))
    if image.depends_on_env:
        for item in filter(None, (part.strip() for part in env.get(image.depends_on_env, "").split(","))):
            host, _, port = item.rpartition(":")
            if host and port.isdigit():
                targets.append(("tcp", host, int(port)))
    return [
        (protocol, network.dial(container.resolver, host, port, own_ip=container.pod_ip))
        for protocol, host, port in targets
    ]
