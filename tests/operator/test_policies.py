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
