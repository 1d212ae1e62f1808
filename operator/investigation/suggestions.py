"""The checks a senior SRE would run next, as ready-made steps.

A 270M base model composes steps poorly but copies well: offering the next checks as complete steps
(an observation from the evidence, the question it raises, the read-only call that answers it),
limited to names in the inventory, turns its job into choosing one. It may still write any other
step the step grammar allows; whatever it writes is what the reasoning chain records.
"""

from __future__ import annotations

import json

from smart_sre.api.common import Trigger
from smart_sre.investigation.analyzers.dependency import failure_lines
from smart_sre.investigation.evidence import Evidence, failing_containers
from smart_sre.investigation.mentions import service_host
from smart_sre.investigation.tools.base import Inventory, cut

_MAX = 3
_TEXT = 240  # the step grammar's bound on observation and thought


def _step(observation: str, thought: str, action: dict) -> dict:
    return {"observation": cut(observation, _TEXT), "thought": cut(thought, _TEXT), "action": action}


def _scheduling_message(evidence: Evidence) -> str:
    for condition in (evidence.pod.get("status") or {}).get("conditions") or []:
        if condition.get("reason") == "Unschedulable":
            return condition.get("message", "the pod cannot be scheduled")
    return "the pod cannot be scheduled"


def suggested_steps(evidence: Evidence, inventory: Inventory) -> list[dict]:
    pod = inventory.pod
    steps: list[dict] = []
    if evidence.trigger == Trigger.PENDING:
        steps.append(
            _step(
                f"pending: {_scheduling_message(evidence)}",
                "compare the pod's requests and placement rules with each node",
                {"tool": "explain_scheduling", "args": {"pod": pod}},
            )
        )
        roomiest = max(evidence.fits, key=lambda fit: fit.free.get("memory", 0), default=None)
        if roomiest is not None and roomiest.node in inventory.nodes:
            steps.append(
                _step(
                    f"node {roomiest.node} has the most free memory",
                    f"see what the pods on {roomiest.node} already request",
                    {"tool": "get_resource_usage", "args": {"node": roomiest.node}},
                )
            )
    # The suggestion is copied as the model's own words, outside any fence, so it names what the
    # logs show (host and port, checked against the inventory) instead of quoting the app's line.
    failures = failure_lines(evidence)
    for host, port in evidence.dials:
        name = service_host(host, evidence.namespace)
        if name in inventory.hosts:
            failed = any(host in line for line in failures)
            steps.append(
                _step(
                    f"logs: the app fails to reach {host}:{port}"
                    if failed
                    else f"the app dials {host}:{port}",
                    f"does a Service {name} exist and serve port {port} with ready endpoints?",
                    {"tool": "check_service", "args": {"name": name, "port": port}},
                )
            )
    for name, configmap in evidence.configmaps.items():
        if configmap is None and f"ConfigMap/{name}" in inventory.objects:
            steps.append(
                _step(
                    f"the pod references ConfigMap {name}",
                    f"does ConfigMap {name} exist, and with which keys?",
                    {"tool": "inspect_object", "args": {"object": f"ConfigMap/{name}"}},
                )
            )
    if evidence.trigger in (Trigger.CRASH_LOOP_BACK_OFF, Trigger.OOM_KILLED):
        for container in failing_containers(evidence.pod)[:1]:
            if container in inventory.containers:
                steps.append(
                    _step(
                        f"container {container} keeps restarting ({evidence.trigger})",
                        "read the last lines of the run that crashed",
                        {
                            "tool": "fetch_logs",
                            "args": {"pod": pod, "container": container, "previous": True, "tail": 50},
                        },
                    )
                )
    steps.append(
        _step(
            f"the pod is failing with {evidence.trigger}",
            "read what the scheduler and the kubelet reported",
            {"tool": "get_events", "args": {"object": f"Pod/{pod}"}},
        )
    )
    unique = {action_key(step["action"]): step for step in steps}
    return list(unique.values())[:_MAX]


def action_key(action: dict) -> str:
    return json.dumps(action, sort_keys=True)


FINISH_STEP = _step(
    "the suggested checks are done", "the evidence is enough to name the cause", {"tool": "finish"}
)


def render(steps: list[dict]) -> str:
    """The suggestion of a user turn: the most telling pending check (a small model copies the
    nearest example, so one is shown), or `finish` once everything suggested was checked."""
    return "Suggested next step:\n" + json.dumps((steps or [FINISH_STEP])[0], separators=(",", ":"))
