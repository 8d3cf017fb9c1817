#!/usr/bin/env bash
# End-to-end policy latency: from an API write to the rule in a node's kernel, in a 3-node
# caracal-lab (VXLAN), for the nftables and the iptables dataplane.
#
#   BUILD_DIR=build-x bench/policy_latency.sh
#   BUILD_DIR=build-x DATAPLANES=nftables UPDATES=20 CREATES=3 PATHS="calico-api k8s" \
#     INTERVAL_MS=2 bench/policy_latency.sh
#
# Pods: lat/web-1, lat/web-2 on node2 (app=web), lat/client on node1 (app=client), lat/other on
# node3 (app=other). Every write is a policy selecting app=web with one ingress rule whose port is
# new (unique in the run), so the moment the rule is in node2's kernel is the moment node2's
# kernel shows that port. Paths:
#   calico-api  a projectcalico.org/v3 NetworkPolicy written by one HTTPS request (PUT, or POST
#               for a create) from bench/policy_latency_probe, over an already open connection
#   calico-ctl  the same policy kind written by `caracalctl apply -f` (a process: kubeconfig,
#               TLS handshake, GET, then the write)
#   k8s         a networking.k8s.io/v1 NetworkPolicy written by `kubectl apply -f`; caracal-
#               controller converts it into the Calico policy knp.default.<name>
# Each path gets CREATES creates (new policies) then UPDATES updates (the same policy, a new port
# each time); the paths take turns, one write at a time, PAUSE_MS apart.
#
# The probe (bench/policy_latency_probe) starts the clock right before the write and watches
# node2's kernel two ways at once: by listing it every INTERVAL_MS (`nft list table inet
# caracal` / `iptables-save -t filter`, spawned inside node2's namespace; the time is the end of
# the first listing that shows the port) and with `nft monitor` / `xtables-monitor` (the time the
# event line is read). It also watches Calico NetworkPolicies in the API (the moment a watcher
# such as caracal-node gets the change). Percentiles are nearest-rank: with 50 samples p99 is the
# 50th, i.e. the maximum.
#
# Needs root (network namespaces) and kubectl. Everything runs inside the lab's namespaces, which
# are removed at the end whatever happens.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$(cd "${BUILD_DIR:-$TOP/build}" && pwd)
DATAPLANES=${DATAPLANES:-"nftables iptables"}
PATHS=${PATHS:-"calico-api calico-ctl k8s"}
UPDATES=${UPDATES:-50}
CREATES=${CREATES:-5}
INTERVAL_MS=${INTERVAL_MS:-2}
# How the probe sees the kernel: poll, monitor or both (polling spawns a listing every
# INTERVAL_MS, which takes CPU from the node being measured; "monitor" leaves that out).
METHOD=${METHOD:-both}
TIMEOUT_MS=${TIMEOUT_MS:-10000}
PAUSE_MS=${PAUSE_MS:-200}
IDLE_SECONDS=${IDLE_SECONDS:-10}
LAB="$TOP/tools/caracal-lab"
PROBE="$BUILD_DIR/bench/policy_latency_probe"
CTL="$BUILD_DIR/cmd/caracalctl"
export CARACAL_BUILD_DIR="$BUILD_DIR"

BENCH_NAME=policy_latency
# shellcheck source=bench/lab_bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab_bench.sh"
bench_require kubectl -- "$PROBE" "$CTL"

T=$(mktemp -d /tmp/caracal-polat.XXXXXX)
export CARACAL_LAB_STATE="$T/lab"
KUBECONFIG_FILE="$CARACAL_LAB_STATE/kubeconfig"
# The lab's namespace names (caracal-lab derives its prefix from the state path the same way).
PREFIX="clab-$(printf '%s' "$(realpath -m "$CARACAL_LAB_STATE")" | sha1sum | cut -c1-8)"
NODE2_NETNS="/var/run/netns/$PREFIX-node2"
# KEEP_LOGS=DIR keeps the lab's logs and the raw samples there.
KEEP_LOGS=${KEEP_LOGS:-}
cleanup() {
  trap '' INT TERM HUP PIPE
  "$LAB" down >/dev/null 2>&1 </dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

lab() { "$LAB" "$@"; }
ctl() { KUBECONFIG="$KUBECONFIG_FILE" "$CTL" "$@"; }

# ---- policies ----------------------------------------------------------------------------------

calico_yaml() { # NAME PORT
  cat <<EOF
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: $1
  namespace: lat
spec:
  selector: app == 'web'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: app == 'client'
    destination:
      ports: [$2]
EOF
}

k8s_yaml() { # NAME PORT
  cat <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: $1
  namespace: lat
spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: client
    ports:
    - protocol: TCP
      port: $2
EOF
}

# ---- one sample --------------------------------------------------------------------------------

NEXT_PORT=10000
# sample PATH create|update NAME: one write, its probe line appended to $T/samples-$DP.
sample() {
  local path=$1 verb=$2 name=$3 port=$NEXT_PORT file out writer=()
  NEXT_PORT=$((NEXT_PORT + 1))
  file="$T/$path-$name-$port.yaml"
  case $path in
  k8s) k8s_yaml "$name" "$port" >"$file" ;;
  *) calico_yaml "$name" "$port" >"$file" ;;
  esac
  case $path in
  calico-api) writer=(--api "$verb" --file "$file") ;;
  calico-ctl) writer=(-- env KUBECONFIG="$KUBECONFIG_FILE" "$CTL" apply -f "$file") ;;
  k8s) writer=(-- env KUBECONFIG="$KUBECONFIG_FILE" kubectl apply -f "$file") ;;
  esac
  out=$("$PROBE" --netns "$NODE2_NETNS" --dataplane "$DP" --port "$port" \
    --method "$METHOD" --interval-ms "$INTERVAL_MS" --timeout-ms "$TIMEOUT_MS" --kubeconfig "$KUBECONFIG_FILE" \
    --watch-ns lat "${writer[@]}") || say "$DP $path $verb port $port: not seen in time: $out"
  [ -n "$out" ] || die "$DP $path $verb port $port: the probe failed"
  echo "$DP $path $verb $port $out" >>"$T/samples"
  sleep "$(awk -v ms="$PAUSE_MS" 'BEGIN {printf "%.3f", ms / 1000}')"
}

# ---- idle load ---------------------------------------------------------------------------------

# CPU seconds (user+system) of the lab's daemons, each as NAME=SECONDS.
lab_cpu() {
  local f pid
  for f in "$CARACAL_LAB_STATE"/pids/*.pid; do
    pid=$(cat "$f")
    awk -v n="$(basename "$f" .pid)" -v hz="$(getconf CLK_TCK)" \
      '{printf "%s=%.3f\n", n, ($14 + $15) / hz}' "/proc/$pid/stat" 2>/dev/null || true
  done
}

machine_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }

# idle_load: IDLE_SECONDS of the lab doing nothing; prints one line.
idle_load() {
  local before after b0 b1 lab_total
  before=$(lab_cpu)
  read -r b0 t0 < <(machine_busy)
  sleep "$IDLE_SECONDS"
  read -r b1 t1 < <(machine_busy)
  after=$(lab_cpu)
  lab_total=$(join -t= <(sort <<<"$before") <(sort <<<"$after") |
    awk -F= -v s="$IDLE_SECONDS" '{d = $3 - $2; t += d; if (d / s > 0.005) o = o sprintf(" %s %.1f%%", $1, 100 * d / s)}
      END {printf "lab daemons %.1f%% of one CPU (%s)", 100 * t / s, (o == "" ? "all < 0.5%" : substr(o, 2))}')
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg); machine busy $(awk -v a="$b0" -v b="$b1" \
    -v c="$t0" -v d="$t1" 'BEGIN {printf "%.0f%%", 100 * (b - a) / (d - c)}') of $(nproc) CPUs over" \
    "${IDLE_SECONDS}s; $lab_total"
}

# ---- lab ---------------------------------------------------------------------------------------

setup_lab() {
  say "$DP: lab up (3 nodes, vxlan)"
  lab up --nodes 3 --encap vxlan --dataplane "$DP" >"$T/up-$DP.log" 2>&1 ||
    { cat "$T/up-$DP.log" >&2; die "lab up failed"; }
  [ -e "$NODE2_NETNS" ] || die "no namespace $NODE2_NETNS"
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: lat\n' >"$T/ns.yaml"
  ctl create -f "$T/ns.yaml" >/dev/null
  lab pod create lat/web-1 --node node2 --labels app=web >/dev/null
  lab pod create lat/web-2 --node node2 --labels app=web >/dev/null
  lab pod create lat/client --node node1 --labels app=client >/dev/null
  lab pod create lat/other --node node3 --labels app=other >/dev/null
  # A first policy brings up the endpoint chains of the web pods (not measured).
  calico_yaml warmup 9999 >"$T/warmup.yaml"
  ctl apply -f "$T/warmup.yaml" >/dev/null
  local i
  for i in $(seq 100); do
    if [ "$DP" = nftables ]; then
      lab node exec node2 -- nft list table inet caracal 2>/dev/null | grep -q 'dport 9999' && break
    else
      lab node exec node2 -- iptables-save -t filter 2>/dev/null | grep -q 'dports 9999' && break
    fi
    sleep 0.1
  done
  [ "$i" -lt 100 ] || die "$DP: the warm-up policy never reached node2's kernel"
  sleep 2
}

run_dataplane() {
  local path i
  setup_lab
  IDLE[$DP]=$(idle_load)
  say "$DP idle: ${IDLE[$DP]}"
  for ((i = 0; i < CREATES; i++)); do
    for path in $PATHS; do sample "$path" create "$path-new-$i"; done
  done
  for path in $PATHS; do sample "$path" create "$path-upd"; done
  for ((i = 0; i < UPDATES; i++)); do
    for path in $PATHS; do sample "$path" update "$path-upd"; done
    [ $(((i + 1) % 10)) -ne 0 ] || say "$DP: $((i + 1)) of $UPDATES updates"
  done
  if [ -n "$KEEP_LOGS" ]; then
    mkdir -p "$KEEP_LOGS/$DP"
    cp "$CARACAL_LAB_STATE/apiserver.log" "$KEEP_LOGS/$DP/" 2>/dev/null || true
    cp "$CARACAL_LAB_STATE/controller.log" "$KEEP_LOGS/$DP/" 2>/dev/null || true
    cp "$CARACAL_LAB_STATE/nodes/node2/caracal-node.log" "$KEEP_LOGS/$DP/caracal-node-node2.log" \
      2>/dev/null || true
  fi
  lab down >/dev/null 2>&1
}

# ---- report ------------------------------------------------------------------------------------

# stats FIELD: "p50 p90 p99 max n" of FIELD (a probe key) over stdin's sample lines.
stats() {
  awk -v key="$1" '{for (i = 5; i < NF; i += 2) if ($i == key && $(i + 1) >= 0) print $(i + 1)}' |
    sort -g | awk '{v[NR] = $1}
      function q(p,  k) {k = int(p * NR); if (k < p * NR) k++; if (k < 1) k = 1; return v[k]}
      END {if (NR == 0) {print "- - - - 0"} else {printf "%.1f %.1f %.1f %.1f %d\n", q(0.5), q(0.9), q(0.99), v[NR], NR}}'
}

declare -A IDLE
say "machine: $(nproc) vCPU $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)," \
  "kernel $(uname -r), $(nft --version), $(iptables --version)"
for DP in $DATAPLANES; do
  run_dataplane
done
[ -z "$KEEP_LOGS" ] || cp "$T/samples" "$KEEP_LOGS/samples"

echo
echo "Policy write -> rule in node2's kernel: 3-node caracal-lab, VXLAN, $(nproc) vCPU" \
  "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "ms from the start of the write; nearest-rank percentiles; kernel polled every" \
  "${INTERVAL_MS} ms + one listing (mean cost of a listing in the last column)"
for DP in $DATAPLANES; do
  echo
  echo "$DP: idle before the run: ${IDLE[$DP]}"
  printf '%-10s %-6s %3s  %-22s %-22s %-22s %-22s %6s\n' path verb n "write (p50/p90/p99/max)" \
    "api watch event" "kernel: monitor" "kernel: poll" "poll"
  for path in $PATHS; do
    for verb in update create; do
      rows=$(awk -v dp="$DP" -v p="$path" -v v="$verb" '$1 == dp && $2 == p && $3 == v' "$T/samples")
      [ -n "$rows" ] || continue
      fmt() { awk '{printf "%s/%s/%s/%s", $1, $2, $3, $4}'; }
      n=$(wc -l <<<"$rows")
      printf '%-10s %-6s %3s  %-22s %-22s %-22s %-22s %6s\n' "$path" "$verb" "$n" \
        "$(stats write_ms <<<"$rows" | fmt)" "$(stats watch_ms <<<"$rows" | fmt)" \
        "$(stats monitor_ms <<<"$rows" | fmt)" "$(stats poll_ms <<<"$rows" | fmt)" \
        "$(stats poll_cost_ms <<<"$rows" | awk '{print $1}')"
    done
  done
done
echo
echo "missed (not seen within ${TIMEOUT_MS} ms): $(awk '{for (i = 5; i < NF; i += 2) if ($(i + 1) == -1) m++} END {print m + 0}' "$T/samples") values;" \
  "method $METHOD"
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
