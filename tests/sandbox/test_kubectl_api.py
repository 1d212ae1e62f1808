"""Fidelity of the API server as the real kubectl 1.37 sees it: CRDs, explain, printer columns, patches, GC."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.kubectl

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"

SEED_POLICY = """
apiVersion: smartsre.io/v1alpha1
kind: DebugPolicy
metadata:
  name: protect-critical-services
spec:
  rules:
    - namespaces: ["default"]
      selector:
        matchLabels:
          app: critical-app
"""

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
        - name: app
          image: nginx:1.27
          env:
            - {name: MODE, value: "prod"}
            - {name: LEVEL, value: "info"}
"""


def report(name: str, pod_uid: str = "0b5c0d3e-0000-4000-8000-000000000001") -> str:
    return f"""
apiVersion: smartsre.io/v1alpha1
kind: DiagnosticReport
metadata:
  name: {name}
spec:
  podRef: {{name: checkout-7d9f, uid: {pod_uid}}}
  workloadRef: {{apiVersion: apps/v1, kind: Deployment, name: checkout, uid: 0b5c0d3e-0000-4000-8000-000000000002}}
  trigger: CrashLoopBackOff
  policyRef: {{name: protect-critical-services}}
"""


@pytest.fixture
def crds(sandbox):
    sandbox.kubectl("apply", "-f", str(CRDS))
    sandbox.kubectl("wait", "--for=condition=established", "crd", "--all", "--timeout=10s")
    return sandbox


def test_apply_crds_and_the_seed_policy(crds) -> None:
    applied = crds.kubectl("apply", "-f", "-", input=SEED_POLICY)
    assert "debugpolicy.smartsre.io/protect-critical-services created" in applied.stdout
    policy = json.loads(crds.kubectl("get", "debugpolicy", "protect-critical-services", "-o", "json").stdout)
    assert policy["spec"]["triggers"] == ["CrashLoopBackOff", "Pending"]  # schema defaults applied
    again = crds.kubectl("apply", "-f", "-", input=SEED_POLICY)
    assert "unchanged" in again.stdout


def test_invalid_policy_is_rejected_like_a_real_server(crds) -> None:
    bad = SEED_POLICY.replace("spec:\n", "spec:\n  triggers: [Bogus]\n")
    result = crds.kubectl("apply", "-f", "-", input=bad, check=False)
    assert result.returncode == 1
    assert (
        'The DebugPolicy "protect-critical-services" is invalid: spec.triggers[0]: Unsupported value: "Bogus"'
        in result.stderr
    )
    unknown = SEED_POLICY.replace("spec:\n", "spec:\n  colour: red\n")
    result = crds.kubectl("apply", "-f", "-", input=unknown, check=False)
    assert "Error from server (BadRequest)" in result.stderr
    assert 'strict decoding error: unknown field "spec.colour"' in result.stderr


def test_explain_uses_the_crd_schema(crds) -> None:
    explained = crds.kubectl("explain", "debugpolicy.spec.rules").stdout
    assert "KIND:       DebugPolicy" in explained
    assert "namespaces\t<[]string> -required-" in explained
    assert "selector\t<Object>" in explained


def test_get_dr_shows_printer_columns_and_categories(crds) -> None:
    crds.kubectl("apply", "-f", "-", input=report("checkout-crashloop"))
    status = {
        "status": {
            "phase": "AwaitingApproval",
            "findings": {
                "summary": "redis is unreachable",
                "rootCause": "DependencyUnavailable",
                "confidence": "High",
            },
        }
    }
    crds.kubectl(
        "patch", "dr", "checkout-crashloop", "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )
    lines = crds.kubectl("get", "dr").stdout.splitlines()
    assert lines[0].split() == ["NAME", "POD", "TRIGGER", "PHASE", "ROOT", "CAUSE", "CONFIDENCE", "AGE"]
    assert lines[1].split()[:6] == [
        "checkout-crashloop",
        "checkout-7d9f",
        "CrashLoopBackOff",
        "AwaitingApproval",
        "DependencyUnavailable",
        "High",
    ]
    assert "diagnosticreport.smartsre.io/checkout-crashloop" in crds.kubectl("get", "sre").stdout


def test_custom_resource_rules_and_strategic_merge_refusal(crds) -> None:
    crds.kubectl("apply", "-f", "-", input=report("r1"))
    moved = crds.kubectl(
        "patch", "dr", "r1", "--type=merge", "-p", '{"spec":{"podRef":{"name":"other"}}}', check=False
    )
    assert "podRef is immutable" in moved.stderr
    strategic = crds.kubectl("patch", "dr", "r1", "--type=strategic", "-p", '{"spec":{}}', check=False)
    assert "application/strategic-merge-patch+json is not supported" in strategic.stderr


def test_patch_with_all_three_types(sandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    sandbox.kubectl(
        "patch",
        "deployment",
        "shop",
        "--type=strategic",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"LEVEL","value":"debug"}]}]}}}}',
    )
    sandbox.kubectl(
        "patch", "deployment", "shop", "--type=merge", "-p", '{"metadata":{"labels":{"team":"payments"}}}'
    )
    sandbox.kubectl(
        "patch",
        "deployment",
        "shop",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.28"}]',
    )
    shop = json.loads(sandbox.kubectl("get", "deployment", "shop", "-o", "json").stdout)
    container = shop["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "debug"}]
    assert container["image"] == "nginx:1.28"
    assert shop["metadata"]["labels"] == {"team": "payments"}
    assert shop["metadata"]["generation"] == 3
    bad = sandbox.kubectl(
        "patch",
        "deployment",
        "shop",
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/nope"}]',
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("The request is invalid: ")


def test_apply_removes_env_vars_with_three_way_patch(sandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    sandbox.kubectl(
        "apply", "-f", "-", input=DEPLOYMENT.replace('            - {name: LEVEL, value: "info"}\n', "")
    )
    env = sandbox.kubectl(
        "get", "deployment", "shop", "-o", "jsonpath={.spec.template.spec.containers[0].env[*].name}"
    ).stdout
    assert env == "MODE"


def test_server_dry_run_changes_nothing(sandbox) -> None:
    result = sandbox.kubectl("apply", "--dry-run=server", "-f", "-", input=DEPLOYMENT)
    assert "deployment.apps/shop created (server dry run)" in result.stdout
    missing = sandbox.kubectl("get", "deployment", "shop", check=False)
    assert 'Error from server (NotFound): deployments.apps "shop" not found' in missing.stderr


def test_deleting_a_deployment_garbage_collects_replicasets_and_pods(sandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    sandbox.wait_for(lambda: len(sandbox.list("pods", "default", label_selector="app=shop")) == 2)
    assert sandbox.list("replicasets", "default", label_selector="app=shop")
    sandbox.kubectl("delete", "deployment", "shop", "--timeout=20s")
    sandbox.wait_for(lambda: not sandbox.list("pods", "default", label_selector="app=shop"))
    assert sandbox.list("replicasets", "default", label_selector="app=shop") == []
    listed = sandbox.kubectl("get", "deployments,replicasets,pods", "-l", "app=shop")
    assert "No resources found in default namespace." in listed.stderr


def test_get_pods_table_and_selectors(sandbox) -> None:
    sandbox.kubectl("run", "lonely", "--image=nginx:1.27", "--labels=app=lonely")
    header = sandbox.kubectl("get", "pods", "-l", "app=lonely").stdout.splitlines()[0]
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    wide = sandbox.kubectl("get", "pods", "-l", "app=lonely", "-o", "wide").stdout.splitlines()[0]
    assert wide.split()[5:7] == ["IP", "NODE"]
    assert "lonely" not in sandbox.kubectl("get", "pods", "-l", "app notin (lonely)").stdout
    assert "lonely" in sandbox.kubectl("get", "pods", "--field-selector", "metadata.name=lonely").stdout


def test_unknown_resource_and_missing_object_errors(sandbox) -> None:
    unknown = sandbox.kubectl("get", "widgets", check=False)
    assert 'error: the server doesn\'t have a resource type "widgets"' in unknown.stderr
    missing = sandbox.kubectl("get", "pod", "ghost", check=False)
    assert 'Error from server (NotFound): pods "ghost" not found' in missing.stderr
    bad_ns = sandbox.kubectl("run", "x", "--image=nginx", "-n", "nowhere", check=False)
    assert 'namespaces "nowhere" not found' in bad_ns.stderr


def test_typed_create_commands_send_protobuf_and_work(sandbox) -> None:
    sandbox.kubectl("create", "namespace", "team")
    sandbox.kubectl("-n", "team", "create", "configmap", "settings", "--from-literal=mode=fast")
    sandbox.kubectl("-n", "team", "create", "secret", "generic", "token", "--from-literal=value=s3cret")
    sandbox.kubectl(
        "-n", "team", "create", "deployment", "api", "--image=nginx:1.27", "--replicas=2", "--port=8080"
    )
    sandbox.kubectl("-n", "team", "create", "service", "clusterip", "api", "--tcp=80:8080")
    sandbox.kubectl("-n", "team", "create", "job", "once", "--image=busybox:1.36", "--", "echo", "hi")
    assert sandbox.get("configmaps", "team", "settings")["data"] == {"mode": "fast"}
    assert sandbox.get("secrets", "team", "token")["data"] == {"value": "czNjcmV0"}
    api = sandbox.get("deployments", "team", "api")
    assert api["spec"]["replicas"] == 2
    assert api["spec"]["selector"] == {"matchLabels": {"app": "api"}}
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"], container["ports"]) == (
        "nginx",
        "nginx:1.27",
        [{"containerPort": 8080, "protocol": "TCP"}],
    )
    service = sandbox.get("services", "team", "api")
    assert service["spec"]["ports"] == [
        {"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}
    ]
    job = sandbox.get("jobs", "team", "once")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    sandbox.kubectl("delete", "namespace", "team", "--timeout=30s")
    assert "team" not in sandbox.kubectl("get", "namespaces").stdout


def test_validate_warn_drops_unknown_fields_with_a_warning(crds) -> None:
    unknown = SEED_POLICY.replace("spec:\n", "spec:\n  colour: red\n")
    result = crds.kubectl("apply", "--validate=warn", "-f", "-", input=unknown)
    assert 'Warning: unknown field "spec.colour"' in result.stderr
    assert "colour" not in crds.get("debugpolicies", None, "protect-critical-services")["spec"]
