"""`smart-sre operator run`: the operator in the foreground, with Kopf's liveness endpoint.

Equivalent to `kopf run -m smart_sre.commands.handlers --all-namespaces --standalone` configured from the
environment; the flags here override SMART_SRE_* variables.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

import kopf

from smart_sre.commands.wiring import OperatorConfig

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    operator = subparsers.add_parser("operator", help="the smart-sre operator")
    commands = operator.add_subparsers(dest="operator_command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="watch DebugPolicies and Pods, open and drive DiagnosticReports",
        description=__doc__.splitlines()[0],
    )
    run.add_argument("--kubeconfig", help="kubeconfig to use (default: $KUBECONFIG, then in-cluster)")
    run.add_argument(
        "--inference-url", help="the sidecar (default: $SMART_SRE_INFERENCE_URL or http://127.0.0.1:8081)"
    )
    run.add_argument(
        "--max-concurrent-analyses", type=int, help="analyses at once across all policies (default 2)"
    )
    run.add_argument(
        "--verification-window", help="how long to watch a rollout after a patch, e.g. 2m (default 2m)"
    )
    run.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port (default: off)")
    run.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="Kopf's liveness endpoint (default http://0.0.0.0:8080/healthz)",
    )
    run.add_argument(
        "--peering",
        help="a KopfPeering name for running several replicas (default: standalone, no peering)",
    )
    run.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # Kopf's login and our client read the same file
    config = OperatorConfig.from_env(
        kubeconfig=args.kubeconfig,
        inference_url=args.inference_url,
        max_concurrent_analyses=args.max_concurrent_analyses,
        verification_window=args.verification_window,
        metrics_port=args.metrics_port,
    )
    from smart_sre.commands import handlers  # noqa: F401 - registers the handlers with Kopf's default registry

    # Kopf logs every handled watch event at INFO; with thousands of pods that drowns what matters.
    logging.getLogger("kopf.objects").setLevel(max(logging.WARNING, logging.getLogger().level))

    logger.info("operator starting", extra={"inference_url": config.inference_url})
    asyncio.run(
        kopf.operator(
            clusterwide=True,
            standalone=args.peering is None,
            peering_name=args.peering,
            liveness_endpoint=args.liveness,
            memo=kopf.Memo(config=config),
        )
    )
    return 0
