"""The policy book: which pods each DebugPolicy selects, and when and why a policy is not Ready."""

import pytest

from smart_sre.lifecycle.policies import PolicyBook

from .pods import pod


def policy(name="protect-critical-services", *, rules=None, **spec):
    rules = rules or [{"namespaces": ["default"], "selector": {"matchLabels": {"app": "critical-app"}}}]
    return {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DebugPolicy",
        "metadata": {"name": name, "generation": 1},
        "spec": {"rules": rules, **spec},
    }


def test_seed_policy_selects_by_namespace_and_match_labels():
    book = PolicyBook()
    book.upsert(policy())
    assert [p.name for p in book.matching(pod(labels={"app": "critical-app"}))] == [
        "protect-critical-services"
    ]
    assert book.matching(pod(labels={"app": "other"})) == []
    assert book.matching(pod(namespace="prod", labels={"app": "critical-app"})) == []


def test_match_expressions_follow_kubernetes_semantics():
    rules = [
        {
            "namespaces": ["default"],
            "selector": {
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["payment", "checkout"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "team", "operator": "NotIn", "values": ["sandbox"]},
                    {"key": "app", "operator": "Exists"},
                ]
            },
        }
    ]
    book = PolicyBook()
    book.upsert(policy(rules=rules))
    assert book.matching(pod(labels={"app": "a", "tier": "payment"}))
    assert book.matching(pod(labels={"app": "a", "tier": "checkout", "team": "core"}))
    assert not book.matching(pod(labels={"app": "a", "tier": "search"}))
    assert not book.matching(pod(labels={"app": "a", "tier": "payment", "canary": "1"}))
    assert not book.matching(pod(labels={"app": "a", "tier": "payment", "team": "sandbox"}))
    assert not book.matching(pod(labels={"tier": "payment"}))


def test_defaults_and_durations_are_resolved():
    book = PolicyBook()
    entry = book.upsert(policy(pendingGracePeriod="1m30s", cooldown="5m"))
    assert entry.readiness.ready
    active = book.get("protect-critical-services")
    assert active.pending_grace.total_seconds() == 90
    assert active.cooldown.total_seconds() == 300
    assert {str(t) for t in active.triggers} == {"CrashLoopBackOff", "Pending"}


def test_unknown_model_is_not_ready_and_selects_nothing():
    book = PolicyBook(known_models=frozenset({"gemma3-270m"}))
    entry = book.upsert(policy(model="llama-70b"))
    assert not entry.readiness.ready
    assert entry.readiness.reason == "UnknownModel"
    assert "gemma3-270m" in entry.readiness.message
    assert book.matching(pod(labels={"app": "critical-app"})) == []


def test_invalid_spec_is_not_ready_with_the_field_named():
    book = PolicyBook()
    entry = book.upsert(
        policy(
            rules=[
                {
                    "namespaces": ["default"],
                    "selector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
                }
            ]
        )
    )
    assert not entry.readiness.ready
    assert entry.readiness.reason == "InvalidSpec"
    assert "matchExpressions.0" in entry.readiness.message
    assert "needs at least one value" in entry.readiness.message


def test_removed_policy_stops_selecting():
    book = PolicyBook()
    book.upsert(policy())
    book.remove("protect-critical-services")
    assert book.matching(pod(labels={"app": "critical-app"})) == []


def test_a_redaction_pattern_that_does_not_compile_makes_the_policy_not_ready():
    """Every report would fail on it; the author sees the pattern named on the policy instead."""
    book = PolicyBook()
    entry = book.upsert(policy(redaction={"patterns": ["acme_tok_[A-Z", "ok"]}))
    assert not entry.readiness.ready
    assert entry.readiness.reason == "InvalidSpec"
    assert "redaction pattern 'acme_tok_[A-Z' is not a valid regular expression" in entry.readiness.message
    assert "Fix the spec" in entry.readiness.message
    assert book.matching(pod(labels={"app": "critical-app"})) == []
    assert book.get("protect-critical-services") is None


def test_a_policy_broken_by_an_update_stops_acting_until_it_is_fixed():
    """The previous valid spec does not stay in force unseen: reports under it wait for the fix."""
    book = PolicyBook()
    assert book.upsert(policy(cooldown="5m")).readiness.ready
    broken = policy(cooldown="99999999999999999h")
    broken["metadata"]["generation"] = 2
    entry = book.upsert(broken)
    assert (entry.readiness.ready, entry.readiness.reason, entry.generation) == (False, "InvalidSpec", 2)
    assert "spec.cooldown" in entry.readiness.message
    assert book.get("protect-critical-services") is None
    assert book.matching(pod(labels={"app": "critical-app"})) == []
    fixed = policy(cooldown="15m")
    fixed["metadata"]["generation"] = 3
    assert book.upsert(fixed).readiness.ready
    assert book.get("protect-critical-services").cooldown.total_seconds() == 900


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"cooldown": "30s"}, "30s is out of range; write a duration from 1m to 720h"),
        ({"cooldown": "2h", "reportRetention": "1h"}, "reportRetention 1h is shorter than cooldown 2h"),
        ({"remediation": {"allowedPaths": ["/spec"]}}, "'/spec' opens too much"),
    ],
)
def test_specs_the_api_server_would_refuse_are_not_ready_with_the_reason(spec, said):
    entry = PolicyBook().upsert(policy(**spec))
    assert (entry.readiness.ready, entry.readiness.reason) == (False, "InvalidSpec")
    assert said in entry.readiness.message
