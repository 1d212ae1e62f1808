#!/usr/bin/env bash
# Install smart-sre into a fresh virtualenv at PREFIX: the step every Dockerfile runs, and what CI
# (tests/deploy/test_images.py) runs on the host so the recipe is exercised without a container engine.
#   usage: install-smart-sre.sh PREFIX operator|inference
#   env:   SRC (repository root, default: this script's), PYTHON (default python3),
#          WHEEL_CACHE (inference: where scripts/build-llama-wheel.sh put the llama-cpp-python wheel)
set -euo pipefail
prefix=${1:?usage: install-smart-sre.sh PREFIX operator|inference}
component=${2:?usage: install-smart-sre.sh PREFIX operator|inference}
src=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

"${PYTHON:-python3}" -m venv "$prefix"
pip=("$prefix/bin/pip" install --no-cache-dir -q --disable-pip-version-check)
reqs=$(mktemp)
trap 'rm -f "$reqs"' EXIT
"$prefix/bin/python" "$src/deploy/images/requirements.py" "$component" "$src" >"$reqs"
if [ "$component" = inference ]; then
  # The wheel built by scripts/build-llama-wheel.sh (CPU or CUDA flags), never a fresh source build.
  : "${WHEEL_CACHE:?inference needs WHEEL_CACHE with the llama-cpp-python wheel (scripts/build-llama-wheel.sh)}"
  "${pip[@]}" --no-index --find-links "$WHEEL_CACHE" "$(grep '^llama-cpp-python' "$reqs")"
fi
"${pip[@]}" -r "$reqs"
"${pip[@]}" --no-deps "$src"
"$prefix/bin/smart-sre" --help >/dev/null
echo "smart-sre ($component) installed in $prefix"
