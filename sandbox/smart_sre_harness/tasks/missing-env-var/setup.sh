#!/usr/bin/env bash
# ledger-api (Go) needs DATABASE_URL; the ConfigMap has it, but the rewritten Deployment only maps LOG_FORMAT.
set -euo pipefail
kubectl create namespace ledger
kubectl apply -n ledger -f - <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: ledger-config}
data:
  DATABASE_URL: postgresql://ledger-db:5432/ledger
  LOG_FORMAT: json
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger-db, labels: {app: ledger-db}}
spec:
  selector: {matchLabels: {app: ledger-db}}
  template:
    metadata: {labels: {app: ledger-db}}
    spec:
      containers:
        - name: postgres
          image: postgres:17
          env: [{name: POSTGRES_PASSWORD, value: ledger-dev-only}]
          ports: [{containerPort: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: ledger-db}
spec:
  selector: {app: ledger-db}
  ports: [{port: 5432, targetPort: 5432}]
YAML
kubectl rollout status deployment/ledger-db -n ledger --timeout=60s
kubectl apply -n ledger -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger-api, labels: {app: ledger-api}}
spec:
  selector: {matchLabels: {app: ledger-api}}
  template:
    metadata: {labels: {app: ledger-api}}
    spec:
      containers:
        - name: api
          image: sandbox/checkout:1.2
          env:
            - name: LOG_FORMAT
              valueFrom: {configMapKeyRef: {name: ledger-config, key: LOG_FORMAT}}
          resources:
            requests: {cpu: 100m, memory: 64Mi}
YAML
