#!/usr/bin/env bash
# invoicer reads CURRENCY from ConfigMap "invoicer-setting"; the ConfigMap is called "invoicer-settings".
set -euo pipefail
kubectl create namespace billing
kubectl create configmap invoicer-settings -n billing --from-literal=CURRENCY=EUR --from-literal=LOG_LEVEL=info
kubectl apply -n billing -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: invoicer, labels: {app: invoicer}}
spec:
  selector: {matchLabels: {app: invoicer}}
  template:
    metadata: {labels: {app: invoicer}}
    spec:
      containers:
        - name: invoicer
          image: nginx:1.26
          env:
            - name: CURRENCY
              valueFrom: {configMapKeyRef: {name: invoicer-setting, key: CURRENCY}}
          ports: [{containerPort: 80}]
          resources:
            requests: {cpu: 50m, memory: 32Mi}
YAML
