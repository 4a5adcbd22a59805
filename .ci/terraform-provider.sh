#!/usr/bin/env bash
# Builds the hashicorp/kubernetes Terraform provider from the Go module proxy, once per machine.
#
# Why: `terraform validate` needs the provider binary, and the Terraform registry cannot be reached
# here. A cold build takes several minutes and ~120 MB, so it goes into a cache directory that
# survives between CI runs on the same machine; when the pinned version is already there this
# script is a no-op. The deploy tests find it through AISERVICE_TF_PROVIDER_DIR (printed on stdout
# when run with --print-dir) and point Terraform at it with a dev_overrides CLI config.
#
# Usage: .ci/terraform-provider.sh [--print-dir]
set -euo pipefail

# The module version pins the provider source; its own VERSION file says 3.2.1. Bumping this line
# invalidates the cache (the stamp file below records which version was built).
PROVIDER_MODULE=github.com/hashicorp/terraform-provider-kubernetes
PROVIDER_VERSION=v1.13.4-0.20260821094251-3a33fb6cc605

DIR=${AISERVICE_TF_PROVIDER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aiservice-tf-provider}
BIN=$DIR/terraform-provider-kubernetes
STAMP=$DIR/.version

if [ "${1:-}" = "--print-dir" ]; then
  echo "$DIR"
  exit 0
fi

is_current() { [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$PROVIDER_VERSION" ]; }

if is_current; then
  echo "terraform provider: cached at $BIN ($PROVIDER_VERSION)" >&2
  exit 0
fi

mkdir -p "$DIR"
# A lock, so that two runs on one machine (a developer and CI) do not build it twice at once.
exec 9>"$DIR/.lock"
flock 9
if is_current; then
  echo "terraform provider: built by a concurrent run at $BIN" >&2
  exit 0
fi

echo "terraform provider: building $PROVIDER_MODULE@$PROVIDER_VERSION into $DIR (several minutes cold)" >&2
start=$(date +%s)
tmp=$(mktemp -d "$DIR/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# GOWORK=off: `go install pkg@version` must not see the repository's go.work.
# CGO_ENABLED=0: the provider is pure Go; a static binary does not depend on the host's libc.
GOWORK=off CGO_ENABLED=0 GOBIN=$tmp go install -trimpath "$PROVIDER_MODULE@$PROVIDER_VERSION"
# Install atomically: an interrupted build must never leave a half-written binary that looks cached.
mv -f "$tmp/terraform-provider-kubernetes" "$BIN"
echo "$PROVIDER_VERSION" >"$STAMP"
echo "terraform provider: built in $(($(date +%s) - start))s" >&2
