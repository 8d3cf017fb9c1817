#!/usr/bin/env bash
# Pod-to-pod TCP throughput across two caracal-lab nodes (iperf3), over VXLAN and over IP-in-IP,
# each as a ratio to the same veth + bridge path without encapsulation (encap none, with static
# routes between the nodes' blocks standing in for BGP). Prints the median of RUNS runs per mode.
#
#   bench/iperf_pods.sh                       # BUILD_DIR defaults to <repo>/build
#   BUILD_DIR=build-x RUNS=3 SECONDS_PER_RUN=5 MODES="none vxlan ipip" bench/iperf_pods.sh
#
# Needs root (network namespaces) and iperf3. Everything runs inside the lab's namespaces, which
# are removed at the end whatever happens.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$(cd "${BUILD_DIR:-$TOP/build}" && pwd)
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
MODES=${MODES:-"none vxlan ipip"}
LAB="$TOP/tools/caracal-lab"
export CARACAL_BUILD_DIR="$BUILD_DIR"

[ "$(id -u)" -eq 0 ] || { echo "iperf_pods: needs root (network namespaces)" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "iperf_pods: iperf3 is not installed" >&2; exit 1; }

T=$(mktemp -d /tmp/caracal-iperf.XXXXXX)
export CARACAL_LAB_STATE="$T/lab"
trap '"$LAB" down >/dev/null 2>&1 || true; rm -rf "$T"' EXIT

lab() { "$LAB" "$@"; }

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# Encap none: without BGP nothing routes between nodes, so route each node's blocks (its
# blackhole routes) via that node's underlay address on every other node.
static_routes() {
  local k j block
  for k in 1 2; do
    for block in $(lab node exec "node$k" -- ip route show proto 80 type blackhole | awk '{print $2}'); do
      for j in 1 2; do
        [ "$j" != "$k" ] || continue
        lab node exec "node$j" -- ip route replace "$block" via "10.99.0.$((10 + k))" dev eth0
      done
    done
  done
}

# measure MODE: appends the per-run throughputs (Mbit/s) to $T/results-MODE.
measure() {
  local mode=$1 ip i out
  lab up --nodes 2 --encap "$mode" >"$T/up-$mode.log" 2>&1 ||
    { cat "$T/up-$mode.log" >&2; exit 1; }
  lab pod create default/iperf-server --node node2 >/dev/null
  lab pod create default/iperf-client --node node1 >/dev/null
  ip=$(lab status | awk '$1 == "default/iperf-server" {print $3}')
  [ "$mode" != none ] || static_routes
  lab exec default/iperf-server -- iperf3 -s -D --logfile "$T/iperf-server-$mode.log"
  for _ in $(seq 50); do
    lab exec default/iperf-client -- "$BUILD_DIR/cmd/caracal-labtool" probe "$ip" --port 5201 \
      --timeout-ms 200 >/dev/null 2>&1 && break
    sleep 0.1
  done
  for i in $(seq "$RUNS"); do
    out=$(lab exec default/iperf-client -- iperf3 -c "$ip" -t "$SECONDS_PER_RUN" -f m) ||
      { echo "iperf3 failed over $mode (run $i): $out" >&2; exit 1; }
    awk '/receiver/ {print $(NF-2)}' <<<"$out" >>"$T/results-$mode"
  done
  lab down >/dev/null 2>&1
}

declare -A MEDIAN RUNS_OF
for mode in $MODES; do
  echo "measuring $mode ($RUNS x ${SECONDS_PER_RUN}s)..." >&2
  measure "$mode"
  mapfile -t results <"$T/results-$mode"
  [ ${#results[@]} -eq "$RUNS" ] || { echo "iperf_pods: $mode gave no result" >&2; exit 1; }
  RUNS_OF[$mode]="${results[*]}"
  MEDIAN[$mode]=$(median "${results[@]}")
done

printf '%-6s  %-30s  %14s  %s\n' mode "runs (Mbit/s)" "median Mbit/s" "ratio to none"
for mode in $MODES; do
  ratio=-
  if [ -n "${MEDIAN[none]:-}" ]; then
    ratio=$(awk -v a="${MEDIAN[$mode]}" -v b="${MEDIAN[none]}" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  fi
  printf '%-6s  %-30s  %14s  %s\n' "$mode" "${RUNS_OF[$mode]}" "${MEDIAN[$mode]}" "$ratio"
done
