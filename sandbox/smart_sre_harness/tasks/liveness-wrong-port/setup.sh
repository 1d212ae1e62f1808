#!/usr/bin/env bash
# The registry serves on port 5000, but its liveness probe checks 8080: the kubelet kills it again and again.
set -euo pipefail
kubectl create namespace registry
kubectl apply -n registry -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: mirror, labels: {app: mirror}}
spec:
  selector: {matchLabels: {app: mirror}}
  template:
    metadata: {labels: {app: mirror}}
    spec:
      containers:
        - name: registry
          image: registry:2.8
          ports: [{containerPort: 5000}]
          livenessProbe:
            httpGet: {path: /v2/, port: 8080}
            periodSeconds: 5
            failureThreshold: 3
          resources:
            requests: {cpu: 50m, memory: 32Mi}
YAML
