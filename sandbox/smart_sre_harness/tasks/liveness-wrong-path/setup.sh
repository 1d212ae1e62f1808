#!/usr/bin/env bash
# handbook's liveness probe asks httpd for /healthz, a page it does not have (404); readiness uses /.
set -euo pipefail
kubectl create namespace handbook
kubectl apply -n handbook -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: handbook, labels: {app: handbook}}
spec:
  selector: {matchLabels: {app: handbook}}
  template:
    metadata: {labels: {app: handbook}}
    spec:
      containers:
        - name: httpd
          image: httpd:2.4-alpine
          ports: [{containerPort: 80}]
          livenessProbe:
            httpGet: {path: /healthz, port: 80}
            periodSeconds: 10
          readinessProbe:
            httpGet: {path: /, port: 80}
            periodSeconds: 5
          resources:
            requests: {cpu: 50m, memory: 32Mi}
YAML
