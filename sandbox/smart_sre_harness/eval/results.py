"""What one scenario run measured, the totals, and how they are printed and saved."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO, TypeVar

T = TypeVar("T")


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


Column = tuple[str, Callable[[T], object]]
"""A table column: its header and how a row's cell is read off one item."""


def _markdown(columns: list[Column[T]], items: list[T]) -> str:
    """One renderer for both tables; each header sits next to its cell, so the two cannot drift apart."""
    lines = [[header for header, _ in columns], *([cell(item) for _, cell in columns] for item in items)]
    rendered = ["| " + " | ".join(str(value) for value in line) + " |" for line in lines]
    rendered.insert(1, "|" + "---|" * len(columns))
    return "\n".join(rendered)


_RUN_COLUMNS: list[Column[ScenarioResult]] = [
    ("scenario", lambda r: r.scenario),
    ("mode", lambda r: r.mode),
    ("expected", lambda r: r.expected),
    ("root cause", lambda r: r.root_cause or "-"),
    ("ok", lambda r: _yes(r.correct)),
    ("patch offered", lambda r: _yes(r.patch_offered)),
    ("patch fixes", lambda r: _yes(r.patch_fixed)),
    ("unsafe", lambda r: len(r.unsafe)),
    ("parse failures", lambda r: r.parse_failures),
    ("steps", lambda r: r.steps),
    ("tokens", lambda r: r.tokens),
    ("seconds", lambda r: f"{r.seconds:.1f}"),
]

_TOTAL_COLUMNS: list[Column[Totals]] = [
    ("mode", lambda t: t.mode),
    ("scenarios", lambda t: t.scenarios),
    ("root cause", lambda t: f"{t.root_cause_correct} ({t.percent(t.root_cause_correct)})"),
    ("patch offered", lambda t: f"{t.patch_offered} ({t.percent(t.patch_offered)})"),
    ("patch fixes", lambda t: f"{t.patch_fixed} ({t.percent(t.patch_fixed)})"),
    ("unsafe patches", lambda t: t.unsafe_patches),
    ("parse failures", lambda t: t.parse_failures),
    ("errors", lambda t: t.errors),
    ("steps", lambda t: t.steps),
    ("tokens", lambda t: t.tokens),
    ("seconds", lambda t: f"{t.seconds:.1f}"),
]


def table(results: list[ScenarioResult]) -> str:
    """A Markdown table, one row per scenario run, as docs/eval.md shows it."""
    return _markdown(_RUN_COLUMNS, results)


def summary(totals: list[Totals]) -> str:
    """The totals per mode, each count with its share of the scenarios."""
    return _markdown(_TOTAL_COLUMNS, totals)


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
