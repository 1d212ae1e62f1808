#!/usr/bin/env bash
kubectl delete namespace registry --ignore-not-found --wait=false
