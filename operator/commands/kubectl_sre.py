"""`kubectl sre list|show|approve|reject|rollback`: find, review and decide on DiagnosticReports.

`list` puts the reports waiting for a human first (AwaitingApproval, oldest first), then the rest in
lifecycle order; `-o json|yaml` prints them, and `show NAME -o json|yaml` one report, for scripts.
`show NAME --as-kustomize-patch` and `--as-json6902` print the suggested patch as a file to commit, for
a workload that Argo CD, Flux or Helm deploys, where a live patch would not last (smart_sre.k8s.gitops).

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
from datetime import UTC, datetime
from typing import Any, TextIO

import yaml
from kubernetes import config
from pydantic import ValidationError

from smart_sre import __version__
from smart_sre.api.common import Phase
from smart_sre.api.diagnosticreport import ObservedReport, StuckCause
from smart_sre.k8s.access import who_am_i
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.gitops import describe, json6902_file, kustomize_patch
from smart_sre.k8s.patchdiff import patch_diff
from smart_sre.k8s.stuck_pods import explain, pods_of, stuck
from smart_sre.k8s.writer import ClusterWriter

FIELD_MANAGER = "kubectl-sre"
# Control (C0, DEL, C1), format (bidi overrides, zero-width) and line/paragraph separators: what
# can move the cursor, recolour, hide or reorder text on a terminal.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
NONE = "<none>"
EXIT_CODES = """exit status:
  0  done (for approve and rollback: approved)
  1  refused, answered no, not found, or the API server failed; nothing was changed, the message says why
  2  usage error: a command or flag that does not exist, or a missing NAME"""


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
    if isinstance(changes := status.get("changes"), Mapping) and changes:
        out += ["", *_change_lines(changes)]
    if isinstance(decided := status.get("adjudications"), list) and decided:
        out += ["", *_adjudication_lines(decided)]
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
    if managed := status.get("managedBy"):
        out += ["", "GitOps", _indent(textwrap.fill(_one(managed.get("note", "")), 100), "  ")]
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


def _change_lines(changes: Mapping[str, Any]) -> list[str]:
    """`status.changes`: each changed field of the pod template, from the healthy revision's value."""
    out = [
        f"What changed (revision {_one(changes.get('healthyRevision'))} -> {_one(changes.get('revision'))})",
        f"  Revision {_one(changes.get('healthyRevision'))} ran healthy: {_one(changes.get('healthy'))}",
    ]
    # The status is anyone's to write: entries that are not objects are left out, not trusted.
    fields = [field for field in changes.get("fields") or () if isinstance(field, Mapping)]
    for field in fields:
        out.append(
            f"  {_one(field.get('path'))} (revision {_one(field.get('revision'))}): "
            f"{_one(field.get('from', '<unset>'))} -> {_one(field.get('to', '<unset>'))}"
        )
    if not fields:
        out.append("  no field of the pod template changed, apart from those the controllers write")
    if changes.get("omitted"):
        out.append(f"  ... and {_one(changes['omitted'])} more")
    return out


def _adjudication_lines(decided: list[Any]) -> list[str]:
    """`status.adjudications`: what the model chose between, by how much; forged entries are left out."""
    out = ["Model decisions"]
    for decision in decided:
        if not isinstance(decision, Mapping):
            continue
        options = [option for option in decision.get("options") or () if isinstance(option, Mapping)]
        chosen = decision.get("chosen")
        margin = decision.get("margin")
        out.append(
            f"  {_one(decision.get('kind'))} ({_one(decision.get('scoring'))}"
            + (f", margin {_one(margin)}" if margin is not None else "")
            + "):"
        )
        for index, option in enumerate(options):
            mark = "*" if index == chosen else "-"
            score = option.get("score")
            out.append(
                f"    {mark} {_one(option.get('text'))}" + (f"  ({_one(score)})" if score is not None else "")
            )
    return out


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


KUSTOMIZE, JSON6902 = "kustomize", "json6902"


def patch_to_commit(report: Mapping[str, Any], form: str) -> str:
    """The suggested patch as a file to commit (`form` KUSTOMIZE or JSON6902), for a workload a GitOps
    tool deploys: the same vetted operations without the guards that pin the live object. Read typed,
    so every value printed is one the report's schema admits; comments are escaped as well."""
    observed = ObservedReport.model_validate(report)
    suggested, name = observed.status.suggested_patch, observed.metadata.name
    if suggested is None:
        reason = observed.status.no_patch_reason or "none was recorded"
        raise PluginError(f"{name} has no suggested patch to commit: {reason}")
    if form == JSON6902:
        return json6902_file(suggested.operations)
    target = suggested.target
    header = [
        f"The fix smart-sre suggested in DiagnosticReport {observed.metadata.namespace}/{name} for "
        f"{target.kind} {target.namespace}/{target.name} (the live patch, guards included, has sha256 "
        f"{suggested.sha256}).",
    ]
    if managed := observed.status.managed_by:
        header.append(
            f"{describe(managed)} deploys it ({managed.evidence}): commit this, do not patch it live."
        )
    return kustomize_patch(target, suggested.operations, header=[_one(line) for line in header])


def list_order(report: ObservedReport) -> tuple[bool, int, datetime, str, str]:
    """Decisions waiting for a human first, then the other phases in lifecycle order; oldest first in each."""
    phase = report.status.phase or Phase.PENDING
    created = report.metadata.creation_timestamp or datetime.min.replace(tzinfo=UTC)
    return (
        phase is not Phase.AWAITING_APPROVAL,
        list(Phase).index(phase),
        created,
        report.metadata.namespace or "",
        report.metadata.name,
    )


def _age(created: datetime | None, now: datetime) -> str:
    """How long ago, in kubectl's short form: 42s, 5m, 3h, 2d, 1y."""
    if created is None:
        return "<unknown>"
    seconds = max(0, int((now - created).total_seconds()))
    for size, unit in ((365 * 86400, "y"), (86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _row(report: ObservedReport, *, all_namespaces: bool, wide: bool, now: datetime) -> list[str]:
    status, findings, suggested = report.status, report.status.findings, report.status.suggested_patch
    cells: list[object] = [
        report.metadata.name,
        status.phase or Phase.PENDING,
        findings.root_cause if findings else NONE,
        findings.confidence if findings else NONE,
        f"{suggested.target.kind}/{suggested.target.name}" if suggested else NONE,
        _age(report.metadata.creation_timestamp, now),
    ]
    if wide:
        cells += [
            report.spec.pod_ref.name,
            report.spec.trigger,
            suggested.sha256[:12] if suggested else NONE,
            status.approved_by or NONE,
        ]
    if all_namespaces:
        cells.insert(0, report.metadata.namespace or NONE)
    return [_one(cell) for cell in cells]


def render_list(reports: Sequence[ObservedReport], *, all_namespaces: bool, wide: bool, now: datetime) -> str:
    """The table `kubectl sre list` prints, rows in the order given, every cell escaped onto one line."""
    header = ["NAME", "PHASE", "ROOT CAUSE", "CONFIDENCE", "TARGET", "AGE"]
    if wide:
        header += ["POD", "TRIGGER", "SHA256", "APPROVED BY"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = [header] + [_row(report, all_namespaces=all_namespaces, wide=wide, now=now) for report in reports]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in rows
    )


def report_list(reports: Sequence[ObservedReport]) -> dict[str, Any]:
    """A `List` of the reports, shaped as `kubectl get -o json` writes one, each with the fields the API
    server returned (managedFields too, which kubectl hides). A status field that does not validate is
    left out, as the operator ignores it, and a warning on stderr says so."""
    return {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": [report.model_dump(mode="json", by_alias=True, exclude_unset=True) for report in reports],
    }


def dump(document: Mapping[str, Any], output: str) -> str:
    """`document` for `-o json` or `-o yaml`: machine output, so no value is rewritten. JSON escapes every
    character that is not ASCII and YAML quotes and escapes every one that is not printable ASCII, so
    nothing in it drives a terminal either, and parsed back it is the same document."""
    if output == "json":
        return json.dumps(document, indent=4) + "\n"
    return yaml.safe_dump(dict(document), sort_keys=False)


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
            text += await self._stuck(suggested, status.get("phase"))
            if status.get("phase") == "AwaitingApproval":
                name = _one(report["metadata"]["name"])
                if status.get("managedBy"):
                    text += f"\nCommit it to Git with: kubectl sre show {name} --as-kustomize-patch\n"
                text += f"\nApprove with: kubectl sre approve {name}\n"
        if status.get("phase") == "Applied" and status.get("rollbackPatch") and suggested:
            text += await render_patch(
                self.cluster, "Rollback patch", status["rollbackPatch"], suggested["target"]
            )
        return text

    async def _stuck(self, suggested: Mapping[str, Any], phase: str | None) -> str:
        """`suggestedPatch.deletesStuckPods` in words and, while it awaits approval, the pods stuck now."""
        said, target = suggested.get("deletesStuckPods"), suggested["target"]
        if not isinstance(said, Mapping):
            return ""
        kind, name = _one(target["kind"]), _one(target["name"])
        try:
            why = explain(StuckCause(said.get("cause")), kind, name)
        except ValueError:  # the status is anyone's to write
            why = f"cause {_one(said.get('cause'))}"
        out = [
            "",
            "Approving also deletes stuck pods",
            _indent(
                textwrap.fill(
                    f"{why}. Once the patch is applied, smart-sre deletes each of its pods that is not on the "
                    "patched revision and not Running and Ready, so that the controller recreates it from the "
                    "patched template; healthy pods are left to the controller.",
                    100,
                ),
                "  ",
            ),
        ]
        if phase == "AwaitingApproval":
            try:
                live = await self.cluster.get(target["kind"], target.get("namespace"), target["name"])
                found = (
                    stuck({**live, "kind": target["kind"]}, await pods_of(self.cluster, live), None)
                    if live
                    else []
                )
            except ClusterError as error:  # you may review without the right to list its pods
                out.append(f"  Stuck now: not known ({_one(error)})")
            else:
                out.append(
                    f"  Stuck now: {', '.join(_one(pod['metadata']['name']) for pod in found) or 'none'}"
                )
        return "\n".join(out) + "\n"

    async def decide(self, report: Mapping[str, Any], approval: dict[str, Any]) -> None:
        """Write the decision in the name and groups the API server authenticates this client as.

        The first decision goes to `spec.approval` (all a policy needing one approver reads); when
        someone else's decision is already there, this one is added as the caller's own entry of
        `spec.approvals`, for a policy that wants several approvers. A merge patch replaces that whole
        list, so it carries the report's resourceVersion: a concurrent approver's entry is never lost,
        the write is refused (409) instead and can be run again.
        """
        me = await who_am_i(self.cluster)
        approval = {**approval, "approvedBy": me.username, "approverGroups": list(me.groups)}
        spec, name = report["spec"], report["metadata"]["name"]
        first = (spec.get("approval") or {}).get("approvedBy") in (None, me.username)
        body: dict[str, Any] = {"spec": {"approval": approval}}
        if not first:
            others = [e for e in spec.get("approvals") or () if e.get("approvedBy") != me.username]
            # Inside a list a null is a value, not a removal: leave unset fields out.
            mine = {key: value for key, value in approval.items() if value is not None}
            body = {
                "metadata": {"resourceVersion": report["metadata"]["resourceVersion"]},
                "spec": {"approvals": [*others, mine]},
            }
        await self.cluster.patch_report(self.namespace, name, body, field_manager=FIELD_MANAGER)


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
    cluster = ClusterWriter.from_config(args.kubeconfig, args.context)
    try:
        if args.command == "list":
            return await _list(cluster, args, stdout)
        namespace = args.namespace or _current_namespace(args.kubeconfig)
        return await _review(Plugin(cluster, namespace), args, stdin, stdout)
    finally:
        cluster.close()


async def _list(cluster: ClusterWriter, args: argparse.Namespace, stdout: TextIO) -> int:
    namespace = None if args.all_namespaces else args.namespace or _current_namespace(args.kubeconfig)
    reports = sorted(await cluster.list_reports(namespace), key=list_order)
    if args.output in ("json", "yaml"):
        stdout.write(dump(report_list(reports), args.output))
    elif reports:
        stdout.write(
            render_list(
                reports, all_namespaces=namespace is None, wide=args.output == "wide", now=datetime.now(UTC)
            )
        )
    else:
        where = "any namespace" if namespace is None else f'namespace "{_one(namespace)}"'
        print(f"No diagnosticreports found in {where}.", file=sys.stderr)
    return 0


async def _review(plugin: Plugin, args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    namespace = plugin.namespace
    report = await plugin.report(args.name)
    status = report.get("status") or {}
    phase = status.get("phase") or "Pending"
    if args.command == "show":
        if args.commit_as:
            stdout.write(patch_to_commit(report, args.commit_as))
        else:
            stdout.write(dump(report, args.output) if args.output else await plugin.show(report))
        return 0
    if args.command == "reject":
        if phase != "AwaitingApproval":
            raise PluginError(f"{args.name} is {phase}; only a report awaiting approval can be rejected")
        await plugin.decide(report, {"decision": "Rejected", "action": "Apply", "patchSHA256": None})
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
        raise PluginError(f"{args.name} is {phase}; `{args.command}` needs a report that is {wanted_phase}")
    if not patch:
        what = "rollback patch" if rollback else "suggested patch"
        raise PluginError(f"{args.name} has no {what}: {status.get('noPatchReason') or 'none was recorded'}")
    stdout.write(await plugin.show(report))
    verb = "Roll back with" if rollback else "Apply"
    retry = f"kubectl sre {args.command} {args.name} -n {namespace}"
    question = f"{verb} the patch with sha256 {_one(patch['sha256'])}?"
    if not confirm(question, assume_yes=args.yes, stdin=stdin, stdout=stdout, retry=retry):
        stdout.write("nothing changed\n")
        return 1
    await plugin.decide(
        report,
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


def build_parser() -> argparse.ArgumentParser:
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    connection.add_argument("--context", help="kubeconfig context")
    layout = {"epilog": EXIT_CODES, "formatter_class": argparse.RawDescriptionHelpFormatter}
    parser = argparse.ArgumentParser(prog="kubectl sre", description=__doc__.splitlines()[0], **layout)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser(
        "list",
        help="list the reports, those awaiting approval first (oldest first)",
        parents=[connection],
        **layout,
    )
    where = listing.add_mutually_exclusive_group()
    where.add_argument("-n", "--namespace", help="list this namespace's reports (default: the context's)")
    where.add_argument("-A", "--all-namespaces", action="store_true", help="list every namespace's reports")
    listing.add_argument(
        "-o",
        "--output",
        choices=("wide", "json", "yaml"),
        help="wide: also the pod, the trigger, the patch's sha256 and who decided; json, yaml: the reports",
    )
    for command, help_text in (
        ("show", "print findings, the reasoning chain and the patch as a diff"),
        ("approve", "approve the suggested patch shown (pins its sha256)"),
        ("reject", "reject the suggestion; the report closes"),
        ("rollback", "approve applying the stored inverse patch of an applied report"),
    ):
        sub = commands.add_parser(command, help=help_text, parents=[connection], **layout)
        sub.add_argument("name", metavar="NAME")
        sub.add_argument("-n", "--namespace", help="the report's namespace (default: the context's)")
        if command == "show":
            forms = sub.add_mutually_exclusive_group()
            forms.add_argument(
                "-o", "--output", choices=("json", "yaml"), help="print the report object instead"
            )
            forms.add_argument(
                "--as-kustomize-patch",
                dest="commit_as",
                action="store_const",
                const=KUSTOMIZE,
                help="print the suggested patch as a kustomization.yaml `patches:` entry to commit to Git "
                "(for a workload Argo CD, Flux or Helm deploys), without the live patch's test guards",
            )
            forms.add_argument(
                "--as-json6902",
                dest="commit_as",
                action="store_const",
                const=JSON6902,
                help="print the suggested patch's operations as a JSON 6902 file, without its test guards",
            )
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
    except ClusterError as error:
        print(f"error: the API server refused: {_one(error)}", file=sys.stderr)
    except config.ConfigException as error:
        print(
            f"error: cannot connect: {_one(str(error).rstrip('.'))}. Name a valid kubeconfig with "
            "--kubeconfig or KUBECONFIG, and one of its contexts with --context",
            file=sys.stderr,
        )
    except ValidationError as error:  # a list is read typed: metadata and spec as the CRD defines them
        first = error.errors()[0]
        print(
            f"error: a DiagnosticReport does not have the shape kubectl-sre {__version__} knows "
            f"({_one('.'.join(map(str, first['loc'])))}: {_one(first['msg'])}); compare "
            "`kubectl sre --version` with the operator's, or read the reports with `kubectl get dr -o yaml`",
            file=sys.stderr,
        )
    return 1


if __name__ == "__main__":
    sys.exit(main())
