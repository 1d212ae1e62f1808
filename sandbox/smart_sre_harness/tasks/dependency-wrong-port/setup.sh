#!/usr/bin/env bash
# catalog-sync (Node) dials catalog-db on 5433; the Postgres Service listens on 5432.
set -euo pipefail
kubectl create namespace catalog
kubectl apply -n catalog -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: catalog-db, labels: {app: catalog-db}}
spec:
  selector: {matchLabels: {app: catalog-db}}
  template:
    metadata: {labels: {app: catalog-db}}
    spec:
      containers:
        - name: postgres
          image: postgres:16-alpine
          env: [{name: POSTGRES_PASSWORD, value: catalog-dev-only}]
          ports: [{containerPort: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: catalog-db}
spec:
  selector: {app: catalog-db}
  ports: [{port: 5432, targetPort: 5432}]
YAML
kubectl rollout status deployment/catalog-db -n catalog --timeout=60s
kubectl apply -n catalog -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: catalog-sync, labels: {app: catalog-sync}}
spec:
  selector: {matchLabels: {app: catalog-sync}}
  template:
    metadata: {labels: {app: catalog-sync}}
    spec:
      containers:
        - name: sync
          image: sandbox/orders:1.2
          env:
            - {name: DB_HOST, value: catalog-db}
            - {name: DB_PORT, value: "5433"}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
YAML
