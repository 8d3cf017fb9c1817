#!/usr/bin/env bash
# Per-packet cost of policy: pod-to-pod TCP connection rate and iperf3 throughput across two
# caracal-lab nodes (VXLAN) with 0, 1,000 and 10,000 extra Calico NetworkPolicies installed, as a
# ratio to 0, for the nftables and the iptables dataplane.
#
#   BUILD_DIR=build-x bench/policy_packet.sh
#   BUILD_DIR=build-x DATAPLANES=nftables SIZES="0 1000" RUNS=3 SECONDS_PER_RUN=5 PARALLEL=4 \
#     bench/policy_packet.sh
#
# The measured path: client pod on node1 -> VXLAN -> node2 -> the server pod's ingress endpoint
# chain -> the chain of one allow policy (selects app=server, allows app=client) -> allowed. The
# extra policies (bench/other-<i>: selector app == 'other-<i>', ingress from app == 'peer-<i>')
# select other pods; pods app=other-0..4 live on node2 (the server's node) and app=peer-0..4 on
# node1, so a few of them are active on the measured node, the rest only live in the calculation.
# SIZES are cumulative: each level adds policies up to its count. After each level a sentinel
# policy (selecting app=other-0) is created last; the level is installed when its chain is in
# node2's kernel, since the node takes watch events in order.
#
# Connection rate: build/bench/conn_rate (client in the client pod, server in the server pod;
# PARALLEL loops of connect, 1 byte each way, close). Throughput: iperf3, one stream.
# Each figure is the median of RUNS runs of SECONDS_PER_RUN seconds.
#
# Needs root (network namespaces) and iperf3. Everything runs inside the lab's namespaces, which
# are removed at the end whatever happens.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$(cd "${BUILD_DIR:-$TOP/build}" && pwd)
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
PARALLEL=${PARALLEL:-4}
DATAPLANES=${DATAPLANES:-"nftables iptables"}
SIZES=${SIZES:-"0 1000 10000"}
OTHER_PODS=${OTHER_PODS:-5}
# How long one level may take to reach node2's kernel before it is measured as it stands.
CONVERGE_TIMEOUT=${CONVERGE_TIMEOUT:-900}
LAB="$TOP/tools/caracal-lab"
CONN_RATE="$BUILD_DIR/bench/conn_rate"
CTL="$BUILD_DIR/cmd/caracalctl"
readonly CONN_PORT=7000 IPERF_PORT=5201
export CARACAL_BUILD_DIR="$BUILD_DIR"

BENCH_NAME=policy_packet
# shellcheck source=bench/lab_bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab_bench.sh"
bench_require iperf3 -- "$CONN_RATE" "$CTL"

T=$(mktemp -d /tmp/caracal-polpkt.XXXXXX)
export CARACAL_LAB_STATE="$T/lab"
# KEEP_LOGS=DIR keeps the lab's logs (felix's among them) of each dataplane there.
KEEP_LOGS=${KEEP_LOGS:-}
# Whatever ends the script (error, ^C, SIGTERM, a closed output pipe), the lab goes down.
cleanup() {
  trap '' INT TERM HUP PIPE
  "$LAB" down >/dev/null 2>&1 </dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

lab() { "$LAB" "$@"; }
ctl() { KUBECONFIG="$CARACAL_LAB_STATE/kubeconfig" "$CTL" "$@"; }

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }

# user+system CPU seconds of a lab daemon (pid file name, e.g. node-node2).
cpu_seconds() {
  local pid
  pid=$(cat "$CARACAL_LAB_STATE/pids/$1.pid" 2>/dev/null) || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat" 2>/dev/null ||
    echo 0
}

# Ingress policy chains in node2's kernel, for the dataplane in use.
policy_chains() {
  if [ "$DP" = nftables ]; then
    lab node exec node2 -- nft list table inet caracal 2>/dev/null | grep -cE '^\s*chain pi-' || true
  else
    lab node exec node2 -- iptables-save -t filter 2>/dev/null | grep -cE '^:cali-pi-' || true
  fi
}

# What node2's kernel holds, one line: chains, rules, sets.
kernel_summary() {
  if [ "$DP" = nftables ]; then
    lab node exec node2 -- nft list table inet caracal 2>/dev/null |
      awk '/^\tchain / {c++; in_chain = 1; next} /^\t}/ {in_chain = 0} /^\t(set|map) / {s++}
           in_chain && /^\t\t[^ ]/ && !/^\t\t(comment|type) / {r++}
           END {printf "nft: %d chains, %d rules, %d sets/maps", c, r, s}'
  else
    local chains rules sets
    chains=$(lab node exec node2 -- iptables-save -t filter | grep -c '^:cali-' || true)
    rules=$(lab node exec node2 -- iptables-save -t filter | grep -c '^-A cali-' || true)
    sets=$(lab node exec node2 -- ipset list -n 2>/dev/null | grep -c . || true)
    echo "iptables: $chains cali chains, $rules rules, $sets ipsets"
  fi
}

# policies_yaml FIRST LAST: Calico NetworkPolicies bench/other-FIRST..LAST.
policies_yaml() {
  awk -v first="$1" -v last="$2" 'BEGIN {
    for (i = first; i <= last; i++) {
      printf "---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
      printf "metadata:\n  name: other-%d\n  namespace: bench\n", i
      printf "spec:\n  selector: app == \x27other-%d\x27\n  types: [Ingress]\n  ingress:\n", i
      printf "  - action: Allow\n    protocol: TCP\n    source:\n"
      printf "      selector: app == \x27peer-%d\x27\n    destination:\n      ports: [8080, 8443]\n", i
    }
  }'
}

sentinel_yaml() {
  cat <<EOF
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: sentinel-$1
  namespace: bench
spec:
  selector: app == 'other-0'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: app == 'peer-0'
    destination:
      ports: [9000]
EOF
}

# wait_chains WANT: until node2 holds WANT policy chains; prints the seconds waited.
wait_chains() {
  local want=$1 t0=$SECONDS next=$((SECONDS + 15)) have
  while true; do
    have=$(policy_chains)
    [ "$have" -lt "$want" ] || break
    if [ $((SECONDS - t0)) -ge "$CONVERGE_TIMEOUT" ]; then
      say "NOT CONVERGED after ${CONVERGE_TIMEOUT}s: $have of $want policy chains; measuring anyway"
      CONVERGED=no
      break
    fi
    if [ $SECONDS -ge $next ]; then
      say "  ... $((SECONDS - t0))s: $have of $want policy chains, caracal-node(node2) cpu $(cpu_seconds node-node2)s"
      next=$((SECONDS + 15))
    fi
    sleep 0.2
  done
}

# add_policies FROM TO: creates policies FROM..TO-1 and the level's sentinel; waits for node2.
add_policies() {
  local from=$1 to=$2 before want t0 t_api t_done cpu0 cpu1 ccpu0 ccpu1 acpu0 acpu1
  before=$(policy_chains)
  # Newly active on node2: the other-<i> (i < OTHER_PODS) in this range, and the sentinel.
  want=$((before + 1))
  for ((i = from; i < to && i < OTHER_PODS; i++)); do want=$((want + 1)); done
  policies_yaml "$from" $((to - 1)) >"$T/policies-$to.yaml"
  sentinel_yaml "$to" >"$T/sentinel-$to.yaml"
  cpu0=$(cpu_seconds node-node2) ccpu0=$(cpu_seconds node-node1) acpu0=$(cpu_seconds apiserver)
  t0=$(date +%s.%N)
  ctl create -f "$T/policies-$to.yaml" >"$T/create-$to.log" 2>&1 ||
    { cat "$T/create-$to.log" >&2; die "creating policies $from..$((to - 1)) failed"; }
  ctl create -f "$T/sentinel-$to.yaml" >/dev/null
  t_api=$(date +%s.%N)
  CONVERGED=yes
  wait_chains "$want"
  t_done=$(date +%s.%N)
  cpu1=$(cpu_seconds node-node2) ccpu1=$(cpu_seconds node-node1) acpu1=$(cpu_seconds apiserver)
  INSTALL[$DP:$to]=$(awk -v a="$t0" -v b="$t_done" 'BEGIN {printf "%.1f", b - a}')
  say "$DP: policies $from..$((to - 1)) created through the API in $(awk -v a="$t0" -v b="$t_api" 'BEGIN {printf "%.1f", b - a}')s;" \
    "in node2's kernel after ${INSTALL[$DP:$to]}s (converged: $CONVERGED);" \
    "cpu during it: caracal-node node2 $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.1f", b - a}')s," \
    "node1 $(awk -v a="$ccpu0" -v b="$ccpu1" 'BEGIN {printf "%.1f", b - a}')s," \
    "apiserver $(awk -v a="$acpu0" -v b="$acpu1" 'BEGIN {printf "%.1f", b - a}')s"
  [ "$CONVERGED" = yes ] || INSTALL[$DP:$to]=">${INSTALL[$DP:$to]} (not converged)"
}

# measure LEVEL: RUNS x (iperf3, conn_rate); medians into the result tables.
measure() {
  local level=$1 i out gbits=() conns=() p99s=()
  say "$DP at $level policies: $(kernel_summary)"
  for i in $(seq "$RUNS"); do
    out=$(lab exec bench/client -- iperf3 -c "$SERVER_IP" -p "$IPERF_PORT" -t "$SECONDS_PER_RUN" -f m) ||
      die "iperf3 failed ($DP, $level policies, run $i): $out"
    gbits+=("$(awk '/receiver/ {printf "%.3f", $(NF-2) / 1000}' <<<"$out")")
    out=$(lab exec bench/client -- "$CONN_RATE" client --to "$SERVER_IP:$CONN_PORT" \
      --parallel "$PARALLEL" --seconds "$SECONDS_PER_RUN") ||
      die "conn_rate failed ($DP, $level policies, run $i): $out"
    conns+=("$(awk '{print $2}' <<<"$out")")
    p99s+=("$(awk '{print $NF}' <<<"$out")")
    say "  run $i: ${gbits[-1]} Gbit/s, $out"
  done
  GBITS[$DP:$level]=$(median "${gbits[@]}")
  CONNS[$DP:$level]=$(median "${conns[@]}")
  P99[$DP:$level]=$(median "${p99s[@]}")
  RUNS_OF[$DP:$level]="conn/s ${conns[*]}; Gbit/s ${gbits[*]}"
}

setup_lab() {
  say "$DP: lab up (2 nodes, vxlan)"
  lab up --nodes 2 --encap vxlan --dataplane "$DP" >"$T/up-$DP.log" 2>&1 ||
    { cat "$T/up-$DP.log" >&2; die "lab up failed"; }
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n' >"$T/ns.yaml"
  ctl create -f "$T/ns.yaml" >/dev/null
  lab pod create bench/server --node node2 --labels app=server >/dev/null
  lab pod create bench/client --node node1 --labels app=client >/dev/null
  local i
  for ((i = 0; i < OTHER_PODS; i++)); do
    lab pod create "bench/other-$i" --node node2 --labels "app=other-$i" >/dev/null
    lab pod create "bench/peer-$i" --node node1 --labels "app=peer-$i" >/dev/null
  done
  SERVER_IP=$(lab status | awk '$1 == "bench/server" {print $3}')
  [ -n "$SERVER_IP" ] || die "no IP for bench/server"
  cat >"$T/allow.yaml" <<EOF
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-client
  namespace: bench
spec:
  selector: app == 'server'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: app == 'client'
    destination:
      ports: [$IPERF_PORT, $CONN_PORT]
EOF
  ctl create -f "$T/allow.yaml" >/dev/null
  wait_chains 1
  lab exec bench/server -- iperf3 -s -D -p "$IPERF_PORT" --logfile "$T/iperf-server-$DP.log"
  setsid "$LAB" exec bench/server -- "$CONN_RATE" server --port "$CONN_PORT" --threads "$PARALLEL" \
    --ready-file "$T/conn-ready-$DP" </dev/null >"$T/conn-server-$DP.log" 2>&1 &
  for _ in $(seq 100); do [ -s "$T/conn-ready-$DP" ] && break; sleep 0.1; done
  [ -s "$T/conn-ready-$DP" ] || die "conn_rate server did not start: $(cat "$T/conn-server-$DP.log")"
  # The policy is in force: the client gets through, peer-0 (no rule for it) does not.
  local ok=""
  for _ in $(seq 50); do
    if lab exec bench/client -- "$CONN_RATE" client --to "$SERVER_IP:$CONN_PORT" --parallel 1 \
      --seconds 0.2 --warmup 0 >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
  done
  [ -n "$ok" ] || die "client cannot reach the server on $CONN_PORT"
  if lab exec bench/peer-0 -- "$CONN_RATE" client --to "$SERVER_IP:$CONN_PORT" --parallel 1 \
    --seconds 0.5 --warmup 0 >/dev/null 2>&1; then
    die "peer-0 reaches the server: the allow policy is not enforced"
  fi
  say "$DP: server $SERVER_IP; client allowed, peer-0 denied (policy enforced)"
}

declare -A GBITS CONNS P99 RUNS_OF INSTALL
say "machine: $(nproc) vCPU $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)," \
  "$(nft --version), $(iptables --version)"
for DP in $DATAPLANES; do
  setup_lab
  prev=0
  for level in $SIZES; do
    if [ "$level" -gt "$prev" ]; then
      add_policies "$prev" "$level"
      prev=$level
    fi
    measure "$level"
  done
  if [ -n "$KEEP_LOGS" ]; then
    mkdir -p "$KEEP_LOGS/$DP"
    cp "$CARACAL_LAB_STATE/apiserver.log" "$KEEP_LOGS/$DP/" || true
    for n in node1 node2; do
      cp "$CARACAL_LAB_STATE/nodes/$n/caracal-node.log" "$KEEP_LOGS/$DP/caracal-node-$n.log" || true
    done
  fi
  lab down >/dev/null 2>&1
done

echo
echo "Per-packet cost of policy: client pod (node1) -> server pod (node2), VXLAN, $(nproc) vCPU" \
  "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "median of $RUNS x ${SECONDS_PER_RUN}s; conn/s with $PARALLEL parallel loops; iperf3 one stream"
printf '%-10s %9s %10s %6s %12s %9s %6s  %s\n' dataplane policies conn/s ratio "conn p99 us" Gbit/s ratio \
  "installed after (s)"
first=${SIZES%% *}
for DP in $DATAPLANES; do
  for level in $SIZES; do
    printf '%-10s %9s %10s %6s %12s %9s %6s  %s\n' "$DP" "$level" "${CONNS[$DP:$level]}" \
      "$(ratio "${CONNS[$DP:$level]}" "${CONNS[$DP:$first]}")" "${P99[$DP:$level]}" \
      "${GBITS[$DP:$level]}" "$(ratio "${GBITS[$DP:$level]}" "${GBITS[$DP:$first]}")" \
      "${INSTALL[$DP:$level]:--}"
  done
done
echo
echo "runs:"
for DP in $DATAPLANES; do
  for level in $SIZES; do
    echo "  $DP $level: ${RUNS_OF[$DP:$level]}"
  done
done
