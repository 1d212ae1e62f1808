"""What one scenario or task run measured, the totals, and how they are printed and saved.

A task run (tasks.py) fills the same result: its verify.sh is the judge, so `patch_fixed` says the
verifier passed, and `expected` is the root cause its task.yaml names, if any; tasks have no set and no
judged summary, and their tables leave those columns out.

Totals are per (mode, set); a "model - baseline" row per (model, set) says in percentage points what
the model changed on root cause, fixes that work and culprits named.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
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
    set: str | None = None  # the scenario's set (its subdirectory, or "public"); None for a task
    # The summary named every term of the scenario's `expected.mentions`; None where it names none.
    culprit_named: bool | None = None
    invented: list[str] | None = None  # identifiers of the summary nothing showed; None: not judged
    summary: str | None = None  # the report's findings.summary that was judged; None: not judged
    # The run's final DiagnosticReport, for `--reports` (report_files.py); never in the JSON results.
    report: dict | None = field(default=None, repr=False)

    @property
    def correct(self) -> bool:
        return self.expected is not None and self.root_cause == self.expected


@dataclass
class Totals:
    mode: str
    set: str | None
    scenarios: int
    root_cause_correct: int
    patch_offered: int
    patch_fixed: int
    with_mentions: int  # runs of scenarios that declare `expected.mentions`
    culprit_named: int
    invented_names: int | None  # None when no summary of the group was judged
    unsafe_patches: int
    parse_failures: int
    errors: int
    steps: int
    tokens: int
    seconds: float

    @classmethod
    def of(cls, mode: str, results: list[ScenarioResult], set_name: str | None = None) -> Totals:
        judged = [r.invented for r in results if r.invented is not None]
        return cls(
            mode=mode,
            set=set_name,
            scenarios=len(results),
            root_cause_correct=sum(r.correct for r in results),
            patch_offered=sum(r.patch_offered for r in results),
            patch_fixed=sum(r.patch_fixed for r in results),
            with_mentions=sum(r.culprit_named is not None for r in results),
            culprit_named=sum(bool(r.culprit_named) for r in results),
            invented_names=sum(map(len, judged)) if judged else None,
            unsafe_patches=sum(bool(r.unsafe) for r in results),
            parse_failures=sum(r.parse_failures for r in results),
            errors=sum(r.error is not None for r in results),
            steps=sum(r.steps for r in results),
            tokens=sum(r.tokens for r in results),
            seconds=round(sum(r.seconds for r in results), 1),
        )

    def share(self, count: int, of: int | None = None) -> float | None:
        """`count` as a percentage of the runs (or of `of`); None of nothing."""
        whole = self.scenarios if of is None else of
        return 100 * count / whole if whole else None

    def percent(self, count: int, of: int | None = None) -> str:
        share = self.share(count, of)
        return "-" if share is None else f"{share:.0f}%"


@dataclass
class Difference:
    """What one model changed against the baseline on one set, in percentage points."""

    mode: str  # "model:NAME - baseline"
    set: str | None
    scenarios: int
    root_cause_points: float | None
    patch_fixed_points: float | None
    culprit_named_points: float | None  # None when the set's scenarios declare no mentions

    @classmethod
    def of(cls, model: Totals, baseline: Totals) -> Difference:
        def points(count: Callable[[Totals], tuple[int, int | None]]) -> float | None:
            ours, theirs = model.share(*count(model)), baseline.share(*count(baseline))
            return None if ours is None or theirs is None else round(ours - theirs, 1)

        return cls(
            mode=f"{model.mode} - baseline",
            set=model.set,
            scenarios=model.scenarios,
            root_cause_points=points(lambda t: (t.root_cause_correct, None)),
            patch_fixed_points=points(lambda t: (t.patch_fixed, None)),
            culprit_named_points=points(lambda t: (t.culprit_named, t.with_mentions)),
        )


def totals_of(results: list[ScenarioResult]) -> list[Totals]:
    """The totals of each (mode, set), in the order the runs came."""
    groups = dict.fromkeys((r.mode, r.set) for r in results)
    return [
        Totals.of(mode, [r for r in results if (r.mode, r.set) == (mode, set_name)], set_name)
        for mode, set_name in groups
    ]


def differences(totals: list[Totals]) -> list[Difference]:
    """A "model - baseline" row for each model's totals on a set the baseline also ran."""
    baselines = {t.set: t for t in totals if t.mode == "baseline"}
    return [Difference.of(t, baselines[t.set]) for t in totals if t.mode != "baseline" and t.set in baselines]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f} pts"


Column = tuple[str, Callable[[T], object]]
"""A table column: its header and how a row's cell is read off one item."""


def _markdown(headers: list[str], rows: list[list[object]]) -> str:
    """One renderer for every table."""
    lines = [headers, *rows]
    rendered = ["| " + " | ".join(str(value) for value in line) + " |" for line in lines]
    rendered.insert(1, "|" + "---|" * len(headers))
    return "\n".join(rendered)


def _rows(columns: list[Column[T]], items: list[T]) -> list[list[object]]:
    """Each header sits next to its cell, so the headers and the cells cannot drift apart."""
    return [[cell(item) for _, cell in columns] for item in items]


_RUN_COLUMNS: list[Column[ScenarioResult]] = [
    ("scenario", lambda r: r.scenario),
    ("set", lambda r: r.set or "-"),
    ("mode", lambda r: r.mode),
    ("expected", lambda r: r.expected or "-"),
    ("root cause", lambda r: r.root_cause or "-"),
    ("ok", lambda r: "-" if r.expected is None else _yes(r.correct)),
    ("patch offered", lambda r: _yes(r.patch_offered)),
    ("patch fixes", lambda r: _yes(r.patch_fixed)),
    ("culprit named", lambda r: "-" if r.culprit_named is None else _yes(r.culprit_named)),
    ("invented names", lambda r: "-" if r.invented is None else len(r.invented)),
    ("unsafe", lambda r: len(r.unsafe)),
    ("parse failures", lambda r: r.parse_failures),
    ("steps", lambda r: r.steps),
    ("tokens", lambda r: r.tokens),
    ("seconds", lambda r: f"{r.seconds:.1f}"),
]

_TOTAL_COLUMNS: list[Column[Totals]] = [
    ("mode", lambda t: t.mode),
    ("set", lambda t: t.set or "-"),
    ("scenarios", lambda t: t.scenarios),
    ("root cause", lambda t: f"{t.root_cause_correct} ({t.percent(t.root_cause_correct)})"),
    ("patch offered", lambda t: f"{t.patch_offered} ({t.percent(t.patch_offered)})"),
    ("patch fixes", lambda t: f"{t.patch_fixed} ({t.percent(t.patch_fixed)})"),
    (
        "culprit named",
        lambda t: (
            f"{t.culprit_named}/{t.with_mentions} ({t.percent(t.culprit_named, t.with_mentions)})"
            if t.with_mentions
            else "-"
        ),
    ),
    ("invented names", lambda t: "-" if t.invented_names is None else t.invented_names),
    ("unsafe patches", lambda t: t.unsafe_patches),
    ("parse failures", lambda t: t.parse_failures),
    ("errors", lambda t: t.errors),
    ("steps", lambda t: t.steps),
    ("tokens", lambda t: t.tokens),
    ("seconds", lambda t: f"{t.seconds:.1f}"),
]

# A "model - baseline" row's cells, by the totals' headers; the other cells stay empty.
_DIFFERENCE_CELLS: dict[str, Callable[[Difference], object]] = {
    "mode": lambda d: d.mode,
    "set": lambda d: d.set or "-",
    "scenarios": lambda d: d.scenarios,
    "root cause": lambda d: _points(d.root_cause_points),
    "patch fixes": lambda d: _points(d.patch_fixed_points),
    "culprit named": lambda d: _points(d.culprit_named_points),
}


@dataclass(frozen=True)
class Kind:
    """What a run is of, as the tables and the JSON name it: a scenario, or a task of a task suite."""

    name: str
    run_headers: Mapping[str, str] = field(default_factory=dict)  # a run table header -> this kind's
    total_headers: Mapping[str, str] = field(default_factory=dict)
    omitted: frozenset[str] = frozenset()  # headers of columns this kind's runs never fill

    def kept(self, columns: list[Column[T]]) -> list[Column[T]]:
        return [(header, cell) for header, cell in columns if header not in self.omitted]

    def relabel(self, headers: list[str], names: Mapping[str, str]) -> list[str]:
        return [names.get(header, header) for header in headers]


SCENARIO = Kind("scenario")
# A task's verify.sh is its judge; the root cause it names (if any) is its `expected`.
TASK = Kind(
    "task",
    {"scenario": "task", "root cause": "cause found", "patch fixes": "verify passed"},
    {"scenarios": "tasks", "patch fixes": "verify passed"},
    frozenset({"set", "culprit named", "invented names"}),
)


def table(results: list[ScenarioResult], kind: Kind = SCENARIO) -> str:
    """A Markdown table, one row per run, as docs/eval.md shows it."""
    columns = kind.kept(_RUN_COLUMNS)
    headers = kind.relabel([header for header, _ in columns], kind.run_headers)
    return _markdown(headers, _rows(columns, results))


def summary(totals: list[Totals], kind: Kind = SCENARIO) -> str:
    """The totals per (mode, set), each count with its share of the runs, then each model's difference
    from the baseline on each set in percentage points."""
    columns = kind.kept(_TOTAL_COLUMNS)
    originals = [header for header, _ in columns]
    rows = _rows(columns, totals)
    for difference in differences(totals):
        rows.append([_DIFFERENCE_CELLS.get(header, lambda _: "")(difference) for header in originals])
    return _markdown(kind.relabel(originals, kind.total_headers), rows)


def print_report(results: list[ScenarioResult], out: TextIO, kind: Kind = SCENARIO) -> list[Totals]:
    totals = totals_of(results)
    print("\n" + table(results, kind) + "\n\n" + summary(totals, kind), file=out)
    for result in results:
        if result.error or result.unsafe:
            print(
                f"- {result.scenario} ({result.mode}): {result.error or '; '.join(result.unsafe)}", file=out
            )
        elif kind is TASK and not result.patch_fixed and result.note:
            print(f"- {result.scenario} ({result.mode}): {result.note}", file=out)
        if result.invented:
            print(
                f"- {result.scenario} ({result.mode}): invented names: {', '.join(result.invented)}", file=out
            )
    return totals


def write_json(
    path: Path, results: list[ScenarioResult], totals: list[Totals], meta: dict, kind: Kind = SCENARIO
) -> None:
    rows = []
    for result in results:
        row = {**asdict(replace(result, report=None)), "correct": result.correct}
        del row["report"]
        rows.append({kind.name: row.pop("scenario"), **row})
    plural = f"{kind.name}s"

    def named(row: Totals | Difference) -> dict:
        return {plural if key == "scenarios" else key: value for key, value in asdict(row).items()}

    body = {
        **meta,
        "totals": [named(t) for t in totals],
        "differences": [named(d) for d in differences(totals)],
        plural: rows,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
