"""What Prometheus and Grafana rely on: both metrics ports reachable from the monitoring namespace, the
ServiceMonitor, the dashboard, and every series the alerts and panels read actually exported.

The alert rules themselves are run by the real promtool in test_monitoring_rules.py.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import kubernetes_validate
from prometheus_client import CollectorRegistry, generate_latest

from smart_sre.api.common import Trigger
from smart_sre.investigation.investigation import Budgets
from smart_sre.lifecycle.approval import SealKey
from smart_sre.lifecycle.controller import Controller
from smart_sre.lifecycle.metrics import Metrics as OperatorMetrics
from smart_sre.lifecycle.policies import PolicyBook
from smart_sre_inference.metrics import Metrics as SidecarMetrics
from smart_sre_inference.settings import ServerSettings

from .conftest import DEPLOY, containers, one, render
from .test_manifests import KUBERNETES_VERSION

MONITORING = DEPLOY / "monitoring"
METRIC_NAME = re.compile(r"\b(?:smart_sre_[a-z0-9_]+|up)\b(?!\s*\()")
JOBS = {"metrics": "smart-sre-operator", "sidecar-metrics": "smart-sre-sidecar"}


def _rules() -> list[dict[str, Any]]:
    return [
        rule
        for group in one(render("monitoring"), "PrometheusRule")["spec"]["groups"]
        for rule in group["rules"]
    ]


def _dashboard() -> dict[str, Any]:
    return json.loads((MONITORING / "dashboard.json").read_text())


def _panel_queries() -> list[str]:
    return [target["expr"] for panel in _dashboard()["panels"] for target in panel["targets"]]


def _exported(registry: CollectorRegistry) -> set[str]:
    """The series names a scrape of `registry` can carry, samples or not yet."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {family.name + suffix for family in registry.collect() for suffix in suffixes[family.type]}


def test_the_service_exposes_both_metrics_ports_and_nothing_else(target: str) -> None:
    objects = render(target)
    found = containers(objects)
    service = one(objects, "Service", "smart-sre-metrics")
    named = {p["name"]: p["containerPort"] for c in found.values() for p in c.get("ports") or []}
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics", "sidecar-metrics"]
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= named.keys()
    # The sidecar listens where the pod declares, by its own default: nothing in the manifests moves it.
    sidecar_ports = {p["name"]: p["containerPort"] for p in found["inference"]["ports"]}
    assert sidecar_ports == {"sidecar-metrics": ServerSettings().metrics_port}
    env = {e["name"] for e in found["inference"].get("env") or []}
    assert "SMART_SRE_INFERENCE_METRICS_PORT" not in env


def test_only_the_monitoring_namespace_may_scrape(target: str) -> None:
    """The metrics ports, and only they, from the namespace labelled `monitoring`: not the sidecar's
    API (on 127.0.0.1 anyway), not from any other namespace or address."""
    objects = render(target)
    policy = one(objects, "NetworkPolicy")
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert rule["ports"] == [{"port": name, "protocol": "TCP"} for name in JOBS]
    named = {p["name"] for c in containers(objects).values() for p in c.get("ports") or []}
    assert set(JOBS) <= named


def test_the_service_monitor_scrapes_both_ports_under_the_jobs_the_alerts_name() -> None:
    service = one(render("base"), "Service", "smart-sre-metrics")
    monitor = one(render("monitoring"), "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    jobs = {
        endpoint["port"]: relabel["replacement"]
        for endpoint in monitor["spec"]["endpoints"]
        for relabel in endpoint["relabelings"]
        if relabel["targetLabel"] == "job"
    }
    assert jobs == JOBS
    assert [p["name"] for p in service["spec"]["ports"]] == list(jobs)
    named_in_rules = {job for rule in _rules() for job in re.findall(r'job="([^"]+)"', rule["expr"])}
    assert named_in_rules == {JOBS["sidecar-metrics"]}  # SmartSreSidecarNotReady's `up`


def test_the_dashboard_ships_as_a_grafana_configmap_for_any_prometheus() -> None:
    configmap = one(render("monitoring"), "ConfigMap", "smart-sre-grafana-dashboard")
    kubernetes_validate.validate(configmap, KUBERNETES_VERSION, strict=True)
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["smart-sre.json"]) == _dashboard()

    dashboard = _dashboard()
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    chosen = {"type": "prometheus", "uid": f"${{{variable['name']}}}"}  # no datasource uid of ours baked in
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"] == chosen, panel["title"]
        assert all(target["datasource"] == chosen for target in panel["targets"]), panel["title"]
    queries = {panel["title"]: " ".join(t["expr"] for t in panel["targets"]) for panel in panels}
    for title, metric in (
        ("Reports by phase", "smart_sre_reports"),
        ("Analysis duration", "smart_sre_analysis_duration_seconds_bucket"),
        ("Tokens", "smart_sre_analysis_tokens_total"),
        ("Sidecar answers failing validation, truncated", "smart_sre_inference_validation_failures_total"),
        ("Sidecar decode speed", "smart_sre_inference_tokens_per_second"),
    ):
        assert metric in queries[title], title


def test_every_series_the_alerts_and_the_dashboard_read_is_exported() -> None:
    """A renamed metric would leave an alert silent forever; this names it instead."""
    exported = _exported(OperatorMetrics().registry) | _exported(SidecarMetrics().registry) | {"up"}
    read = {
        name
        for query in [r["expr"] for r in _rules()] + _panel_queries()
        for name in METRIC_NAME.findall(query)
    }
    assert "smart_sre_inference_validation_failures_total" in read
    assert read - exported == set()


def test_the_series_the_alerts_count_are_exported_at_zero_before_the_first_event() -> None:
    """increase() misses a series' first sample: a NotVerified fix, a Failed report or an analysis past
    its budget right after the operator started would fire nothing, were its series not there already."""
    scraped = generate_latest(OperatorMetrics().registry).decode()
    assert 'smart_sre_verification_outcomes_total{outcome="NotVerified"} 0.0' in scraped
    [timing_out] = [r["expr"] for r in _rules() if r["alert"] == "SmartSreAnalysisTimingOut"]
    [budget] = re.findall(r'le="([^"]+)"', timing_out)
    assert float(budget) == Budgets().wall_seconds
    for trigger in Trigger:
        assert f'smart_sre_report_transitions_total{{phase="Failed",trigger="{trigger}"}} 0.0' in scraped
        bucket = f'smart_sre_analysis_duration_seconds_bucket{{le="{budget}",outcome="Completed",trigger="{trigger}"}}'
        assert f"{bucket} 0.0" in scraped


class _NoInvestigation:
    """The controller needs an investigator; no analysis starts here."""

    unavailable = (ConnectionError,)

    async def close(self) -> None:
        pass


def _report(name: str, phase: str, analyzed: datetime | None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if analyzed is not None:
        stamp = analyzed.strftime("%Y-%m-%dT%H:%M:%SZ")
        status["conditions"] = [
            {
                "type": "Analyzed",
                "status": "True",
                "reason": "PatchSuggested",
                "message": "",
                "lastTransitionTime": stamp,
            }
        ]
    return {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DiagnosticReport",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-01-05T06:00:00Z"},
        "spec": {
            "podRef": {"name": f"{name}-pod", "uid": f"uid-{name}-pod"},
            "workloadRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
                "uid": f"uid-{name}",
            },
            "trigger": "CrashLoopBackOff",
            "policyRef": {"name": "seed"},
        },
        "status": status,
    }


class _AuditMarks:
    """The one write housekeeping makes here: the audit mark on a closed report."""

    async def patch_report(self, namespace: str, name: str, body: dict, *, field_manager: str) -> dict:
        return body


async def test_the_oldest_report_awaiting_approval_is_exported_with_its_wait() -> None:
    """What SmartSreReportAwaitingApproval reads: the longest wait since an analysis concluded."""
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    metrics = OperatorMetrics()
    controller = Controller(
        _AuditMarks(),  # type: ignore[arg-type]  # housekeeping only marks closed reports as audited
        PolicyBook(),
        metrics,
        _NoInvestigation(),  # type: ignore[arg-type]
        clock=lambda: now,
        seal_key=SealKey(b"k" * 32),
    )

    def oldest() -> float | None:
        return metrics.registry.get_sample_value("smart_sre_report_awaiting_approval_oldest_seconds")

    await controller._housekeep_once()
    assert oldest() == 0.0
    await controller.on_report("ADDED", _report("old", "AwaitingApproval", now - timedelta(hours=3)))
    await controller.on_report("ADDED", _report("new", "AwaitingApproval", now - timedelta(minutes=10)))
    await controller.on_report("ADDED", _report("done", "Rejected", now - timedelta(hours=9)))
    await controller._housekeep_once()
    assert oldest() == 3 * 3600
    assert (
        metrics.registry.get_sample_value(
            "smart_sre_reports", {"phase": "AwaitingApproval", "trigger": "CrashLoopBackOff"}
        )
        == 2
    )

    await controller.on_report("MODIFIED", _report("old", "Rejected", now - timedelta(hours=3)))
    await controller._housekeep_once()
    assert oldest() == 600
    await controller.on_report("DELETED", _report("new", "AwaitingApproval", now - timedelta(minutes=10)))
    await controller._housekeep_once()
    assert oldest() == 0.0
