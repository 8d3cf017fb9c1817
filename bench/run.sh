#!/usr/bin/env bash
# Runs the benchmarks of BUILD_DIR and prints their figures: the caracal-apiserver ones (creates,
# list, watch, fanout) and the dataplane ones (routes: RouteTable vs `ip -batch` and the no-op
# reconcile; cni: CNI ADD/DEL latency; iperf: pod-to-pod throughput in caracal-lab; the last three
# need root and create only network namespaces of their own) and the BGP ones (bgp: confd's
# renderer and `bird -p` at 1,000 nodes, then 10,000 FRR routes into a node's kernel through BIRD,
# which needs root and creates only network namespaces of its own).
#
#   bash bench/run.sh BUILD_DIR            (what `make bench` runs)
#
# Each benchmark starts its own caracal-apiserver on 127.0.0.1 with a fresh data directory and
# removes it when done; all of them run under a private TMPDIR that this script removes on exit,
# whatever happens. Extra arguments per benchmark come from the environment, e.g.
#   BENCH_WATCH_ARGS="--rate 50 --events 2000" bash bench/run.sh build
# BENCH_ONLY="creates list" limits the run to some of: creates list watch fanout routes cni iperf
# bgp bgppod (BENCH_BGP_RENDER_ARGS and BENCH_BGP_FRR_ARGS for the two parts of bgp,
# BENCH_BGP_POD_ARGS for bgppod: pod create -> its route on another node, BGP vs VXLAN), and on
# request policy (BENCH_POLICY_ARGS; one policy change at 1k/10k/100k rules, nft vs iptables; then
# bench_policy_calc, BENCH_POLICY_CALC_ARGS), policypacket (bench/policy_packet.sh: connection
# rate and throughput with 0/1k/10k policies) and policylatency (bench/policy_latency.sh: API
# write -> rule in a node's kernel).
set -u

BUILD=${1:-build}
BIN="$BUILD/bench"
ONLY=${BENCH_ONLY:-"creates list watch fanout routes cni iperf bgp bgppod"}

for b in bench_creates bench_list bench_watch bench_fanout bench_routes bench_cni; do
  if [[ ! -x "$BIN/$b" ]]; then
    echo "bench/run.sh: $BIN/$b is missing; build it first (make build, or ninja -C $BUILD $b)" >&2
    exit 2
  fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/caracal-bench-run-XXXXXX")
child=""
cleanup() { rm -rf "$WORK"; }
# On INT/TERM, pass the signal on to the running benchmark (which stops its server and removes its
# directory), wait for it, then leave; the EXIT trap removes everything else.
interrupted() {
  if [[ -n $child ]]; then
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  exit 130
}
trap cleanup EXIT
trap interrupted INT TERM
export TMPDIR="$WORK"

status=0
declare -a summaries=()

run() {
  local name=$1
  shift
  echo "=== $name $*"
  local log="$WORK/$name.log"
  # In the background with `wait`, so that a signal to this script is handled at once.
  "$BIN/$name" "$@" > >(tee "$log") 2>&1 &
  child=$!
  wait "$child"
  local rc=$?
  child=""
  wait # for tee to flush
  if [[ $rc -ne 0 ]]; then
    echo "=== $name FAILED (exit $rc)"
    status=1
  fi
  # The figures: every line after the program's "summary" heading, or the whole output of a
  # program that prints only figures.
  if grep -q '^summary' "$log"; then
    summaries+=("$(sed -n '/^summary/,$p' "$log" | sed '1d')")
  else
    summaries+=("$(cat "$log")")
  fi
  echo
}

# run_script SCRIPT LOG ARGS...: a root-only bench/ script (it builds its own namespaces), its
# output teed to LOG; the figures are the lines after its "summary" heading.
run_script() {
  local script=$1 log=$2
  shift 2
  echo "=== $script $*"
  BUILD_DIR="$BUILD" bash "$(dirname "$0")/$script" "$@" > >(tee "$log") 2>&1 &
  child=$!
  wait "$child" || { echo "=== $script FAILED"; status=1; }
  child=""
  wait # for tee to flush
  summaries+=("$(sed -n '/^summary/,$p' "$log" | sed '1d')")
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
for b in $ONLY; do
  case $b in
    creates) run bench_creates ${BENCH_CREATES_ARGS:-} ;;
    list) run bench_list ${BENCH_LIST_ARGS:-} ;;
    watch) run bench_watch ${BENCH_WATCH_ARGS:-} ;;
    fanout) run bench_fanout ${BENCH_FANOUT_ARGS:-} ;;
    routes) run bench_routes ${BENCH_ROUTES_ARGS:-} ;;
    cni) run bench_cni ${BENCH_CNI_ARGS:-} ;;
    iperf)
      echo "=== iperf_pods.sh"
      BUILD_DIR="$BUILD" bash "$(dirname "$0")/iperf_pods.sh" | tee "$WORK/iperf.log" || status=1
      summaries+=("$(cat "$WORK/iperf.log")")
      ;;
    bgp)
      for x in bench_bgp_render bench_bgp_render_file bench_bgp_route_wait; do
        [[ -x "$BIN/$x" ]] || echo "bench/run.sh: $BIN/$x is missing (ninja -C $BUILD $x)" >&2
      done
      run bench_bgp_render ${BENCH_BGP_RENDER_ARGS:-}
      # shellcheck disable=SC2086
      run_script bgp_frr_routes.sh "$WORK/bgp_frr.log" ${BENCH_BGP_FRR_ARGS:-}
      ;;
    policy)
      # Only on request (BENCH_ONLY=policy; root): one policy change with 1k/10k/100k rules
      # installed, nftables writer vs iptables-restore (BENCH_POLICY_ARGS overrides the sizes).
      # shellcheck disable=SC2086
      run bench_policy_update ${BENCH_POLICY_ARGS:---sizes 1000,10000,100000 --repeats 200,200,50}
      # The control plane: conversion of 10k NetworkPolicies, the calculation delta after one
      # pod label change (pure CPU).
      run bench_policy_calc ${BENCH_POLICY_CALC_ARGS:-}
      ;;
    policypacket)
      # Only on request (root, ~8 minutes): connection rate and throughput with 0/1k/10k
      # policies, nftables and iptables, in a caracal-lab (BUILD_DIR is this run's build).
      run_script policy_packet.sh "$WORK/policy_packet.log"
      ;;
    policylatency)
      # Only on request (root, ~10 minutes): a policy write (API, caracalctl, kubectl) -> the
      # rule in a node's kernel, nftables and iptables, in a caracal-lab.
      run_script policy_latency.sh "$WORK/policy_latency.log"
      ;;
    bgppod)
      # pod create -> its block route in another node's kernel, BIRD vs felix VXLAN, in two
      # caracal-labs (root; BENCH_BGP_POD_ARGS="--pods N").
      # shellcheck disable=SC2086
      run_script bgp_pod_route.sh "$WORK/bgp_pod.log" ${BENCH_BGP_POD_ARGS:-}
      ;;
    *) echo "bench/run.sh: unknown benchmark \"$b\"" >&2; status=2 ;;
  esac
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "=== figures"
for s in "${summaries[@]}"; do
  printf '%s\n' "$s"
done
exit $status
