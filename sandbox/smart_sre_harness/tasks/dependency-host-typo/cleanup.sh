#!/usr/bin/env bash
kubectl delete namespace sessions --ignore-not-found --wait=false
