#!/usr/bin/env bash
# Fixed when collector rolls out and its pods stay up, without a restart, for a while.
set -euo pipefail
ns=telemetry app=collector
kubectl rollout status "deployment/$app" -n "$ns" --timeout=40s
sleep 4  # long enough for a crash or a failing probe to show (two simulated minutes on the sandbox)
kubectl wait --for=condition=Ready pod -l "app=$app" -n "$ns" --timeout=20s
restarts=$(kubectl get pods -n "$ns" -l "app=$app" -o jsonpath='{.items[*].status.containerStatuses[*].restartCount}')
for count in $restarts; do
  if [ "$count" -ne 0 ]; then echo "a $app container restarted (restart counts: $restarts)"; exit 1; fi
done
