"""The model's decisions: options named by content, calibrated, recorded; explanations of what no analyzer
covers, built from the spec and the evidence only; and summaries that cannot name what was never seen."""

from __future__ import annotations

import json

import pytest

from smart_sre.api.common import RootCause, Trigger
from smart_sre.api.diagnosticreport import AdjudicationKind, Scoring
from smart_sre.investigation import explanation, prompting
from smart_sre.investigation.adjudication import Question, trace
from smart_sre.investigation.evidence import Evidence
from smart_sre.investigation.grounding import dropped, invented
from smart_sre.investigation.investigation import investigate
from smart_sre_inference.api import RankRequest, RankResponse

from .fakes import FakeCluster
from .pods import deployed, pod_event, waiting
from .scenarios import NODES
from .scripted import ScriptedInference

FINISH = {"observation": "seen", "thought": "done", "action": {"tool": "finish"}}

KNOWN = (
    "pod shipping-7c9 containers ingester, forwarder; ingester terminated OOMKilled exit 137; "
    "memory limit 256Mi; Service queue-broker port 5672; env BROKER_URL=amqp://queue-broker:5672"
)
NAMES = {"container": {"ingester", "forwarder"}, "node": {"worker-1"}}


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        # A prompt example's container leaking into a report: a plain word after a kind noun.
        ("Container api is OOMKilled: it uses more than its memory limit 256Mi.", ["api"]),
        ("Container ingester is OOMKilled: it uses more than its memory limit 256Mi.", []),
        # An invented quantity and an invented Service.
        ("Raise the memory limit of ingester to 512Mi.", ["512Mi"]),
        ("The Service rabbitmq-main does not exist; point BROKER_URL at it.", ["rabbitmq-main"]),
        ("The service queue-broker refuses connections on port 5672.", []),
        # An UPPER_SNAKE env name nobody set, and a copied placeholder.
        ("Set AMQP_PASSWORD for container forwarder.", ["AMQP_PASSWORD"]),
        ("Container <name> exceeds its limit.", ["<name>"]),
        # Plain words after a kind noun are not names.
        ("The container is OOMKilled and the pod keeps restarting.", []),
        ("Node worker-2 has no room.", ["worker-2"]),
    ],
)
def test_a_summary_may_only_name_what_the_evidence_showed(summary: str, expected: list[str]) -> None:
    assert invented(summary, KNOWN, NAMES) == expected


def _crashing(spec: dict, log: str) -> tuple[list[dict], dict, dict]:
    """A Deployment whose container `web` exits 1 with `log`, a failure no analyzer has a rule for."""
    objects = deployed("ledger", "books", spec, waiting("web", "CrashLoopBackOff", "back-off 40s"))
    pod = objects[-1]
    logs = {(pod["metadata"]["name"], "web", True): log}
    return objects, pod, logs


def _evidence(objects: list[dict], pod: dict) -> Evidence:
    """The evidence as far as `settings` reads it: the pod and its owner chain, top owner last."""
    return Evidence(trigger=Trigger.CRASH_LOOP_BACK_OFF, pod=pod, chain=[pod, *objects[:-1][::-1]])


SPEC = {
    "containers": [
        {
            "name": "web",
            "image": "registry.local/ledger:4.1",
            "workingDir": "/opt/ledger/bin",
            "env": [{"name": "LEDGER_MODE", "value": "strict"}],
            "ports": [{"containerPort": 8080, "name": "http"}],
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/ledger", "readOnly": True}],
            "terminationMessagePath": "/dev/termination-log",
        }
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
}


PROBE = "container consumer: livenessProbe.exec `cat /run/beat` fails: cat: can't open '/run/beat'"
KEY = 'container web: env LOG_LEVEL from ConfigMap web-config: no key "log_level"'


@pytest.mark.parametrize(
    ("cause", "summary", "expected"),
    [
        # Retold in words, the probe's field and its command are gone.
        (PROBE, "Liveness probe failed: cat: can't open '/run/beat'", ["livenessProbe.exec", "cat /run/beat"]),
        (PROBE, f"{PROBE}. Point the probe at a file the app writes.", []),
        # Copied into JSON, the string ends at the first quote: the key to fix is gone.
        (KEY, "container web: env LOG_LEVEL from ConfigMap web-config: no key ", ["log_level"]),
    ],
)  # fmt: skip
def test_a_model_summary_must_keep_the_names_of_what_to_fix(
    cause: str, summary: str, expected: list[str]
) -> None:
    assert dropped(summary, cause) == expected


def test_the_settings_are_named_by_content_and_skip_what_the_server_defaults() -> None:
    objects, pod, _ = _crashing(SPEC, "")
    options = explanation.settings(_evidence(objects, pod))
    assert "container web workingDir: /opt/ledger/bin" in options
    assert "container web env[name=LEDGER_MODE].value: strict" in options
    assert "container web volumeMounts[mountPath=/var/lib/ledger].readOnly: true" in options
    assert "container web ports[name=http].containerPort: 8080" in options
    assert not any(option.startswith("pod volumes") for option in options)  # an empty source is no setting
    assert not any("terminationMessagePath" in option for option in options)


def test_a_defaulted_field_set_to_another_value_is_a_setting() -> None:
    spec = {**SPEC, "dnsPolicy": "ClusterFirst", "restartPolicy": "Always"}
    objects, pod, _ = _crashing(spec, "")
    options = explanation.settings(_evidence(objects, pod))
    assert not any("dnsPolicy" in option or "restartPolicy" in option for option in options)
    objects, pod, _ = _crashing({**spec, "dnsPolicy": "Default"}, "")
    assert "pod dnsPolicy: Default" in explanation.settings(_evidence(objects, pod))


async def test_the_env_a_configmap_gives_a_failing_container_is_a_setting_by_its_own_name() -> None:
    spec = {"containers": [{**SPEC["containers"][0], "envFrom": [{"configMapRef": {"name": "ledger-env"}}]}]}
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ledger-env", "namespace": "books"},
        "data": {"JOURNAL_HTTP_PORT": "8080", "LOG_FORMAT": "json"},
    }
    objects, pod, logs = _crashing(
        spec, 'msg="journal server failed" error="listen tcp :8080: bind: address in use"\n'
    )
    target = "container web env[name=JOURNAL_HTTP_PORT] (ConfigMap ledger-env key JOURNAL_HTTP_PORT): 8080"
    model = ScriptedInference([FINISH])
    model.prefers = target

    diagnosis = await investigate(
        FakeCluster([*NODES, configmap, *objects], logs), model, pod, Trigger.CRASH_LOOP_BACK_OFF
    )

    # The spec only names the ConfigMap: the key a human set there is what the report must point at.
    assert "the model points at " + target in diagnosis.findings.summary
    (decision,) = diagnosis.adjudications
    assert decision.options[decision.chosen].text.startswith("container web env[name=JOURNAL_HTTP_PORT]")


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (
            {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "lenient"},
            'replace container web env LEDGER_MODE value = "lenient"',
        ),
        (
            {"op": "remove", "path": "/spec/template/spec/containers/0/workingDir"},
            "remove container web workingDir",
        ),
        (
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": "registry.local/ledger:4.0",
            },
            'replace container web image = "registry.local/ledger:4.0"',
        ),
        (
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/volumeMounts/0/readOnly",
                "value": False,
            },
            "replace container web volumeMount /var/lib/ledger readOnly = false",
        ),
        (
            {"op": "add", "path": "/spec/template/spec/nodeSelector", "value": {"pool": "general"}},
            'add nodeSelector = {"pool": "general"}',
        ),
    ],
)
def test_a_fix_is_described_by_the_names_it_touches(operation: dict, expected: str) -> None:
    deployment = deployed("ledger", "books", SPEC, {})[0]
    assert explanation.describe(deployment, operation) == expected


@pytest.mark.parametrize("instruction_tuned", [False, True])
async def test_each_model_is_asked_as_it_was_tuned(instruction_tuned: bool) -> None:
    log = "Error: cannot open journal: /var/lib/ledger/journal.db: read-only file system\n"
    objects, pod, logs = _crashing(SPEC, log)
    target = "container web volumeMounts[mountPath=/var/lib/ledger].readOnly: true"
    model = ScriptedInference([FINISH])
    model.prefers, model.instruction_tuned = target, instruction_tuned

    diagnosis = await investigate(
        FakeCluster([*NODES, *objects], logs), model, pod, Trigger.CRASH_LOOP_BACK_OFF
    )

    # An instruction-tuned model reads each setting in a user turn and answers with the line; a base
    # model continues plain text. Either way the line, not the option, is scored, and the same one wins.
    line = "Error: cannot open journal: /var/lib/ledger/journal.db: read-only file system"
    asked = [prompt for prompt in model.prompts if "The wrong setting is" in prompt]
    assert asked
    for prompt in asked:
        assert ('"role": "user"' in prompt) == instruction_tuned
        assert prompt.endswith(json.dumps([line if instruction_tuned else f" {line}"]))
    # The mount is named whole, the field the model chose first: it is the element a human edits.
    assert diagnosis.findings.summary.startswith(
        "No known cause covers this failure; the model points at "
        "container web volumeMounts[mountPath=/var/lib/ledger] (readOnly: true; name: data)"
    )
    framing = "ask-channel" if instruction_tuned else "channel"
    assert diagnosis.prompts[framing] == prompting.load(framing).version
    assert diagnosis.model is not None
    assert diagnosis.model.name == "scripted"


def test_the_line_shown_is_the_one_sharing_words_with_the_setting() -> None:
    lines = [
        "starting ledger 4.1",
        "Error: EROFS: read-only file system, open '/var/lib/ledger/journal.db'",
        "exiting",
    ]
    shown = explanation.showing("container web volumeMounts[mountPath=/var/lib/ledger].readOnly: true", lines)
    assert shown == lines[1]
    assert (
        explanation.showing("container web env[name=LEDGER_MODE].value: strict", ["no overlap here"]) is None
    )
    # A line that says something went wrong is shown before one that merely shares a name.
    events = [
        "cannot reach the database: no such host",
        'Container image "registry/ledger:4.1" already present',
    ]
    assert explanation.showing("container web env[name=DB_HOST].value: ledger-db", events) == events[0]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("container relay volumeMounts[mountPath=/etc/relay/relay.yaml].name: config",
         "container relay volumeMounts[mountPath=/etc/relay/relay.yaml] (name: config; subPath: relay.yaml)"),
        ("container relay volumeMounts[mountPath=/etc/relay/relay.yaml].subPath: relay.yaml",
         "container relay volumeMounts[mountPath=/etc/relay/relay.yaml] (subPath: relay.yaml; name: config)"),
        # One field alone, or no list element at all: the setting as chosen.
        ("container relay ports[name=http].containerPort: 4318", "container relay ports[name=http].containerPort: 4318"),
        ("pod automountServiceAccountToken: false", "pod automountServiceAccountToken: false"),
        ("container relay volumeMounts: none", "container relay volumeMounts: none"),
    ],
)  # fmt: skip
def test_a_culprit_in_a_list_element_is_named_with_the_whole_element(setting: str, expected: str) -> None:
    options = (
        "container relay volumeMounts[mountPath=/etc/relay/relay.yaml].name: config",
        "container relay volumeMounts[mountPath=/etc/relay/relay.yaml].subPath: relay.yaml",
        "container relay ports[name=http].containerPort: 4318",
        "container sidecar volumeMounts[mountPath=/etc/relay/relay.yaml].name: other",
        "pod automountServiceAccountToken: false",
        "container relay volumeMounts: none",
    )
    assert explanation.whole(setting, options) == expected


async def test_a_failure_no_analyzer_covers_is_explained_by_the_setting_the_model_picks() -> None:
    log = (
        "ledger 4.1 starting\nError: cannot open journal: /var/lib/ledger/journal.db: read-only file system\n"
    )
    objects, pod, logs = _crashing(SPEC, log)
    model = ScriptedInference([FINISH])
    cluster = FakeCluster([*NODES, *objects], logs)
    probe = await investigate(cluster, None, pod, Trigger.CRASH_LOOP_BACK_OFF)
    assert probe.candidates[0].names_culprit is False  # nothing but an exit code and a line
    target = "container web volumeMounts[mountPath=/var/lib/ledger].readOnly: true"
    assert target in explanation.settings(_evidence(objects, pod))
    model.prefers = target

    diagnosis = await investigate(
        FakeCluster([*NODES, *objects], logs), model, pod, Trigger.CRASH_LOOP_BACK_OFF
    )

    # The mount is named whole, the field the model chose first: it is the element a human edits.
    assert diagnosis.findings.summary.startswith(
        "No known cause covers this failure; the model points at "
        "container web volumeMounts[mountPath=/var/lib/ledger] (readOnly: true; name: data)"
    )
    assert "read-only file system" in diagnosis.findings.summary
    assert diagnosis.suggested_patch is None  # findings only, never a patch from model text
    (decision,) = diagnosis.adjudications
    assert decision.kind == AdjudicationKind.CULPRIT
    assert decision.scoring == Scoring.CHANNEL  # the failure's line, given each setting
    assert decision.options[decision.chosen].text == target[:80]
    assert decision.margin is not None
    assert decision.margin > 0.5
    assert diagnosis.findings.root_cause == RootCause.APPLICATION_ERROR
    assert diagnosis.status().adjudications == [decision]


async def test_the_line_a_report_shows_is_the_failure_not_the_kubelets_back_off() -> None:
    objects, pod, logs = _crashing(SPEC, "starting\nError: cannot open journal: permission denied\n")
    backoff = pod_event(
        pod, "BackOff", f"Back-off restarting failed container web in pod {pod['metadata']['name']}"
    )
    model = ScriptedInference([FINISH])
    model.prefers = (
        "container web env[name=LEDGER_MODE].value: strict"  # shares a word with the pod's name only
    )

    diagnosis = await investigate(
        FakeCluster([*NODES, *objects, backoff], logs), model, pod, Trigger.CRASH_LOOP_BACK_OFF
    )

    summary = diagnosis.findings.summary
    assert summary.startswith("No known cause covers this failure; the model points at " + model.prefers)
    assert "Back-off" not in summary
    # The cause's own summary quotes the line: it is shown once.
    assert summary.count("Error: cannot open journal: permission denied") == 1


@pytest.mark.parametrize(
    ("facts", "log", "events", "expected"),
    [
        # The last line a process prints is often its runtime's banner: the line that says what failed wins.
        ((), "Error: Cannot find module '/srv/app/server.js'\n    at Module._load\nNode.js v20.18.0\n", [],
         "Error: Cannot find module '/srv/app/server.js'"),
        (("exits with code 1: listen tcp :8080: bind: address already in use",), "", [],
         "exits with code 1: listen tcp :8080: bind: address already in use"),
        ((), "starting\nready\n", [{"type": "Warning", "message": "0/3 nodes are available: 3 node(s) didn't have free ports"}],
         "0/3 nodes are available: 3 node(s) didn't have free ports"),
        ((), "PermissionError: [Errno 13] Permission denied: '/var/spool/x'\nshutting down\n", [], "PermissionError: [Errno 13] Permission denied: '/var/spool/x'"),
        ((), "starting\nbye\n", [], "bye"),
        # The kubelet's back-off follows any crash: the probe's failure says why.
        ((), "", [{"type": "Warning", "reason": "Unhealthy", "message": "Liveness probe failed: cat: can't open '/run/beat'"},
                  {"type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container web in pod web-1"}],
         "Liveness probe failed: cat: can't open '/run/beat'"),
    ],
)  # fmt: skip
def test_the_failure_line_is_the_last_that_says_something_went_wrong(facts, log, events, expected) -> None:
    objects, pod, _ = _crashing(SPEC, "")
    evidence = _evidence(objects, pod)
    evidence.logs = {"web": log} if log else {}
    evidence.events = events
    assert explanation.failure_line(evidence, facts) == expected


def test_what_a_healthy_container_lacks_is_a_setting_too() -> None:
    spec = {
        "initContainers": [
            {"name": "fetch", "image": "busybox:1.36", "command": ["wget", "-O", "/models/m.bin"]}
        ],
        "containers": [{**SPEC["containers"][0], "name": "serve"}],
        "volumes": [{"name": "models", "emptyDir": {}}],
    }
    objects, pod, _ = _crashing(spec, "")
    pod["status"]["containerStatuses"][0]["name"] = "serve"
    options = explanation.settings(_evidence(objects, pod))
    assert "container fetch volumeMounts: none" in options
    assert "container fetch ports: none" in options
    assert not any(option.startswith("container fetch command") for option in options)  # not the one failing


async def test_an_endpoint_without_likelihoods_still_decides_but_claims_no_margin() -> None:
    log = "Error: cannot open journal: /var/lib/ledger/journal.db: read-only file system\n"
    objects, pod, logs = _crashing(SPEC, log)
    model = ScriptedInference([FINISH])
    model.scoring = "choice"
    model.prefers = "container web workingDir: /opt/ledger/bin"
    diagnosis = await investigate(
        FakeCluster([*NODES, *objects], logs), model, pod, Trigger.CRASH_LOOP_BACK_OFF
    )
    (decision,) = diagnosis.adjudications
    assert decision.scoring == Scoring.CHOICE
    assert decision.margin is None
    assert all(option.score is None for option in decision.options)
    assert (
        "the model points at container web workingDir: /opt/ledger/bin (findings only)."
        in diagnosis.findings.summary
    )


class _Copying(ScriptedInference):
    """A small model's habits: the line is likelier the more of its words the prompt spells (copying,
    the same however the setting is framed), and likelier still, by 2, when the prompt names `knows` as
    the wrong setting (what it knows of cause and effect)."""

    def __init__(self, knows: str) -> None:
        super().__init__([])
        self.knows = knows

    async def _rank(self, request: RankRequest) -> RankResponse:
        prompt = request.prompt or ""
        (line,) = request.candidates
        copied = sum(word in prompt for word in line.split())
        blamed = prompting.load("channel").render(setting="").splitlines()[0] in prompt
        logprob = -20.0 + copied + (2.0 if blamed and self.knows in prompt else 0.0)
        return RankResponse(
            model="copying",
            candidates=[{"text": line, "tokens": 8, "logprob": logprob, "mean_logprob": logprob / 8}],
            best=0,
            best_total=0,
            scoring="likelihood",
            usage={"prompt_tokens": 40, "cached_prompt_tokens": 0, "completion_tokens": 0},
            timings={},
        )


async def test_the_culprit_is_what_the_model_knows_causes_the_line_not_what_it_copies() -> None:
    line = "open /srv/ledger-journal/journal.db: read-only file system"
    copied = "container web image: registry.local/ledger-journal:4.1"  # spells part of the line
    known = "container web securityContext.readOnlyRootFilesystem: true"
    tied = "container web volumeMounts[mountPath=/srv/ledger-journal].readOnly: true"
    question = Question.of(AdjudicationKind.CULPRIT, [copied, tied, known])
    assert question is not None
    weights = [0.0, 0.0, 0.0]  # no lexical lead: only the model tells them apart

    decision = await trace(
        _Copying(knows="readOnlyRootFilesystem"),
        question=question,
        line=line,
        weights=weights,
        instruction_tuned=False,
    )

    assert decision is not None
    assert decision.chosen == known
    assert decision.record.margin == 2.0  # copying the image's name earned it nothing
    lexical = explanation.relevance([copied, known], [line])
    assert lexical[1] > lexical[0]  # and what it shares with the line ranks it first too
