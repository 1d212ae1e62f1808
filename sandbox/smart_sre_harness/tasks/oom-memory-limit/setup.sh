#!/usr/bin/env bash
# metrics-db runs MySQL 8.4 under a 256Mi memory limit: it needs more and is OOMKilled at start.
set -euo pipefail
kubectl create namespace reporting
kubectl apply -n reporting -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: metrics-db, labels: {app: metrics-db}}
spec:
  selector: {matchLabels: {app: metrics-db}}
  template:
    metadata: {labels: {app: metrics-db}}
    spec:
      containers:
        - name: mysql
          image: mysql:8.4
          env:
            - {name: MYSQL_ROOT_PASSWORD, value: reporting-dev-only}
            - {name: MYSQL_DATABASE, value: metrics}
          ports: [{containerPort: 3306}]
          resources:
            requests: {cpu: 250m, memory: 256Mi}
            limits: {memory: 256Mi}
YAML
