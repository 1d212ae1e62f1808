"""A flag the app rejects is dropped from the spec only when its name guards nothing.

The log line that names the flag is written by the app (or whoever controls its input), so a fix
made from it must never switch off authentication, TLS checks or other controls: for those the
report names the cause, quotes the line and leaves the flag to a human. Every fix quotes its line.
"""

from __future__ import annotations

import pytest

from smart_sre.api.common import RootCause, Trigger
from smart_sre.investigation.investigation import Conclusion, investigate

from .fakes import FakeCluster
from .scenarios import NODES, workload


async def _conclude(
    log: str, *, args: list[str] | None = None, command: list[str] | None = None
) -> Conclusion:
    """The analyzers' conclusion (no model) for one Deployment whose container exits printing `log`."""
    container = {"name": "app", "image": "registry.local/app:1.0"}
    container |= {"args": args} if args is not None else {}
    container |= {"command": command} if command is not None else {}
    status = {
        "containerStatuses": [
            {
                "name": "app",
                "ready": False,
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 2}},
            }
        ]
    }
    deployment, replicaset, pod = workload(
        "app", {"containers": [container]}, phase="Running", status=status, node_name="worker-1"
    )
    logs = {(pod["metadata"]["name"], "app", True): f"starting\n{log}\nexiting"}
    cluster = FakeCluster([*NODES, deployment, replicaset, pod], logs)
    return await investigate(cluster, None, pod, Trigger.CRASH_LOOP_BACK_OFF)


REFUSED = [
    # (runtime's line, container args)
    (
        "usage: app.py [-h] [--port PORT]\napp.py: error: unrecognized arguments: --require-auth",
        ["--port=8080", "--require-auth"],
    ),
    ("Unknown argument: tls-verify", ["--port=8080", "--tls-verify=false"]),
    ("Error: unknown flag: --insecure-skip-tls-verify", ["serve", "--insecure-skip-tls-verify"]),
    ("Unknown option: '--enable-csrf'", ["--enable-csrf", "--workers=4"]),
    ("flag provided but not defined: -auth-token", ["-listen=:8080", "-auth-token=$(TOKEN)"]),
    ('nginx: invalid option: "readOnly"', ["-readOnly"]),
    ("Unrecognized option: --seccomp_profile=default", ["--seccomp_profile=default"]),
]


@pytest.mark.parametrize(
    ("log", "args"),
    REFUSED,
    ids=["argparse", "yargs", "cobra", "picocli", "go-flag", "nginx", "jvm"],
)
async def test_a_security_flag_is_left_to_a_human_with_the_line_quoted(log: str, args: list[str]) -> None:
    conclusion = await _conclude(log, args=args)
    line = log.splitlines()[-1]
    assert conclusion.findings.root_cause == RootCause.APPLICATION_ERROR
    assert conclusion.suggested_patch is None
    assert conclusion.rollback_patch is None
    assert f'"{line}"' in conclusion.no_patch_reason
    assert "by hand" in conclusion.no_patch_reason
    assert conclusion.findings.evidence[0].quote == line
    assert f'"{line}"' in conclusion.findings.summary


FIXED = [
    (
        "app.py: error: unrecognized arguments: --verbose-level=3",
        {"args": ["--verbose-level=3", "--port=8080"]},
        ["--port=8080"],
    ),
    (
        "Unknown argument: max-connections",
        {"args": ["--max-connections=100", "--port=8080"]},
        ["--port=8080"],
    ),
    ("Unknown option: '--verbose-level'", {"args": ["--port=8080", "--verbose-level"]}, ["--port=8080"]),
    (
        "flag provided but not defined: -max-connections",
        {"args": ["-max-connections=64", "-listen=:8080"]},
        ["-listen=:8080"],
    ),
    (
        'nginx: invalid option: "q"',
        {"command": ["nginx", "-q", "-c", "/etc/nginx/nginx.conf"]},
        ["nginx", "-c", "/etc/nginx/nginx.conf"],
    ),
]


@pytest.mark.parametrize(
    ("log", "spec", "kept"), FIXED, ids=["argparse", "yargs", "picocli", "go-flag", "nginx"]
)
async def test_a_harmless_flag_is_removed_and_the_fix_quotes_its_line(
    log: str, spec: dict, kept: list[str]
) -> None:
    conclusion = await _conclude(log, **spec)
    (field,) = spec
    assert conclusion.suggested_patch is not None
    changes = [op for op in conclusion.suggested_patch.operations if op.op != "test"]
    assert [(op.op, op.path, op.value) for op in changes] == [
        ("replace", f"/spec/template/spec/containers/0/{field}", kept)
    ]
    assert conclusion.findings.evidence[0].quote == log
    assert f'"{log}"' in conclusion.findings.summary
    assert "Remove the flag" in conclusion.findings.summary


async def test_the_quoted_line_is_cleaned_and_capped() -> None:
    log = "\x1b[31merror: unrecognized arguments: --require-auth\x1b[0m " + "x" * 500
    conclusion = await _conclude(log, args=["--require-auth"])
    quote = conclusion.findings.evidence[0].quote
    assert quote.startswith("error: unrecognized arguments: --require-auth x")
    assert "\x1b" not in quote
    assert "\x1b" not in conclusion.no_patch_reason
    assert len(quote) <= 200
    assert len(conclusion.no_patch_reason) <= 400
