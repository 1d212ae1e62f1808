"""Seed latency benchmark: pod failure → report AwaitingApproval, with the real sidecar, per model.

For each seed scenario (the seed article's two failures), on a fresh sandbox per run: the operator
(`smart-sre operator run`) is started and alive first, then the scenario's objects are created, and this
driver polls the sandbox every 50 ms. It records when a watched pod first shows the failure (its trigger
condition, as smart-sre's triggers read it: CrashLoopBackOff, or Unschedulable for Pending), when the
report was created and when it reached AwaitingApproval; the analysis time is the report's own
`status.timings.analysisMs`, and the rest of the wait is the slot queue and the analysis' start.
The eval's policy is used (every trigger, `pendingGracePeriod: 1s`; the CRD's default grace of 2m would
dominate the Pending figure by design). Each model (`--model`, repeatable; default: the lock's default)
gets its own sidecar, which serves all of its runs: its first run pays the cold start of the grammar
cache and the KV cache, and is shown apart. Target: ≤ 30 s.

Per model it also records what choosing a default needs: the sidecar's load time, its threads setting
(`/v1/models`), its peak RSS (VmHWM of the sidecar process, read before it stops) and prompt and decode
tokens/s. The sidecar's metrics count tokens but time only whole requests (queue included) and keep the
last decode speed alone, and the report times only the whole analysis; so the operator talks to the
sidecar through a pass-through here, which sums each answer's own usage and timings: prompt tok/s is
the prompt tokens evaluated (not those reused from the KV cache) over their evaluation time, of
/v1/generate and /v1/rank; decode tok/s is the generated tokens (forced ones included) over decode time,
of /v1/generate only (ranking scores given candidates, it generates nothing).

    .venv/bin/python benchmarks/seed_latency.py [--runs 3] [--model NAME ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from operator_burst import peak_rss_mib  # a sibling script: benchmarks/ is this script's sys.path[0]

from smart_sre_harness.eval import stage
from smart_sre_harness.eval.scenarios import DEFAULT_DIR, Scenario, load
from smart_sre_harness.processes import Operator, Sidecar, free_port
from smart_sre_inference import lock as lockfile
from smart_sre_inference.api import ModelInfo, Timings, Usage
from smart_sre_sandbox.cluster import Sandbox, scenario_nodes

SCENARIOS = ("seed-crashloop", "seed-pending")
TARGET_SECONDS = 30.0
TIMEOUT = 300.0
POLL = 0.05


@dataclass
class Tokens:
    """What the model did, summed from its answers' own usage and timings (see the module docstring)."""

    prompt: int = 0  # evaluated: the prompt tokens not reused from the KV cache
    prompt_ms: float = 0.0
    decode: int = 0
    decode_ms: float = 0.0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            self.prompt + other.prompt,
            self.prompt_ms + other.prompt_ms,
            self.decode + other.decode,
            self.decode_ms + other.decode_ms,
        )

    @staticmethod
    def rate(tokens: int, ms: float) -> float | None:
        return round(tokens / ms * 1000, 1) if ms > 0 else None


@dataclass
class Run:
    scenario: str
    run: int
    model: str
    phase: str | None = None
    failure_to_report: float | None = None
    report_to_analyzing: float | None = None
    analysis: float | None = None
    failure_to_awaiting: float | None = None
    steps: int = 0
    tokens: Tokens = field(default_factory=Tokens)


@dataclass
class ModelFigures:
    """One model's row of the summary: what choosing the default is decided on."""

    model: str
    threads: int
    load_s: float
    peak_rss_mib: float
    awaiting: dict[str, list[float]]  # scenario -> failure → AwaitingApproval of runs 1..N
    analysis_median: float | None
    prompt_tok_s: float | None
    decode_tok_s: float | None


class Tap:
    """The operator's way to the sidecar: passes every request through unchanged and sums, per run, the
    usage and timings of each answer (the figures the sidecar measured around the model itself)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tokens = Tokens()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.add_routes([web.route("*", "/{path:.*}", self._forward)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def info(self) -> ModelInfo:
        """The sidecar's /v1/models: the model it serves and its threads setting."""
        assert self._session is not None
        async with self._session.get(self.upstream + "/v1/models") as answer:
            return ModelInfo.model_validate(await answer.json())

    def take(self) -> Tokens:
        """The tokens since the last take (one run's)."""
        taken, self.tokens = self.tokens, Tokens()
        return taken

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=await request.read(),
            headers={"Content-Type": request.content_type},
        ) as answer:
            body = await answer.read()
            headers = {k: answer.headers[k] for k in ("Content-Type", "Retry-After") if k in answer.headers}
        if answer.status == 200 and request.path in ("/v1/generate", "/v1/rank"):
            payload = json.loads(body)
            usage, timings = (
                Usage.model_validate(payload["usage"]),
                Timings.model_validate(payload["timings"]),
            )
            generated = request.path == "/v1/generate"
            self.tokens += Tokens(
                usage.prompt_tokens - usage.cached_prompt_tokens,
                timings.prompt_eval_ms,
                usage.completion_tokens if generated else 0,
                timings.decode_ms if generated else 0.0,
            )
        return web.Response(body=body, status=answer.status, headers=headers)


async def _reports(sandbox: Sandbox, scenario: Scenario) -> list[dict]:
    rt = sandbox.store.resource("diagnosticreports")
    found: list[dict] = []
    for namespace in scenario.namespaces:
        found += (await sandbox.store.list(rt, namespace))[0]
    return found


async def measure(scenario: Scenario, number: int, model: str, tap: Tap, log_dir: Path) -> Run:
    result = Run(scenario.name, number, model)
    nodes = scenario_nodes([scenario.path]) or None
    sandbox = Sandbox(nodes=nodes, time_scale=stage.TIME_SCALE, crds_dir=stage.crds_dir())
    await sandbox.start()
    stem = f"{model}.{scenario.name}-{number}"
    kubeconfig = sandbox.write_kubeconfig(log_dir / f"{stem}.kubeconfig")
    operator = Operator(kubeconfig, tap.url, log_dir / f"{stem}.operator.log")
    try:
        await sandbox.apply([scenario.policy()])
        operator.start()
        await operator.alive()
        await sandbox.apply_file(scenario.path)
        marks: dict[str, float] = {}
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            now = time.monotonic()
            if "failure" not in marks:
                for pod in await stage.watched_pods(sandbox, scenario):
                    detection = stage.detect(pod)
                    if detection is not None and detection.trigger == scenario.spec.expected.trigger:
                        marks["failure"] = now
            reports = await _reports(sandbox, scenario)
            if reports:
                marks.setdefault("report", now)
                status = reports[0].get("status") or {}
                result.phase = status.get("phase")
                if result.phase not in (None, "Pending", "Analyzing"):
                    marks["done"] = now
                    result.steps = max(0, len(status.get("reasoningChain") or []) - 1)
                    analysis_ms = (status.get("timings") or {}).get("analysisMs")
                    result.analysis = round(analysis_ms / 1000, 2) if analysis_ms is not None else None
                    break
            await asyncio.sleep(POLL)
    finally:
        operator.stop()
        await sandbox.stop()
        result.tokens = tap.take()

    def span(start: str, end: str) -> float | None:
        return round(marks[end] - marks[start], 2) if start in marks and end in marks else None

    result.failure_to_report = span("failure", "report")
    waited = span("report", "done")
    if waited is not None and result.analysis is not None:
        result.report_to_analyzing = round(max(0.0, waited - result.analysis), 2)
    result.failure_to_awaiting = span("failure", "done") if result.phase == "AwaitingApproval" else None
    return result


def _table(runs: list[Run]) -> str:
    header = (
        f"{'scenario':<16} {'run':>3} {'phase':<17} {'fail→report':>11} {'→analyzing':>10} "
        f"{'analysis':>8} {'fail→awaiting':>13} {'steps':>5}"
    )
    lines = [header, "-" * len(header)]

    def cell(value: float | None, width: int) -> str:
        return f"{value:>{width}.1f}" if value is not None else f"{'-':>{width}}"

    for run in runs:
        lines.append(
            f"{run.scenario:<16} {run.run:>3} {run.phase or '-':<17} {cell(run.failure_to_report, 11)} "
            f"{cell(run.report_to_analyzing, 10)} {cell(run.analysis, 8)} {cell(run.failure_to_awaiting, 13)} "
            f"{run.steps:>5}"
        )
    return "\n".join(lines)


def _awaiting(runs: list[Run], scenario: str) -> list[float]:
    return [
        r.failure_to_awaiting for r in runs if r.scenario == scenario and r.failure_to_awaiting is not None
    ]


def _summary(runs: list[Run]) -> str:
    lines = []
    for name in SCENARIOS:
        warm = _awaiting(runs, name)
        if warm:
            lines.append(
                f"{name}: failure → AwaitingApproval median {statistics.median(warm):.1f} s, "
                f"max {max(warm):.1f} s over {len(warm)} runs (target ≤ {TARGET_SECONDS:.0f} s)"
            )
        else:
            lines.append(f"{name}: no run reached AwaitingApproval")
    return "\n".join(lines)


def _figures(model: str, info: ModelInfo, load_s: float, peak_mib: float, runs: list[Run]) -> ModelFigures:
    """`runs` are the warm ones (1..N)."""
    tokens = sum((r.tokens for r in runs), Tokens())
    analyses = [r.analysis for r in runs if r.analysis is not None]
    return ModelFigures(
        model=model,
        threads=info.threads,
        load_s=round(load_s, 1),
        peak_rss_mib=round(peak_mib),
        awaiting={name: _awaiting(runs, name) for name in SCENARIOS},
        analysis_median=round(statistics.median(analyses), 1) if analyses else None,
        prompt_tok_s=Tokens.rate(tokens.prompt, tokens.prompt_ms),
        decode_tok_s=Tokens.rate(tokens.decode, tokens.decode_ms),
    )


def _models_table(figures: list[ModelFigures]) -> str:
    """Markdown, ready for docs/benchmarks.md; a bold time misses the target."""

    def spread(values: list[float]) -> str:
        if not values:
            return "none reached AwaitingApproval"
        median, worst = statistics.median(values), max(values)
        cell = f"{median:.1f} / {worst:.1f} s"
        return f"**{cell}**" if worst > TARGET_SECONDS else cell

    def number(value: float | None, unit: str = "") -> str:
        return "-" if value is None else f"{value:.1f}{unit}"

    header = (
        "| model | threads | load s | peak RSS | "
        + " | ".join(f"{name} fail→awaiting (median / max)" for name in SCENARIOS)
        + " | analysis median | prompt tok/s | decode tok/s |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for f in figures:
        cells = [
            f.model,
            str(f.threads),
            f"{f.load_s:.1f}",
            f"{f.peak_rss_mib:.0f} MiB",
            *(spread(f.awaiting[name]) for name in SCENARIOS),
            number(f.analysis_median, " s"),
            number(f.prompt_tok_s),
            number(f.decode_tok_s),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def bench(model: str, count: int, log_dir: Path) -> tuple[list[Run], ModelFigures]:
    """Every run of one model on its own sidecar; the sidecar's peak RSS is read before it stops."""
    sidecar = Sidecar(log_dir / f"sidecar.{model}.log", model)
    tap = Tap(sidecar.url)
    started = time.monotonic()
    sidecar.start()
    try:
        await sidecar.ready()
        load_s = time.monotonic() - started
        await tap.start()
        info = await tap.info()
        # The sidecar's first analysis warms it (grammars compiled, prompt prefix cached).
        runs = [await measure(load(DEFAULT_DIR / f"{SCENARIOS[0]}.yaml"), 0, model, tap, log_dir)]
        for number in range(1, count + 1):
            for name in SCENARIOS:
                runs.append(await measure(load(DEFAULT_DIR / f"{name}.yaml"), number, model, tap, log_dir))
        peak_mib = peak_rss_mib(sidecar.pid)
    finally:
        await tap.stop()
        sidecar.stop()
    return runs, _figures(model, info, load_s, peak_mib, [r for r in runs if r.run > 0])


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario (default 3)")
    parser.add_argument(
        "--model",
        dest="models",
        action="append",
        metavar="NAME",
        help="models.lock name (default: the lock's default); repeat to measure each in turn",
    )
    parser.add_argument(
        "--json", type=Path, help="also write the runs and the per-model figures as JSON here"
    )
    args = parser.parse_args(argv)
    lock = lockfile.load(lockfile.lock_path())
    models = args.models or [lock.default]
    for name in models:
        try:
            lock.get(name)
        except KeyError as error:
            parser.error(str(error.args[0]))
    log_dir = Path(tempfile.mkdtemp(prefix="smart-sre-seed-latency-"))
    runs: list[Run] = []
    figures: list[ModelFigures] = []
    for model in models:
        model_runs, model_figures = await bench(model, args.runs, log_dir)
        runs += model_runs
        figures.append(model_figures)
        print(f"\n## {model} (threads={model_figures.threads})")
        print(_table(model_runs))
        print("run 0 is the sidecar's first analysis (cold caches); the summary uses runs 1..N")
        print(_summary([r for r in model_runs if r.run > 0]))
    print(f"\n## Per model (runs 1..{args.runs}; a bold time misses the {TARGET_SECONDS:.0f} s target)\n")
    print(_models_table(figures))
    print(f"\nlogs: {log_dir}")
    if args.json:
        document = {"runs": [asdict(r) for r in runs], "models": [asdict(f) for f in figures]}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
