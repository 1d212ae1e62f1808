"""Typed mirrors of smart-sre's custom resources (crds/): DebugPolicy and DiagnosticReport."""

from smart_sre.api.common import (
    API_VERSION,
    Condition,
    ObjectMeta,
    Phase,
    RootCause,
    Trigger,
    parse_duration,
)
from smart_sre.api.debugpolicy import DebugPolicy, DebugPolicySpec, DebugPolicyStatus
from smart_sre.api.diagnosticreport import (
    DiagnosticReport,
    DiagnosticReportSpec,
    DiagnosticReportStatus,
    patch_sha256,
)

__all__ = [
    "API_VERSION",
    "Condition",
    "DebugPolicy",
    "DebugPolicySpec",
    "DebugPolicyStatus",
    "DiagnosticReport",
    "DiagnosticReportSpec",
    "DiagnosticReportStatus",
    "ObjectMeta",
    "Phase",
    "RootCause",
    "Trigger",
    "parse_duration",
    "patch_sha256",
]
