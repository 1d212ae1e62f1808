#!/usr/bin/env bash
kubectl delete namespace analytics --ignore-not-found --wait=false
