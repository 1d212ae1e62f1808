"""What one scenario or task run measured, the totals, and how they are printed and saved.

A task run (tasks.py) fills the same result: its verify.sh is the judge, so `patch_fixed` says the
verifier passed, and `expected` is the root cause its task.yaml names, if any.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO, TypeVar

T = TypeVar("T")


@dataclass
class ScenarioResult:
    scenario: str  # the scenario's or the task's name
    mode: str  # "model:NAME" or "baseline"
    expected: str | None  # the root cause to find; None for a task whose task.yaml names none
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
        return self.expected is not None and self.root_cause == self.expected


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
    ("expected", lambda r: r.expected or "-"),
    ("root cause", lambda r: r.root_cause or "-"),
    ("ok", lambda r: "-" if r.expected is None else _yes(r.correct)),
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


@dataclass(frozen=True)
class Kind:
    """What a run is of, as the tables and the JSON name it: a scenario, or a task of a task suite."""

    name: str
    run_headers: Mapping[str, str] = field(default_factory=dict)  # a run table header -> this kind's
    total_headers: Mapping[str, str] = field(default_factory=dict)

    def relabel(self, columns: list[Column[T]], headers: Mapping[str, str]) -> list[Column[T]]:
        return [(headers.get(header, header), cell) for header, cell in columns]


SCENARIO = Kind("scenario")
# A task's verify.sh is its judge; the root cause it names (if any) is its `expected`.
TASK = Kind(
    "task",
    {"scenario": "task", "root cause": "cause found", "patch fixes": "verify passed"},
    {"scenarios": "tasks", "patch fixes": "verify passed"},
)


def table(results: list[ScenarioResult], kind: Kind = SCENARIO) -> str:
    """A Markdown table, one row per run, as docs/eval.md shows it."""
    return _markdown(kind.relabel(_RUN_COLUMNS, kind.run_headers), results)


def summary(totals: list[Totals], kind: Kind = SCENARIO) -> str:
    """The totals per mode, each count with its share of the runs."""
    return _markdown(kind.relabel(_TOTAL_COLUMNS, kind.total_headers), totals)


def print_report(results: list[ScenarioResult], out: TextIO, kind: Kind = SCENARIO) -> list[Totals]:
    modes = list(dict.fromkeys(r.mode for r in results))
    totals = [Totals.of(mode, [r for r in results if r.mode == mode]) for mode in modes]
    print("\n" + table(results, kind) + "\n\n" + summary(totals, kind), file=out)
    for result in results:
        if result.error or result.unsafe:
            print(
                f"- {result.scenario} ({result.mode}): {result.error or '; '.join(result.unsafe)}", file=out
            )
        elif kind is TASK and not result.patch_fixed and result.note:
            print(f"- {result.scenario} ({result.mode}): {result.note}", file=out)
    return totals


def write_json(
    path: Path, results: list[ScenarioResult], totals: list[Totals], meta: dict, kind: Kind = SCENARIO
) -> None:
    rows = []
    for result in results:
        row = {**asdict(result), "correct": result.correct}
        rows.append({kind.name: row.pop("scenario"), **row})
    plural = f"{kind.name}s"
    counts = [
        {plural if key == "scenarios" else key: value for key, value in asdict(t).items()} for t in totals
    ]
    body = {**meta, "totals": counts, plural: rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
