#!/usr/bin/env bash
# Fixed when the rollout of invoicer finishes: every replica runs the current template and is available.
set -euo pipefail
kubectl rollout status deployment/invoicer -n billing --timeout=40s
kubectl wait --for=condition=Available deployment/invoicer -n billing --timeout=20s
