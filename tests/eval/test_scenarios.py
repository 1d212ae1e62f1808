"""The scenario files: a valid Scenario document each, enough of every category, and on the sandbox
every failing workload really fails with the trigger its scenario claims."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from smart_sre.api.common import RootCause
from smart_sre_harness.eval import stage
from smart_sre_harness.eval.scenarios import DEFAULT_DIR, ScenarioError, load, load_dir

SCENARIOS = load_dir(DEFAULT_DIR)


def test_there_are_enough_scenarios_in_every_category():
    assert len(SCENARIOS) >= 24
    causes = Counter(s.spec.expected.root_cause for s in SCENARIOS)
    # Several per category of the failure kinds; a dependency that is really down is the
    # one cause with no fix to this workload, covered once.
    for cause in set(RootCause) - {RootCause.UNKNOWN, RootCause.DEPENDENCY_UNAVAILABLE}:
        assert causes[cause] >= 2, (cause, causes)
    assert causes[RootCause.DEPENDENCY_UNAVAILABLE] >= 1
    assert sum(s.name.startswith("misleading-") for s in SCENARIOS) >= 3


def test_names_namespaces_and_images_vary():
    workloads = [w for s in SCENARIOS for w in s.watched()]
    assert len({w["metadata"]["name"] for w in workloads}) == len(workloads)
    assert len({n for s in SCENARIOS for n in s.namespaces}) >= 15
    images = {c["image"] for w in workloads for c in w["spec"]["template"]["spec"]["containers"]}
    assert len(images) >= 15


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_document_describes_only_the_expectation(scenario):
    described = next(d for d in scenario.documents if d["kind"] == "Scenario")
    assert described["metadata"]["name"] == scenario.path.stem
    assert set(described["spec"]) == {"description", "expected"}
    assert set(described["spec"]["expected"]) == {"rootCause", "trigger"}
    policy = scenario.policy()
    assert policy["spec"]["rules"][0]["namespaces"] == scenario.namespaces


def test_a_file_without_a_scenario_document_is_refused_with_its_name(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: needs exactly one `kind: Scenario`"):
        load(path)


def test_unknown_scenario_names_are_refused():
    with pytest.raises(ScenarioError, match="unknown scenario"):
        load_dir(DEFAULT_DIR, ["no-such-scenario"])


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_workload_fails_with_the_claimed_trigger(scenario):
    async with stage.sandbox_for(scenario) as sandbox:
        failure = await stage.wait_for_failure(sandbox, scenario, within=30)
        shown = await stage.observed_triggers(sandbox, scenario)
        assert failure is not None, f"{scenario.name} did not show {scenario.spec.expected.trigger}: {shown}"
        # Not healthy through a check window: an OOM-killed app may be Ready for a moment between kills.
        assert not await stage.recovered(sandbox, scenario, within=3)
