#!/usr/bin/env bash
kubectl delete namespace reporting --ignore-not-found --wait=false
