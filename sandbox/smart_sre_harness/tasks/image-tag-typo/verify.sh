#!/usr/bin/env bash
# Fixed when the rollout finishes: every replica runs the current template and is available.
set -euo pipefail
kubectl rollout status deployment/storefront -n bookshop --timeout=40s
kubectl wait --for=condition=Available deployment/storefront -n bookshop --timeout=20s
