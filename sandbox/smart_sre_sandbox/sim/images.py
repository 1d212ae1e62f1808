"""The catalogue of images the sandbox can run, and what a container of each does.

Behaviour depends only on the container spec (command, args, env, limits) and the cluster as a container
sees it (Services, endpoints, listening pods): never on a scenario's expected answer.

The built-in images and their tags are data, in the package's images/*.yaml (builtin.yaml: the sandbox's
own apps; dockerhub.yaml: Docker Hub's official images; any other tag, or any other image, fails to pull); scenarios may add images with ``kind: SandboxImage`` documents of the same form
(see scenarios/README.md). The kubelet (kubelet.py) runs containers through `run`.

Every image uses a baseline of memory (busybox 1 MiB, nginx 8 MiB ... inventory 180 MiB): a memory limit
below what a program uses is OOMKilled. A ``command:`` must name the image's entrypoint, a shell or a tool
the image has; anything else fails to start (StartError, exit 128, as runc reports it). Probes hit what
the running program really serves: its port and paths (httpGet, tcpSocket) or its tools and files (exec).
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from . import applogs
from .applogs import Language
from .network import DNS_SERVER, Dial, Network, Outcome
from .quantity import parse

Behaviour = Literal["server", "app", "shell", "batch"]
SHELLS = frozenset({"sh", "ash", "bash"})
SHELL_TOOLS = frozenset({"sh", "ash", "sleep", "cat", "ls", "wget", "nc", "nslookup"})
NETWORK_TOOLS = frozenset({"nc", "nslookup", "wget", "curl"})
SHELL_BUILTINS = frozenset({"echo", "exit", "true", "false", "test"})
START_SECONDS = 1.0  # time from start to the first crash of a misconfigured app


# Scenario files spell the fields in camelCase like Kubernetes objects; Python code uses snake_case.
_MODEL_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Dependency(BaseModel):
    """A backend the app dials at start: host and port from env, with defaults."""

    model_config = _MODEL_CONFIG

    protocol: str  # "redis", "postgres", "http" ...: only for log wording
    host_env: str
    port_env: str | None = None
    default_port: int


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
    files: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=lambda: sorted(SHELL_TOOLS))
    size_bytes: int = 12_345_678
    start_lines: list[str] | None = None  # exact startup lines instead of the language's wording
    # Printed only once the program passed its env and dependency checks: a server's "ready" wording, which
    # a crash at start (postgres without POSTGRES_PASSWORD) never reaches.
    ready_lines: list[str] = Field(default_factory=list)
    exec_replies: dict[str, str] = Field(default_factory=dict)  # exec probe command -> output

    def binaries(self) -> set[str]:
        return {self.entrypoint, *self.tools, *self.exec_replies}


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


@dataclass
class Run:
    """What one start of a container does: lines at start, then either keeps running or exits."""

    logs: list[str] = field(default_factory=list)
    exit_after: float | None = None  # simulated seconds after the start; None = runs until stopped
    exit_code: int = 0
    exit_logs: list[str] = field(default_factory=list)
    oom_killed: bool = False
    start_error: str | None = None  # the runtime could not start the process (StartError, exit 128)
    ports: dict[int, frozenset[str] | None] = field(default_factory=dict)  # port -> HTTP paths (None: TCP)

    def exits(self, after: float, code: int, lines: list[str]) -> Run:
        self.exit_after, self.exit_code, self.exit_logs = after, code, lines
        return self


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


def run(image: ImageSpec, container: Container, network: Network) -> Run:
    """Start `container` from `image` once."""
    if not container.command:
        if image.behaviour == "shell":  # args replace the image's CMD ("sh"), so they are the command
            return (
                run(image, replace(container, command=container.args, args=[]), network)
                if container.args
                else Run(exit_after=0.1)
            )
        return _program(image, container, network, container.args)
    program = container.command[0].rsplit("/", 1)[-1]
    argv = [*container.command[1:], *container.args]
    if program in SHELLS and program in image.binaries():
        if argv[:1] == ["-c"] and len(argv) > 1:
            return _shell(image, container, network, argv[1])
        return Run(exit_after=0.1)  # a shell without a script reads an empty stdin and exits 0
    if program != image.entrypoint and (image.behaviour == "shell" or program in image.tools):
        return _shell(image, container, network, shlex.join([*container.command, *container.args]))
    if program != image.entrypoint:
        return Run(
            start_error=(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
                "runc create failed: unable to start container process: error during container init: "
                f'exec: "{container.command[0]}": executable file not found in $PATH: unknown'
            )
        )
    return _program(image, container, network, argv)


def _program(image: ImageSpec, container: Container, network: Network, argv: list[str]) -> Run:
    ref = ImageRef.parse(container.image)
    app = ref.repository.rsplit("/", 1)[-1]
    lines = (
        list(image.start_lines)
        if image.start_lines is not None
        else applogs.starting(image.language, app, ref.tag)
    )
    result = Run(logs=lines)
    if image.flags is not None:
        unknown = [
            arg for arg in argv if arg.startswith("-") and arg.lstrip("-").split("=")[0] not in image.flags
        ]
        if unknown:
            program = {"python": "main.py", "node": image.entrypoint}.get(
                image.language, f"/app/{image.entrypoint}"
            )
            return result.exits(0.2, 2, applogs.bad_flag(image.language, program, unknown[0], image.flags))
    allocated = _allocation(image, container.env, argv)
    if container.memory_limit is not None and (image.memory_mib + allocated) * 2**20 > container.memory_limit:
        result.oom_killed = True
        return result.exits(
            START_SECONDS + 2.0, 137, applogs.out_of_memory(image.language, image.memory_mib + allocated)
        )
    missing = _missing_env(image, container.env)
    if missing is not None:
        message = image.missing_env_message or applogs.missing_env(image.language, missing)
        return result.exits(START_SECONDS, 1, list(message))
    for protocol, dial in _dial_dependencies(image, container, network):
        if dial.outcome is not Outcome.OK:
            return result.exits(START_SECONDS, 1, applogs.dial_failed(image.language, protocol, dial))
        result.logs += applogs.connected(image.language, protocol, dial)
    result.logs += image.ready_lines
    if image.behaviour == "batch":
        duration = container.env.get("DURATION_SECONDS", "")
        seconds = float(duration) if duration.replace(".", "", 1).isdigit() else image.run_seconds
        return result.exits(seconds, 0, applogs.batch_done(image.language, int(seconds * 100)))
    port = _listen_port(image, container.env, argv)
    if port is not None:
        result.ports[port] = frozenset(image.http_paths) if image.protocol == "http" else None
        if image.start_lines is None:
            result.logs += applogs.listening(image.language, port)
    return result


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
        (protocol, network.dial(container.namespace, host, port, own_ip=container.pod_ip))
        for protocol, host, port in targets
    ]


def _shell(image: ImageSpec, container: Container, network: Network, script: str) -> Run:
    """A tiny POSIX shell: statements split on `;`, `&&`, `||` and newlines; enough for Jobs and init containers."""
    result, elapsed, status = Run(), 0.0, 0
    tokens = shlex.shlex(script.replace("\n", ";"), posix=True, punctuation_chars=";&|")
    tokens.whitespace_split = True
    statements: list[tuple[str, list[str]]] = []
    current: list[str] = []
    joiner = ";"
    for token in tokens:
        if token in (";", "&&", "||"):
            statements.append((joiner, current))
            current, joiner = [], token
        else:
            current.append(token)
    statements.append((joiner, current))
    for joiner, words in statements:
        if not words or (joiner == "&&" and status != 0) or (joiner == "||" and status == 0):
            continue
        program, args = words[0].rsplit("/", 1)[-1], words[1:]
        if program == image.entrypoint and image.behaviour != "shell":
            started = _program(image, container, network, args)
            started.logs = result.logs + started.logs
            if started.exit_after is not None:
                started.exit_after += elapsed
            return started
        if (program not in image.tools and program not in SHELL_BUILTINS) or program in SHELLS:
            result.logs.append(f"sh: {program}: not found")
            status = 127
        elif program == "echo":
            result.logs.append(" ".join(args))
            status = 0
        elif program == "sleep":
            if args[:1] == ["infinity"]:
                return result
            elapsed += float(args[0]) if args and args[0].replace(".", "", 1).isdigit() else 0
            status = 0
        elif program == "exit":
            return result.exits(elapsed + 0.1, int(args[0]) if args and args[0].isdigit() else status, [])
        elif program in NETWORK_TOOLS:
            status, lines = _network_tool(program, args, container, network)
            result.logs += lines
        elif program in ("cat", "test", "ls"):
            path = args[-1] if args else ""
            status = 0 if path in image.files else 1
            if status and program == "cat":
                result.logs.append(f"cat: can't open '{path}': No such file or directory")
        else:
            status = 1 if program == "false" else 0
    return result.exits(elapsed + 0.1, status, [])


def _network_tool(
    program: str, args: list[str], container: Container, network: Network
) -> tuple[int, list[str]]:
    """busybox nc -z HOST PORT, nslookup HOST, wget/curl URL: (exit status, output lines)."""
    words = [a for a in args if not a.startswith("-")]
    if program == "nslookup":
        host = words[0] if words else ""
        fqdn = host if "." in host else f"{host}.{container.namespace}.svc.cluster.local"
        address = network.resolve(container.namespace, host)
        if address is None:
            return 1, [f"Server:\t\t{DNS_SERVER.split(':')[0]}", f"** server can't find {fqdn}: NXDOMAIN"]
        return 0, [f"Server:\t\t{DNS_SERVER.split(':')[0]}", f"Name:\t{fqdn}", f"Address: {address}"]
    if program == "nc":
        host, port = [*words, "", ""][:2]
    else:
        url = urlsplit(next((w for w in words if "://" in w), f"http://{words[0] if words else ''}"))
        host, port = url.hostname or "", str(url.port or 80)
    if not port.isdigit():
        return 1, [f"{program}: bad port '{port}'"]
    dial = network.dial(container.namespace, host, int(port), own_ip=container.pod_ip)
    if dial.outcome is Outcome.OK:
        return 0, []
    if dial.outcome is Outcome.NO_SUCH_HOST:
        return 1, [f"{program}: bad address '{host}'"]
    reason = "Connection refused" if dial.outcome is Outcome.REFUSED else "Connection timed out"
    return 1, [f"{program}: can't connect to remote host ({dial.address}): {reason}"]
