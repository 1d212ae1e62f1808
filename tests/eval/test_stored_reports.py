"""Every report the eval stored in docs/eval-reports/ (`smart-sre eval --reports docs/eval-reports`),
read back: each one's summary names nothing that its scenario's objects or the report itself did not
show, judged by the eval's own reader (`runner.summary_reader`). No sandbox, no model: the files only."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from smart_sre_harness.eval.report_files import StoredReport, path_of, read, stored_files
from smart_sre_harness.eval.runner import blank_result, summary_reader
from smart_sre_harness.eval.scenarios import DEFAULT_DIR, Scenario, load_sets

STORED = Path(__file__).resolve().parents[2] / "docs" / "eval-reports"
RERUN = "re-run `smart-sre eval --reports docs/eval-reports` for it, or delete the file"


@cache
def shipped() -> dict[str, Scenario]:
    """The scenarios of every shipped set, by name."""
    return {scenario.name: scenario for scenario in load_sets(DEFAULT_DIR)}


@cache
def stored() -> dict[Path, StoredReport | str]:
    """Each stored file (relative to the folder), read, or why it could not be."""
    found: dict[Path, StoredReport | str] = {}
    for path in stored_files(STORED):
        try:
            found[path.relative_to(STORED)] = read(path)
        except ValueError as error:
            found[path.relative_to(STORED)] = f"not a stored report: {error}"
    return found


def problem_of(relative: Path, report: StoredReport | str) -> str | None:
    """Why this file cannot be judged: unreadable, not where its run belongs, or its scenario gone."""
    if isinstance(report, str):
        return report
    if path_of(STORED, report.set, report.scenario, report.mode) != STORED / relative:
        return f"holds {report.set}/{report.scenario} ({report.mode}), which belongs elsewhere"
    scenario = shipped().get(report.scenario)
    if scenario is None:
        return f"scenario {report.scenario} is in no shipped set (renamed or removed?): {RERUN}"
    if scenario.set != report.set:
        return f"scenario {report.scenario} moved from set {report.set} to {scenario.set}: {RERUN}"
    return None


def test_the_folder_holds_reports():
    # A test that reads nothing proves nothing.
    assert stored(), f"no stored eval reports (*.json) under {STORED}"


def test_every_stored_report_parses_and_its_scenario_still_ships():
    problems = [
        f"{relative}: {problem}"
        for relative, report in stored().items()
        if (problem := problem_of(relative, report)) is not None
    ]
    assert not problems, "\n".join(problems)


def test_no_stored_summary_invents_a_name():
    invented: list[str] = []
    judged = 0
    for relative, report in stored().items():
        if problem_of(relative, report) is not None:
            continue  # the test above names it
        assert isinstance(report, StoredReport)
        scenario = shipped()[report.scenario]
        result = blank_result(scenario, report.mode)
        summary_reader(scenario)(report.status, result)
        judged += bool(result.summary)
        if result.invented:
            invented.append(f"{relative}: {', '.join(result.invented)} in {result.summary!r}")
    assert not invented, "invented names:\n" + "\n".join(invented)
    assert judged, "no stored report holds a summary to judge"
