#!/usr/bin/env bash
kubectl delete namespace quotes --ignore-not-found --wait=false
