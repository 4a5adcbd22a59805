#!/usr/bin/env bash
# Starts the manual chaos set-up in the foreground (see toxiproxy/README.md):
#   aiservice sim        127.0.0.1:8081
#   aiservice serve      127.0.0.1:8080, upstream through toxiproxy 127.0.0.1:28081
#   toxiproxy server     API 127.0.0.1:8474, proxies from toxiproxy/toxiproxy.json
# Ctrl-C (or SIGTERM) stops all three.
#
# usage: toxiproxy/up.sh AISERVICE_BIN TOXIPROXY_SERVER_BIN
set -euo pipefail

bin=${1:?usage: up.sh AISERVICE_BIN TOXIPROXY_SERVER_BIN}
toxiproxy=${2:?usage: up.sh AISERVICE_BIN TOXIPROXY_SERVER_BIN}
dir=$(cd "$(dirname "$0")" && pwd)

pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$bin" sim --addr 127.0.0.1:8081 &
pids+=($!)
LOG_LEVEL=${LOG_LEVEL:-info} "$toxiproxy" -host 127.0.0.1 -port 8474 -config "$dir/toxiproxy.json" &
pids+=($!)
"$bin" serve --config "$dir/service.yaml" &
pids+=($!)

echo "chaos set-up running: client -> 127.0.0.1:28080 (toxiproxy) -> aiservice :8080 -> 127.0.0.1:28081 (toxiproxy) -> sim :8081; toxiproxy API :8474. Ctrl-C stops." >&2
# Any one of them exiting (e.g. a port already in use) stops the others.
wait -n
