#!/usr/bin/env bash
# event-cache is pinned to zone-d; the cluster's nodes are in other zones.
set -euo pipefail
kubectl create namespace analytics
kubectl apply -n analytics -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: event-cache, labels: {app: event-cache}}
spec:
  selector: {matchLabels: {app: event-cache}}
  template:
    metadata: {labels: {app: event-cache}}
    spec:
      nodeSelector:
        topology.kubernetes.io/zone: zone-d
      containers:
        - name: redis
          image: redis:7.4
          ports: [{containerPort: 6379}]
          resources:
            requests: {cpu: 100m, memory: 64Mi}
YAML
