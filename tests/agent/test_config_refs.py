"""Config references of every form: env, envFrom, ConfigMap/Secret/projected volumes with items, in any
container kind. A finding names the container that failed and the field; a fix re-points that field at
what the namespace really holds, and passes the default policy's allowed paths and the safety floor."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smart_sre.api.common import RootCause, Trigger
from smart_sre.api.debugpolicy import DEFAULT_ALLOWED_PATHS, VOLUME_REFERENCE_RULE, DebugPolicySpec
from smart_sre.investigation.mentions import missing_env_names, missing_files
from smart_sre.investigation.patch_safety import floor_violations, path_allowed

from .fakes import FakeCluster
from .pods import config, deployed, investigate, pod_event, vetted, waiting
from .scenarios import NODES

LINES = yaml.safe_load((Path(__file__).parent / "data" / "runtime_log_lines.yaml").read_text())
CONFIG_ERROR = "CreateContainerConfigError"


def _container(name: str, **fields) -> dict:
    return {"name": name, "image": f"registry.local/{name}:1.0", **fields}


def _missing(candidates):
    return next(c for c in candidates if c.root_cause == RootCause.MISSING_CONFIG)


# --- Missing objects and keys, every reference form ---------------------------------------------------


async def test_envfrom_typo_in_the_second_container_repoints_that_container() -> None:
    spec = {
        "containers": [
            _container("web", env=[{"name": "MODE", "value": "web"}]),
            _container("worker", envFrom=[{"configMapRef": {"name": "app-cfg"}}]),
        ]
    }
    status = waiting("worker", CONFIG_ERROR, 'configmap "app-cfg" not found')
    *objects, pod = deployed("shop-api", "retail", spec, status)
    objects += [pod, config("ConfigMap", "app-config", "retail", {"LOG_LEVEL": "info"})]
    cluster, chain, _, found = await investigate(objects, pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR)
    best = found[0]
    assert best.root_cause == RootCause.MISSING_CONFIG
    assert 'container worker: envFrom[0].configMapRef.name "app-cfg" does not exist' in best.summary
    assert 'ConfigMap "app-config" does' in best.summary
    assert best.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/1/envFrom/0/configMapRef/name",
            "value": "app-config",
        }
    ]
    await vetted(cluster, chain, best)


async def test_missing_key_of_an_init_container_env_ref_takes_the_key_named_like_it() -> None:
    spec = {
        "initContainers": [
            _container(
                "migrate",
                env=[
                    {"name": "MODE", "value": "migrate"},
                    {"name": "DB_URL", "valueFrom": {"configMapKeyRef": {"name": "ledger", "key": "db.url"}}},
                ],
            )
        ],
        "containers": [_container("ledger")],
    }
    status = waiting(
        "migrate", CONFIG_ERROR, "couldn't find key db.url in ConfigMap billing/ledger", init=True
    )
    *objects, pod = deployed("ledger", "billing", spec, status)
    objects += [pod, config("ConfigMap", "ledger", "billing", {"db-url": "postgres://x", "replicas": "2"})]
    cluster, chain, _, found = await investigate(objects, pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR)
    best = found[0]
    assert best.summary.startswith('container migrate: env[1].valueFrom.configMapKeyRef.key "db.url"')
    assert best.patch.operations[0]["path"] == (
        "/spec/template/spec/initContainers/0/env/1/valueFrom/configMapKeyRef/key"
    )
    assert best.patch.operations[0]["value"] == "db-url"
    await vetted(cluster, chain, best)


async def test_a_configmap_volume_item_naming_a_missing_key_is_repointed() -> None:
    volume = {
        "name": "settings",
        "configMap": {"name": "gateway-conf", "items": [{"key": "gateway.yml", "path": "gateway.yml"}]},
    }
    spec = {
        "containers": [
            _container("gateway", volumeMounts=[{"name": "settings", "mountPath": "/etc/gateway"}])
        ],
        "volumes": [volume],
    }
    *objects, pod = deployed("gateway", "edge", spec, waiting("gateway", "ContainerCreating"))
    mount = pod_event(
        pod,
        "FailedMount",
        'MountVolume.SetUp failed for volume "settings" : configmap references non-existent config key: '
        "gateway.yml",
    )
    objects += [pod, mount, config("ConfigMap", "gateway-conf", "edge", {"gateway.yaml": "routes: []"})]
    cluster, chain, _, found = await investigate(objects, pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR)
    best = _missing(found)
    assert "container gateway, volume settings" in best.summary
    assert best.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/volumes/0/configMap/items/0/key",
            "value": "gateway.yaml",
        }
    ]
    await vetted(cluster, chain, best)


async def test_a_projected_volume_source_is_repointed_at_the_configmap_that_exists() -> None:
    volume = {
        "name": "bundle",
        "projected": {
            "sources": [
                {
                    "downwardAPI": {
                        "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
                    }
                },
                {"configMap": {"name": "feature-flag"}},
            ]
        },
    }
    spec = {
        "containers": [_container("flags", volumeMounts=[{"name": "bundle", "mountPath": "/etc/bundle"}])],
        "volumes": [volume],
    }
    *objects, pod = deployed("flags", "growth", spec, waiting("flags", "ContainerCreating"))
    mount = pod_event(
        pod,
        "FailedMount",
        'MountVolume.SetUp failed for volume "bundle" : configmap "feature-flag" not found',
    )
    objects += [pod, mount, config("ConfigMap", "feature-flags", "growth", {"beta": "on"})]
    cluster, chain, _, found = await investigate(objects, pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR)
    best = _missing(found)
    assert 'volume bundle: projected.sources[1].configMap.name "feature-flag"' in best.summary
    assert (
        best.patch.operations[0]["path"] == "/spec/template/spec/volumes/0/projected/sources/1/configMap/name"
    )
    assert best.patch.operations[0]["value"] == "feature-flags"
    await vetted(cluster, chain, best)


async def test_a_secret_is_only_replaced_by_a_secret_the_workload_already_reads() -> None:
    spec = {
        "containers": [
            _container("payments", envFrom=[{"secretRef": {"name": "api-token"}}], volumeMounts=[]),
        ],
        "volumes": [{"name": "tls", "secret": {"secretName": "api-tokens"}}],
    }
    status = waiting("payments", CONFIG_ERROR, 'secret "api-token" not found')
    *objects, pod = deployed("payments", "pay", spec, status)
    secrets = [
        config("Secret", "api-tokens", "pay", {"TOKEN": "eA=="}),
        config("Secret", "api-tokn", "pay", {}),
    ]
    cluster, chain, _, found = await investigate(
        [*objects, pod, *secrets], pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR
    )
    best = found[0]
    assert best.patch.operations[0]["value"] == "api-tokens"
    await vetted(cluster, chain, best)


async def test_an_unread_secret_is_named_but_never_patched_in() -> None:
    spec = {
        "containers": [
            _container(
                "orders",
                env=[
                    {
                        "name": "DB_PASSWORD",
                        "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}},
                    }
                ],
            )
        ]
    }
    status = waiting("orders", CONFIG_ERROR, 'secret "db-creds" not found')
    *objects, pod = deployed("orders", "checkout", spec, status)
    objects += [pod, config("Secret", "db-credentials", "checkout", {"password": "eA=="})]
    _, _, _, found = await investigate(objects, pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR)
    best = found[0]
    assert 'secretKeyRef.name "db-creds" does not exist in namespace checkout' in best.summary
    assert best.patch is None
    assert "Secret db-credentials exists" in best.no_patch_reason


async def test_without_the_right_to_list_secrets_a_missing_secret_is_findings_only() -> None:
    spec = {"containers": [_container("mailer", envFrom=[{"secretRef": {"name": "smtp"}}])]}
    status = waiting("mailer", CONFIG_ERROR, 'secret "smtp" not found')
    *objects, pod = deployed("mailer", "comms", spec, status)
    cluster = FakeCluster([*NODES, *objects, pod], forbidden=frozenset({"Secret"}))
    _, _, _, found = await investigate([], pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR, cluster=cluster)
    assert found[0].patch is None
    assert "may not list Secrets" in found[0].no_patch_reason


async def test_a_configmap_of_another_namespace_is_never_the_fix() -> None:
    spec = {"containers": [_container("api", envFrom=[{"configMapRef": {"name": "api-confg"}}])]}
    status = waiting("api", CONFIG_ERROR, 'configmap "api-confg" not found')
    *objects, pod = deployed("api", "team-a", spec, status)
    objects += [pod, config("ConfigMap", "api-config", "team-b", {"PORT": "8080"})]
    _, _, _, found = await investigate(objects, pod, Trigger.CREATE_CONTAINER_CONFIG_ERROR)
    assert found[0].patch is None
    assert "does not exist in namespace team-a" in found[0].summary


async def test_an_optional_reference_is_not_a_cause() -> None:
    spec = {
        "containers": [_container("api", envFrom=[{"configMapRef": {"name": "extras", "optional": True}}])]
    }
    *objects, pod = deployed("api", "team-c", spec, waiting("api", "CrashLoopBackOff"))
    objects += [pod, pod_event(pod, "Failed", 'Error: configmap "extras" not found', "api")]
    objects.append(config("ConfigMap", "extra", "team-c", {"A": "1"}))
    _, _, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"api": "exit 1"})
    assert all(c.root_cause != RootCause.MISSING_CONFIG for c in found)


# --- What the app says it misses: env vars and files ----------------------------------------------------


@pytest.mark.parametrize("entry", LINES["env"], ids=lambda e: f"{e['runtime']}: {e['line'][:40]}")
def test_missing_env_names_are_read_in_every_runtimes_words(entry: dict) -> None:
    assert missing_env_names(entry["line"]) == entry["names"]


@pytest.mark.parametrize("entry", LINES["files"], ids=lambda e: f"{e['runtime']}: {e['line'][:40]}")
def test_missing_files_are_read_in_every_runtimes_words(entry: dict) -> None:
    assert missing_files(entry["line"]) == entry["paths"]


@pytest.mark.parametrize(
    ("line", "wanted"),
    [(entry["line"], entry["names"][0]) for entry in LINES["env"] if entry["names"]][:6],
)
async def test_a_missing_env_var_is_added_to_the_container_that_said_so(line: str, wanted: str) -> None:
    spec = {"containers": [_container("web"), _container("worker", env=[{"name": "MODE", "value": "queue"}])]}
    *objects, pod = deployed("jobs", "batch", spec, waiting("worker", "CrashLoopBackOff"))
    objects += [pod, config("ConfigMap", "jobs-env", "batch", {wanted: "value"})]
    cluster, chain, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"worker": line})
    best = _missing(found)
    assert best.summary.startswith(f"container worker exits because the environment variable {wanted}")
    assert best.patch.operations == [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/1/env/-",
            "value": {"name": wanted, "valueFrom": {"configMapKeyRef": {"name": "jobs-env", "key": wanted}}},
        }
    ]
    await vetted(cluster, chain, best)


async def test_a_sidecar_missing_an_env_var_gets_it_from_its_sibling() -> None:
    sidecar = _container("shipper", restartPolicy="Always")
    app = _container("app", env=[{"name": "LOKI_URL", "value": "http://loki.logging:3100"}])
    *objects, pod = deployed(
        "app",
        "obs",
        {"initContainers": [sidecar], "containers": [app]},
        waiting("shipper", "CrashLoopBackOff", init=True),
    )
    log = 'level=fatal msg="missing required environment variable: LOKI_URL"'
    cluster, chain, _, found = await investigate(
        [*objects, pod], pod, Trigger.CRASH_LOOP_BACK_OFF, {"shipper": log}
    )
    best = _missing(found)
    assert best.patch.operations == [
        {"op": "add", "path": "/spec/template/spec/initContainers/0/env", "value": [app["env"][0]]}
    ]
    await vetted(cluster, chain, best)


async def test_an_env_var_set_under_a_close_name_is_renamed() -> None:
    env = [{"name": "PORT", "value": "8080"}, {"name": "DATABASE_URI", "value": "postgres://db/app"}]
    *objects, pod = deployed(
        "api", "core", {"containers": [_container("api", env=env)]}, waiting("api", "CrashLoopBackOff")
    )
    cluster, chain, _, found = await investigate(
        [*objects, pod], pod, Trigger.CRASH_LOOP_BACK_OFF, {"api": "KeyError: 'DATABASE_URL'"}
    )
    best = _missing(found)
    assert best.patch.operations == [
        {"op": "replace", "path": "/spec/template/spec/containers/0/env/1/name", "value": "DATABASE_URL"}
    ]
    await vetted(cluster, chain, best)


async def test_a_file_missing_from_a_config_volume_names_the_volume_and_its_keys() -> None:
    spec = {
        "containers": [_container("worker", volumeMounts=[{"name": "conf", "mountPath": "/etc/worker"}])],
        "volumes": [{"name": "conf", "configMap": {"name": "worker-conf"}}],
    }
    *objects, pod = deployed("worker", "queue", spec, waiting("worker", "CrashLoopBackOff"))
    objects += [pod, config("ConfigMap", "worker-conf", "queue", {"settings.tml": "x = 1"})]
    log = "FileNotFoundError: [Errno 2] No such file or directory: '/etc/worker/settings.toml'"
    _, _, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"worker": log})
    best = _missing(found)
    assert "container worker cannot open /etc/worker/settings.toml: volume conf" in best.summary
    assert 'ConfigMap worker-conf, which has no key "settings.toml"; it has "settings.tml"' in best.summary
    assert best.patch is None


async def test_a_file_an_item_maps_under_another_path_is_mapped_where_the_app_reads_it() -> None:
    volume = {
        "name": "conf",
        "configMap": {"name": "site", "items": [{"key": "nginx.conf", "path": "sites.conf"}]},
    }
    spec = {
        "containers": [
            _container("nginx", volumeMounts=[{"name": "conf", "mountPath": "/etc/nginx/conf.d"}])
        ],
        "volumes": [volume],
    }
    *objects, pod = deployed("site", "web", spec, waiting("nginx", "CrashLoopBackOff"))
    objects += [pod, config("ConfigMap", "site", "web", {"nginx.conf": "server {}"})]
    log = 'nginx: [emerg] open() "/etc/nginx/conf.d/site.conf" failed (2: No such file or directory)'
    cluster, chain, _, found = await investigate(objects, pod, Trigger.CRASH_LOOP_BACK_OFF, {"nginx": log})
    best = _missing(found)
    assert best.patch.operations == [
        {
            "op": "replace",
            "path": "/spec/template/spec/volumes/0/configMap/items/0/path",
            "value": "site.conf",
        }
    ]
    await vetted(cluster, chain, best)


# --- The default policy covers the reference fields, and nothing broader -------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/spec/template/spec/containers/2/envFrom/0/configMapRef/name",
        "/spec/template/spec/initContainers/0/envFrom/1/secretRef/name",
        "/spec/template/spec/initContainers/1/env/-",
        "/spec/template/spec/volumes/3/configMap/name",
        "/spec/template/spec/volumes/0/secret/items/1/key",
        "/spec/template/spec/volumes/1/projected/sources/2/secret/name",
    ],
)
def test_default_paths_cover_every_reference_field(path: str) -> None:
    assert path_allowed("Deployment", path, DEFAULT_ALLOWED_PATHS)


@pytest.mark.parametrize(
    "path",
    [
        "/spec/template/spec/volumes/-",
        "/spec/template/spec/volumes/0",
        "/spec/template/spec/volumes/0/hostPath/path",
        "/spec/template/spec/volumes/0/configMap/defaultMode",
        "/spec/template/spec/initContainers/0/securityContext",
        "/spec/template/spec/containers/0/volumeMounts/0/mountPath",
    ],
)
def test_default_paths_open_nothing_broader(path: str) -> None:
    assert not path_allowed("Deployment", path, DEFAULT_ALLOWED_PATHS)


def test_only_a_volumes_reference_fields_may_be_named_in_a_policy() -> None:
    DebugPolicySpec.model_validate(
        {"rules": [{"namespaces": ["a"]}], "remediation": {"allowedPaths": list(DEFAULT_ALLOWED_PATHS)}}
    )
    with pytest.raises(ValueError, match="never patches"):
        DebugPolicySpec.model_validate(
            {
                "rules": [{"namespaces": ["a"]}],
                "remediation": {"allowedPaths": ["/spec/template/spec/volumes/*/hostPath"]},
            }
        )
    crd = yaml.safe_load((Path(__file__).parents[2] / "crds" / "debugpolicy.yaml").read_text())
    remediation = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "remediation"
    ]
    (rule,) = remediation["properties"]["allowedPaths"]["x-kubernetes-validations"]
    assert f"'{VOLUME_REFERENCE_RULE}'" in rule["rule"]


def _spec(volume: dict) -> dict:
    return {"kind": "Pod", "spec": {"containers": [_container("app")], "volumes": [volume]}}


def test_the_floor_lets_a_volume_be_repointed_but_not_otherwise_changed() -> None:
    before = _spec(
        {"name": "v", "configMap": {"name": "a", "items": [{"key": "k", "path": "p", "mode": 256}]}}
    )
    repointed = _spec(
        {"name": "v", "configMap": {"name": "b", "items": [{"key": "k2", "path": "p2", "mode": 256}]}}
    )
    assert floor_violations(before, repointed) == []
    for changed in (
        {"name": "v", "configMap": {"name": "a", "items": [{"key": "k", "path": "p", "mode": 511}]}},
        {"name": "v", "configMap": {"name": "a", "defaultMode": 511}},
        {"name": "v", "hostPath": {"path": "/"}},
        {"name": "v", "secret": {"secretName": "a"}},
    ):
        assert floor_violations(before, _spec(changed))
