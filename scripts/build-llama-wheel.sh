#!/usr/bin/env bash
# Build llama-cpp-python once into a wheel cache (the images reuse this recipe).
# GGML_NATIVE is off on purpose: a native build picks up AMX tile instructions that some VMs forbid (SIGILL).
set -euo pipefail
: "${LLAMA_VERSION:?}" "${WHEEL_CACHE:?}"
PIP=${PIP:-pip}
mkdir -p "$WHEEL_CACHE"
if ls "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "llama-cpp-python $LLAMA_VERSION: using cached wheel in $WHEEL_CACHE"
  exit 0
fi
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
echo "llama-cpp-python $LLAMA_VERSION: building from source with CMAKE_ARGS=$CMAKE_ARGS (several minutes)"
"$PIP" wheel --no-deps -w "$WHEEL_CACHE" "llama-cpp-python==$LLAMA_VERSION"
