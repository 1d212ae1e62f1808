"""`kubectl sre show|approve|reject|rollback NAME`: review and decide on a DiagnosticReport.

`approve` and `rollback` pin the sha256 of exactly the patch they displayed, so a report whose
suggestion changed in between is refused by the operator instead of applying something unseen.
Every decision is made in the reviewer's own name: `approvedBy` and `approverGroups` are who the
API server says they are (a SelfSubjectReview, as `kubectl auth whoami`), which the approval
admission policy requires and the operator checks against the reviewer's own rights to the target.
Nothing is approved without a "yes" typed on a terminal or `--yes`, and everything printed from a
report (written by a model from pod logs, so hostile) has its control characters escaped, so no log
line can clear the screen or hide the patch, its diff or its sha256.
Installed as the `kubectl-sre` console script; kubectl finds it on PATH as a plugin.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from kubernetes import config

from smart_sre.k8s.access import who_am_i
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.patchdiff import patch_diff
from smart_sre.k8s.writer import ClusterWriter

FIELD_MANAGER = "kubectl-sre"
# Control (C0, DEL, C1), format (bidi overrides, zero-width) and line/paragraph separators: what
# can move the cursor, recolour, hide or reorder text on a terminal.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


class PluginError(Exception):
    """A user-facing failure: the message says what was wrong and what to do."""


def visible(text: object, *, multiline: bool = True) -> str:
    """`text` with every character that could drive a terminal written out, e.g. ESC as `\\x1b`.

    Tabs stay, and newlines too when `multiline`; a one-line field escapes its newlines so that it
    cannot start a line that looks like the plugin's own.
    """
    keep = "\n\t" if multiline else "\t"
    return "".join(
        _escaped(char) if char not in keep and unicodedata.category(char) in _HIDDEN else char
        for char in str(text)
    )


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _one(value: object) -> str:
    """A field meant to be one line: its newlines are escaped too."""
    return visible(value, multiline=False)


def _indent(text: str, prefix: str = "    ") -> str:
    return textwrap.indent(visible(text).rstrip(), prefix)


def _current_namespace(kubeconfig: str | None) -> str:
    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except (config.ConfigException, OSError):
        return "default"
    return ((active or {}).get("context") or {}).get("namespace") or "default"


def render_report(report: Mapping[str, Any]) -> str:
    """Findings, the reasoning chain and conditions, as a reviewer reads them, every field escaped."""
    metadata, spec, status = report["metadata"], report.get("spec") or {}, report.get("status") or {}
    workload = spec.get("workloadRef") or {}
    phase = status.get("phase") or "Pending"
    out = [
        f"DiagnosticReport {_one(metadata['namespace'])}/{_one(metadata['name'])}",
        f"  Pod:       {_one((spec.get('podRef') or {}).get('name'))}",
        f"  Workload:  {_one(workload.get('kind'))}/{_one(workload.get('name'))}",
        f"  Trigger:   {_one(spec.get('trigger'))}",
        f"  Phase:     {_one(phase)}",
    ]
    if status.get("approvedBy"):
        verb = "Rejected" if phase == "Rejected" else "Approved"
        if status["approvedBy"] == (spec.get("approval") or {}).get("approvedBy"):
            source = "authenticated by the API server"
        else:  # a decision from before approvedBy: the operator recorded its field manager
            source = (
                "field manager, self-declared by the client; not an authenticated user: the API "
                "server's audit log says who"
            )
        out.append(f"  {verb} by: {_one(status['approvedBy'])} ({source})")
    findings = status.get("findings")
    if findings:
        out += [
            "",
            "Findings",
            f"  Root cause: {_one(findings.get('rootCause'))} (confidence {_one(findings.get('confidence'))})",
            _indent(textwrap.fill(visible(findings.get("summary", "")), 100), "  "),
        ]
        for evidence in findings.get("evidence") or ():
            out.append(f"  - step {_one(evidence.get('step'))}: {_one(evidence.get('quote'))}")
    chain = status.get("reasoningChain") or []
    if chain:
        out += ["", "Reasoning chain"]
        for step in chain:
            out.append(f"  [{_one(step.get('index'))}] Observation:")
            out.append(_indent(step.get("observation", ""), "      "))
            if step.get("thought"):
                out.append(f"      Thought: {_one(step['thought'])}")
            if action := step.get("action"):
                arguments = ", ".join(f"{k}={v}" for k, v in (action.get("arguments") or {}).items())
                out.append(f"      Action:  {_one(action.get('tool'))}({_one(arguments)})")
            if step.get("result"):
                out.append("      Result:")
                out.append(_indent(step["result"], "        "))
    if status.get("noPatchReason"):
        out += ["", f"No patch suggested: {_one(status['noPatchReason'])}"]
    conditions = status.get("conditions") or []
    if conditions:
        out += ["", "Conditions"]
        for condition in conditions:
            out.append(
                f"  {_one(condition.get('type'))}={_one(condition.get('status'))} "
                f"({_one(condition.get('reason'))}): {_one(condition.get('message'))}"
            )
    if verification := status.get("verification"):
        out += [
            "",
            f"Verification: {_one(verification.get('result'))}: {_one(verification.get('message', ''))}",
        ]
    return "\n".join(out) + "\n"


async def render_patch(
    cluster: ClusterWriter, title: str, patch: Mapping[str, Any], target: Mapping[str, Any]
) -> str:
    """The operations, their sha256 and their diff against the live target, every field escaped."""
    label = f"{target['kind']}/{target['name']}"
    operations: Sequence[Mapping[str, Any]] = patch["operations"]
    out = [
        "",
        f"{title} for {_one(label)} (sha256 {_one(patch['sha256'])})",
        _indent(json.dumps(list(operations), indent=2), "  "),
        "",
    ]
    live = await cluster.get(target["kind"], target.get("namespace"), target["name"])
    if live is None:
        out.append(f"  ({_one(label)} does not exist any more)")
    else:
        out.append(visible(patch_diff(live, operations, label=label)))
    return "\n".join(out) + "\n"


class Plugin:
    """The reads and the one write (`spec.approval`) a reviewer's command makes."""

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
            text += await render_patch(self.cluster, "Suggested patch", suggested, suggested["target"])
            if status.get("phase") == "AwaitingApproval":
                text += f"\nApprove with: kubectl sre approve {_one(report['metadata']['name'])}\n"
        if status.get("phase") == "Applied" and status.get("rollbackPatch") and suggested:
            text += await render_patch(
                self.cluster, "Rollback patch", status["rollbackPatch"], suggested["target"]
            )
        return text

    async def decide(self, name: str, approval: dict[str, Any]) -> None:
        """Write the decision in the name and groups the API server authenticates this client as."""
        me = await who_am_i(self.cluster)
        approval = {**approval, "approvedBy": me.username, "approverGroups": list(me.groups)}
        await self.cluster.patch_report(
            self.namespace, name, {"spec": {"approval": approval}}, field_manager=FIELD_MANAGER
        )


def confirm(question: str, *, assume_yes: bool, stdin: TextIO, stdout: TextIO, retry: str) -> bool:
    """True on `--yes` or a "y"/"yes" typed on a terminal; piped input is never taken as an answer."""
    if assume_yes:
        return True
    if not stdin.isatty():
        raise PluginError(
            "nothing changed: standard input is not a terminal, and an answer piped into it is not "
            f"taken as yours. Run `{retry}` in a terminal and answer y, or pass --yes: "
            f"`{retry} --yes` approves the sha256 shown above"
        )
    stdout.write(f"{question} [y/N] ")
    stdout.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


async def _run(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    namespace = args.namespace or _current_namespace(args.kubeconfig)
    cluster = ClusterWriter.from_config(args.kubeconfig, args.context)
    try:
        plugin = Plugin(cluster, namespace)
        report = await plugin.report(args.name)
        status = report.get("status") or {}
        phase = status.get("phase") or "Pending"
        if args.command == "show":
            stdout.write(await plugin.show(report))
            return 0
        if args.command == "reject":
            if phase != "AwaitingApproval":
                raise PluginError(f"{args.name} is {phase}; only a report awaiting approval can be rejected")
            await plugin.decide(args.name, {"decision": "Rejected", "action": "Apply", "patchSHA256": None})
            stdout.write(f"diagnosticreport {namespace}/{args.name} rejected\n")
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
        stdout.write(await plugin.show(report))
        verb = "Roll back with" if rollback else "Apply"
        retry = f"kubectl sre {args.command} {args.name} -n {namespace}"
        question = f"{verb} the patch with sha256 {_one(patch['sha256'])}?"
        if not confirm(question, assume_yes=args.yes, stdin=stdin, stdout=stdout, retry=retry):
            stdout.write("nothing changed\n")
            return 1
        await plugin.decide(
            args.name,
            {
                "decision": "Approved",
                "action": "Rollback" if rollback else "Apply",
                "patchSHA256": patch["sha256"],
            },
        )
        stdout.write(
            f"diagnosticreport {namespace}/{args.name} approved "
            f"({'rollback' if rollback else 'apply'}, sha256 {_one(patch['sha256'])})\n"
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
            sub.add_argument(
                "-y",
                "--yes",
                action="store_true",
                help="approve without asking; needed when standard input is not a terminal",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args, sys.stdin, sys.stdout))
    except PluginError as error:
        print(f"error: {_one(error)}", file=sys.stderr)
        return 1
    except ClusterError as error:
        print(f"error: the API server refused: {_one(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
