"""Readiness, liveness and startup probes against what a running container really listens to and contains."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from .images import SHELL_BUILTINS, SHELLS, ImageSpec, Run

DEFAULT_PERIOD = 10.0
DEFAULT_FAILURE_THRESHOLD = 3


@dataclass(frozen=True)
class Timing:
    initial_delay: float
    period: float
    failure_threshold: int

    @classmethod
    def of(cls, probe: dict) -> Timing:
        return cls(
            float(probe.get("initialDelaySeconds", 0)),
            float(probe.get("periodSeconds", DEFAULT_PERIOD)),
            int(probe.get("failureThreshold", DEFAULT_FAILURE_THRESHOLD)),
        )


def _port(value: int | str, container: dict) -> int | None:
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    named = next((p for p in container.get("ports") or [] if p.get("name") == value), None)
    return named["containerPort"] if named else None


def _http(run: Run, ip: str, host: str, port: int, path: str) -> tuple[bool, str]:
    url = f"http://{host}:{port}{path}"
    if port not in run.ports:
        return False, f'Get "{url}": dial tcp {host}:{port}: connect: connection refused'
    paths = run.ports[port]
    if paths is None:
        return False, f'Get "{url}": net/http: HTTP/1.x transport connection broken: malformed HTTP response'
    if path.split("?")[0] not in paths:
        return False, "HTTP probe failed with statuscode: 404"
    return True, ""


def check(probe: dict, container: dict, image: ImageSpec, run: Run, ip: str) -> tuple[bool, str]:
    """(passed, the kubelet's failure text) for one probe of a running container."""
    if "httpGet" in probe:
        action = probe["httpGet"]
        port = _port(action.get("port", 80), container)
        if port is None:
            return False, f"unable to find port {action.get('port')!s}"
        return _http(run, ip, action.get("host") or ip, port, action.get("path") or "/")
    if "tcpSocket" in probe or "grpc" in probe:
        action = probe.get("tcpSocket") or probe["grpc"]
        port = _port(action.get("port", 0), container)
        if port in run.ports:
            return True, ""
        return False, f"dial tcp {ip}:{port}: connect: connection refused"
    if "exec" in probe:
        code, output = exec_command(image, run, list(probe["exec"].get("command") or []))
        return code == 0, output
    return True, ""


def exec_command(image: ImageSpec, run: Run, argv: list[str]) -> tuple[int, str]:
    """Run a probe command inside the container: the image's tools, files and listening ports decide."""
    if not argv:
        return 126, "exec: no command"
    program, args = argv[0].rsplit("/", 1)[-1], argv[1:]
    if program in SHELLS and program in image.binaries() and args[:1] == ["-c"] and len(args) > 1:
        code, output = 0, ""
        for statement in args[1].replace("||", ";").replace("&&", ";").split(";"):
            if statement.strip():
                code, output = exec_command(image, run, shlex.split(statement))
                if code != 0:
                    break
        return code, output
    if program not in image.binaries() and program not in SHELL_BUILTINS:
        return 126, (
            "OCI runtime exec failed: exec failed: unable to start container process: "
            f'exec: "{argv[0]}": executable file not found in $PATH: unknown'
        )
    if program in image.exec_replies:
        port = next(
            (int(args[i + 1]) for i, a in enumerate(args[:-1]) if a == "-p" and args[i + 1].isdigit()),
            image.port,
        )
        if port not in run.ports:
            return 1, f"Could not connect to Redis at 127.0.0.1:{port}: Connection refused"
        return 0, image.exec_replies[program]
    if program in ("cat", "test", "ls"):
        path = args[-1] if args else ""
        if path in image.files:
            return 0, ""
        return 1, f"{program}: can't open '{path}': No such file or directory" if program != "test" else ""
    if program in ("wget", "curl"):
        url = urlsplit(next((a for a in args if "://" in a), "http://localhost/"))
        ok, message = _http(run, "127.0.0.1", url.hostname or "localhost", url.port or 80, url.path or "/")
        return (0, "") if ok else (1, message)
    return (1, "") if program == "false" else (0, "")
