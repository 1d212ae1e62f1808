"""The ServiceAccount token a pod gets, as kube-apiserver's admission plugin mounts it: on unless the pod,
or else its ServiceAccount, turns automountServiceAccountToken off; the pod's own setting wins. An app
reading its in-cluster token finds it only then."""

from __future__ import annotations

import json

import pytest

from smart_sre_harness.testing import RunningSandbox
from smart_sre_sandbox.service_accounts import TOKEN_MOUNT_PATH, automounts, mount_token


@pytest.mark.parametrize(
    ("own", "shared", "mounted"),
    [
        (None, None, True),
        (False, None, False),
        (None, False, False),
        (True, False, True),
        (False, True, False),
    ],
)
def test_the_pods_setting_wins_over_its_service_accounts(own, shared, mounted) -> None:
    pod = {"spec": {} if own is None else {"automountServiceAccountToken": own}}
    account = {} if shared is None else {"automountServiceAccountToken": shared}
    assert automounts(pod, account) is mounted


def test_every_container_that_mounts_nothing_at_the_token_path_gets_the_volume() -> None:
    own = {"name": "creds", "mountPath": TOKEN_MOUNT_PATH}
    spec = {
        "initContainers": [{"name": "wait"}],
        "containers": [{"name": "app"}, {"name": "proxy", "volumeMounts": [own]}],
        "volumes": [{"name": "creds", "secret": {"secretName": "creds"}}],
    }
    pod = {"spec": spec}
    mount_token(pod, None, "x7k2q")
    added = {"name": "kube-api-access-x7k2q", "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}
    assert spec["initContainers"][0]["volumeMounts"] == spec["containers"][0]["volumeMounts"] == [added]
    assert spec["containers"][1]["volumeMounts"] == [own]
    [_, volume] = spec["volumes"]
    sources = [next(iter(source)) for source in volume["projected"]["sources"]]
    assert (volume["name"], sources) == (
        "kube-api-access-x7k2q",
        ["serviceAccountToken", "configMap", "downwardAPI"],
    )
    off = {"spec": {"automountServiceAccountToken": False, "containers": [{"name": "app"}]}}
    mount_token(off, None, "x7k2q")
    assert off == {"spec": {"automountServiceAccountToken": False, "containers": [{"name": "app"}]}}


TOKEN = f"{TOKEN_MOUNT_PATH}/token"
QUIET = {
    "apiVersion": "v1",
    "kind": "ServiceAccount",
    "metadata": {"name": "quiet"},
    "automountServiceAccountToken": False,
}


def reader(name: str, **spec: object) -> dict:
    """A busybox pod that says whether it can read its token, then idles."""
    script = f"cat {TOKEN} >/dev/null && echo has token; sleep infinity"
    container = {"name": "read", "image": "busybox:1.36", "command": ["sh", "-c", script]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {**spec, "containers": [container]},
    }


@pytest.mark.kubectl
def test_a_pod_reads_its_token_only_where_automount_is_on(sandbox: RunningSandbox) -> None:
    readers = [
        reader("mounted"),
        reader("token-off", automountServiceAccountToken=False),
        reader("quiet-account", serviceAccountName="quiet"),
        reader("pod-wins", serviceAccountName="quiet", automountServiceAccountToken=True),
    ]
    sandbox.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [QUIET, *readers]}),
    )
    missing = f"cat: can't open '{TOKEN}': No such file or directory"
    for pod, said in [
        ("mounted", "has token"),
        ("token-off", missing),
        ("quiet-account", missing),
        ("pod-wins", "has token"),
    ]:
        sandbox.kubectl("wait", "--for=condition=Ready", f"pod/{pod}", "--timeout=20s")
        assert (
            sandbox.wait_for(lambda pod=pod: sandbox.kubectl("logs", pod).stdout, timeout=10).strip() == said
        )
    volumes = json.loads(sandbox.kubectl("get", "pod", "mounted", "-o", "jsonpath={.spec.volumes}").stdout)
    assert [v["name"][: len("kube-api-access-")] for v in volumes] == ["kube-api-access-"]
    assert sandbox.kubectl("get", "pod", "token-off", "-o", "jsonpath={.spec.volumes}").stdout == ""
