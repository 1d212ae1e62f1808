"""Container environments and the CreateContainerConfigError messages of the kubelet."""

from __future__ import annotations

import base64

import pytest

from smart_sre_sandbox.sim.envvars import ConfigError, missing_volume, resolve

POD = {
    "metadata": {"name": "api-0", "namespace": "shop", "uid": "u1", "labels": {"tier": "backend"}},
    "spec": {"nodeName": "sandbox-worker-2", "containers": []},
    "status": {"podIP": "10.244.2.3"},
}
MAPS = {("shop", "app-config"): {"data": {"LOG_LEVEL": "debug", "MODE": "fast"}}}
SECRETS = {("shop", "db"): {"data": {"password": base64.b64encode(b"s3cret").decode()}}}


def test_env_combines_config_maps_secrets_fields_and_expansion() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "app-config"}, "prefix": "APP_"}],
        "env": [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
            {"name": "DSN", "value": "postgres://app:$(DB_PASSWORD)@db:5432"},
        ],
    }
    env = resolve(container, POD, MAPS, SECRETS, [])
    assert env["APP_LOG_LEVEL"] == "debug"
    assert env["DSN"] == "postgres://app:s3cret@db:5432"
    assert (env["NODE"], env["TIER"]) == ("sandbox-worker-2", "backend")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"configMapKeyRef": {"name": "app-config", "key": "FEATURES"}},
            "couldn't find key FEATURES in ConfigMap shop/app-config",
        ),
        ({"configMapKeyRef": {"name": "missing", "key": "A"}}, 'configmap "missing" not found'),
        ({"secretKeyRef": {"name": "db", "key": "user"}}, "couldn't find key user in Secret shop/db"),
        ({"secretKeyRef": {"name": "tls", "key": "crt"}}, 'secret "tls" not found'),
    ],
)
def test_missing_references_raise_the_kubelet_message(env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve({"env": [{"name": "X", "valueFrom": env}]}, POD, MAPS, SECRETS, [])


def test_optional_references_are_skipped_and_missing_volumes_reported() -> None:
    optional = {
        "env": [
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "A", "optional": True}}}
        ]
    }
    assert "X" not in resolve(optional, POD, MAPS, SECRETS, [])
    pod = {**POD, "spec": {**POD["spec"], "volumes": [{"name": "certs", "secret": {"secretName": "tls"}}]}}
    assert missing_volume(pod, MAPS, SECRETS) == ("certs", 'secret "tls" not found')
