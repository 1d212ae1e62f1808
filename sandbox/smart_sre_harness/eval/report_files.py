"""The final DiagnosticReport of each eval run, kept as a file: `smart-sre eval --reports DIR` writes them,
tests/eval/test_stored_reports.py reads every one back (docs/eval-reports/ is the repository's folder).

Layout: `DIR/<set>/<scenario>/<mode>.json`, one file per scenario and mode (`baseline`,
`model_NAME` for `model:NAME`), so several modes sit side by side and a later run of the same scenario
and mode replaces the file. Each file is one `StoredReport`: which run it is and the report (apiVersion,
kind, metadata name and namespace, spec, status). A report is whatever the operator or anyone else
wrote into it: a reader takes nothing in it for granted.
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smart_sre_harness.eval.results import ScenarioResult

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class StoredReport(BaseModel):
    """One file: the run it comes from and the report it ended with."""

    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(min_length=1)
    set: str = Field(min_length=1)
    mode: str = Field(min_length=1)  # "baseline" or "model:NAME", as the eval's table names it
    recorded: datetime  # when the run ended
    report: dict[str, Any]

    @property
    def status(self) -> dict[str, Any]:
        """The report's status; {} where the field is absent or of another shape."""
        status = self.report.get("status")
        return status if isinstance(status, dict) else {}


def safe_name(part: str) -> str:
    """`part` as one file name: what is not a letter, digit, `.`, `_` or `-` becomes `_` (`model:qwen2.5`
    is `model_qwen2.5`); no leading dot, so no `..` and no hidden file."""
    return _UNSAFE.sub("_", part).lstrip(".") or "_"


def path_of(directory: Path, set_name: str, scenario: str, mode: str) -> Path:
    return directory / safe_name(set_name) / safe_name(scenario) / f"{safe_name(mode)}.json"


def stored_files(directory: Path) -> list[Path]:
    """Every stored report under `directory`, in path order (the README and other files are not)."""
    return sorted(directory.rglob("*.json"))


def read(path: Path) -> StoredReport:
    """One stored file; a ValueError (pydantic's ValidationError) where it is not a StoredReport."""
    return StoredReport.model_validate_json(path.read_bytes())


def _trimmed(report: dict[str, Any]) -> dict[str, Any]:
    """What a reader needs of a report; the API server's bookkeeping (uid, resourceVersion, managed
    fields) is left out."""
    metadata = report.get("metadata") or {}
    return {
        "apiVersion": report.get("apiVersion"),
        "kind": report.get("kind"),
        "metadata": {key: metadata[key] for key in ("name", "namespace") if key in metadata},
        **{key: report[key] for key in ("spec", "status") if key in report},
    }


class ReportWriter:
    """Writes each run's report into one directory, checked writable before any run starts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def at(cls, directory: Path) -> ReportWriter:
        """A writer for `directory`, created if missing; ValueError naming it where it is not a writable
        directory, so a bad `--reports` fails before minutes of runs."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as error:
            raise ValueError(f"--reports {directory}: not a writable directory ({error})") from error
        return cls(directory)

    def keep(self, result: ScenarioResult) -> Path:
        """Write `result`'s report to its file, replacing an earlier run's; a run that ended with no
        report removes the earlier file, so the folder never shows a report the last run did not make."""
        if result.set is None:
            raise ValueError(f"{result.scenario}: only a scenario's run (one of a set) is kept")
        path = path_of(self.directory, result.set, result.scenario, result.mode)
        if result.report is None:
            path.unlink(missing_ok=True)
            return path
        stored = StoredReport(
            scenario=result.scenario,
            set=result.set,
            mode=result.mode,
            recorded=datetime.now(UTC).replace(microsecond=0),
            report=_trimmed(result.report),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: an interrupted run leaves the old file or the new, never half of one.
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(stored.model_dump_json() + "\n")
        temporary.replace(path)
        return path
