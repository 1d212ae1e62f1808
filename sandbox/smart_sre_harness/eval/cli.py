"""`smart-sre eval`: every scenario end to end, then the table of what smart-sre got right.

By default each scenario runs twice: with the model (operator + sidecar + approval) and as the
no-model baseline (the agent's evidence and analyzers only), so the table shows what the model adds.
`--baseline` runs only the baseline (seconds per scenario, no model needed); `--no-baseline` only the
model runs.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from smart_sre_harness.eval.results import ScenarioResult, print_report, write_json
from smart_sre_harness.eval.runner import Progress, run_baseline, run_with_operator
from smart_sre_harness.eval.scenarios import (
    DEFAULT_DIR,
    Scenario,
    ScenarioError,
    load_dir,
)
from smart_sre_harness.processes import Sidecar


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure diagnoses and fixes on the sandbox scenarios",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--model", help="models.lock name (default: the lock's default model)")
    parser.add_argument(
        "--scenarios", type=Path, default=DEFAULT_DIR, help=f"scenario directory (default {DEFAULT_DIR})"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--baseline", action="store_true", help="only the no-model baseline")
    mode.add_argument("--no-baseline", action="store_true", help="only the model runs")
    parser.add_argument("--logs", type=Path, help="keep operator/sidecar logs here (default: a temp dir)")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    try:
        scenarios = load_dir(args.scenarios, args.only)
    except (ScenarioError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not scenarios:
        print(f"error: no scenarios (*.yaml) in {args.scenarios}", file=sys.stderr)
        return 2
    log_dir = args.logs or Path(tempfile.mkdtemp(prefix="smart-sre-eval-"))
    started = time.monotonic()
    try:
        results = asyncio.run(_run(args, scenarios, log_dir))
    except KeyboardInterrupt:  # the children (sidecar, operator) were stopped as the runs unwound
        print(f"\ninterrupted; logs in {log_dir}", file=sys.stderr)
        return 130
    totals = print_report(results, sys.stdout)
    elapsed = time.monotonic() - started
    print(f"\n{len(scenarios)} scenarios in {elapsed:.0f}s; logs in {log_dir}")
    if args.json:
        meta = {
            "scenarios_dir": str(args.scenarios),
            "only": args.only,
            "model": args.model or "default",
            "seconds": round(elapsed, 1),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        }
        write_json(args.json, results, totals, meta)
    # The targets that must hold whatever the model: no unsafe patch, no unusable answer, no broken run.
    return 1 if any(t.unsafe_patches or t.parse_failures or t.errors for t in totals) else 0


async def _run(args: argparse.Namespace, scenarios: list[Scenario], log_dir: Path) -> list[ScenarioResult]:
    results: list[ScenarioResult] = []
    if not args.baseline:
        sidecar = Sidecar(log_dir / "sidecar.log", args.model)
        print(f"starting the sidecar ({args.model or 'default model'}); logs in {log_dir}", flush=True)
        sidecar.start()
        try:
            await sidecar.ready()
            results += await _each(
                scenarios,
                f"model:{args.model or 'default'}",
                lambda scenario, progress: run_with_operator(
                    scenario, sidecar.url, args.model, log_dir, progress
                ),
            )
        finally:
            sidecar.stop()
    if not args.no_baseline:
        results += await _each(
            scenarios, "baseline", lambda scenario, progress: run_baseline(scenario, log_dir, progress)
        )
    return results


async def _each(
    scenarios: list[Scenario],
    mode: str,
    start: Callable[[Scenario, Progress], Awaitable[ScenarioResult]],
) -> list[ScenarioResult]:
    """Every scenario in one mode, one after the other; `start` says how a run of that mode begins."""
    total = len(scenarios)
    return [
        await _one(index, total, scenario, mode, start(scenario, _progress(index, total, scenario.name)))
        for index, scenario in enumerate(scenarios, 1)
    ]


def _progress(index: int, total: int, name: str) -> Progress:
    def show(message: str) -> None:
        print(f"  [{index}/{total}] {name}: {message}", flush=True)

    return show


async def _one(
    index: int, total: int, scenario: Scenario, mode: str, run: Awaitable[ScenarioResult]
) -> ScenarioResult:
    """One scenario run; an error in it (a child that would not start, say) is recorded, not fatal."""
    name = scenario.name
    print(f"[{index}/{total}] {name} ({mode})", flush=True)
    try:
        result = await run
    except (OSError, RuntimeError, TimeoutError, ValueError) as error:
        result = ScenarioResult(
            name, mode, scenario.spec.expected.root_cause, error=f"{type(error).__name__}: {error}"
        )
    verdict = "ok" if result.correct else f"wrong (expected {result.expected})"
    print(
        f"[{index}/{total}] {name} ({mode}): root cause {result.root_cause} {verdict}; "
        f"patch {'fixes' if result.patch_fixed else 'offered, no fix' if result.patch_offered else 'none'}; "
        f"{result.seconds:.1f}s" + (f"; ERROR {result.error}" if result.error else ""),
        flush=True,
    )
    return result
