"""What a reviewer of deploy/ relies on, checked on the manifests as `kubectl kustomize` renders them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from .conftest import DEPLOY, OVERLAYS, REPO, TARGETS, containers, one, render

KUBERNETES_VERSION = "1.37.0"
IMAGE_LOCK = "/etc/smart-sre/models.lock"  # the images' own pins (deploy/images/Dockerfile.*)
OWN_GROUP = "smartsre.io"
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _crd_schemas() -> dict[tuple[str, str], dict]:
    schemas = {}
    for path in sorted((REPO / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def validate(obj: dict) -> None:
    """Kubernetes' own JSON schemas (strict: no unknown fields) offline; our CRs against our CRDs."""
    if obj["apiVersion"].startswith(f"{OWN_GROUP}/"):
        jsonschema.validate(obj, _crd_schemas()[(obj["apiVersion"], obj["kind"])])
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_every_rendered_object_validates(target: str) -> None:
    objects = render(target)
    assert objects
    for obj in objects:
        validate(obj)


def test_the_examples_validate_against_the_crds() -> None:
    examples = sorted((DEPLOY / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        for obj in yaml.safe_load_all(path.read_text()):
            validate(obj)


def test_a_broken_object_is_caught() -> None:
    deployment = one(render("base"), "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "one"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_crds_come_from_crds_folder_unchanged(target: str) -> None:
    rendered = {o["metadata"]["name"]: o for o in render(target) if o["kind"] == "CustomResourceDefinition"}
    originals = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "crds").glob("*.yaml"))]
    assert rendered == {crd["metadata"]["name"]: crd for crd in originals}


def test_namespace_enforces_pod_security_restricted(target: str) -> None:
    labels = one(render(target), "Namespace", "smart-sre")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_container_meets_restricted(target: str) -> None:
    objects = render(target)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for name, container in containers(objects).items():
        assert container["securityContext"] == RESTRICTED, name
        assert {"limits", "requests"} <= container["resources"].keys(), name


def test_every_container_is_offline(target: str) -> None:
    for name, container in containers(render(target)).items():
        env = {e["name"]: e.get("value") for e in container.get("env") or []}
        assert env.get("HF_HUB_OFFLINE") == "1", name


def test_sidecar_is_reached_over_localhost_only(target: str) -> None:
    objects = render(target)
    found = containers(objects)
    args = found["inference"]["args"]
    assert args[args.index("--host") + 1] == "127.0.0.1"
    port = args[args.index("--port") + 1]
    operator_env = {e["name"]: e.get("value") for e in found["operator"]["env"]}
    assert operator_env["SMART_SRE_INFERENCE_URL"] == f"http://127.0.0.1:{port}"
    # The sidecar declares its metrics port alone (test_monitoring.py); no Service reaches its API.
    assert int(port) not in {p["containerPort"] for p in found["inference"].get("ports") or []}
    for service in (o for o in objects if o["kind"] == "Service"):
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= {"metrics", "sidecar-metrics"}


def test_probes_hit_the_real_endpoints(target: str) -> None:
    found = containers(render(target))
    operator = found["operator"]
    liveness_url = operator["args"][operator["args"].index("--liveness") + 1]
    port = {p["name"]: p["containerPort"] for p in operator["ports"]}
    assert liveness_url == f"http://0.0.0.0:{port['healthz']}/healthz"
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    metrics_port = operator["args"][operator["args"].index("--metrics-port") + 1]
    assert int(metrics_port) == port["metrics"]

    inference = found["inference"]
    sidecar_port = inference["args"][inference["args"].index("--port") + 1]
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        command = inference[probe]["exec"]["command"]
        assert command[:2] == ["python", "-c"]
        assert f"'http://127.0.0.1:{sidecar_port}{path}'" in command[2], probe


def test_network_policy_allows_metrics_in_and_the_api_server_out(target: str) -> None:
    objects = render(target)
    policy = one(objects, "NetworkPolicy")
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    ingress_ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ingress_ports == ["metrics", "sidecar-metrics"]  # and from where: test_monitoring.py
    for rule in policy["spec"]["egress"]:
        assert sorted(p["port"] for p in rule["ports"]) == [443, 6443]  # no DNS (53), nothing else
        assert rule["to"], "a rule without `to` allows every address"
        for peer in rule["to"]:
            assert list(peer) == ["ipBlock"], "only the API server's addresses, no pods or namespaces"
            assert list(peer["ipBlock"]) == ["cidr"]
            assert peer["ipBlock"]["cidr"].endswith("/32"), "one address per API server"


def test_only_the_operator_holds_an_api_token(target: str) -> None:
    """The sidecar reads model output from hostile logs: it gets no credentials to the API."""
    objects = render(target)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    projected = {v["name"]: v["projected"] for v in pod["volumes"] if "projected" in v}
    token_volumes = {
        name
        for name, volume in projected.items()
        if any("serviceAccountToken" in s for s in volume["sources"])
    }
    assert token_volumes
    mounting = {
        name
        for name, container in containers(objects).items()
        for mount in container.get("volumeMounts") or []
        if mount["name"] in token_volumes or mount["mountPath"].startswith("/var/run/secrets")
    }
    assert mounting == {"operator"}
    operator_mount = next(
        m for m in containers(objects)["operator"]["volumeMounts"] if m["name"] in token_volumes
    )
    assert operator_mount == {
        "name": operator_mount["name"],
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        "readOnly": True,
    }


def test_pins_come_from_the_image_and_the_sidecar_cannot_rewrite_weights(target: str) -> None:
    found = containers(render(target))
    for name in ("operator", "inference"):
        env = {e["name"]: e.get("value") for e in found[name]["env"]}
        assert env["SMART_SRE_MODELS_LOCK"] == IMAGE_LOCK, name
    assert {m["name"]: m.get("readOnly") for m in found["inference"]["volumeMounts"]}["models"] is True
    assert "models" not in {m["name"] for m in found["operator"]["volumeMounts"]}
    if "model" in found:  # the init container installs against the image's lock, never its own
        args = found["model"]["args"]
        assert args[args.index("--lock") + 1] == IMAGE_LOCK


def _images_toml() -> dict[str, str]:
    entries = tomllib.loads((DEPLOY / "images" / "images.toml").read_text())["image"]
    return {entry["image"].rsplit("/", 1)[-1]: entry["dockerfile"] for entry in entries}


def test_every_image_is_listed_and_has_a_dockerfile(target: str) -> None:
    listed = _images_toml()
    for name, container in containers(render(target)).items():
        key = container["image"].rsplit("/", 1)[-1]
        assert key in listed, f"{name}: {container['image']} is not in deploy/images/images.toml"
        assert (REPO / listed[key]).is_file()


def test_cpu_is_the_default_model_on_cpu() -> None:
    lock = tomllib.loads((REPO / "models.lock").read_text())
    found = containers(render("overlays/cpu"))
    assert found["model"]["image"] == f"ghcr.io/smart-sre/model:{lock['default']}"
    assert found["inference"]["image"].startswith("ghcr.io/smart-sre/inference-cpu:")
    env = {e["name"]: e.get("value") for e in found["inference"]["env"]}
    assert env["SMART_SRE_N_GPU_LAYERS"] == "0"


def test_gpu_runs_the_cuda_sidecar_on_gpu_nodes() -> None:
    objects = render("overlays/gpu")
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    inference = containers(objects)["inference"]
    assert inference["image"].startswith("ghcr.io/smart-sre/inference-cuda:")
    assert inference["resources"]["limits"]["nvidia.com/gpu"] == 1
    env = {e["name"]: e.get("value") for e in inference["env"]}
    assert env["SMART_SRE_N_GPU_LAYERS"] == "-1"  # every layer
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]} in terms[
        "nodeSelectorTerms"
    ][0]["matchExpressions"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_airgap_pulls_only_from_the_private_registry_and_mounts_the_model_claim() -> None:
    objects = render("overlays/airgap")
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    for name, container in containers(objects).items():
        assert container["image"].startswith("registry.example.internal/smart-sre/"), name
    assert not pod.get("initContainers")
    models = next(v for v in pod["volumes"] if v["name"] == "models")
    assert models == {"name": "models", "persistentVolumeClaim": {"claimName": "smart-sre-models"}}
    one(objects, "PersistentVolumeClaim", "smart-sre-models")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_keep_one_operator_pod(overlay: str) -> None:
    deployment = one(render(f"overlays/{overlay}"), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_targets_cover_every_overlay_folder() -> None:
    """Every install is rendered here; a Component (namespaced) is no install by itself: test_rbac.py
    renders it added to each install."""
    kinds = {
        path.name: yaml.safe_load((path / "kustomization.yaml").read_text())["kind"]
        for path in (DEPLOY / "overlays").iterdir()
        if path.is_dir()
    }
    installs = {name for name, kind in kinds.items() if kind == "Kustomization"}
    assert {f"overlays/{name}" for name in installs} == set(TARGETS) - {"base"}
    assert {name for name, kind in kinds.items() if kind != "Kustomization"} == {"namespaced"}
    assert Path(DEPLOY / "base" / "kustomization.yaml").is_file()
