"""What one scenario run measured, the totals, and how they are printed and saved."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO


@dataclass
class ScenarioResult:
    scenario: str
    mode: str  # "model:NAME" or "baseline"
    expected: str
    trigger: str | None = None
    root_cause: str | None = None
    patch_offered: bool = False
    patch_fixed: bool = False
    unsafe: list[str] = field(default_factory=list)
    parse_failures: int = 0
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    phase: str | None = None
    note: str | None = None  # why a run ended early, or why no patch was offered
    error: str | None = None  # the run could not be completed (scenario did not fail, timeout ...)

    @property
    def correct(self) -> bool:
        return self.root_cause == self.expected


@dataclass
class Totals:
    mode: str
    scenarios: int
    root_cause_correct: int
    patch_offered: int
    patch_fixed: int
    unsafe_patches: int
    parse_failures: int
    errors: int
    steps: int
    tokens: int
    seconds: float

    @classmethod
    def of(cls, mode: str, results: list[ScenarioResult]) -> Totals:
        return cls(
            mode=mode,
            scenarios=len(results),
            root_cause_correct=sum(r.correct for r in results),
            patch_offered=sum(r.patch_offered for r in results),
            patch_fixed=sum(r.patch_fixed for r in results),
            unsafe_patches=sum(bool(r.unsafe) for r in results),
            parse_failures=sum(r.parse_failures for r in results),
            errors=sum(r.error is not None for r in results),
            steps=sum(r.steps for r in results),
            tokens=sum(r.tokens for r in results),
            seconds=round(sum(r.seconds for r in results), 1),
        )

    def percent(self, count: int) -> str:
        return f"{100 * count / self.scenarios:.0f}%" if self.scenarios else "-"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def table(results: list[ScenarioResult]) -> str:
    """A Markdown table, one row per scenario run, as docs/eval.md shows it."""
    header = (
        "| scenario | mode | expected | root cause | ok | patch offered | patch fixes | unsafe | parse failures "
        "| steps | tokens | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {r.scenario} | {r.mode} | {r.expected} | {r.root_cause or '-'} | {_yes(r.correct)} | "
        f"{_yes(r.patch_offered)} | {_yes(r.patch_fixed)} | {len(r.unsafe)} | {r.parse_failures} | {r.steps} | "
        f"{r.tokens} | {r.seconds:.1f} |"
        for r in results
    ]
    return "\n".join([header, *rows])


def summary(totals: list[Totals]) -> str:
    header = (
        "| mode | scenarios | root cause | patch offered | patch fixes | unsafe patches | parse failures "
        "| errors | steps | tokens | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {t.mode} | {t.scenarios} | {t.root_cause_correct} ({t.percent(t.root_cause_correct)}) | "
        f"{t.patch_offered} ({t.percent(t.patch_offered)}) | {t.patch_fixed} ({t.percent(t.patch_fixed)}) | "
        f"{t.unsafe_patches} | {t.parse_failures} | {t.errors} | {t.steps} | {t.tokens} | {t.seconds:.1f} |"
        for t in totals
    ]
    return "\n".join([header, *rows])


def print_report(results: list[ScenarioResult], out: TextIO) -> list[Totals]:
    modes = list(dict.fromkeys(r.mode for r in results))
    totals = [Totals.of(mode, [r for r in results if r.mode == mode]) for mode in modes]
    print("\n" + table(results) + "\n\n" + summary(totals), file=out)
    for result in results:
        if result.error or result.unsafe:
            print(
                f"- {result.scenario} ({result.mode}): {result.error or '; '.join(result.unsafe)}", file=out
            )
    return totals


def write_json(path: Path, results: list[ScenarioResult], totals: list[Totals], meta: dict) -> None:
    body = {
        **meta,
        "totals": [asdict(t) for t in totals],
        "scenarios": [{**asdict(r), "correct": r.correct} for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
