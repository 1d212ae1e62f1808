"""Tool outputs: what an SRE needs to see, bounded, and never a secret value."""

from __future__ import annotations

import pytest

from smart_sre.api.common import Trigger
from smart_sre.investigation.evidence import gather
from smart_sre.investigation.redaction import Redactor
from smart_sre.investigation.tools import (
    check_service,
    explain_scheduling,
    fetch_logs,
    get_events,
    get_resource_usage,
    inspect_object,
)
from smart_sre.investigation.tools.base import MAX_OUTPUT_CHARS, ToolContext
from smart_sre.investigation.tools.inventory import take_inventory
from smart_sre.investigation.tools.registry import StepRejected, parse_step, step_values
from smart_sre.k8s.cluster import ClusterError
from smart_sre_grammars.models import FetchLogsArgs, NodeArgs, ObjectArgs, PodArgs, ServiceArgs

from .fakes import FakeCluster
from .scenarios import NS, SECRET_VALUE, pending_pod_cluster, redis_client_cluster


def redis_context() -> tuple[ToolContext, FakeCluster]:
    objects, pod, logs = redis_client_cluster()
    cluster = FakeCluster(objects, logs)
    redactor = Redactor()
    redactor.add_secret_value(SECRET_VALUE, secret="checkout-db", key="password")
    return ToolContext(cluster=cluster, namespace=NS, pod=pod, redactor=redactor), cluster


async def test_fetch_logs_shows_the_error_and_hides_secrets() -> None:
    ctx, _ = redis_context()
    args = FetchLogsArgs(pod=ctx.pod["metadata"]["name"], container="app", previous=True, tail=50)
    text = await fetch_logs.run(ctx, args)
    assert "Connection refused to redis:6379" in text
    assert "hunter2hunter2" not in text
    assert SECRET_VALUE not in text
    assert "<redacted: from secret checkout-db key password>" in text


async def test_fetch_logs_reports_a_missing_previous_run() -> None:
    objects, pod = pending_pod_cluster()
    ctx = ToolContext(FakeCluster(objects), NS, pod, Redactor())
    text = await fetch_logs.run(
        ctx, FetchLogsArgs(pod=pod["metadata"]["name"], container="app", previous=True, tail=20)
    )
    assert "unavailable" in text


async def test_inspect_secret_shows_key_names_only() -> None:
    ctx, _ = redis_context()
    text = await inspect_object.run(ctx, ObjectArgs(object="Secret/checkout-db"))
    assert "keys: password" in text
    assert "czNjcjN0" not in text
    assert SECRET_VALUE not in text


async def test_inspect_pod_shows_env_sources_and_crash_state() -> None:
    ctx, _ = redis_context()
    text = await inspect_object.run(ctx, ObjectArgs(object=f"Pod/{ctx.pod['metadata']['name']}"))
    assert "REDIS_HOST=redis" in text
    assert "DB_PASSWORD=<redacted: from secret checkout-db key password>" in text
    assert "CrashLoopBackOff" in text
    assert "owned by: ReplicaSet/checkout-7d4b9" in text


async def test_inspect_missing_object_says_so() -> None:
    ctx, _ = redis_context()
    assert "does not exist" in await inspect_object.run(ctx, ObjectArgs(object="ConfigMap/nope"))


async def test_check_service_answers_connection_refused() -> None:
    ctx, _ = redis_context()
    missing = await check_service.run(ctx, ServiceArgs(name="redis", port=6379))
    assert "Service redis does not exist" in missing
    assert "redis-master:6379" in missing
    present = await check_service.run(ctx, ServiceArgs(name="redis-master", port=6379))
    assert "exists" in present
    assert "ready endpoints: 1" in present


async def test_explain_scheduling_names_the_memory_shortfall() -> None:
    objects, pod = pending_pod_cluster()
    ctx = ToolContext(FakeCluster(objects), NS, pod, Redactor())
    text = await explain_scheduling.run(ctx, PodArgs(pod=pod["metadata"]["name"]))
    assert text.startswith("0/3 nodes can take the pod")
    assert text.count("Insufficient memory: requests 16Gi, free 8Gi of 8Gi allocatable") == 3


async def test_resource_usage_sums_requests_on_the_node() -> None:
    ctx, _ = redis_context()
    text = await get_resource_usage.run(ctx, NodeArgs(node="worker-1"))
    assert "memory: allocatable 8Gi" in text
    assert "metrics.k8s.io: not served" in text


async def test_events_are_listed() -> None:
    objects, pod = pending_pod_cluster()
    ctx = ToolContext(FakeCluster(objects), NS, pod, Redactor())
    text = await get_events.run(ctx, ObjectArgs(object=f"Pod/{pod['metadata']['name']}"))
    assert "FailedScheduling: 0/3 nodes are available: 3 Insufficient memory." in text


async def test_long_outputs_are_bounded() -> None:
    ctx, cluster = redis_context()
    cluster.logs_by_run[(ctx.pod["metadata"]["name"], "app", True)] = "\n".join(
        f"line {i} " + "x" * 80 for i in range(200)
    )
    text = await fetch_logs.run(
        ctx, FetchLogsArgs(pod=ctx.pod["metadata"]["name"], container="app", previous=True, tail=200)
    )
    assert len(text) <= MAX_OUTPUT_CHARS + 60
    assert "line 199" in text


async def test_step_grammar_names_only_what_exists() -> None:
    ctx, cluster = redis_context()
    evidence = await gather(ctx, [ctx.pod], Trigger.CRASH_LOOP_BACK_OFF)
    inventory = await take_inventory(cluster, evidence)
    values = step_values(inventory)
    assert "redis" in values.services
    assert "redis-master" in values.services
    assert "Secret/checkout-db" in values.objects
    step = {
        "observation": "crash",
        "thought": "check the dependency",
        "action": {"tool": "check_service", "args": {"name": "redis", "port": 6379}},
    }
    assert parse_step(step, values).action.tool == "check_service"
    hostile = {
        **step,
        "action": {"tool": "inspect_object", "args": {"object": "ClusterRoleBinding/cluster-admin"}},
    }
    with pytest.raises(StepRejected):
        parse_step(hostile, values)


async def test_a_forbidden_read_is_an_observation_not_a_crash() -> None:
    """Deployed RBAC grants no Secret access: the agent must carry on with what it can see."""
    ctx, cluster = redis_context()

    async def forbidden(kind: str, namespace: str | None, name: str) -> dict | None:
        raise ClusterError(403, f'secrets "{name}" is forbidden')

    cluster.get = forbidden  # type: ignore[method-assign]
    text = await inspect_object.TOOL.call(ctx, ObjectArgs(object="Secret/checkout-db"))
    assert "forbidden" in text
    assert "never reads Secret values" in text
