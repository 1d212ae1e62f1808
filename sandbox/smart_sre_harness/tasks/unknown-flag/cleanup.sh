#!/usr/bin/env bash
kubectl delete namespace telemetry --ignore-not-found --wait=false
