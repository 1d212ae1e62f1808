"""How the sandbox's applications word their logs, per language/runtime, so that logs vary realistically.

Each function returns the lines an app of that flavour prints; none of them knows why it is called.
"""

from __future__ import annotations

from typing import Literal

from .network import Dial, Outcome

Language = Literal["plain", "go", "python", "node", "java"]


def starting(language: Language, app: str, version: str) -> list[str]:
    match language:
        case "go":
            return [f'level=info msg="starting {app}" version={version}']
        case "python":
            return [f"INFO:{app}:starting {app} {version}"]
        case "node":
            return [f"> {app}@{version} start", "> node server.js"]
        case "java":
            return [f"INFO  [main] {app}.Application : Starting Application v{version} using Java 21.0.5"]
    return [f"Starting {app} {version}"]


def listening(language: Language, port: int) -> list[str]:
    match language:
        case "go":
            return [f'level=info msg="http server listening" addr=:{port}']
        case "python":
            return [f"INFO:     Uvicorn running on http://0.0.0.0:{port} (Press CTRL+C to quit)"]
        case "node":
            return [f"Server listening on port {port}"]
        case "java":
            return [
                f"INFO  [main] o.s.b.w.embedded.tomcat.TomcatWebServer : Tomcat started on port {port} (http)"
            ]
    return [f"Listening on :{port}"]


def address_in_use(language: Language, port: int) -> list[str]:
    """The crash of a server whose port another process of the network namespace already listens on."""
    match language:
        case "go":
            return [
                f'level=fatal msg="http server failed" error="listen tcp :{port}: bind: address already in use"'
            ]
        case "python":
            return [
                "INFO:     Started server process [1]",
                "INFO:     Waiting for application startup.",
                "INFO:     Application startup complete.",
                f"ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', {port}): "
                "address already in use",
                "INFO:     Waiting for application shutdown.",
                "INFO:     Application shutdown complete.",
            ]
        case "node":
            return [
                "node:events:497",
                "      throw er; // Unhandled 'error' event",
                "      ^",
                "",
                f"Error: listen EADDRINUSE: address already in use :::{port}",
                "    at Server.setupListenHandle [as _listen2] (node:net:1872:16)",
                "    at listenInCluster (node:net:1920:12)",
                "    at Server.listen (node:net:2008:7)",
                "Emitted 'error' event on Server instance at:",
                "    at emitErrorNT (node:net:1899:8)",
                "    at process.processTicksAndRejections (node:internal/process/task_queues:82:21) {",
                "  code: 'EADDRINUSE',",
                "  errno: -98,",
                "  syscall: 'listen',",
                "  address: '::',",
                f"  port: {port}",
                "}",
            ]
        case "java":
            return [
                "ERROR [main] o.s.b.d.LoggingFailureAnalysisReporter : ",
                "",
                "***************************",
                "APPLICATION FAILED TO START",
                "***************************",
                "",
                "Description:",
                "",
                f"Web server failed to start. Port {port} was already in use.",
                "",
                "Action:",
                "",
                f"Identify and stop the process that's listening on port {port} or configure this "
                "application to listen on another port.",
            ]
    return [f"bind :{port}: Address already in use"]


def connected(language: Language, protocol: str, dial: Dial) -> list[str]:
    if language == "go":
        return [f'level=info msg="connected to {protocol}" addr={dial.host}:{dial.port}']
    return [f"Connected to {protocol} at {dial.host}:{dial.port}"]


def dial_failed(language: Language, protocol: str, dial: Dial) -> list[str]:
    """The crash an app logs when a dependency cannot be reached."""
    target = f"{dial.host}:{dial.port}"
    match language, dial.outcome:
        case "plain", Outcome.TIMEOUT:
            return [f"Connection timed out to {target}", "Exiting: dependency unavailable"]
        case "plain", _:
            return [f"Connection refused to {target}", "Exiting: dependency unavailable"]
        case "go", Outcome.NO_SUCH_HOST:
            error = f"dial tcp: lookup {dial.host} on {dial.server}: no such host"
        case "go", Outcome.TIMEOUT:
            error = f"dial tcp {dial.address}: i/o timeout"
        case "go", _:
            error = f"dial tcp {dial.address}: connect: connection refused"
        case "python", Outcome.NO_SUCH_HOST:
            return _python_traceback(protocol, f"Error -2 connecting to {target}. Name or service not known.")
        case "python", Outcome.TIMEOUT:
            return _python_traceback(protocol, f"Timeout connecting to {target}.")
        case "python", _:
            return _python_traceback(protocol, f"Error 111 connecting to {target}. Connection refused.")
        case "node", Outcome.NO_SUCH_HOST:
            return _node_error(f"getaddrinfo ENOTFOUND {dial.host}")
        case "node", Outcome.TIMEOUT:
            return _node_error(f"connect ETIMEDOUT {dial.address}")
        case "node", _:
            return _node_error(f"connect ECONNREFUSED {dial.address}")
        case "java", Outcome.NO_SUCH_HOST:
            return _java_error(f"java.net.UnknownHostException: {dial.host}: Name or service not known")
        case "java", Outcome.TIMEOUT:
            return _java_error("java.net.SocketTimeoutException: Connect timed out")
        case _:
            return _java_error(f"java.net.ConnectException: Connection refused ({target})")
    return [f'level=fatal msg="cannot connect to {protocol}" error="{error}"']


def _python_traceback(protocol: str, text: str) -> list[str]:
    exception = "redis.exceptions.ConnectionError" if protocol == "redis" else "ConnectionError"
    return [
        "Traceback (most recent call last):",
        '  File "/app/main.py", line 14, in <module>',
        "    client.ping()",
        f"{exception}: {text}",
    ]


def _node_error(text: str) -> list[str]:
    return [
        "node:internal/process/promises:391",
        "    triggerUncaughtException(err, true /* fromPromise */);",
        f"Error: {text}",
    ]


def _java_error(text: str) -> list[str]:
    return [
        "ERROR [main] o.s.boot.SpringApplication : Application run failed",
        text,
        "\tat java.base/sun.nio.ch.Net.connect0(Native Method)",
    ]


def missing_env(language: Language, name: str) -> list[str]:
    match language:
        case "go":
            return [f'level=fatal msg="missing required environment variable {name}"']
        case "python":
            return [
                "Traceback (most recent call last):",
                '  File "/app/settings.py", line 8, in <module>',
                f'    {name.lower()} = os.environ["{name}"]',
                f"KeyError: '{name}'",
            ]
        case "node":
            return [f"Error: Missing required environment variable: {name}"]
        case "java":
            return _java_error(
                f"java.lang.IllegalStateException: Required environment variable '{name}' is not set"
            )
    return [f"missing required environment variable {name}"]


def bad_flag(language: Language, program: str, flag: str, known: list[str]) -> list[str]:
    match language:
        case "python":
            options = " ".join(f"[--{name} {name.upper().replace('-', '_')}]" for name in known)
            return [
                f"usage: {program} [-h] {options}".rstrip(),
                f"{program}: error: unrecognized arguments: {flag}",
            ]
        case "node":
            return [f"error: unknown option '{flag}'"]
        case "java":
            return [f"Unrecognized option: {flag}", "Error: Could not create the Java Virtual Machine."]
    lines = [f"flag provided but not defined: -{flag.lstrip('-').split('=')[0]}", f"Usage of {program}:"]
    for name in known:
        lines += [f"  -{name} string", f"    \t{name.replace('-', ' ')}"]
    return lines


def out_of_memory(language: Language, allocated_mib: int) -> list[str]:
    match language:
        case "java":
            return ["WARN  [main] c.e.cache.Warmup : Loading cache entries into heap"]
        case "python":
            return [f"INFO:worker:loading dataset into memory ({allocated_mib} MiB)"]
    return [f"allocating {allocated_mib} MiB"]


def batch_done(language: Language, items: int) -> list[str]:
    if language == "go":
        return [f'level=info msg="batch finished" processed={items}']
    return [f"Processed {items} records", "Done."]
