"""`kubectl sre show|approve|reject|rollback NAME`: review and decide on a DiagnosticReport.

`approve` and `rollback` pin the sha256 of exactly the patch they displayed, so a report whose
suggestion changed in between is refused by the operator instead of applying something unseen.
Installed as the `kubectl-sre` console script; kubectl finds it on PATH as a plugin.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes import config

from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.patchdiff import patch_diff
from smart_sre.k8s.writer import ClusterWriter

FIELD_MANAGER = "kubectl-sre"


class PluginError(Exception):
    """A user-facing failure: the message says what was wrong and what to do."""


def _indent(text: str, prefix: str = "    ") -> str:
    return textwrap.indent(text.rstrip(), prefix)


def _current_namespace(kubeconfig: str | None) -> str:
    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except (config.ConfigException, OSError):
        return "default"
    return ((active or {}).get("context") or {}).get("namespace") or "default"


def render_report(report: Mapping[str, Any]) -> str:
    """Findings, the reasoning chain and conditions, as a reviewer reads them."""
    metadata, spec, status = report["metadata"], report.get("spec") or {}, report.get("status") or {}
    workload = spec.get("workloadRef") or {}
    out = [
        f"DiagnosticReport {metadata['namespace']}/{metadata['name']}",
        f"  Pod:       {(spec.get('podRef') or {}).get('name')}",
        f"  Workload:  {workload.get('kind')}/{workload.get('name')}",
        f"  Trigger:   {spec.get('trigger')}",
        f"  Phase:     {status.get('phase') or 'Pending'}",
    ]
    if status.get("approvedBy"):
        out.append(f"  Decided by: {status['approvedBy']}")
    findings = status.get("findings")
    if findings:
        out += [
            "",
            "Findings",
            f"  Root cause: {findings.get('rootCause')} (confidence {findings.get('confidence')})",
            _indent(textwrap.fill(findings.get("summary", ""), 100), "  "),
        ]
        for evidence in findings.get("evidence") or ():
            out.append(f"  - step {evidence.get('step')}: {evidence.get('quote')}")
    chain = status.get("reasoningChain") or []
    if chain:
        out += ["", "Reasoning chain"]
        for step in chain:
            out.append(f"  [{step.get('index')}] Observation:")
            out.append(_indent(step.get("observation", ""), "      "))
            if step.get("thought"):
                out.append(f"      Thought: {step['thought']}")
            if action := step.get("action"):
                arguments = ", ".join(f"{k}={v}" for k, v in (action.get("arguments") or {}).items())
                out.append(f"      Action:  {action.get('tool')}({arguments})")
            if step.get("result"):
                out.append("      Result:")
                out.append(_indent(step["result"], "        "))
    if status.get("noPatchReason"):
        out += ["", f"No patch suggested: {status['noPatchReason']}"]
    conditions = status.get("conditions") or []
    if conditions:
        out += ["", "Conditions"]
        for condition in conditions:
            out.append(
                f"  {condition.get('type')}={condition.get('status')} ({condition.get('reason')}): "
                f"{condition.get('message')}"
            )
    if verification := status.get("verification"):
        out += ["", f"Verification: {verification.get('result')}: {verification.get('message', '')}"]
    return "\n".join(out) + "\n"


async def _render_patch(
    cluster: ClusterWriter, title: str, patch: Mapping[str, Any], target: Mapping[str, Any]
) -> str:
    label = f"{target['kind']}/{target['name']}"
    operations: Sequence[Mapping[str, Any]] = patch["operations"]
    out = [
        "",
        f"{title} for {label} (sha256 {patch['sha256']})",
        _indent(json.dumps(list(operations), indent=2), "  "),
        "",
    ]
    live = await cluster.get(target["kind"], target.get("namespace"), target["name"])
    if live is None:
        out.append(f"  ({label} does not exist any more)")
    else:
        out.append(patch_diff(live, operations, label=label))
    return "\n".join(out) + "\n"


class Plugin:
    def __init__(self, cluster: ClusterWriter, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    async def report(self, name: str) -> dict[str, Any]:
        report = await self.cluster.get_report(self.namespace, name)
        if report is None:
            raise PluginError(
                f'diagnosticreport "{name}" not found in namespace "{self.namespace}"; list them with `kubectl get dr -A`'
            )
        return report

    async def show(self, report: Mapping[str, Any]) -> str:
        text = render_report(report)
        status = report.get("status") or {}
        suggested = status.get("suggestedPatch")
        if suggested:
            text += await _render_patch(self.cluster, "Suggested patch", suggested, suggested["target"])
            if status.get("phase") == "AwaitingApproval":
                text += f"\nApprove with: kubectl sre approve {report['metadata']['name']}\n"
        if status.get("phase") == "Applied" and status.get("rollbackPatch") and suggested:
            text += await _render_patch(
                self.cluster, "Rollback patch", status["rollbackPatch"], suggested["target"]
            )
        return text

    async def decide(self, name: str, approval: dict[str, Any]) -> None:
        await self.cluster.patch_report(
            self.namespace, name, {"spec": {"approval": approval}}, field_manager=FIELD_MANAGER
        )


def _confirm(question: str, assume_yes: bool) -> bool:
    if assume_yes or not sys.stdin.isatty():
        return True
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


async def _run(args: argparse.Namespace) -> int:
    namespace = args.namespace or _current_namespace(args.kubeconfig)
    cluster = ClusterWriter.from_config(args.kubeconfig, args.context)
    try:
        plugin = Plugin(cluster, namespace)
        report = await plugin.report(args.name)
        status = report.get("status") or {}
        phase = status.get("phase") or "Pending"
        if args.command == "show":
            print(await plugin.show(report), end="")
            return 0
        if args.command == "reject":
            if phase != "AwaitingApproval":
                raise PluginError(f"{args.name} is {phase}; only a report awaiting approval can be rejected")
            await plugin.decide(args.name, {"decision": "Rejected", "action": "Apply", "patchSHA256": None})
            print(f"diagnosticreport {namespace}/{args.name} rejected")
            return 0
        if phase == "FindingsOnly":
            raise PluginError(
                f"{args.name} ended with findings only; there is nothing to {args.command}: "
                f"{status.get('noPatchReason') or 'no patch was found'}"
            )
        rollback = args.command == "rollback"
        patch = status.get("rollbackPatch") if rollback else status.get("suggestedPatch")
        wanted_phase = "Applied" if rollback else "AwaitingApproval"
        if phase != wanted_phase:
            raise PluginError(
                f"{args.name} is {phase}; `{args.command}` needs a report that is {wanted_phase}"
            )
        if not patch:
            what = "rollback patch" if rollback else "suggested patch"
            raise PluginError(
                f"{args.name} has no {what}: {status.get('noPatchReason') or 'none was recorded'}"
            )
        print(await plugin.show(report), end="")
        verb = "Roll back with" if rollback else "Apply"
        if not _confirm(f"{verb} the patch with sha256 {patch['sha256']}?", args.yes):
            print("nothing changed")
            return 1
        await plugin.decide(
            args.name,
            {
                "decision": "Approved",
                "action": "Rollback" if rollback else "Apply",
                "patchSHA256": patch["sha256"],
            },
        )
        print(
            f"diagnosticreport {namespace}/{args.name} approved ({'rollback' if rollback else 'apply'}, sha256 {patch['sha256']})"
        )
        return 0
    finally:
        cluster.close()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="the report's namespace (default: the context's)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    common.add_argument("--context", help="kubeconfig context")
    parser = argparse.ArgumentParser(prog="kubectl sre", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, help_text in (
        ("show", "print findings, the reasoning chain and the patch as a diff"),
        ("approve", "approve the suggested patch shown (pins its sha256)"),
        ("reject", "reject the suggestion; the report closes"),
        ("rollback", "approve applying the stored inverse patch of an applied report"),
    ):
        sub = commands.add_parser(command, help=help_text, parents=[common])
        sub.add_argument("name", metavar="NAME")
        if command in ("approve", "rollback"):
            sub.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ClusterError as error:
        print(f"error: the API server refused: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
