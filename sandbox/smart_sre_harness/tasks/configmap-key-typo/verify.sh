#!/usr/bin/env bash
# Fixed when the rollout of editor finishes: every replica runs the current template and is available.
set -euo pipefail
kubectl rollout status deployment/editor -n newsroom --timeout=40s
kubectl wait --for=condition=Available deployment/editor -n newsroom --timeout=20s
