"""Memory and cpu fixes: an OOMKilled container gets a limit from its observed need plus headroom (twice the
limit it was killed at when nothing says more); a Pending pod gets the smallest request cut the roomiest
node allows, its limit kept in ratio. The namespace's LimitRanges and ResourceQuotas bound both, and every
summary names the container and the field."""

from __future__ import annotations

import pytest

from smart_sre.api.common import RootCause, Trigger
from smart_sre.api.debugpolicy import DEFAULT_ALLOWED_PATHS, Remediation
from smart_sre.investigation.patch_safety import vet_patch

from .fakes import FakeCluster
from .pods import deployed, investigate, vetted
from .scenarios import NODES, node, workload

OOM = {"reason": "OOMKilled", "exitCode": 137}
# The default policy does not open init containers' resources; a policy that does accepts these fixes.
_INIT_RESOURCES = Remediation(
    allowed_paths=[*DEFAULT_ALLOWED_PATHS, "/spec/template/spec/initContainers/*/resources"]
)


def _oom_status(container: str, *, init: bool = False) -> dict:
    entry = {
        "name": container,
        "ready": False,
        "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": OOM},
    }
    return {"initContainerStatuses" if init else "containerStatuses": [entry]}


def _container(name: str, limit: str | None = None, request: str | None = None, **fields) -> dict:
    resources: dict = {}
    if request:
        resources["requests"] = {"memory": request}
    if limit:
        resources["limits"] = {"memory": limit}
    return {"name": name, "image": f"registry.local/{name}:3.1", "resources": resources, **fields}


def _limit_range(namespace: str, **limits: dict) -> dict:
    return {
        "kind": "LimitRange",
        "metadata": {"name": "bounds", "namespace": namespace},
        "spec": {"limits": [{"type": "Container", **limits}]},
    }


def _quota(namespace: str, hard: dict, used: dict) -> dict:
    return {
        "kind": "ResourceQuota",
        "metadata": {"name": "team-quota", "namespace": namespace},
        "spec": {"hard": hard},
        "status": {"hard": hard, "used": used},
    }


async def _oom(name, namespace, spec, failing, log, extra=(), *, init=False):
    *objects, pod = deployed(name, namespace, spec, _oom_status(failing, init=init))
    objects += [pod, *extra]
    cluster, chain, _, found = await investigate(objects, pod, Trigger.OOM_KILLED, {failing: log})
    return cluster, chain, next(c for c in found if c.root_cause == RootCause.OOM_KILLED)


# --- OOMKilled: the observed need, with headroom ---------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "log", "env", "expected", "source"),
    [
        ("256Mi", "allocating 400 MiB", [], "704Mi", "allocating 400 MiB"),
        ("512Mi", "INFO:worker:loading dataset into memory (720 MiB)", [], "1Gi", "720 MiB"),
        (
            "1Gi",
            "Memory cgroup out of memory: Killed process 4242 (node) total-vm:1843200kB, anon-rss:1048576kB",
            [],
            "1280Mi",
            "anon-rss",
        ),
        (
            "1Gi",
            "Starting JVM",
            [{"name": "JAVA_OPTS", "value": "-Xms256m -Xmx1536m"}],
            "1920Mi",
            "JAVA_OPTS",
        ),
        (
            "512Mi",
            "WARN Loading cache entries into heap",
            [{"name": "HEAP_MB", "value": "512"}],
            "768Mi",
            "HEAP_MB",
        ),
        (
            "2Gi",
            "<--- JS stacktrace --->",
            [{"name": "NODE_OPTIONS", "value": "--max-old-space-size=3072"}],
            "3840Mi",
            "NODE_OPTIONS",
        ),
        ("384Mi", "cache warmed: 900 MB resident", [], "1216Mi", "900 MB"),
    ],
)
async def test_an_oom_limit_comes_from_the_observed_need_with_headroom(
    limit, log, env, expected, source
) -> None:
    spec = {"containers": [_container("worker", limit, limit, env=env)]}
    cluster, chain, best = await _oom("etl", "data", spec, "worker", log)
    assert best.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/resources/limits/memory",
            "value": expected,
        }
    ]
    assert "Container worker is OOMKilled" in best.summary
    assert f"container worker's resources.limits.memory to {expected}" in best.summary
    assert source in best.summary
    assert best.score >= 0.9
    await vetted(cluster, chain, best)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [("300Mi", "640Mi"), ("1Gi", "2Gi"), ("96Mi", "192Mi"), ("1500Mi", "3008Mi"), ("2G", "3840Mi")],
)
async def test_without_a_figure_the_limit_doubles_from_the_one_it_was_killed_at(limit, expected) -> None:
    spec = {"containers": [_container("api", limit)]}
    cluster, chain, best = await _oom("orders", "shop", spec, "api", "Killed")
    assert best.patch.operations[0]["value"] == expected
    assert "twice the" in best.summary
    assert best.score < 0.9
    await vetted(cluster, chain, best)


async def test_a_need_below_the_limit_it_was_killed_at_is_not_trusted() -> None:
    spec = {"containers": [_container("api", "1Gi")]}
    _, _, best = await _oom("orders", "shop", spec, "api", "allocating 100 MiB")
    assert best.patch.operations[0]["value"] == "2Gi"


async def test_the_sidecar_that_was_killed_is_the_one_changed() -> None:
    spec = {"containers": [_container("app", "2Gi"), _container("log-shipper", "64Mi")]}
    cluster, chain, best = await _oom("web", "frontend", spec, "log-shipper", "buffer grew to 200 MiB")
    assert best.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/1/resources/limits/memory",
            "value": "512Mi",
        }
    ]
    assert "Container log-shipper" in best.summary
    await vetted(cluster, chain, best)


async def test_an_init_container_that_was_killed_is_the_one_changed() -> None:
    spec = {"initContainers": [_container("migrate", "128Mi")], "containers": [_container("app", "1Gi")]}
    cluster, chain, best = await _oom("api", "billing", spec, "migrate", "allocating 300 MiB", init=True)
    path = "/spec/template/spec/initContainers/0/resources/limits/memory"
    assert best.patch.operations == [{"op": "replace", "path": path, "value": "576Mi"}]
    await vet_patch(cluster, chain, best.patch.target, best.patch.operations, _INIT_RESOURCES)


async def test_a_limit_a_limitrange_defaulted_is_written_into_the_template() -> None:
    spec = {"containers": [_container("app", request="128Mi")]}
    *objects, pod = deployed("api", "team-a", spec, _oom_status("app"))
    pod["spec"]["containers"][0]["resources"]["limits"] = {"memory": "256Mi"}  # set by admission
    cluster, chain, _, found = await investigate([*objects, pod], pod, Trigger.OOM_KILLED, {"app": "Killed"})
    best = found[0]
    assert best.patch.operations == [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/resources/limits",
            "value": {"memory": "512Mi"},
        }
    ]
    await vetted(cluster, chain, best)


async def test_without_any_memory_limit_the_node_ran_out_and_nothing_is_patched() -> None:
    spec = {"containers": [_container("app")]}
    _, _, best = await _oom("api", "team-b", spec, "app", "allocating 300 MiB")
    assert best.patch is None
    assert "no memory limit" in best.no_patch_reason


# --- OOMKilled within the namespace's bounds ----------------------------------------------------------


async def test_a_limitrange_max_caps_the_limit_while_it_still_covers_the_need() -> None:
    spec = {"containers": [_container("app", "512Mi")]}
    bound = _limit_range("media", max={"memory": "768Mi"})
    _, _, best = await _oom("resizer", "media", spec, "app", "allocating 600 MiB", [bound])
    assert best.patch.operations[0]["value"] == "768Mi"
    assert "LimitRange bounds allows at most memory 768Mi per container" in best.summary


async def test_a_limitrange_max_below_the_need_rules_the_fix_out() -> None:
    spec = {"containers": [_container("app", "512Mi")]}
    bound = _limit_range("media", max={"memory": "512Mi"})
    _, _, best = await _oom("resizer", "media", spec, "app", "allocating 600 MiB", [bound])
    assert best.patch is None
    assert "LimitRange bounds" in best.summary


async def test_a_limit_request_ratio_raises_the_request_only_as_far_as_needed() -> None:
    spec = {"containers": [_container("app", "256Mi", "256Mi")]}
    bound = _limit_range("media", maxLimitRequestRatio={"memory": "2"})
    cluster, chain, best = await _oom("resizer", "media", spec, "app", "allocating 400 MiB", [bound])
    assert best.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/resources/limits/memory",
            "value": "704Mi",
        },
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/resources/requests/memory",
            "value": "352Mi",
        },
    ]
    assert "resources.requests.memory 256Mi -> 352Mi" in best.summary
    await vetted(cluster, chain, best)


@pytest.mark.parametrize(("used", "offered"), [("900Mi", False), ("100Mi", True)])
async def test_a_resource_quota_without_room_for_the_new_limit_rules_the_fix_out(used, offered) -> None:
    spec = {"containers": [_container("app", "256Mi", "256Mi")]}
    quota = _quota("media", {"limits.memory": "1Gi"}, {"limits.memory": used})
    _, _, best = await _oom("resizer", "media", spec, "app", "allocating 400 MiB", [quota])
    assert (best.patch is not None) is offered
    if not offered:
        assert (
            "ResourceQuota team-quota has 124Mi of limits.memory left, the change needs 704Mi" in best.summary
        )


# --- Pending on Insufficient memory or cpu -----------------------------------------------------------------


async def _pending(spec: dict, namespace: str, nodes=NODES, extra=()):
    objects = list(workload("trainer", spec, phase="Pending"))
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    pod = objects[-1]
    cluster = FakeCluster([*nodes, *objects, *extra])
    cluster, chain, _, found = await investigate([], pod, Trigger.PENDING, cluster=cluster)
    return cluster, chain, found[0]


def _sized(name: str, requests: dict, limits: dict | None = None) -> dict:
    resources = {"requests": requests, **({"limits": limits} if limits else {})}
    return {"name": name, "image": f"registry.local/{name}:1", "resources": resources}


_C0 = "/spec/template/spec/containers/0/resources"


@pytest.mark.parametrize(
    ("requests", "limits", "memory", "cpu", "operations"),
    [
        (
            {"memory": "16Gi"},
            {"memory": "20Gi"},
            "8Gi",
            "4",
            [("requests/memory", "8192Mi"), ("limits/memory", "10240Mi")],
        ),
        (
            {"memory": "6Gi"},
            {"memory": "6Gi"},
            "4Gi",
            "4",
            [("requests/memory", "4096Mi"), ("limits/memory", "4096Mi")],
        ),
        ({"cpu": "6"}, {"cpu": "6"}, "8Gi", "4", [("requests/cpu", "4"), ("limits/cpu", "4")]),
        (
            {"cpu": "5", "memory": "1Gi"},
            {"cpu": "10"},
            "8Gi",
            "3500m",
            [("requests/cpu", "3500m"), ("limits/cpu", "7")],
        ),
        ({"memory": "12Gi"}, None, "7680Mi", "4", [("requests/memory", "7680Mi")]),
    ],
)
async def test_a_request_no_node_can_give_is_cut_to_the_roomiest_node_keeping_the_limit_ratio(
    requests, limits, memory, cpu, operations
) -> None:
    nodes = [node("big", memory=memory, cpu=cpu), node("small", memory="2Gi", cpu="1")]
    cluster, chain, best = await _pending({"containers": [_sized("trainer", requests, limits)]}, "ml", nodes)
    assert best.root_cause == RootCause.INSUFFICIENT_RESOURCES
    assert best.patch.operations == [
        {"op": "replace", "path": f"{_C0}/{p}", "value": v} for p, v in operations
    ]
    assert "container trainer's resources.requests." in best.summary
    assert "so it fits node big" in best.summary
    assert "real usage is unknown" in best.summary
    await vetted(cluster, chain, best)


async def test_a_busy_node_is_cut_to_what_is_left_after_the_pods_already_there() -> None:
    busy = {
        "kind": "Pod",
        "metadata": {"name": "indexer-x", "namespace": "insights"},
        "spec": {"nodeName": "pool-1", "containers": [_sized("indexer", {"cpu": "1"})]},
        "status": {"phase": "Running"},
    }
    nodes = [node("pool-1", cpu="2"), node("pool-2", cpu="1")]
    spec = {"containers": [_sized("api", {"cpu": "1950m"})]}
    cluster, chain, best = await _pending(spec, "insights", nodes, [busy])
    assert best.patch.operations == [{"op": "replace", "path": f"{_C0}/requests/cpu", "value": "1"}]
    assert "roomiest node pool-1 has 1 free of 2 allocatable" in best.summary
    await vetted(cluster, chain, best)


async def test_only_the_largest_container_is_cut_and_the_sidecar_keeps_its_request() -> None:
    spec = {"containers": [_sized("proxy", {"memory": "512Mi"}), _sized("db", {"memory": "9Gi"})]}
    cluster, chain, best = await _pending(spec, "data")
    assert best.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/1/resources/requests/memory",
            "value": "7680Mi",
        }
    ]
    assert "container db's resources.requests.memory 9Gi -> 7680Mi" in best.summary
    await vetted(cluster, chain, best)


async def test_a_limit_that_is_also_the_request_is_lowered_itself() -> None:
    spec = {"containers": [{"name": "job", "image": "x:1", "resources": {"limits": {"memory": "12Gi"}}}]}
    cluster, chain, best = await _pending(spec, "batch")
    assert best.patch.operations == [{"op": "replace", "path": f"{_C0}/limits/memory", "value": "8192Mi"}]
    assert "(also its request)" in best.summary
    await vetted(cluster, chain, best)


async def test_an_init_container_too_big_for_any_node_is_the_one_cut() -> None:
    spec = {
        "initContainers": [_sized("restore", {"memory": "10Gi"})],
        "containers": [_sized("db", {"memory": "1Gi"})],
    }
    cluster, chain, best = await _pending(spec, "data")
    path = "/spec/template/spec/initContainers/0/resources/requests/memory"
    assert best.patch.operations == [{"op": "replace", "path": path, "value": "8192Mi"}]
    assert "container restore's" in best.summary
    await vet_patch(cluster, chain, best.patch.target, best.patch.operations, _INIT_RESOURCES)


async def test_a_limitrange_minimum_rules_out_a_cut_below_it() -> None:
    spec = {"containers": [_sized("trainer", {"memory": "16Gi"})]}
    bound = _limit_range("ml", min={"memory": "10Gi"})
    _, _, best = await _pending(spec, "ml", NODES, [bound])
    assert best.root_cause == RootCause.INSUFFICIENT_RESOURCES
    assert best.patch is None
    assert "LimitRange bounds requires at least memory 10Gi per container" in best.summary
