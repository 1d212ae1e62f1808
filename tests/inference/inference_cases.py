"""Varied, few-shot investigation prompts for the real-model tests and the benchmark.

The tests' model (Gemma 3 270M, tests/conftest.py) is a base, not instruction-tuned, model: each prompt
shows two short answers of the same contract before asking, which is how the agent prompts it too.
"""

from __future__ import annotations

import random
from typing import Any

from smart_sre_grammars import TemplateValues

SYSTEM = "You are a senior SRE on call. Answer with one short JSON object."

APPS = ["web", "api", "checkout", "billing", "search", "worker", "auth", "cart", "media", "gateway"]
DEPENDENCIES = [("redis", 6379), ("postgres", 5432), ("kafka", 9092), ("mysql", 3306), ("memcached", 11211)]
SYMPTOMS = [
    "Connection refused to {dep}:{port}",
    "0/3 nodes are available: 3 Insufficient memory",
    "Back-off pulling image {app}:v9",
    "OOMKilled: container exceeded its 256Mi memory limit",
    "Liveness probe failed: HTTP 500 on /healthz",
    "configmap {app}-config not found",
]
STEP_EXAMPLES = [
    (
        "Pod shop-5c7d-x2k9q (container app) is in CrashLoopBackOff. Last log line: Connection refused to redis:6379.",
        '{"observation":"app cannot reach redis:6379","thought":"check whether the redis service exists",'
        '"action":{"tool":"check_service","args":{"name":"redis","port":6379}}}',
    ),
    (
        "Pod blog-7f8d-q1w2e (container app) is Pending. Event: 0/2 nodes are available: 2 Insufficient cpu.",
        '{"observation":"no node has enough cpu","thought":"see why it does not fit",'
        '"action":{"tool":"explain_scheduling","args":{"pod":"blog-7f8d-q1w2e"}}}',
    ),
]
FINAL_EXAMPLES = [
    (
        "Evidence: step 1 shows OOMKilled with a 128Mi limit for Deployment/shop.",
        '{"findings":{"summary":"The container runs out of memory at 128Mi.","rootCause":"OOMKilled",'
        '"confidence":"high","evidence":[1]}}',
    ),
    (
        "Evidence: step 2 shows the service redis has no endpoints.",
        '{"findings":{"summary":"redis has no ready endpoints.","rootCause":"DependencyUnavailable",'
        '"confidence":"medium","evidence":[2]}}',
    ),
]
EXAMPLES = {"step": STEP_EXAMPLES, "final": FINAL_EXAMPLES}


def messages(contract: str, question: str) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = [{"role": "system", "content": SYSTEM}]
    for asked, answered in EXAMPLES[contract]:
        turns += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    return [*turns, {"role": "user", "content": question}]


def case(index: int) -> dict[str, Any]:
    """The `index`-th varied request body (contract, names, symptom, sampling) for /v1/generate."""
    rng = random.Random(index)
    contract = ("step", "final")[index % 2]
    app = rng.choice(APPS)
    dep, port = rng.choice(DEPENDENCIES)
    pod = f"{app}-{rng.randrange(16**4):04x}-{rng.randrange(36**5):05d}"[:24]
    symptom = rng.choice(SYMPTOMS).format(app=app, dep=dep, port=port)
    tools = ("fetch_logs", "get_events", "inspect_object", "check_service", "explain_scheduling", "finish")
    values = TemplateValues(
        tools=tuple(rng.sample(tools, k=rng.randint(2, len(tools)))),
        pods=(pod,),
        containers=(app, "istio-proxy")[: rng.randint(1, 2)],
        objects=(f"Pod/{pod}", f"Deployment/{app}", f"Service/{dep}"),
        services=(dep, app),
        steps=tuple(range(1, rng.randint(2, 6))),
    )
    question = {
        "step": f"Pod {pod} (container {app}) is failing: {symptom}.",
        "final": f"Evidence: step 1 shows {symptom} for Deployment/{app}.",
    }[contract]
    temperature = (0.0, 0.2, 0.0, 0.4)[index % 4]
    return {
        "messages": messages(contract, question),
        "grammar": {"name": contract, "values": values.model_dump(mode="json")},
        "max_tokens": {"step": 240, "final": 400}[contract],
        "temperature": temperature,
        "seed": index,
    }
