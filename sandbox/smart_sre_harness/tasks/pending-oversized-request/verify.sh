#!/usr/bin/env bash
# Fixed when the rollout of indexer finishes: every replica runs the current template and is available.
set -euo pipefail
kubectl rollout status deployment/indexer -n search --timeout=40s
kubectl wait --for=condition=Available deployment/indexer -n search --timeout=20s
