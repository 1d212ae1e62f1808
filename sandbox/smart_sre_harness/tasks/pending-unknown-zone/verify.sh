#!/usr/bin/env bash
# Fixed when the rollout of event-cache finishes: every replica runs the current template and is available.
set -euo pipefail
kubectl rollout status deployment/event-cache -n analytics --timeout=40s
kubectl wait --for=condition=Available deployment/event-cache -n analytics --timeout=20s
