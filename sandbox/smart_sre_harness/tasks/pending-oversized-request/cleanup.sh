#!/usr/bin/env bash
kubectl delete namespace search --ignore-not-found --wait=false
