# Sourced by .ci/run and the Taskfile: where the Pact FFI library lives and how cgo finds it.
# The library ships in an npm package, since pact-go's own installer downloads from GitHub.
PACT_NPM_VERSION=20.2.0 # FFI 0.5.8, matches pact-go v2.8.0
PACT_HOME=${PACT_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/aiservice-pact}
export PACT_LIB_DIR=$PACT_HOME/node_modules/@pact-foundation/pact-core-linux-x64-glibc/prebuilds/linux-x64
export CGO_ENABLED=1 LIBRARY_PATH=$PACT_LIB_DIR LD_LIBRARY_PATH=$PACT_LIB_DIR PACT_DO_NOT_TRACK=true
export PACT_GO_LIB_DOWNLOAD_PATH=$PACT_LIB_DIR

pact_install() {
  if [ -s "$PACT_LIB_DIR/libpact_ffi.so" ]; then return 0; fi
  mkdir -p "$PACT_HOME"
  (cd "$PACT_HOME" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --no-audit --no-fund "@pact-foundation/pact-core-linux-x64-glibc@$PACT_NPM_VERSION" >/dev/null)
  test -s "$PACT_LIB_DIR/libpact_ffi.so"
}
