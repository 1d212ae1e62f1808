"""The Helm chart and the kustomize install are two renderings of one install: for the cpu, gpu, airgap
and namespaced installs, and the monitoring, the chart renders the objects `kubectl kustomize` does
(same kinds and names, containers, images, args, env, ports, probes, securityContext, volumes, RBAC
rules, NetworkPolicy, admission policies, CRDs, alerts, dashboard), field for field.

What differs, on purpose, and nothing else:
- labels and selectors: helm's recommended labels are added (app.kubernetes.io/instance selects the
  release's pod); every label of the kustomize install is there too;
- the Namespace: Helm must not own the namespace it stores the release in, so the user creates it
  (labelled Pod Security `restricted`) before installing, as NOTES.txt and docs/helm.md say;
- the pod's UID and fsGroup: the chart pins none (OpenShift's restricted-v2 assigns them), so the
  comparison renders it with the kustomize install's pod securityContext, as a user pinning them would;
- SMART_SRE_MODEL: the chart names the model it installs (model.name), which the kustomize install
  leaves to the images' models.lock default; for these installs it is that default;
- the models claim is annotated helm.sh/resource-policy: keep (weights outlive `helm uninstall`).
"""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path

import pytest
import yaml

from .conftest import DEPLOY, REPO, one, render
from .test_helm import ALL_MONITORING, CHART, render_chart

HELM_LABELS = {
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
}
HELM_ANNOTATIONS = {"helm.sh/resource-policy"}


def _kustomize_pod_security_context() -> dict:
    return one(render("base"), "Deployment")["spec"]["template"]["spec"]["securityContext"]


def _same_pod_identity() -> tuple[str, ...]:
    return tuple(
        f"podSecurityContext.{key}={value}"
        for key, value in _kustomize_pod_security_context().items()
        if not isinstance(value, dict)
    )


def _with_namespaced_component(install: str, directory: Path) -> list[dict]:
    """A kustomize install with deploy/overlays/namespaced added, as a user's kustomization adds it."""
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(DEPLOY / "overlays" / install, directory)],
        "components": [os.path.relpath(DEPLOY / "overlays" / "namespaced", directory)],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return render(os.path.relpath(directory, DEPLOY))


def _key(obj: dict) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _added(helm: dict, kustomize: dict, allowed: set[str], what: str) -> None:
    """`helm` is `kustomize` plus keys in `allowed` only; strips those from helm."""
    assert kustomize.items() <= helm.items(), f"{what}: {kustomize} not in {helm}"
    extra = helm.keys() - kustomize.keys()
    assert extra <= allowed, f"{what}: {extra - allowed}"
    for key in extra:
        del helm[key]


def _by_name(items: list[dict] | None) -> list[dict]:
    return sorted(items or [], key=lambda item: item["name"])


def _normalise(helm: dict, kustomize: dict, lock_default: str) -> tuple[dict, dict]:
    """The two objects with what the chart adds on purpose (module docstring) checked and taken out,
    and lists whose order means nothing (containers, env, volumes) sorted by name."""
    helm, kustomize = copy.deepcopy(helm), copy.deepcopy(kustomize)
    what = " ".join(_key(kustomize))
    for obj in (helm, kustomize):
        obj["metadata"].setdefault("labels", {})
        obj["metadata"].setdefault("annotations", {})
    _added(helm["metadata"]["labels"], kustomize["metadata"]["labels"], HELM_LABELS, what)
    _added(helm["metadata"]["annotations"], kustomize["metadata"]["annotations"], HELM_ANNOTATIONS, what)

    selectors = {
        "Deployment": lambda o: o["spec"]["selector"]["matchLabels"],
        "Service": lambda o: o["spec"]["selector"],
        "NetworkPolicy": lambda o: o["spec"]["podSelector"]["matchLabels"],
        "ServiceMonitor": lambda o: o["spec"]["selector"]["matchLabels"],
    }
    if kustomize["kind"] in selectors:
        get = selectors[kustomize["kind"]]
        _added(get(helm), get(kustomize), {"app.kubernetes.io/instance"}, f"{what} selector")

    if kustomize["kind"] == "Deployment":
        templates = helm["spec"]["template"], kustomize["spec"]["template"]
        _added(templates[0]["metadata"]["labels"], templates[1]["metadata"]["labels"], HELM_LABELS, what)
        for template in templates:
            pod = template["spec"]
            if not pod.get("initContainers", True):
                del pod["initContainers"]  # the airgap overlay's `$patch: delete` leaves [], the chart none
            for field in ("containers", "initContainers"):
                if field in pod:
                    pod[field] = _by_name(pod[field])
                    for container in pod[field]:
                        container["env"] = _by_name(container.get("env"))
            pod["volumes"] = _by_name(pod["volumes"])
        [inference] = [c for c in templates[0]["spec"]["containers"] if c["name"] == "inference"]
        [model] = [e for e in inference["env"] if e["name"] == "SMART_SRE_MODEL"]
        assert model["value"] == lock_default, "the chart serves another model than the kustomize install"
        inference["env"].remove(model)
    return helm, kustomize


INSTALLS = {
    # chart values files (ci/) -> the kustomize install they stand for
    "cpu": (("cpu-values.yaml",), "overlays/cpu"),
    "default": ((), "overlays/cpu"),
    "gpu": (("gpu-values.yaml",), "overlays/gpu"),
    "airgap": (("airgap-values.yaml",), "overlays/airgap"),
    "namespaced": (("namespaced-values.yaml",), "namespaced"),
}


@pytest.fixture(params=list(INSTALLS))
def install(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[dict], list[dict]]:
    """(the chart's objects, the kustomize install's), monitoring included in both."""
    values, target = INSTALLS[request.param]
    if target == "namespaced":
        kustomize = _with_namespaced_component("cpu", tmp_path_factory.mktemp("namespaced"))
    else:
        kustomize = render(target)
    kustomize = [*kustomize, *render("monitoring")]
    helm = render_chart(*values, sets=(*_same_pod_identity(), *ALL_MONITORING))
    return helm, kustomize


def test_the_chart_renders_the_kustomize_install(install: tuple[list[dict], list[dict]]) -> None:
    helm, kustomize = install
    lock_default = tomllib.loads((REPO / "models.lock").read_text())["default"]
    ours = {_key(o): o for o in helm}
    theirs = {_key(o): o for o in kustomize if o["kind"] != "Namespace"}
    assert len(ours) == len(helm)
    assert sorted(ours) == sorted(theirs)
    for key, obj in theirs.items():
        chart_obj, kustomize_obj = _normalise(ours[key], obj, lock_default)
        assert chart_obj == kustomize_obj, " ".join(key)


def test_the_kustomize_namespace_is_what_the_docs_tell_helm_users_to_create() -> None:
    labels = one(render("base"), "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "pod-security.kubernetes.io/enforce=restricted" in (REPO / "docs" / "helm.md").read_text()
    assert "pod-security.kubernetes.io/enforce=restricted" in (CHART / "values.yaml").read_text()


def test_the_chart_pins_no_uid_where_the_kustomize_install_does() -> None:
    """The one securityContext difference: the comparison above sets these; the chart's default has none."""
    pinned = {key for key, value in _kustomize_pod_security_context().items() if not isinstance(value, dict)}
    assert pinned - {"runAsNonRoot"} == {"runAsUser", "runAsGroup", "fsGroup"}
    default = one(render_chart(), "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert not default.keys() & {"runAsUser", "runAsGroup", "fsGroup"}


def test_the_charts_monitoring_files_are_deploy_monitorings_byte_for_byte() -> None:
    """The alerts and the dashboard have one text: deploy/monitoring's, copied into the chart's files/."""
    for name in ("prometheusrule.yaml", "dashboard.json"):
        assert (CHART / "files" / "monitoring" / name).read_bytes() == (
            DEPLOY / "monitoring" / name
        ).read_bytes(), f"copy deploy/monitoring/{name} into deploy/helm/smart-sre/files/monitoring/"
