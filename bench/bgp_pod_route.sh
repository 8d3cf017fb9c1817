#!/usr/bin/env bash
# Pod-to-route benchmark: the time from creating a pod on one node to its block's route appearing
# in another node's kernel, with BGP (BIRD, caracal-lab backend bird) and, as the same-run
# baseline, with felix's own watch path (VXLAN, backend vxlan: the other node's agent programs the
# block route itself). Needs root; works only in two caracal-labs of its own (state directories
# under a temp dir, so namespaces of their own; the host's namespace is never touched), and takes
# them down and removes its files on exit, whatever happens.
#
#   BUILD_DIR=build bash bench/bgp_pod_route.sh [--pods 15] [--interval-ms 5] [--timeout 30]
#
# Setup, per lab (`caracal-lab up --nodes 2`, --encap none for BGP, --encap vxlan for the
# baseline): IPPool default-ipv4-ippool is replaced (caracalctl delete/apply) by bench-pool
# 10.245.0.0/16 with blockSize 32, natOutgoing, ipipMode Never and vxlanMode Never (BGP) or Always
# (baseline), so that every pod opens a block of its own and every pod adds one route on the other
# node: `10.245.x.y via 10.99.0.11 dev eth0 proto bird` (BGP) or `10.245.x.y via <node1's tunnel
# address> dev vxlan.calico proto 80 onlink` (baseline). One unmeasured warm-up pod per lab.
#
# Rounds: pods default/b1..bN are created one at a time on node1 with `caracal-lab pod create`,
# alternating between the two labs (so that both see the same load). For each pod:
#   t0  just before `caracal-lab pod create`;
#   tc  CNI ADD returned: the mtime of the pod's cni-result.json (the lab writes the plugin's
#       stdout there, so it is last written when the plugin prints its result);
#   t1  node2's kernel has one more route of the protocol (12 bird, 80 felix) than before the pod:
#       bench_bgp_route_wait, started before t0, one netlink route dump every --interval-ms; the
#       new route is then checked to be the pod's /32 with the expected next hop/device.
# `caracal-lab pod create` itself returns only after every other node routes the pod's address
# (its own 0.1 s `ip route get` poll, see docs/design/lab.md), so its return time is not "CNI
# done"; it is printed as a fourth figure (tr - t0).
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
LAB="$TOP/tools/caracal-lab"

BUILD_DIR=${BUILD_DIR:-build}
PODS=15
INTERVAL=5
TIMEOUT=30
while [[ $# -gt 0 ]]; do
  case $1 in
    --pods) PODS=$2; shift 2 ;;
    --interval-ms) INTERVAL=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    *)
      echo "usage: BUILD_DIR=DIR $0 [--pods N] [--interval-ms MS] [--timeout S]" >&2
      exit 2
      ;;
  esac
done
if ! [[ $PODS =~ ^[0-9]+$ ]] || ((PODS < 1 || PODS > 200)); then
  echo "bgp_pod_route.sh: --pods must be 1..200" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "bgp_pod_route.sh needs root (caracal-lab works in network namespaces)" >&2
  exit 2
fi
BUILD_DIR=$(cd "$BUILD_DIR" 2>/dev/null && pwd) || {
  echo "bgp_pod_route.sh: no build directory ${BUILD_DIR}" >&2
  exit 2
}
BIN="$BUILD_DIR/cmd"
WAIT="$BUILD_DIR/bench/bench_bgp_route_wait"
for f in "$BIN/caracal-apiserver" "$BIN/caracal-node" "$BIN/caracal" "$BIN/caracal-ipam" \
  "$BIN/caracal-labtool" "$BIN/caracalctl" "$WAIT" /usr/sbin/bird /usr/sbin/birdc; do
  if [[ ! -x $f ]]; then
    echo "bgp_pod_route.sh: $f is missing (ninja -C $BUILD_DIR caracal-apiserver caracal-node" \
      "caracal caracal-ipam caracal-labtool caracalctl bench_bgp_route_wait)" >&2
    exit 2
  fi
done
export CARACAL_BUILD_DIR="$BUILD_DIR"

W=$(mktemp -d "${TMPDIR:-/tmp}/caracal-bgppod-XXXXXX")
MODES=(bgp vxlan)
declare -A STATE_OF=() NS2_OF=() PROTO_OF=() KC_OF=()
STARTED=() # state directories of labs whose `up` was started

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # A route waiter left by an interrupted round (only while that pid is still the waiter).
  local wp s
  wp=$(cat "$W/waiter.pid" 2>/dev/null)
  if [[ $wp =~ ^[0-9]+$ ]] && grep -qa bench_bgp_route_wait "/proc/$wp/cmdline" 2>/dev/null; then
    kill "$wp" 2>/dev/null
    wait "$wp" 2>/dev/null
  fi
  for s in "${STARTED[@]}"; do
    CARACAL_LAB_STATE="$s" "$LAB" down >>"$W/down.log" 2>&1 ||
      { echo "bgp_pod_route.sh: caracal-lab down failed for $s:" >&2; cat "$W/down.log" >&2; }
  done
  rm -rf "$W"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "bgp_pod_route.sh: $*" >&2
  local s f
  for s in "${STARTED[@]}"; do
    for f in "$s"/nodes/*/caracal-node.log "$s"/nodes/*/cni.log; do
      [[ -s $f ]] && { echo "--- $f (last 15 lines)" >&2; tail -n 15 "$f" >&2; }
    done
  done
  exit 1
}

now() { echo "${EPOCHREALTIME/./}"; } # microseconds
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1000 + 0 }'; }
mtime_us() { local t; t=$(stat -c %.6Y "$1") || return 1; echo "${t/./}"; }
lab_prefix() { echo "clab-$(printf '%s' "$(realpath -m "$1")" | sha1sum | cut -c1-8)"; }

# lab MODE ARGS...: caracal-lab on that mode's lab.
lab() {
  local m=$1
  shift
  CARACAL_LAB_STATE="${STATE_OF[$m]}" "$LAB" "$@"
}
ctl() {
  local m=$1
  shift
  KUBECONFIG="${KC_OF[$m]}" "$BIN/caracalctl" "$@"
}
# route_of MODE IP: node2's kernel route of that protocol for exactly IP/32.
route_of() { ip -n "${NS2_OF[$1]}" -4 route show proto "${PROTO_OF[$1]}" exact "$2/32"; }
# route_ok MODE IP: node2 routes IP/32 the way the mode should (BIRD: via node1's address;
# felix VXLAN: into vxlan.calico).
route_ok() {
  local r
  r=$(route_of "$1" "$2")
  case $1 in
    bgp) [[ $r == *"via 10.99.0.11 dev eth0"* ]] ;;
    vxlan) [[ $r == *"dev vxlan.calico"* ]] ;;
  esac
}
# bird_times IP: "<static-us> <kernel-us>" from node1's BIRD (bgp lab): when its route for IP/32
# came from protocol static (confd's reload with the new block) and from protocol kernel (felix's
# workload route, learnt); "-" for a missing one. BIRD prints HH:MM:SS.mmm of its local time
# (UTC in the lab's environment); the date is today's, or yesterday's just after midnight.
bird_times() {
  local sock="${STATE_OF[bgp]}/nodes/node1/bird/bird.ctl" day
  day=$(date -u -d "$(date -u +%F)" +%s)
  /usr/sbin/birdc -s "$sock" show route "$1/32" 2>/dev/null | awk -v day="$day" -v now="$(date -u +%s)" '
    function us(t,   a) {
      split(t, a, /[:.]/)
      v = day + a[1] * 3600 + a[2] * 60 + a[3]
      if (v > now + 60) v -= 86400
      return sprintf("%d%03d000", v, a[4])
    }
    match($0, /\[(static|kernel)[0-9]* [0-9:.]+/) {
      split(substr($0, RSTART + 1, RLENGTH - 1), f, " ")
      if (f[1] ~ /^static/) st = us(f[2]); else ke = us(f[2])
    }
    END { print (st == "" ? "-" : st), (ke == "" ? "-" : ke) }'
}
pod_ip() {
  sed -n 's/^POD_IP=//p' "${STATE_OF[$1]}/pods/default_$2/pod.env" 2>/dev/null
}

# --- the labs
for m in "${MODES[@]}"; do
  STATE_OF[$m]="$W/$m/lab"
  mkdir -p "$W/$m"
  case $m in
    bgp) encap=none vx=Never PROTO_OF[$m]=12 ;;
    vxlan) encap=vxlan vx=Always PROTO_OF[$m]=80 ;;
  esac
  NS2_OF[$m]="$(lab_prefix "${STATE_OF[$m]}")-node2"
  KC_OF[$m]="${STATE_OF[$m]}/kubeconfig"
  STARTED+=("${STATE_OF[$m]}")
  lab "$m" up --nodes 2 --encap "$encap" >"$W/$m/up.log" 2>&1 ||
    { tail -n 30 "$W/$m/up.log" >&2; fail "caracal-lab up --encap $encap"; }
  ctl "$m" delete ippool default-ipv4-ippool >/dev/null || fail "$m: delete IPPool default-ipv4-ippool"
  cat >"$W/$m/pool.yaml" <<EOF
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: bench-pool}
spec:
  cidr: 10.245.0.0/16
  blockSize: 32
  ipipMode: Never
  vxlanMode: $vx
  natOutgoing: true
  nodeSelector: all()
EOF
  ctl "$m" apply -f "$W/$m/pool.yaml" >/dev/null || fail "$m: apply IPPool bench-pool"
  # Warm-up (not measured): the first pod after the pool change (VXLAN nodes also move their
  # tunnel addresses into the new pool then).
  lab "$m" pod create default/warm --node node1 >"$W/$m/pod.out" 2>&1 ||
    { cat "$W/$m/pod.out" >&2; fail "$m: pod create default/warm"; }
  ip=$(pod_ip "$m" warm)
  [[ $ip == 10.245.* ]] || fail "$m: the warm-up pod got '$ip', not an address of bench-pool"
  for _ in $(seq 100); do route_ok "$m" "$ip" && break; sleep 0.1; done
  route_ok "$m" "$ip" || fail "$m: node2 has no route for the warm-up pod $ip: $(route_of "$m" "$ip")"
done
sleep 1 # let the tunnel address moves (VXLAN) settle

# --- rounds
declare -A create=() after_cni=() cni=() lab_ret=()
bird_static="" bird_kernel=""
echo "bgp_pod_route: $PODS pods created one at a time on node1; node2's kernel polled every" \
  "$INTERVAL ms (netlink dump); IPPool 10.245.0.0/16 blockSize 32 (one block per pod)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 1; i <= PODS; i++)); do
  line="  pod b$i:"
  for m in "${MODES[@]}"; do
    base=$("$WAIT" --netns "${NS2_OF[$m]}" --proto "${PROTO_OF[$m]}" --count) ||
      fail "$m: route count on node2"
    "$WAIT" --netns "${NS2_OF[$m]}" --proto "${PROTO_OF[$m]}" --want $((base + 1)) \
      --interval-ms "$INTERVAL" --timeout "$TIMEOUT" >"$W/wait.out" 2>"$W/wait.err" &
    waiter=$!
    echo "$waiter" >"$W/waiter.pid"
    sleep 0.05 # the waiter's first dump (the starting count) is taken before t0
    t0=$(now)
    lab "$m" pod create "default/b$i" --node node1 >"$W/$m/pod.out" 2>&1 ||
      { cat "$W/$m/pod.out" >&2; fail "$m: pod create default/b$i"; }
    tr=$(now)
    wait "$waiter" || fail "$m: node2 did not get a new route for b$i: $(cat "$W/wait.err")"
    rm -f "$W/waiter.pid"
    read -r t1 _ <"$W/wait.out"
    tc=$(mtime_us "${STATE_OF[$m]}/pods/default_b$i/cni-result.json") ||
      fail "$m: no CNI result for b$i"
    ip=$(pod_ip "$m" "b$i")
    route_ok "$m" "$ip" ||
      fail "$m: the new route on node2 is not b$i's ($ip): $(route_of "$m" "$ip")"
    create[$m]+="$(ms "$t0" "$t1") "
    after_cni[$m]+="$(ms "$tc" "$t1") "
    cni[$m]+="$(ms "$t0" "$tc") "
    lab_ret[$m]+="$(ms "$t0" "$tr") "
    if [[ $m == bgp ]]; then
      read -r ts tk < <(bird_times "$ip")
      [[ $ts != - ]] && bird_static+="$(ms "$t0" "$ts") "
      [[ $tk != - ]] && bird_kernel+="$(ms "$t0" "$tk") "
    fi
    line+=" $m $ip create->route $(ms "$t0" "$t1") ms (CNI->route $(ms "$tc" "$t1"),"
    line+=" create->CNI $(ms "$t0" "$tc"));"
  done
  echo "$line"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# median of the arguments
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# "median M ms, p90 P ms (min, max)" of the arguments (p90: nearest rank)
stats() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    r = int(0.9 * NR); if (r < 0.9 * NR) r++
    printf "median %.1f ms, p90 %.1f ms (min %.1f, max %.1f)", m, v[r], v[1], v[NR] }'
}
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a (not both > 0)" }'
}

echo "summary"
for m in "${MODES[@]}"; do
  case $m in
    bgp) k="bgp pod route (BIRD, proto bird)" ;;
    vxlan) k="vxlan pod route (felix, vxlan.calico)" ;;
  esac
  # shellcheck disable=SC2086  # the lists are space-separated numbers
  {
    echo "$k, pod create -> route on node2: $(stats ${create[$m]})"
    echo "  CNI returned -> route on node2: $(stats ${after_cni[$m]})"
    echo "  pod create -> CNI returned: $(stats ${cni[$m]});" \
      "caracal-lab pod create returned: $(stats ${lab_ret[$m]})"
  }
done
# shellcheck disable=SC2086
{
  echo "  node1's BIRD, pod create -> block route from confd's reload (static):" \
    "$(stats ${bird_static:-nan}); -> felix's workload route learnt (kernel): $(stats ${bird_kernel:-nan})"
  echo "bgp/vxlan ratio of medians, pod create -> route: $(ratio "$(median ${create[bgp]})" \
    "$(median ${create[vxlan]})"); CNI returned -> route: $(ratio "$(median ${after_cni[bgp]})" \
    "$(median ${after_cni[vxlan]})")"
}
echo "($PODS pods per mode, polled every $INTERVAL ms; load average after:" \
  "$(cut -d' ' -f1-3 /proc/loadavg))"
