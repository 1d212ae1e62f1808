"""A real Kopf operator against the sandbox: it sees pods selected by labels being created, updated, deleted."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kubectl, pytest.mark.slow]

OPERATOR = """
import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.peering.standalone = True
    settings.watching.server_timeout = 30
    settings.posting.level = 20


@kopf.on.create("pods", labels={"watched": "yes"})
def created(name, body, **_):
    print("CREATE", name, flush=True)
    kopf.info(body, reason="Noticed", message=f"pod {name} is watched")


@kopf.on.update("pods", labels={"watched": "yes"}, field="metadata.labels")
def relabelled(name, new, **_):
    print("UPDATE", name, sorted(new), flush=True)


@kopf.on.delete("pods", labels={"watched": "yes"})
def deleted(name, **_):
    print("DELETE", name, flush=True)
"""


def wait_for_line(log: Path, expected: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if expected in log.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"operator never printed {expected!r}; its output:\n{log.read_text()}")


def test_kopf_operator_receives_pod_lifecycle(sandbox, tmp_path: Path) -> None:
    source, log = tmp_path / "operator.py", tmp_path / "operator.log"
    source.write_text(OPERATOR)
    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig)}
    kopf = Path(sys.executable).parent / "kopf"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(kopf), "run", "--standalone", "--namespace", "default", str(source)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        sandbox.kubectl("run", "watched", "--image=nginx:1.27", "--labels=watched=yes")
        sandbox.kubectl("run", "ignored", "--image=nginx:1.27", "--labels=watched=no")
        wait_for_line(log, "CREATE watched")

        # Kopf adds its finalizer, then records the handled state in a later patch: wait for both.
        def handled() -> dict | None:
            metadata = sandbox.get("pods", "default", "watched")["metadata"]
            finalized = "kopf.zalando.org/KopfFinalizerMarker" in (metadata.get("finalizers") or [])
            recorded = "kopf.zalando.org/last-handled-configuration" in (metadata.get("annotations") or {})
            return metadata if finalized and recorded else None

        sandbox.wait_for(handled)
        sandbox.wait_for(lambda: any(e.get("reason") == "Noticed" for e in sandbox.list("events", "default")))
        sandbox.kubectl("label", "pod", "watched", "tier=front")
        wait_for_line(log, "UPDATE watched ['tier', 'watched']")
        sandbox.kubectl("delete", "pod", "watched", "--timeout=30s")
        wait_for_line(log, "DELETE watched")
        assert "ignored" not in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=20)
