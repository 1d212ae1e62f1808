"""The close-call set: incidents where the analyzers' best candidates tie or come within RANK_MARGIN, so
the model's choice decides, while the facts show a careful reader which one is right."""

from __future__ import annotations

from pathlib import Path

import pytest

from smart_sre.api.common import RootCause
from smart_sre.api.debugpolicy import DebugPolicySpec
from smart_sre.investigation.investigation import RANK_MARGIN, investigate
from smart_sre.k8s.writer import ClusterWriter
from smart_sre_harness.eval import stage
from smart_sre_harness.eval.grounding import culprit_named
from smart_sre_harness.eval.scenarios import DEFAULT_DIR, Scenario, identity, load_sets

CLOSE_CALLS = load_sets(DEFAULT_DIR, ["close-call"])


def _changed_fields(scenario: Scenario) -> int:
    """How many fields of the watched workload's pod template (its first container's and the pod's) the
    last revision changed against the first one in the file."""
    (watched,) = scenario.watched()
    first = next(d for d in scenario.documents if identity(d) == identity(watched))
    old, new = first["spec"]["template"]["spec"], watched["spec"]["template"]["spec"]
    pod = {key for key in {*old, *new} - {"containers"} if old.get(key) != new.get(key)}
    before, after = old["containers"][0], new["containers"][0]
    container = {key for key in {*before, *after} if before.get(key) != after.get(key)}
    return len(pod) + len(container)


def test_the_set_is_varied_and_every_scenario_names_its_culprit():
    assert len(CLOSE_CALLS) >= 10
    assert all(s.spec.expected.mentions for s in CLOSE_CALLS)
    # A healthy revision, then a deploy that changed two or three fields of which one is harmful.
    assert sum(len(s.revisions()) > 1 and _changed_fields(s) >= 2 for s in CLOSE_CALLS) >= 4
    workloads = [w for s in CLOSE_CALLS for w in s.watched()]
    assert len({w["metadata"]["name"] for w in workloads}) == len(workloads)
    assert len({n for s in CLOSE_CALLS for n in s.namespaces}) == len(CLOSE_CALLS)
    images = {c["image"] for w in workloads for c in w["spec"]["template"]["spec"]["containers"]}
    assert len(images) >= len(CLOSE_CALLS)
    assert len({s.spec.expected.trigger for s in CLOSE_CALLS}) >= 4
    assert len({s.spec.expected.root_cause for s in CLOSE_CALLS}) >= 5


@pytest.mark.parametrize("scenario", CLOSE_CALLS, ids=lambda s: s.name)
async def test_the_analyzers_best_candidates_are_within_the_margin(scenario: Scenario, tmp_path: Path):
    """At least two causes come within RANK_MARGIN of the best, and one of them is the expected cause
    with a summary naming the culprit: the right answer is on the table, and choosing it is the test."""
    async with stage.sandbox_for(scenario) as sandbox:
        failure = await stage.wait_for_failure(sandbox, scenario)
        assert failure is not None, await stage.observed_triggers(sandbox, scenario)
        cluster = ClusterWriter.from_config(str(sandbox.write_kubeconfig(tmp_path / "kubeconfig")))
        try:
            policy = DebugPolicySpec.model_validate(scenario.policy()["spec"])
            conclusion = await investigate(
                cluster, None, failure.pod, failure.detection.trigger, policy=policy
            )
        finally:
            cluster.close()
    best = conclusion.candidates[0].score
    close = [
        c
        for c in conclusion.candidates
        if c.root_cause != RootCause.UNKNOWN and c.score >= best - RANK_MARGIN
    ]
    shown = [(c.score, str(c.root_cause), c.summary[:100]) for c in conclusion.candidates]
    assert len(close) >= 2, shown
    expected = scenario.spec.expected
    assert any(
        c.root_cause == expected.root_cause and culprit_named(c.summary, expected.mentions) for c in close
    ), shown
