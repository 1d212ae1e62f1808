#!/usr/bin/env bash
# session-api dials REDIS_HOST=redis-primary; the namespace's Redis Service is session-redis.
set -euo pipefail
kubectl create namespace sessions
kubectl create deployment session-redis -n sessions --image=redis:7.2 --port=6379
kubectl expose deployment session-redis -n sessions --port=6379
kubectl rollout status deployment/session-redis -n sessions --timeout=60s
kubectl apply -n sessions -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: session-api, labels: {app: session-api}}
spec:
  selector: {matchLabels: {app: session-api}}
  template:
    metadata: {labels: {app: session-api}}
    spec:
      containers:
        - name: api
          image: sandbox/api-client:2.3
          env:
            - {name: REDIS_HOST, value: redis-primary}
            - {name: REDIS_PORT, value: "6379"}
          resources:
            requests: {cpu: 50m, memory: 64Mi}
YAML
