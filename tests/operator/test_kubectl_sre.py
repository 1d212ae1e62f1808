import pytest

from smart_sre.commands.kubectl_sre import build_parser, render_report
from smart_sre.k8s.patchdiff import patch_diff

MEMORY = "/spec/template/spec/containers/0/resources/requests/memory"


def deployment(memory: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ledger", "namespace": "default", "resourceVersion": "42", "uid": "u"},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "resources": {"requests": {"memory": memory}}}]}
            }
        },
        "status": {"replicas": 1},
    }


def test_diff_shows_the_change_and_hides_server_noise():
    guarded = [
        {"op": "test", "path": MEMORY, "value": "64Gi"},
        {"op": "replace", "path": MEMORY, "value": "256Mi"},
    ]
    diff = patch_diff(deployment("64Gi"), guarded, label="Deployment/ledger")
    assert "--- a/Deployment/ledger" in diff
    assert "-            memory: 64Gi" in diff
    assert "+            memory: 256Mi" in diff
    assert "resourceVersion" not in diff
    assert "replicas" not in diff  # status is not part of the change


def test_diff_says_when_the_guard_no_longer_holds():
    guarded = [
        {"op": "test", "path": MEMORY, "value": "64Gi"},
        {"op": "replace", "path": MEMORY, "value": "256Mi"},
    ]
    assert "no longer applies" in patch_diff(deployment("48Gi"), guarded, label="Deployment/ledger")


def test_show_prints_findings_chain_and_why_there_is_no_patch():
    report = {
        "metadata": {"name": "checkout-api-crashloopbackoff-e59abb7de5", "namespace": "default"},
        "spec": {
            "podRef": {"name": "checkout-api-1"},
            "workloadRef": {"kind": "Deployment", "name": "checkout-api"},
            "trigger": "CrashLoopBackOff",
        },
        "status": {
            "phase": "FindingsOnly",
            "findings": {
                "summary": "Service redis does not exist.",
                "rootCause": "DependencyUnavailable",
                "confidence": "High",
                "evidence": [{"step": 0, "quote": "Connection refused to redis:6379"}],
            },
            "reasoningChain": [
                {"index": 0, "observation": "logs: Connection refused to redis:6379"},
                {
                    "index": 1,
                    "observation": "app exits",
                    "thought": "is there a redis Service?",
                    "action": {"tool": "check_service", "arguments": {"name": "redis", "port": "6379"}},
                    "result": "Service redis does not exist in namespace default",
                },
            ],
            "noPatchReason": "no existing Service serves redis:6379; deploy it first",
        },
    }
    text = render_report(report)
    assert "Root cause: DependencyUnavailable (confidence High)" in text
    assert "- step 0: Connection refused to redis:6379" in text
    assert "Action:  check_service(name=redis, port=6379)" in text
    assert "Service redis does not exist in namespace default" in text
    assert "No patch suggested: no existing Service serves redis:6379" in text


@pytest.mark.parametrize(
    "changes",
    [
        "revision 3 changed everything",
        {"revision": 3, "fields": "not a list"},
        {"revision": 3, "healthyRevision": 2, "fields": [["/x"], 7, {"path": "/a\x1b[31m", "to": "b"}]},
    ],
)
def test_show_survives_a_forged_what_changed(changes):
    """`status.changes` is anyone's to write: show prints what is well formed, escaped, and never fails."""
    report = {"metadata": {"name": "r", "namespace": "default"}, "spec": {}, "status": {"changes": changes}}
    text = render_report(report)
    assert "\x1b" not in text
    if isinstance(changes, dict) and isinstance(changes["fields"], list):
        assert "What changed (revision 2 -> 3)" in text
        assert "/a" in text


def test_show_prints_what_the_model_decided_and_by_how_much():
    decided = {
        "kind": "Culprit",
        "scoring": "Channel",
        "chosen": 0,
        "margin": 2.31,
        "options": [
            {"text": "container web volumeMounts /var/lib/ledger.readOnly: true", "score": -31.2},
            {"text": "container web workingDir: /opt/ledger", "score": -33.5},
        ],
    }
    report = {
        "metadata": {"name": "r", "namespace": "default"},
        "spec": {},
        "status": {"adjudications": [decided]},
    }
    text = render_report(report)
    assert "Culprit (Channel, margin 2.31):" in text
    assert "* container web volumeMounts /var/lib/ledger.readOnly: true  (-31.2)" in text
    assert "- container web workingDir: /opt/ledger  (-33.5)" in text


@pytest.mark.parametrize(
    "decided",
    [
        "the model chose well",
        [7, "x"],
        [{"kind": "Cause\x1b[2J", "options": "none"}],
        [{"options": [3, {"text": "\x1b[31mred"}]}],
    ],
)
def test_show_survives_forged_model_decisions(decided):
    """`status.adjudications` is anyone's to write: what is not well formed is left out, the rest escaped."""
    report = {
        "metadata": {"name": "r", "namespace": "default"},
        "spec": {},
        "status": {"adjudications": decided},
    }
    text = render_report(report)
    assert "\x1b" not in text


def test_plugin_takes_kubectl_style_flags_after_the_name():
    args = build_parser().parse_args(["approve", "my-report", "-n", "shop", "--yes"])
    assert (args.command, args.name, args.namespace, args.yes) == ("approve", "my-report", "shop", True)
