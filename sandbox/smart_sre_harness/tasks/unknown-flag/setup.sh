#!/usr/bin/env bash
# collector (the sandbox's Go web app) was given --verbose, a flag it does not define: it exits 2 with its usage.
set -euo pipefail
kubectl create namespace telemetry
kubectl apply -n telemetry -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: collector, labels: {app: collector}}
spec:
  selector: {matchLabels: {app: collector}}
  template:
    metadata: {labels: {app: collector}}
    spec:
      containers:
        - name: collector
          image: sandbox/web:1.1
          args: ["--log-level=info", "--verbose"]
          ports: [{containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /readyz, port: 8080}
          resources:
            requests: {cpu: 50m, memory: 32Mi}
YAML
