"""Typed mirrors of smart-sre's custom resources (crds/): DebugPolicy and DiagnosticReport."""

from .common import API_VERSION, Condition, ObjectMeta, Phase, RootCause, Trigger, parse_duration
from .debugpolicy import DebugPolicy, DebugPolicySpec, DebugPolicyStatus
from .diagnosticreport import (
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
