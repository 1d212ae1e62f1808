#!/usr/bin/env bash
# stock-db runs postgres:16 without POSTGRES_PASSWORD: the entrypoint refuses to initialise the database.
set -euo pipefail
kubectl create namespace warehouse
kubectl create secret generic stock-db-credentials -n warehouse --from-literal=POSTGRES_PASSWORD=warehouse-dev-only
kubectl apply -n warehouse -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: stock-db, labels: {app: stock-db}}
spec:
  selector: {matchLabels: {app: stock-db}}
  template:
    metadata: {labels: {app: stock-db}}
    spec:
      containers:
        - name: postgres
          image: postgres:16
          env:
            - {name: POSTGRES_DB, value: stock}
          ports: [{containerPort: 5432}]
          resources:
            requests: {cpu: 100m, memory: 128Mi}
YAML
