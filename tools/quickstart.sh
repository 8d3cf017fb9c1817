#!/usr/bin/env bash
# Starts caracal-apiserver on its embedded store, applies examples/ with caracalctl, and shows the
# result with caracalctl and with real kubectl. The server stops at the end unless KEEP=1, in which
# case it keeps running and `tools/quickstart.sh --down` stops it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$top/tools/bin:$PATH"
data="${CARACAL_DATA_DIR:-$top/.quickstart}"
pidfile="$data/apiserver.pid"

if [ "${1:-}" = "--down" ]; then
  if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
  echo "quickstart: stopped"
  exit 0
fi

build="${1:-build}"
case "$build" in /*) ;; *) build="$top/$build" ;; esac
apiserver="$build/cmd/caracal-apiserver"
ctl="$build/cmd/caracalctl"

mkdir -p -m 700 "$data"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  kill "$(cat "$pidfile")"; sleep 0.5
fi
rm -f "$data/admin.kubeconfig"
"$apiserver" --data-dir "$data" --listen 127.0.0.1:0 >"$data/apiserver.log" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"
stop() { if [ "${KEEP:-0}" != 1 ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$pidfile"; fi; }
trap stop EXIT
for _ in $(seq 100); do
  [ -s "$data/admin.kubeconfig" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/apiserver.log"; exit 1; }
  sleep 0.1
done
export KUBECONFIG="$data/admin.kubeconfig"
head -1 "$data/apiserver.log"

run() { echo; echo "\$ $*"; "$@"; }
run "$ctl" version
run "$ctl" apply -f "$top/examples/"
run "$ctl" get ippools -o wide
run "$ctl" get bgppeers
run "$ctl" get globalnetworkpolicies -o wide
run "$ctl" get networkpolicies -A
run "$ctl" selector "app == 'api'" --labels app=api,role=fe
cache=$(mktemp -d)
run kubectl --cache-dir "$cache" get namespaces
run kubectl --cache-dir "$cache" get networkpolicies.networking.k8s.io -A
run kubectl --cache-dir "$cache" get ippools.projectcalico.org
run kubectl --cache-dir "$cache" get globalnetworkpolicies -o yaml
rm -rf "$cache"
echo
if [ "${KEEP:-0}" = 1 ]; then
  echo "quickstart: caracal-apiserver keeps running (pid $pid). Use:"
  echo "  export KUBECONFIG=$data/admin.kubeconfig"
  echo "  stop it with: tools/quickstart.sh --down"
else
  echo "quickstart: done (run with KEEP=1 to leave the server running)"
fi
