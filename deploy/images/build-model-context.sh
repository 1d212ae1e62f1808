#!/usr/bin/env bash
# The build context of a model image: the verified weights of one models.lock entry as a bundle.
#   usage: build-model-context.sh NAME DIR   (then: docker build -f deploy/images/Dockerfile.model DIR)
#   env:   SMART_SRE (default smart-sre), SMART_SRE_MODELS_LOCK, SMART_SRE_MODELS_DIR as for `smart-sre models`
set -euo pipefail
name=${1:?usage: build-model-context.sh NAME DIR}
dir=${2:?usage: build-model-context.sh NAME DIR}
smart_sre=${SMART_SRE:-smart-sre}
mkdir -p "$dir"
"$smart_sre" models pull "$name"
"$smart_sre" models bundle "$name" --output "$dir/models.tar"
echo "model image context for $name in $dir"
