"""The alerts of deploy/monitoring, as the real promtool checks and unit-tests them.

The rules are the `spec` of the PrometheusRule as `kubectl kustomize deploy/monitoring` renders it,
written beside each case of tests/deploy/promtool/ (one file per alert) as `smart-sre.rules.yaml`.
promtool comes from the `prometheus` system package (scripts/system-packages.sh): without it these
tests fail under CI and are skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import one, render
from .test_monitoring import _panel_queries

CASES = Path(__file__).parent / "promtool"
RULES_FILE = "smart-sre.rules.yaml"  # what every case's rule_files names
# Grafana's own variable, which promtool cannot parse; any range stands for it.
GRAFANA_RANGE = ("$__rate_interval", "5m")


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        why = "promtool is missing: scripts/system-packages.sh installs it (apt package `prometheus`)"
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(why)
        pytest.skip(why)
    return found


def _run(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)


def _shipped_rules() -> dict[str, Any]:
    return one(render("monitoring"), "PrometheusRule")["spec"]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / RULES_FILE).write_text(yaml.safe_dump(_shipped_rules(), sort_keys=False))
    return tmp_path


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in _shipped_rules()["groups"] for rule in group["rules"]}


def _cases() -> list[Path]:
    return sorted(CASES.glob("*.yaml"))


def _tested_alerts(case: Path) -> set[str]:
    return {
        check["alertname"]
        for test in yaml.safe_load(case.read_text())["tests"]
        for check in test["alert_rule_test"]
    }


def test_promtool_accepts_the_rules(promtool: str, rules_dir: Path) -> None:
    checked = _run(promtool, "check", "rules", RULES_FILE, cwd=rules_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in checked.stdout


@pytest.mark.parametrize("case", _cases(), ids=lambda path: path.stem)
def test_alert_case(promtool: str, rules_dir: Path, case: Path) -> None:
    shutil.copy(case, rules_dir / case.name)
    tested = _run(promtool, "test", "rules", case.name, cwd=rules_dir)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_case_file_that_sees_it_fire_and_stay_silent() -> None:
    tested = {case.stem: _tested_alerts(case) for case in _cases()}
    assert all(len(alerts) == 1 for alerts in tested.values()), tested
    assert set().union(*tested.values()) == set(_alerts())
    for case in _cases():
        expectations = [
            check["exp_alerts"]
            for test in yaml.safe_load(case.read_text())["tests"]
            for check in test["alert_rule_test"]
        ]
        assert [] in expectations, f"{case.name}: no moment where the alert must stay silent"
        assert any(expectations), f"{case.name}: no moment where the alert must fire"


def test_every_alert_says_how_bad_what_happened_and_what_to_do() -> None:
    for name, rule in _alerts().items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert {"summary", "description", "runbook"} <= rule["annotations"].keys(), name
        assert all(rule["annotations"][key].strip() for key in ("summary", "description", "runbook")), name


def test_a_changed_threshold_fails_its_case(promtool: str, rules_dir: Path) -> None:
    """The cases hold the thresholds: 3 hours instead of 2 is caught, so a passing case means something."""
    shipped = (rules_dir / RULES_FILE).read_text()
    assert "> 2 * 3600" in shipped
    (rules_dir / RULES_FILE).write_text(shipped.replace("> 2 * 3600", "> 3 * 3600"))
    shutil.copy(CASES / "awaiting-approval.yaml", rules_dir)
    tested = _run(promtool, "test", "rules", "awaiting-approval.yaml", cwd=rules_dir)
    assert tested.returncode != 0
    assert "SmartSreReportAwaitingApproval" in tested.stdout + tested.stderr


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each panel query, as a recording rule promtool parses (with a range for Grafana's variable)."""
    records = [
        {"record": f"dashboard:query_{index}", "expr": query.replace(*GRAFANA_RANGE)}
        for index, query in enumerate(_panel_queries())
    ]
    (tmp_path / "dashboard.rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]})
    )
    checked = _run(promtool, "check", "rules", "dashboard.rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(records)} rules found" in checked.stdout
