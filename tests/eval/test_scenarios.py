"""The scenario files: a valid Scenario document each, enough of every category, sets by subdirectory,
and on the sandbox every failing workload really fails with the trigger its scenario claims."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from smart_sre.api.common import RootCause
from smart_sre_harness.eval import stage
from smart_sre_harness.eval.scenarios import DEFAULT_DIR, ScenarioError, load, load_dir, load_sets

SCENARIOS = load_dir(DEFAULT_DIR)  # the public set: the files at the top of the directory
EVERY_SET = load_sets(DEFAULT_DIR)


def test_there_are_enough_scenarios_in_every_category():
    assert len(SCENARIOS) >= 50
    # Change-induced failures: a workload that ran healthy, then a breaking revision.
    assert sum(len(s.revisions()) > 1 for s in SCENARIOS) >= 6
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


@pytest.mark.parametrize("scenario", EVERY_SET, ids=lambda s: f"{s.set}/{s.name}")
def test_scenario_document_describes_only_the_expectation(scenario):
    described = next(d for d in scenario.documents if d["kind"] == "Scenario")
    assert described["metadata"]["name"] == scenario.path.stem
    assert set(described["spec"]) == {"description", "expected"}
    assert set(described["spec"]["expected"]) in (
        {"rootCause", "trigger"},
        {"rootCause", "trigger", "mentions"},
    )
    policy = scenario.policy()
    assert policy["spec"]["rules"][0]["namespaces"] == scenario.namespaces


def test_mentions_are_a_list_of_terms_and_most_public_scenarios_name_their_culprit():
    named = [s for s in SCENARIOS if s.spec.expected.mentions]
    assert len(named) >= 0.8 * len(SCENARIOS)
    assert all(term.strip() for s in named for term in s.spec.expected.mentions or [])


def test_every_set_loads_and_names_are_unique_across_sets():
    sets = {s.set for s in EVERY_SET}
    assert {"public", "close-call"} <= sets
    assert [s for s in EVERY_SET if s.set == "public"] == SCENARIOS
    assert len({s.name for s in EVERY_SET}) == len(EVERY_SET)


def _scenario(path: Path, name: str) -> Path:
    described = {
        "apiVersion": "sandbox.smartsre.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": name},
        "spec": {
            "description": "x",
            "expected": {
                "rootCause": "ApplicationError",
                "trigger": "CrashLoopBackOff",
                "mentions": ["args"],
            },
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all([described, revision("sandbox/web:1.0")]))
    return path


def test_subdirectories_are_sets_and_the_top_level_files_are_public(tmp_path: Path):
    _scenario(tmp_path / "top.yaml", "top")
    _scenario(tmp_path / "close-call" / "tie.yaml", "tie")
    _scenario(tmp_path / "_drafts" / "draft.yaml", "draft")  # not a set
    assert [(s.set, s.name) for s in load_sets(tmp_path)] == [("public", "top"), ("close-call", "tie")]
    assert [s.name for s in load_dir(tmp_path)] == ["top"]
    assert [s.name for s in load_sets(tmp_path, ["close-call"])] == ["tie"]
    assert [s.name for s in load_sets(tmp_path, only=["tie"])] == ["tie"]
    assert load(tmp_path / "top.yaml").spec.expected.mentions == ["args"]
    with pytest.raises(
        ScenarioError, match=r"unknown scenario set\(s\) nope in .*; known: public, close-call"
    ):
        load_sets(tmp_path, ["nope"])
    with pytest.raises(ScenarioError, match=r"unknown scenario\(s\) top; known: tie"):
        load_sets(tmp_path, ["close-call"], only=["top"])
    _scenario(tmp_path / "unknown" / "again.yaml", "top")
    with pytest.raises(ScenarioError, match="scenario name\\(s\\) top appear in more than one file"):
        load_sets(tmp_path)


def test_a_file_without_a_scenario_document_is_refused_with_its_name(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: needs exactly one `kind: Scenario`"):
        load(path)


def revision(image: str, command: list[str] | None = None) -> dict:
    container = {"name": "main", "image": image, **({"command": command} if command else {})}
    labels = {"app": "critical-app", "component": "tally"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "tally", "namespace": "counting"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def scenario_file(tmp_path: Path, *documents: dict) -> Path:
    described = {
        "apiVersion": "sandbox.smartsre.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": "history"},
        "spec": {
            "description": "x",
            "expected": {"rootCause": "ApplicationError", "trigger": "CrashLoopBackOff"},
        },
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "counting"}}
    path = tmp_path / "history.yaml"
    path.write_text(yaml.safe_dump_all([described, namespace, *documents]))
    return path


def test_a_workload_given_twice_is_watched_as_its_last_revision_applied_after_the_first(tmp_path: Path):
    healthy, broken = revision("sandbox/web:1.0"), revision("sandbox/web:1.0", ["/bin/no-such-server"])
    scenario = load(scenario_file(tmp_path, healthy, broken))
    assert scenario.watched() == [broken]
    rounds = scenario.revisions()
    assert [[d["kind"] for d in r] for r in rounds] == [
        ["Scenario", "Namespace", "Deployment"],
        ["Deployment"],
    ]
    assert rounds[1] == [broken]


@pytest.mark.slow
async def test_the_failing_revision_of_a_workload_given_twice_has_the_healthy_one_before_it(tmp_path: Path):
    healthy, broken = revision("sandbox/web:1.1"), revision("sandbox/web:1.1", ["/bin/no-such-server"])
    scenario = load(scenario_file(tmp_path, healthy, broken))
    async with stage.sandbox_for(scenario) as sandbox:
        assert await stage.wait_for_failure(sandbox, scenario, within=30) is not None
        sets, _ = await sandbox.store.list(sandbox.store.resource("replicasets"), "counting")
        by_revision = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in sets}
        assert sorted(by_revision) == ["1", "2"]
        assert by_revision["1"]["status"].get("readyReplicas") == 1  # still serving beside the broken one
        assert "command" in by_revision["2"]["spec"]["template"]["spec"]["containers"][0]


def test_unknown_scenario_names_are_refused():
    with pytest.raises(ScenarioError, match="unknown scenario"):
        load_dir(DEFAULT_DIR, ["no-such-scenario"])


@pytest.mark.slow
@pytest.mark.parametrize("scenario", EVERY_SET, ids=lambda s: f"{s.set}/{s.name}")
async def test_workload_fails_with_the_claimed_trigger(scenario):
    async with stage.sandbox_for(scenario) as sandbox:
        failure = await stage.wait_for_failure(sandbox, scenario, within=30)
        shown = await stage.observed_triggers(sandbox, scenario)
        assert failure is not None, f"{scenario.name} did not show {scenario.spec.expected.trigger}: {shown}"
        # Not healthy through a check window: an OOM-killed app may be Ready for a moment between kills.
        assert not await stage.recovered(sandbox, scenario, within=3)
