#!/usr/bin/env bash
kubectl delete namespace bookshop --ignore-not-found --wait=false
