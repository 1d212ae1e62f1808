#!/usr/bin/env bash
# editor reads TZ from ConfigMap editor-settings, key "timezone"; the ConfigMap spells the key TIMEZONE.
set -euo pipefail
kubectl create namespace newsroom
kubectl create configmap editor-settings -n newsroom --from-literal=TIMEZONE=Europe/Lisbon --from-literal=LOCALE=pt_PT
kubectl apply -n newsroom -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: editor, labels: {app: editor}}
spec:
  replicas: 2
  selector: {matchLabels: {app: editor}}
  template:
    metadata: {labels: {app: editor}}
    spec:
      containers:
        - name: httpd
          image: httpd:2.4
          env:
            - name: TZ
              valueFrom: {configMapKeyRef: {name: editor-settings, key: timezone}}
            - name: LANG
              valueFrom: {configMapKeyRef: {name: editor-settings, key: LOCALE}}
          ports: [{containerPort: 80}]
          resources:
            requests: {cpu: 50m, memory: 32Mi}
YAML
