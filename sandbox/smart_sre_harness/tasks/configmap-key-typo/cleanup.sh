#!/usr/bin/env bash
kubectl delete namespace newsroom --ignore-not-found --wait=false
