#!/usr/bin/env bash
# Fixed when the quote-cache Service has ready endpoints and quote-api rolls out and stays up.
set -euo pipefail
ns=quotes
for _ in $(seq 20); do
  addresses=$(kubectl get endpoints quote-cache -n "$ns" -o jsonpath='{.subsets[*].addresses[*].ip}')
  [ -n "$addresses" ] && break
  sleep 1
done
if [ -z "$addresses" ]; then echo "Service quote-cache has no ready endpoints"; exit 1; fi
kubectl rollout status deployment/quote-api -n "$ns" --timeout=40s
sleep 4  # long enough for a crash to show (two simulated minutes on the sandbox)
kubectl wait --for=condition=Ready pod -l app=quote-api -n "$ns" --timeout=20s
