#!/usr/bin/env bash
kubectl delete namespace handbook --ignore-not-found --wait=false
