#!/usr/bin/env bash
# storefront runs nginx:1.27; the bump to a tag that was never published cannot be pulled.
set -euo pipefail
kubectl create namespace bookshop
kubectl create deployment storefront -n bookshop --image=nginx:1.27 --port=80
kubectl rollout status deployment/storefront -n bookshop --timeout=60s
kubectl set image deployment/storefront -n bookshop nginx=nginx:1.27.99
