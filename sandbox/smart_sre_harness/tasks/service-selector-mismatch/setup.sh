#!/usr/bin/env bash
# The quote-cache Service selects app=quotes-cache; the Redis pods are labelled app=quote-cache, so the
# Service has no endpoints and quote-api, which dials it at start, is refused.
set -euo pipefail
kubectl create namespace quotes
kubectl apply -n quotes -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: quote-cache, labels: {app: quote-cache}}
spec:
  selector: {matchLabels: {app: quote-cache}}
  template:
    metadata: {labels: {app: quote-cache}}
    spec:
      containers:
        - name: redis
          image: redis:7.4-alpine
          ports: [{containerPort: 6379}]
---
apiVersion: v1
kind: Service
metadata: {name: quote-cache}
spec:
  selector: {app: quotes-cache}
  ports: [{port: 6379, targetPort: 6379}]
YAML
kubectl rollout status deployment/quote-cache -n quotes --timeout=60s
kubectl apply -n quotes -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: quote-api, labels: {app: quote-api}}
spec:
  selector: {matchLabels: {app: quote-api}}
  template:
    metadata: {labels: {app: quote-api}}
    spec:
      containers:
        - name: api
          image: sandbox/api-client:1.0
          env:
            - {name: REDIS_HOST, value: quote-cache}
          resources:
            requests: {cpu: 50m, memory: 64Mi}
YAML
