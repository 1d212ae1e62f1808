#!/usr/bin/env bash
# indexer asks for 24Gi of memory; no node has that much allocatable.
set -euo pipefail
kubectl create namespace search
kubectl apply -n search -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: indexer, labels: {app: indexer}}
spec:
  selector: {matchLabels: {app: indexer}}
  template:
    metadata: {labels: {app: indexer}}
    spec:
      containers:
        - name: memcached
          image: memcached:1.6
          ports: [{containerPort: 11211}]
          resources:
            requests: {cpu: 200m, memory: 24Gi}
YAML
