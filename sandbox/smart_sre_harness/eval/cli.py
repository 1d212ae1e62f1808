"""`smart-sre eval`: every scenario end to end, then the table of what smart-sre got right.

By default each scenario of every set (the scenario directory's own files are the set `public`, each
subdirectory a set) runs twice: with the model (operator + sidecar + approval) and as the no-model
baseline (the agent's evidence and analyzers only), so the table shows what the model adds; `--set`
picks sets, `--model` (repeatable) the models. `--baseline` runs only the baseline (seconds per
scenario, no model needed); `--no-baseline` only the model runs. `--tasks DIR` runs a kubectl task
suite (tasks.py) the same way instead, each task on a fresh sandbox or, with `--kubeconfig`, on that
cluster. `--reports DIR` keeps each scenario run's final DiagnosticReport as a file (report_files.py),
which tests/eval/test_stored_reports.py reads back from docs/eval-reports/.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from smart_sre_harness.eval import tasks
from smart_sre_harness.eval.report_files import ReportWriter
from smart_sre_harness.eval.results import SCENARIO, TASK, Kind, ScenarioResult, print_report, write_json
from smart_sre_harness.eval.runner import Progress, blank_result, run_baseline, run_with_operator
from smart_sre_harness.eval.scenarios import DEFAULT_DIR, ScenarioError, load_sets
from smart_sre_harness.processes import Sidecar

T = TypeVar("T")


@dataclass(frozen=True)
class Suite(Generic[T]):
    """What one `smart-sre eval` runs: the scenarios or a suite's tasks, and how one starts in each mode."""

    kind: Kind
    directory: Path
    items: list[T]
    name: Callable[[T], str]
    # The result of a run in a mode before it ran (its name, expected root cause, set): the row of a
    # run that failed to complete.
    blank: Callable[[T, str], ScenarioResult]
    # (item, model, sidecar URL, log directory, progress) and (item, log directory, progress)
    with_model: Callable[[T, str | None, str, Path, Progress], Awaitable[ScenarioResult]]
    baseline: Callable[[T, Path, Progress], Awaitable[ScenarioResult]]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure diagnoses and fixes on the sandbox scenarios",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--model",
        dest="models",
        action="append",
        metavar="NAME",
        help="models.lock name (default: the lock's default model); repeat to run each model in turn",
    )
    suite = parser.add_mutually_exclusive_group()
    suite.add_argument(
        "--scenarios", type=Path, default=DEFAULT_DIR, help=f"scenario directory (default {DEFAULT_DIR})"
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        metavar="NAME",
        help="run only this set of scenarios (repeatable): `public` (the directory's own files) or a "
        "subdirectory's name, such as close-call (default: every set)",
    )
    suite.add_argument(
        "--tasks",
        type=Path,
        metavar="DIR",
        help="run the task folders of DIR instead (task.yaml, setup.sh, verify.sh, cleanup.sh, as "
        f"kubectl-ai's k8s-bench); smart-sre's own suite: {tasks.DEFAULT_DIR}",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="with --tasks: run on this cluster instead of a fresh sandbox per task (smart-sre's CRDs "
        "must be installed there; the eval installs nothing)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--reports",
        type=Path,
        metavar="DIR",
        help="also write each scenario run's final DiagnosticReport to DIR/SET/SCENARIO/MODE.json, "
        "replacing an earlier run's (the repository keeps its own in docs/eval-reports)",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios or tasks")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--baseline", action="store_true", help="only the no-model baseline")
    mode.add_argument("--no-baseline", action="store_true", help="only the model runs")
    parser.add_argument("--logs", type=Path, help="keep operator/sidecar logs here (default: a temp dir)")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    try:
        suite = _task_suite(args) if args.tasks else _scenario_suite(args)
        writer = ReportWriter.at(args.reports) if args.reports else None
    except (ScenarioError, tasks.TaskError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not suite.items:
        what = "scenarios (*.yaml)" if suite.kind is SCENARIO else "task folders"
        print(f"error: no {what} in {suite.directory}", file=sys.stderr)
        return 2
    if args.kubeconfig:
        missing = asyncio.run(tasks.Target.of(args.kubeconfig).missing_crds())
        if missing is not None:
            print(
                f"error: smart-sre's CRDs are not usable on the cluster of {args.kubeconfig} ({missing}); "
                f"{tasks.INSTALL_CRDS}",
                file=sys.stderr,
            )
            return 2
    log_dir = args.logs or Path(tempfile.mkdtemp(prefix="smart-sre-eval-"))
    started = time.monotonic()
    try:
        results = asyncio.run(_run(args, suite, log_dir, writer))
    except KeyboardInterrupt:  # the children (sidecar, operator) were stopped as the runs unwound
        print(f"\ninterrupted; logs in {log_dir}", file=sys.stderr)
        return 130
    totals = print_report(results, sys.stdout, suite.kind)
    elapsed = time.monotonic() - started
    print(f"\n{len(suite.items)} {suite.kind.name}s in {elapsed:.0f}s; logs in {log_dir}")
    if args.json:
        meta = {
            f"{suite.kind.name}s_dir": str(suite.directory),
            **({"kubeconfig": str(args.kubeconfig)} if args.kubeconfig else {}),
            "only": args.only,
            **({"sets": args.sets} if suite.kind is SCENARIO else {}),
            "models": [model or "default" for model in _models(args)],
            "seconds": round(elapsed, 1),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        }
        write_json(args.json, results, totals, meta, suite.kind)
    # The targets that must hold whatever the model: no unsafe patch, no unusable answer, no broken run.
    return 1 if any(t.unsafe_patches or t.parse_failures or t.errors for t in totals) else 0


def _scenario_suite(args: argparse.Namespace) -> Suite:
    if args.kubeconfig:
        raise ValueError("--kubeconfig runs a task suite on a cluster: give it with --tasks DIR")
    if not args.scenarios.is_dir():
        raise ValueError(f"{args.scenarios} is not a directory of scenario files")
    return Suite(
        SCENARIO,
        args.scenarios,
        load_sets(args.scenarios, args.sets, args.only),
        name=lambda scenario: scenario.name,
        blank=blank_result,
        with_model=lambda scenario, model, url, logs, progress: run_with_operator(
            scenario, url, model, logs, progress
        ),
        baseline=run_baseline,
    )


def _task_suite(args: argparse.Namespace) -> Suite:
    if args.sets:
        raise ValueError("--set picks scenario sets; a task suite has none")
    if args.reports:
        raise ValueError("--reports keeps the reports of scenario runs, judged against their scenario")
    found = tasks.load_dir(args.tasks, args.only)
    for task in found:
        if task.spec.disabled:
            print(f"skipping disabled task {task.name}")
    return Suite(
        TASK,
        args.tasks,
        [task for task in found if not task.spec.disabled],
        name=lambda task: task.name,
        blank=lambda task, mode: ScenarioResult(task.name, mode, task.expected_root_cause),
        with_model=lambda task, model, url, logs, progress: tasks.run_task_with_operator(
            task, url, model, logs, progress, kubeconfig=args.kubeconfig
        ),
        baseline=lambda task, logs, progress: tasks.run_task_baseline(
            task, logs, progress, kubeconfig=args.kubeconfig
        ),
    )


def _models(args: argparse.Namespace) -> list[str | None]:
    """The models to run, each once, in the order given; [None] is the lock's default."""
    return list(dict.fromkeys(args.models or [None]))


async def _run(
    args: argparse.Namespace, suite: Suite, log_dir: Path, writer: ReportWriter | None
) -> list[ScenarioResult]:
    results: list[ScenarioResult] = []
    for model in [] if args.baseline else _models(args):
        sidecar = Sidecar(log_dir / f"sidecar.{model or 'default'}.log", model)
        print(f"starting the sidecar ({model or 'default model'}); logs in {log_dir}", flush=True)
        sidecar.start()
        try:
            await sidecar.ready()
            results += await _each(
                suite,
                f"model:{model or 'default'}",
                lambda item, progress, model=model, url=sidecar.url: suite.with_model(
                    item, model, url, log_dir, progress
                ),
                writer,
            )
        finally:
            sidecar.stop()
    if not args.no_baseline:
        results += await _each(
            suite, "baseline", lambda item, progress: suite.baseline(item, log_dir, progress), writer
        )
    return results


async def _each(
    suite: Suite[T],
    mode: str,
    start: Callable[[T, Progress], Awaitable[ScenarioResult]],
    writer: ReportWriter | None,
) -> list[ScenarioResult]:
    """Every item in one mode, one after the other; `start` says how a run of that mode begins. Each
    run's report is written as soon as the run ends, so an interrupted eval keeps the runs it finished."""
    total = len(suite.items)
    results = []
    for index, item in enumerate(suite.items, 1):
        progress = _progress(index, total, suite.name(item))
        result = await _one(index, total, suite.blank(item, mode), start(item, progress))
        if writer is not None:
            path = writer.keep(result)
            progress(f"report in {path}" if result.report is not None else f"no report (none kept at {path})")
        results.append(result)
    return results


def _progress(index: int, total: int, name: str) -> Progress:
    def show(message: str) -> None:
        print(f"  [{index}/{total}] {name}: {message}", flush=True)

    return show


async def _one(
    index: int, total: int, blank: ScenarioResult, run: Awaitable[ScenarioResult]
) -> ScenarioResult:
    """One run; an error in it (a child that would not start, say) is recorded, not fatal."""
    name, mode, expected = blank.scenario, blank.mode, blank.expected
    print(f"[{index}/{total}] {name} ({mode})", flush=True)
    try:
        result = await run
    except (OSError, RuntimeError, TimeoutError, ValueError) as error:
        result = blank
        result.error = f"{type(error).__name__}: {error}"
    verdict = "" if expected is None else "ok" if result.correct else f"wrong (expected {expected})"
    print(
        f"[{index}/{total}] {name} ({mode}): root cause {' '.join(filter(None, [str(result.root_cause), verdict]))}; "
        f"patch {'fixes' if result.patch_fixed else 'offered, no fix' if result.patch_offered else 'none'}; "
        f"{result.seconds:.1f}s" + (f"; ERROR {result.error}" if result.error else ""),
        flush=True,
    )
    return result
