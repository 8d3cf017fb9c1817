#!/usr/bin/env bash
# The quickstart: a 3-node caracal cluster on this machine (tools/caracal-lab, all in network
# namespaces; the host's own network is never touched), pods in two namespaces on different nodes
# created through the real CNI plugin, and the probe matrix showing every pod reaching every other
# pod across nodes over VXLAN.
#
#   tools/quickstart.sh [BUILD_DIR]      (what `make quickstart` runs)
#   KEEP=1 tools/quickstart.sh           leaves the lab running; `tools/caracal-lab down` removes it
#   ENCAP=ipip tools/quickstart.sh       IP-in-IP instead of VXLAN
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$top/tools/bin:$PATH"

if [ "${1:-}" = "--down" ]; then
  exec "$top/tools/caracal-lab" down
fi

build="${1:-build}"
case "$build" in /*) ;; *) build="$top/$build" ;; esac
export CARACAL_BUILD_DIR="$build"
lab="$top/tools/caracal-lab"
encap="${ENCAP:-vxlan}"

if [ "$(id -u)" -ne 0 ]; then
  echo "quickstart: needs root (it creates network namespaces)" >&2
  exit 1
fi

stop() {
  if [ "${KEEP:-0}" != 1 ]; then
    "$lab" down >/dev/null 2>&1 || true
  fi
}
trap stop EXIT

run() {
  echo
  echo "\$ $*"
  "$@"
}

# A lab left over from an earlier KEEP=1 run is replaced.
"$lab" down >/dev/null 2>&1 || true
caracal-lab() { "$lab" "$@"; }
run caracal-lab up --nodes 3 --encap "$encap"
eval "$("$lab" env)"
cache=$(mktemp -d)
kubectl() { command kubectl --cache-dir "$cache" "$@"; }

manifest=$(mktemp)
cat >"$manifest" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {ns: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: payments, labels: {ns: payments}}
EOF
run kubectl apply -f "$manifest"
rm -f "$manifest"
run caracal-lab pod create shop/web --node node1 --labels app=web --serve tcp:80,udp:81
run caracal-lab pod create shop/cart --node node2 --labels app=cart --serve tcp:80,udp:81
run caracal-lab pod create payments/api --node node3 --labels app=api --serve tcp:80,udp:81
run caracal-lab pod create payments/ledger --node node1 --labels app=ledger --serve tcp:80,udp:81

run kubectl get pods -A -o wide
run caracalctl get nodes -o wide
run caracalctl get workloadendpoints -A
run caracalctl ipam show --show-blocks
run caracal-lab node exec node1 -- ip route
run caracal-lab probe --matrix --port 80 --protocol tcp
run caracal-lab probe --matrix --port 81 --protocol udp
run caracal-lab probe shop/web payments/api --protocol icmp
rm -rf "$cache"

echo
if [ "${KEEP:-0}" = 1 ]; then
  echo "quickstart: the lab keeps running. Use it with:"
  echo "  eval \"\$(tools/caracal-lab env)\"   # KUBECONFIG for kubectl and caracalctl"
  echo "  tools/caracal-lab status"
  echo "  tools/caracal-lab down              # removes everything"
else
  echo "quickstart: done (KEEP=1 leaves the lab running)"
fi
