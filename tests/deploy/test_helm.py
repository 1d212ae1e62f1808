"""The Helm chart deploy/helm/smart-sre, rendered by the real helm (scripts/helm.sh installs the pinned
one beside the venv's Python; `make setup` runs it): what a user installing it notices. Whether it
renders what the kustomize install does: test_helm_kustomize.py."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

from .conftest import DEPLOY, REPO, one
from .test_manifests import RESTRICTED, validate

CHART = DEPLOY / "helm" / "smart-sre"
CI_VALUES = sorted(path.name for path in (CHART / "ci").glob("*-values.yaml"))
RELEASE = NAMESPACE = "smart-sre"  # the names the kustomize install and the docs use
PLACEHOLDER_CIDR = "192.0.2.1/32"
DIGEST = "sha256:" + "ab" * 32
MONITORING_GROUP = "monitoring.coreos.com/"  # the Prometheus Operator's kinds: no schema here
ALL_MONITORING = (
    "metrics.serviceMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
    "metrics.dashboard.enabled=true",
)


def helm_path() -> str:
    """The helm beside this Python (scripts/helm.sh installs it there), else the one on PATH."""
    beside = Path(sys.executable).parent / "helm"
    found = str(beside) if beside.exists() else shutil.which("helm")
    if found is None:
        pytest.fail(
            "helm not found: `scripts/helm.sh .venv/bin` installs the pinned one (`make setup` runs it)"
        )
    return found


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm_path(), *args], capture_output=True, text=True, check=False, timeout=120)


@cache
def _template(values: tuple[str, ...], sets: tuple[str, ...], release: str, namespace: str) -> str:
    args = ["template", release, str(CHART), "--namespace", namespace, "--include-crds"]
    for name in values:
        args += ["--values", str(CHART / "ci" / name)]
    for assignment in sets:
        args += ["--set", assignment]
    result = run_helm(*args)
    assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def render_chart(
    *values: str, sets: tuple[str, ...] = (), release: str = RELEASE, namespace: str = NAMESPACE
) -> list[dict]:
    """The chart's objects as `helm template --include-crds` renders them, with ci/ values files."""
    text = _template(tuple(values), tuple(sets), release, namespace)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def refusal(*args: str) -> str:
    """What `helm template` says when it refuses these arguments."""
    result = run_helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    assert result.returncode != 0, f"helm rendered {args} without complaint"
    return result.stderr


def notes(*args: str) -> str:
    """NOTES.txt as `helm install` prints it (a client-side dry run: no cluster needed)."""
    result = run_helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\nNOTES:\n", 1)[1]


def pod_spec(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["spec"]


def containers(objects: list[dict]) -> dict[str, dict]:
    pod = pod_spec(objects)
    return {c["name"]: c for c in [*(pod.get("initContainers") or []), *pod["containers"]]}


def env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def volumes(objects: list[dict]) -> dict[str, dict]:
    return {v["name"]: v for v in pod_spec(objects)["volumes"]}


@pytest.fixture(params=[None, *CI_VALUES], ids=lambda name: name or "default")
def values(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The chart's defaults, then each values file shipped in ci/."""
    return (request.param,) if request.param else ()


def test_ci_holds_the_installs_the_docs_name() -> None:
    assert {"cpu-values.yaml", "gpu-values.yaml", "airgap-values.yaml"} <= set(CI_VALUES)


def test_helm_lint_passes(values: tuple[str, ...]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for name in values:
        args += ["--values", str(CHART / "ci" / name)]
    result = run_helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_every_rendered_object_validates(values: tuple[str, ...]) -> None:
    """Kubernetes' own schemas, strict (no unknown field), as for the kustomize install."""
    objects = render_chart(*values, sets=ALL_MONITORING)
    assert {"Deployment", "CustomResourceDefinition", "ValidatingAdmissionPolicy"} <= {
        o["kind"] for o in objects
    }
    for obj in objects:
        if not obj["apiVersion"].startswith(MONITORING_GROUP):
            validate(obj)


def test_the_crds_are_the_repositorys_byte_for_byte() -> None:
    """Helm installs crds/ before anything else (and never upgrades or deletes them)."""
    ours = {path.name: path.read_bytes() for path in (REPO / "crds").glob("*.yaml")}
    chart = {path.name: path.read_bytes() for path in (CHART / "crds").iterdir()}
    assert ours
    assert chart == ours, "copy crds/*.yaml into deploy/helm/smart-sre/crds/"


def test_the_helm_the_tests_run_is_the_pinned_one() -> None:
    script = (REPO / "scripts" / "helm.sh").read_text()
    pinned = re.search(r"^HELM_SHA256=([0-9a-f]{64})$", script, re.MULTILINE)
    version = re.search(r"^HELM_VERSION=(\S+)$", script, re.MULTILINE)
    assert pinned
    assert version
    beside = Path(sys.executable).parent / "helm"
    if beside.exists():  # installed by scripts/helm.sh (make setup)
        assert hashlib.sha256(beside.read_bytes()).hexdigest() == pinned.group(1)
    result = run_helm("version", "--short")
    assert result.stdout.startswith(f"v{version.group(1)}"), result.stdout


def test_no_fixed_uid_and_every_container_is_restricted(values: tuple[str, ...]) -> None:
    """OpenShift's restricted-v2 assigns UIDs and fsGroups itself and refuses pods that pin others;
    Pod Security `restricted` needs the rest."""
    objects = render_chart(*values)
    pod = pod_spec(objects)
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    for name, container in containers(objects).items():
        assert container["securityContext"] == RESTRICTED, name
        assert not {"runAsUser", "runAsGroup"} & container["securityContext"].keys(), name
        assert {"limits", "requests"} <= container["resources"].keys(), name
        assert env(container)["HF_HUB_OFFLINE"] == "1", name
    # Without an fsGroup the root-owned key file must be readable by the operator's arbitrary UID.
    assert volumes(objects)["seal-key"]["secret"]["defaultMode"] == 0o444


def test_an_fs_group_of_yours_narrows_the_seal_key_to_it() -> None:
    objects = render_chart(sets=("podSecurityContext.fsGroup=10001",))
    assert pod_spec(objects)["securityContext"]["fsGroup"] == 10001
    assert volumes(objects)["seal-key"]["secret"]["defaultMode"] == 0o440


def test_the_seal_key_and_the_api_token_reach_the_operator_alone(values: tuple[str, ...]) -> None:
    objects = render_chart(*values)
    pod = pod_spec(objects)
    assert pod["automountServiceAccountToken"] is False
    seal = volumes(objects)["seal-key"]["secret"]
    assert seal["secretName"] == "smart-sre-seal-key"
    assert seal["optional"] is True
    for name, container in containers(objects).items():
        mounts = {m["name"] for m in container.get("volumeMounts") or []}
        if name == "operator":
            assert {"seal-key", "kube-api-access"} <= mounts
            assert env(container)["SMART_SRE_SEAL_KEY_FILE"] == "/etc/smart-sre/seal/key"
        else:
            assert not {"seal-key", "kube-api-access"} & mounts, name


def test_images_come_from_your_registry_pinned_by_digest() -> None:
    sets = (
        "images.registry=registry.internal/sre/",
        f"images.operator.digest={DIGEST}",
        f"images.inferenceCpu.digest={DIGEST}",
        f"images.model.digest={DIGEST}",
    )
    found = containers(render_chart(sets=sets))
    assert found["operator"]["image"] == f"registry.internal/sre/operator:0.1.0@{DIGEST}"
    assert found["inference"]["image"] == f"registry.internal/sre/inference-cpu:0.1.0@{DIGEST}"
    default = tomllib.loads((REPO / "models.lock").read_text())["default"]
    assert found["model"]["image"] == f"registry.internal/sre/model:{default}@{DIGEST}"

    gpu = containers(render_chart("gpu-values.yaml", sets=(f"images.inferenceCuda.digest={DIGEST}",)))
    assert gpu["inference"]["image"] == f"ghcr.io/smart-sre/inference-cuda:0.1.0@{DIGEST}"


def test_a_malformed_digest_is_refused_by_name() -> None:
    assert "/images/operator/digest" in refusal("--set", "images.operator.digest=sha256:abc")


def test_the_default_model_is_models_lock_default_from_its_model_image() -> None:
    lock = tomllib.loads((REPO / "models.lock").read_text())
    objects = render_chart()
    found = containers(objects)
    assert found["model"]["image"] == f"ghcr.io/smart-sre/model:{lock['default']}"
    assert env(found["inference"])["SMART_SRE_MODEL"] == lock["default"]
    assert volumes(objects)["models"] == {"name": "models", "emptyDir": {"sizeLimit": "4Gi"}}


def test_another_model_is_pulled_and_served_by_its_name() -> None:
    found = containers(render_chart(sets=("model.name=qwen2.5-7b-q4_k_m",)))
    assert found["model"]["image"] == "ghcr.io/smart-sre/model:qwen2.5-7b-q4_k_m"
    assert env(found["inference"])["SMART_SRE_MODEL"] == "qwen2.5-7b-q4_k_m"


def test_weights_from_a_claim_need_no_model_image() -> None:
    objects = render_chart("airgap-values.yaml")
    assert "model" not in containers(objects)
    assert volumes(objects)["models"] == {
        "name": "models",
        "persistentVolumeClaim": {"claimName": "smart-sre-models"},
    }
    claim = one(objects, "PersistentVolumeClaim", "smart-sre-models")
    # `helm uninstall` keeps the weights someone carried across the air gap.
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for name, container in containers(objects).items():
        assert container["image"].startswith("registry.example.internal/smart-sre/"), name

    existing = render_chart("airgap-values.yaml", sets=("model.pvc.existingClaim=weights",))
    assert not [o for o in existing if o["kind"] == "PersistentVolumeClaim"]
    assert volumes(existing)["models"]["persistentVolumeClaim"] == {"claimName": "weights"}


def test_the_sidecar_on_a_gpu_node() -> None:
    objects = render_chart("gpu-values.yaml")
    pod = pod_spec(objects)
    inference = containers(objects)["inference"]
    assert inference["image"] == "ghcr.io/smart-sre/inference-cuda:0.1.0"
    assert inference["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert env(inference)["SMART_SRE_N_GPU_LAYERS"] == "-1"
    assert env(inference)["SMART_SRE_N_THREADS"] == "1"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}
    ]
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert "runtimeClassName" not in pod
    assert volumes(objects)["models"]["emptyDir"] == {"sizeLimit": "40Gi"}


def test_gpu_scheduling_is_yours_to_set() -> None:
    objects = render_chart(
        "gpu-values.yaml",
        sets=(
            "gpu.resourceName=amd.com/gpu",
            "gpu.count=2",
            "gpu.runtimeClassName=nvidia",
            "gpu.nodeSelector.gpu-pool=a100",
            "nodeSelector.zone=eu-1",
            "tolerations[0].key=dedicated",
            "tolerations[0].operator=Exists",
        ),
    )
    pod = pod_spec(objects)
    limits = containers(objects)["inference"]["resources"]["limits"]
    assert limits["amd.com/gpu"] == 2
    assert "nvidia.com/gpu" not in limits
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["nodeSelector"] == {"gpu-pool": "a100", "zone": "eu-1"}
    assert pod["tolerations"] == [
        {"key": "dedicated", "operator": "Exists"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ]
    cpu = pod_spec(render_chart(sets=("gpu.runtimeClassName=nvidia",)))
    assert not {"runtimeClassName", "tolerations", "affinity", "nodeSelector"} & cpu.keys()
    assert "nvidia.com/gpu" not in str(containers(render_chart())["inference"]["resources"])


def test_an_in_cluster_endpoint_replaces_the_sidecar() -> None:
    objects = render_chart("endpoint-values.yaml")
    found = containers(objects)
    assert list(found) == ["operator"]  # no sidecar, no model image
    assert (
        env(found["operator"])["SMART_SRE_INFERENCE_URL"] == "http://vllm.inference.svc.cluster.local:8000/v1"
    )
    assert "models" not in volumes(objects)
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    service = one(objects, "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics"]
    policy = one(objects, "NetworkPolicy")["spec"]
    assert [p["port"] for p in policy["ingress"][0]["ports"]] == ["metrics"]
    api, endpoint, dns = policy["egress"]
    assert api["to"] == [{"ipBlock": {"cidr": PLACEHOLDER_CIDR}}]
    assert endpoint == {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "inference"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "vllm"}},
            }
        ],
        "ports": [{"port": 8000, "protocol": "TCP"}],
    }
    assert sorted((p["port"], p["protocol"]) for p in dns["ports"]) == [(53, "TCP"), (53, "UDP")]
    assert "bring-your-own-endpoint" in notes("--values", str(CHART / "ci" / "endpoint-values.yaml"))


def test_an_endpoint_without_its_address_or_its_peers_is_refused() -> None:
    assert "inference.endpoint.url" in refusal("--set", "inference.mode=endpoint")
    assert "inference.endpoint.to" in refusal(
        "--set", "inference.mode=endpoint", "--set", "inference.endpoint.url=http://10.0.0.5:8000/v1"
    )


@pytest.mark.parametrize("values", [(), *((name,) for name in CI_VALUES if name != "endpoint-values.yaml")])
def test_the_sidecar_is_reached_over_localhost_only(values: tuple[str, ...]) -> None:
    found = containers(render_chart(*values))
    args = found["inference"]["args"]
    assert args[args.index("--host") + 1] == "127.0.0.1"
    port = args[args.index("--port") + 1]
    assert env(found["operator"])["SMART_SRE_INFERENCE_URL"] == f"http://127.0.0.1:{port}"
    assert [p["name"] for p in found["inference"]["ports"]] == ["sidecar-metrics"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert f"'http://127.0.0.1:{port}/" in found["inference"][probe]["exec"]["command"][2], probe


def test_egress_goes_to_your_api_server_only() -> None:
    policy = one(
        render_chart(sets=("networkPolicy.apiServerCIDRs={10.0.0.10/32,10.0.0.11/32}",)), "NetworkPolicy"
    )
    assert policy["spec"]["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": "10.0.0.10/32"}}, {"ipBlock": {"cidr": "10.0.0.11/32"}}],
            "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
        }
    ]
    assert "NetworkPolicy" not in {o["kind"] for o in render_chart(sets=("networkPolicy.enabled=false",))}


def test_per_namespace_patch_rights_bind_only_the_listed_namespaces() -> None:
    objects = render_chart(
        sets=("rbac.remediationScope=namespaces", "rbac.remediationNamespaces={shop,payments}")
    )
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["payments", "shop"]
    for binding in bindings:
        assert binding["roleRef"]["name"] == "smart-sre-operator-remediation"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "smart-sre", "namespace": NAMESPACE}
        ]
    cluster_wide = {o["roleRef"]["name"] for o in objects if o["kind"] == "ClusterRoleBinding"}
    assert cluster_wide == {"smart-sre-operator"}
    assert "rbac.remediationNamespaces" in refusal("--set", "rbac.remediationScope=namespaces")


def test_no_role_grants_anything_on_secrets(values: tuple[str, ...]) -> None:
    for role in (o for o in render_chart(*values) if o["kind"] in ("ClusterRole", "Role")):
        for rule in role["rules"]:
            name = role["metadata"]["name"]
            assert not [r for r in rule["resources"] if r.split("/")[0] == "secrets"], name
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], name


def test_another_release_name_renames_everything_and_keeps_every_reference() -> None:
    """Two installs in one cluster collide on no cluster-scoped name; each reference still resolves."""
    objects = render_chart(release="sre", namespace="ops")
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    cluster_scoped = {name for kind, name in names if kind.startswith(("Cluster", "ValidatingAdmission"))}
    assert cluster_scoped == {
        "sre-smart-sre-operator",
        "sre-smart-sre-operator-remediation",
        "sre-smart-sre-approver",
        "sre-smart-sre-approver-identity",
        "sre-smart-sre-suggestion-namespace",
    }
    for binding in (o for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        assert ("ClusterRole", binding["roleRef"]["name"]) in names
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "sre-smart-sre", "namespace": "ops"}
        ]
    for binding in (o for o in objects if o["kind"] == "ValidatingAdmissionPolicyBinding"):
        assert ("ValidatingAdmissionPolicy", binding["spec"]["policyName"]) in names
    pod = pod_spec(objects)
    assert ("ServiceAccount", pod["serviceAccountName"]) in names
    assert volumes(objects)["seal-key"]["secret"]["secretName"] == "sre-smart-sre-seal-key"
    labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for selector in (
        one(objects, "Deployment")["spec"]["selector"]["matchLabels"],
        one(objects, "Service")["spec"]["selector"],
        one(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
        assert selector["app.kubernetes.io/instance"] == "sre"
    namespaced = {o["metadata"].get("namespace") for o in objects if o["kind"] in ("Deployment", "Service")}
    assert namespaced == {"ops"}


def test_every_object_carries_the_recommended_labels() -> None:
    for obj in render_chart():
        if obj["kind"] == "CustomResourceDefinition":
            continue  # crds/ is the repository's, as it stands
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "smart-sre", obj["kind"]
        assert labels["app.kubernetes.io/instance"] == RELEASE, obj["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", obj["kind"]
        assert labels["helm.sh/chart"] == "smart-sre-0.1.0", obj["kind"]


def test_the_approval_policies_can_be_left_out() -> None:
    kinds = {o["kind"] for o in render_chart(sets=("approvalPolicy.enabled=false",))}
    assert not {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} & kinds


def test_a_cluster_older_than_1_30_is_refused() -> None:
    """The approval policies need admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy."""
    assert "kubeVersion" in refusal("--kube-version", "1.29.4")


def test_a_misspelt_value_is_refused_by_name() -> None:
    assert "'enable' not allowed" in refusal("--set", "gpu.enable=true")
    assert "sidecar" in refusal("--set", "inference.mode=remote")


def test_monitoring_is_off_until_asked_for() -> None:
    kinds = {o["kind"] for o in render_chart()}
    assert not {"ServiceMonitor", "PrometheusRule", "ConfigMap"} & kinds
    objects = render_chart(sets=(*ALL_MONITORING, "metrics.serviceMonitor.labels.release=prom"))
    monitor = one(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    service = one(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]
    one(objects, "PrometheusRule")
    assert one(objects, "ConfigMap")["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_the_notes_say_how_to_create_the_seal_key_and_list_reports() -> None:
    text = notes()
    assert (
        'kubectl -n smart-sre create secret generic smart-sre-seal-key --from-literal=key="$(openssl rand -hex 32)"'
        in text
    )
    assert "kubectl -n smart-sre rollout restart deployment smart-sre" in text
    assert "kubectl get diagnosticreports -A" in text
    assert "--clusterrole=smart-sre-approver" in text
    assert "pod-security.kubernetes.io/enforce=restricted" in text
    assert PLACEHOLDER_CIDR in text  # the warning: egress reaches nothing yet
    assert PLACEHOLDER_CIDR not in notes("--set", "networkPolicy.apiServerCIDRs={10.0.0.10/32}")
