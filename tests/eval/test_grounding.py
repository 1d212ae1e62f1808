"""The eval's reading of a summary: names nothing showed (invented) and the culprit the scenario expects."""

from __future__ import annotations

import pytest

from smart_sre_harness.eval.grounding import (
    culprit_named,
    identifiers,
    invented,
    known_words,
    report_text,
    shown_by_cluster,
    summary_of,
)

# A log-shipping pod whose containers are ingester and forwarder.
PIPELINE = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "log-pipeline", "namespace": "observability"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "ingester",
                            "image": "grafana/loki:2.9.4",
                            "env": [{"name": "REDIS_HOST", "value": "loki-cache"}],
                            "resources": {"limits": {"memory": "256Mi"}},
                        },
                        {
                            "name": "forwarder",
                            "image": "fluent/fluent-bit:3.0",
                            "ports": [{"containerPort": 2020}],
                        },
                    ]
                }
            }
        },
    },
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "loki-cache", "namespace": "observability"}},
    {  # the answer and the catalogue: not shown to a reader
        "apiVersion": "sandbox.smartsre.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": "secret-answer"},
        "spec": {"expected": {"mentions": ["api-gateway"]}},
    },
]
EVIDENCE = {
    "reasoningChain": [
        {"index": 0, "observation": "logs of ingester: allocating 404 MiB\nexitCode=137 reason=OOMKilled"},
        {"index": 1, "observation": "the model says container api-gateway", "thought": "maybe api-gateway"},
    ],
    "suggestedPatch": {"operations": [{"op": "replace", "value": "704Mi"}]},
}
SHOWN = shown_by_cluster(PIPELINE) | known_words(report_text(EVIDENCE))


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        # The leak: a container name from an example, for a pod whose containers are ingester and forwarder.
        ("Container api is OOMKilled", ["api"]),
        # Names, quantities and env vars the cluster and the evidence show; a derived figure from the patch.
        (
            "Container ingester is OOMKilled: it allocates 404Mi over its limit 256Mi; raise it to 704Mi. "
            "REDIS_HOST=loki-cache is fine (port 2020 belongs to forwarder).",
            [],
        ),
        # An invented Service in an address, an invented env var, a port nothing has.
        (
            "The ingester dials loki-memcached:11211; set CACHE_ADDR to fix it.",
            ["loki-memcached:11211", "CACHE_ADDR"],
        ),
        # A name only the model's own step or the Scenario document holds is not shown to the reader.
        ("The container api-gateway crash-loops.", ["api-gateway"]),
        # Plain prose: kind nouns followed by plain words, hyphenated English, ratios, spans, possessives.
        (
            "The pod crash-loops: the container is killed after 20s, at 95% of its memory; the container's "
            "limit looks security-relevant. Service port(s) unchanged.",
            [],
        ),
        # Case does not matter; a name after "named" is a name.
        (
            "A Deployment named log-pipeline runs image GRAFANA/LOKI:2.9.4 in pod log-pipeline-x.",
            ["log-pipeline-x"],
        ),
    ],
)
def test_invented_counts_identifiers_that_nothing_showed(summary: str, expected: list[str]):
    assert invented(summary, SHOWN) == expected


def test_identifiers_are_name_shaped_words_and_the_word_after_a_kind_noun():
    # A word cut short ("gpu-1...", "2026-01-..." cut at its dash) is no name; a kind noun followed by
    # punctuation names nothing.
    assert identifiers(
        "Service `payments` has key LOG_LEVEL and 2 ports; see node gpu-1... at 2026-01-..."
    ) == [
        ("payments", True),
        ("LOG_LEVEL", True),
        ("2", False),
    ]


def test_culprit_named_needs_every_term_in_any_case():
    summary = "container writer: DATABASE_URL points at ledger-db.internal; set it to ledger-db"
    assert culprit_named(summary, ["database_url"]) is True
    assert culprit_named(summary, ["DATABASE_URL", "LOG_LEVEL"]) is False
    assert culprit_named(summary, None) is None
    assert culprit_named("", ["DATABASE_URL"]) is False


def test_a_status_of_another_shape_reads_as_empty():
    forged = {"reasoningChain": ["step", {"index": 0, "observation": "shown-name"}], "findings": ["x"]}
    assert list(report_text(forged)) == ["shown-name", ""]
    assert summary_of(forged) == ""
    assert summary_of({"findings": {"summary": 42}}) == ""
