"""`smart-sre diagnose pod NAMESPACE/NAME`: run one investigation from a terminal, change nothing.

Uses the current kubeconfig and the sidecar at $SMART_SRE_INFERENCE_URL (default 127.0.0.1:8081), or
the default model in-process when nothing answers there. Each step is printed as it happens; the end
shows the findings and the patch as JSON Patch and as a readable diff. `--json` prints one object in
the DiagnosticReport status shapes instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO

from smart_sre.api.common import Trigger
from smart_sre.api.diagnosticreport import ReasoningStep
from smart_sre.investigation.investigation import Budgets, Conclusion, investigate
from smart_sre.k8s.cluster import Cluster, ClusterError
from smart_sre.k8s.patchdiff import patch_diff
from smart_sre.lifecycle.triggers import evaluate
from smart_sre_inference import local


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("diagnose", help="investigate a failing pod now and print the findings")
    kinds = parser.add_subparsers(dest="diagnose_kind", required=True, metavar="KIND")
    pod = kinds.add_parser("pod", help="investigate one pod: smart-sre diagnose pod NAMESPACE/NAME")
    pod.add_argument("pod", metavar="NAMESPACE/NAME", help="the failing pod, e.g. shop/checkout-7d4b9-x2x9q")
    pod.add_argument("--json", action="store_true", help="print one JSON object (report status shapes)")
    pod.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    pod.add_argument("--context", help="kubeconfig context (default: the current one)")
    pod.add_argument(
        "--trigger",
        choices=[trigger.value for trigger in Trigger],
        help="investigate as this failure (default: what the pod shows now)",
    )
    pod.add_argument("--max-steps", type=int, default=Budgets.max_steps, help="model steps (default 6)")
    pod.add_argument(
        "--model", help="models.lock name for the in-process model (default: the lock's default)"
    )
    pod.add_argument("--inference-url", help=f"sidecar URL (default ${local.URL_ENV} or {local.DEFAULT_URL})")
    pod.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    namespace, _, name = args.pod.partition("/")
    if not namespace or not name:
        print(f"error: expected NAMESPACE/NAME, got {args.pod!r}", file=sys.stderr)
        return 2
    if not 1 <= args.max_steps <= 14:
        print("error: --max-steps must be between 1 and 14", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_diagnose(args, namespace, name))
    except ClusterError as error:
        print(
            f"error: the API server refused a read: {error}; check the kubeconfig and RBAC", file=sys.stderr
        )
        return 1


async def _diagnose(args: argparse.Namespace, namespace: str, name: str) -> int:
    cluster = Cluster.from_config(args.kubeconfig, args.context)
    try:
        pod = await cluster.get("Pod", namespace, name)
        if pod is None:
            print(f"error: pod {name} not found in namespace {namespace}", file=sys.stderr)
            return 1
        trigger = Trigger(args.trigger) if args.trigger else _trigger(pod)
        if trigger is None:
            print(
                f"error: pod {namespace}/{name} is not failing in a way smart-sre investigates "
                f"({', '.join(t.value for t in Trigger)}); pass --trigger to investigate anyway",
                file=sys.stderr,
            )
            return 1
        out = sys.stdout
        if not args.json:
            print(f"Investigating pod {namespace}/{name} ({trigger})", file=out, flush=True)
        inference = await local.connect(args.inference_url, model=args.model)
        async with inference:
            conclusion = await investigate(
                cluster,
                inference,
                pod,
                trigger,
                budgets=Budgets(max_steps=args.max_steps),
                on_step=None if args.json else lambda step: _print_step(step, out),
            )
        if args.json:
            json.dump(_json(conclusion), out, indent=2)
            out.write("\n")
        else:
            target = await _target_object(cluster, conclusion)
            _print_result(conclusion, target, out)
        return 0
    finally:
        cluster.close()


def _trigger(pod: dict) -> Trigger | None:
    verdict = evaluate(pod, list(Trigger), pending_grace=timedelta(0), now=datetime.now(UTC))
    return verdict.detection.trigger if verdict.detection else None


def _json(conclusion: Conclusion) -> dict:
    status = conclusion.status().model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"suggestedPatch": None, **status}


def _print_step(step: ReasoningStep, out: TextIO) -> None:
    if step.index == 0:
        print("\n[0] Evidence", file=out)
        print(_indent(step.observation), file=out, flush=True)
        return
    action = step.action
    call = ""
    if action is not None:
        arguments = ", ".join(f"{k}={v}" for k, v in (action.arguments or {}).items())
        call = f"{action.tool}({arguments})"
    print(f"\n[{step.index}] Observation: {step.observation}", file=out)
    print(f"    Thought: {step.thought}", file=out)
    print(f"    Action: {call}", file=out)
    if step.result:
        print(_indent(step.result), file=out)
    out.flush()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


async def _target_object(cluster: Cluster, conclusion: Conclusion) -> dict | None:
    patch = conclusion.suggested_patch
    if patch is None:
        return None
    return await cluster.get(patch.target.kind, patch.target.namespace, patch.target.name)


def _print_result(conclusion: Conclusion, target: dict | None, out: TextIO) -> None:
    findings = conclusion.findings
    print("\nFindings", file=out)
    print(f"  Root cause: {findings.root_cause}  (confidence {findings.confidence})", file=out)
    print(f"  {findings.summary}", file=out)
    for item in findings.evidence or []:
        print(f"  evidence [{item.step}]: {item.quote}", file=out)
    patch = conclusion.suggested_patch
    if patch is None:
        print(f"\nNo patch: {conclusion.no_patch_reason}", file=out)
        return
    operations = [op.model_dump(mode="json", by_alias=True, exclude_none=True) for op in patch.operations]
    print(f"\nSuggested patch for {patch.target.kind}/{patch.target.name} (sha256 {patch.sha256})", file=out)
    print(json.dumps(operations, indent=2), file=out)
    if target is not None:
        print("\nDiff", file=out)
        out.write(patch_diff(target, operations, label=f"{patch.target.kind.lower()}/{patch.target.name}"))
    print(
        "\nNothing was changed. Approve it through a DiagnosticReport to have the operator apply it.",
        file=out,
    )
