#!/usr/bin/env bash
# The few system tools the build and the tests need; installed only when missing.
set -euo pipefail
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v promtool >/dev/null || missing+=(prometheus)  # promtool: the alert rule tests (tests/deploy)
if ((${#missing[@]})); then
  echo "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q && $SUDO apt-get install -y -q "${missing[@]}"
fi
