#!/usr/bin/env bash
# Route propagation benchmark: how long N (default 10,000) prefixes announced by an external BGP
# router (FRR) take to reach a node's kernel through BIRD running confd's configuration, and how
# long their withdrawal takes to clear it. Needs root; works only in two network namespaces of its
# own (the host's namespace is never touched) and removes them, its processes and its files on
# exit, whatever happens.
#
#   BUILD_DIR=build bash bench/bgp_frr_routes.sh [--routes 10000] [--repeats 5] [--timeout 60]
#                                                [--frr-bgp-line LINE]...
#
# --frr-bgp-line adds a line under FRR's `router bgp` (e.g. 'coalesce-time 100', to see how much
# of the session-start figure is FRR's update-group coalescing timer, 1 s by default).
#
# Setup:
#   netns bgpbench-<pid>-node: the node, 10.99.0.1/24. BIRD runs with the bird.conf that
#     renderBirdConfig() produces (through BUILD_DIR/bench/bench_bgp_render_file, checked with
#     `bird -p`) for: Node bench-node (10.99.0.1, one affine block 192.168.0.0/26), IPPool
#     192.168.0.0/16, BGPConfiguration default (mesh off, AS 64512), and a global BGPPeer
#     10.99.0.2 AS 65000 (eBGP). Only a `log` line is added in front of the rendered text.
#   netns bgpbench-<pid>-frr: FRR zebra + bgpd (tests/lib/frr.sh), 10.99.0.2/24, on a veth pair
#     with the node. bgpd holds N `network` statements (172.16.0.0/24, 172.16.1.0/24, ...: outside
#     the pool) with `no bgp network import-check`, so they need no route in FRR's own RIB and are
#     all in bgpd's table from the start; an outbound route-map on the neighbor (deny everything)
#     keeps them back. Removing or re-attaching that route-map is one vtysh command that releases
#     or withdraws all N prefixes at once, which gives a precise start time.
#
# Figures, each the median of --repeats rounds (min and max too); the kernel is polled every
# 10 ms with a netlink route dump of the node's namespace (bench_bgp_route_wait: routes of
# protocol bird in the main table; `ip route show | wc -l` costs ~10x more per poll):
#   announce:  vtysh `no neighbor ... route-map HOLD out` issued -> N routes proto bird in kernel
#   withdraw:  vtysh `neighbor ... route-map HOLD out` issued    -> 0 routes proto bird
#   session:   FRR `no neighbor ... shutdown` with the prefixes released: BIRD reports the session
#              Established -> N routes in the kernel (the full table sent at session start);
#              the time from the command to Established is printed too (BIRD's connect/error
#              wait timers dominate it).
#   peer down: FRR `neighbor ... shutdown` issued -> 0 routes (BIRD drops the peer's routes).
# Baseline in the same run: `ip -batch` adding and deleting the same N routes in a scratch table
# of the node's namespace (the kernel's own cost for N route writes), and the time of one poll
# (which bounds the resolution of every figure, with the 10 ms interval).
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
# shellcheck source=tests/lib/frr.sh
source "$TOP/tests/lib/frr.sh"

BUILD_DIR=${BUILD_DIR:-build}
ROUTES=10000
REPEATS=5
TIMEOUT=60
FRR_EXTRA=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --routes) ROUTES=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --frr-bgp-line) FRR_EXTRA+=("$2"); shift 2 ;;
    *)
      echo "usage: BUILD_DIR=DIR $0 [--routes N] [--repeats R] [--timeout S]" \
        "[--frr-bgp-line LINE]..." >&2
      exit 2
      ;;
  esac
done
if ((ROUTES < 1 || ROUTES > 60000)); then
  echo "bgp_frr_routes.sh: --routes must be 1..60000" >&2
  exit 2
fi

RENDER="$BUILD_DIR/bench/bench_bgp_render_file"
WAIT="$BUILD_DIR/bench/bench_bgp_route_wait"
BIRD=${BIRD:-/usr/sbin/bird}
BIRDC=${BIRDC:-/usr/sbin/birdc}
if [[ $(id -u) -ne 0 ]]; then
  echo "bgp_frr_routes.sh needs root (it works in network namespaces of its own)" >&2
  exit 2
fi
for f in "$RENDER" "$WAIT" "$BIRD" "$BIRDC" "$FRR_SBIN/zebra" "$FRR_SBIN/bgpd"; do
  if [[ ! -x $f ]]; then
    echo "bgp_frr_routes.sh: $f is missing (build: ninja -C $BUILD_DIR" \
      "bench_bgp_render_file bench_bgp_route_wait)" >&2
    exit 2
  fi
done

NS_NODE="bgpbench-$$-node"
NS_FRR="bgpbench-$$-frr"
# FRR's daemons run as user frr and must reach $W/frr: every directory above it must be
# searchable by others. A private TMPDIR (mktemp -d, 0700, as bench/run.sh makes) is not, so /tmp
# is used then.
searchable() {
  local d
  d=$(cd "$1" 2>/dev/null && pwd) || return 1
  while [[ $d != / ]]; do
    (($(stat -c '%#a' "$d") & 1)) || return 1
    d=$(dirname "$d")
  done
}
BASE=${TMPDIR:-/tmp}
searchable "$BASE" || BASE=/tmp
W=$(mktemp -d "$BASE/caracal-bgp-frr-XXXXXX")
chmod 711 "$W"
FRR_DIR="$W/frr"
NODE_IP=10.99.0.1
FRR_IP=10.99.0.2
PROTO="Global_10_99_0_2" # the session name confd gives a global BGPPeer 10.99.0.2

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # A background route waiter of an interrupted round (started in a subshell, so by its pid file;
  # only when that pid is still the waiter).
  local wp
  wp=$(cat "$W/waiter.pid" 2>/dev/null)
  if [[ $wp =~ ^[0-9]+$ ]] && grep -qa bench_bgp_route_wait "/proc/$wp/cmdline" 2>/dev/null; then
    kill "$wp" 2>/dev/null
  fi
  if [[ -f $W/bird.pid ]]; then
    local pid
    pid=$(cat "$W/bird.pid" 2>/dev/null)
    if [[ $pid =~ ^[0-9]+$ ]]; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  frr_stop "$FRR_DIR"
  ip netns del "$NS_NODE" 2>/dev/null
  ip netns del "$NS_FRR" 2>/dev/null
  rm -rf "$W"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "bgp_frr_routes.sh: $*" >&2
  for f in "$W/bird.log" "$FRR_DIR/bgpd.log" "$FRR_DIR/zebra.log"; do
    [[ -s $f ]] && { echo "--- $f (last 20 lines)" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

now() { echo "${EPOCHREALTIME/./}"; } # microseconds
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 1000 }'; }

count_routes() { "$WAIT" --netns "$NS_NODE" --count; }

# Polls every 10 ms (one netlink dump per poll, bench_bgp_route_wait) until the node has exactly
# $1 routes proto bird; prints "<done-us> <first-us>": when it saw them, and when it first saw
# the count change.
wait_count() {
  local out
  out=$("$WAIT" --netns "$NS_NODE" --want "$1" --interval-ms 10 --timeout "$TIMEOUT") || return 1
  echo "${out% * *}"
}

bird_established() {
  "$BIRDC" -s "$W/bird.ctl" show protocols "$PROTO" 2>/dev/null | grep -q Established
}

# Polls every 10 ms: prints "<established-us> <done-us> <first-us>": when BIRD first reported the
# session Established (birdc, polled here), when the node had $1 routes and when the first route
# arrived (bench_bgp_route_wait, in the background meanwhile).
wait_session_and_count() {
  local want=$1 t0 t est="" out
  "$WAIT" --netns "$NS_NODE" --want "$want" --interval-ms 10 --timeout "$TIMEOUT" >"$W/wait.out" &
  local waiter=$!
  echo "$waiter" >"$W/waiter.pid"
  t0=$(now)
  while [[ -z $est ]]; do
    if bird_established; then
      est=$(now)
      break
    fi
    t=$(now)
    if ((t - t0 > TIMEOUT * 1000000)); then
      echo "timed out waiting for the session" >&2
      kill "$waiter" 2>/dev/null
      wait "$waiter" 2>/dev/null
      return 1
    fi
    sleep 0.01
  done
  wait "$waiter" || return 1
  out=$(cat "$W/wait.out")
  echo "$est ${out% * *}"
}

frr_bgp() { frr_vtysh "$FRR_DIR" 'configure terminal' 'router bgp 65000' "$@" >/dev/null; }
frr_af() { frr_bgp 'address-family ipv4 unicast' "$@"; }

# Prints the N prefixes, one a line: the i-th /24 from 172.16.0.0 (172.16.0.0/24, 172.16.1.0/24,
# ...).
prefixes() {
  awk -v n="$ROUTES" 'BEGIN {
    for (i = 0; i < n; i++) printf "172.%d.%d.0/24\n", 16 + int(i / 256), i % 256 }'
}

# --- namespaces and link (the veth pair is created inside the node's namespace)
ip netns add "$NS_NODE" || fail "cannot create netns $NS_NODE"
ip netns add "$NS_FRR" || fail "cannot create netns $NS_FRR"
ip -n "$NS_NODE" link add eth0 type veth peer name eth0 netns "$NS_FRR" || fail "veth"
ip -n "$NS_NODE" addr add "$NODE_IP/24" dev eth0
ip -n "$NS_FRR" addr add "$FRR_IP/24" dev eth0
for ns in "$NS_NODE" "$NS_FRR"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
done

# --- the node's BIRD, configured by confd's renderer
cat >"$W/objects.yaml" <<EOF
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: bench-node}
spec: {bgp: {ipv4Address: $NODE_IP/24}}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 192.168.0.0/16, blockSize: 26}
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false, asNumber: 64512}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: frr}
spec: {peerIP: $FRR_IP, asNumber: 65000}
EOF
"$RENDER" --node bench-node --block 192.168.0.0/26 "$W/objects.yaml" >"$W/rendered.conf" \
  2>"$W/render.err" || fail "render: $(cat "$W/render.err")"
grep -q "protocol bgp $PROTO " "$W/rendered.conf" || fail "no session $PROTO in the rendered config"
{
  echo "log \"$W/bird.log\" { info, warning, error, fatal };"
  cat "$W/rendered.conf"
} >"$W/bird.conf"
"$BIRD" -p -c "$W/bird.conf" || fail "bird -p rejected the rendered configuration"
ip netns exec "$NS_NODE" "$BIRD" -c "$W/bird.conf" -s "$W/bird.ctl" -P "$W/bird.pid" ||
  fail "bird did not start"

# --- FRR with N prefixes held back by an outbound route-map
mkdir -p "$FRR_DIR"
echo "hostname bench-frr" >"$FRR_DIR/zebra.conf"
{
  echo "hostname bench-frr"
  echo "route-map HOLD deny 10"
  echo "!"
  echo "router bgp 65000"
  echo " bgp router-id $FRR_IP"
  echo " no bgp ebgp-requires-policy"
  echo " no bgp network import-check"
  echo " neighbor $NODE_IP remote-as 64512"
  echo " neighbor $NODE_IP timers connect 1"
  for l in "${FRR_EXTRA[@]}"; do echo " $l"; done
  echo " address-family ipv4 unicast"
  prefixes | sed 's/^/  network /'
  echo "  neighbor $NODE_IP route-map HOLD out"
  echo " exit-address-family"
} >"$FRR_DIR/bgpd.conf"
frr_start "$NS_FRR" "$FRR_DIR" || fail "FRR did not start"
frr_wait_established "$FRR_DIR" "$NODE_IP" 30 || fail "no BGP session"
for _ in $(seq 100); do bird_established && break; sleep 0.1; done
bird_established || fail "BIRD does not report $PROTO Established"
have=$(frr_vtysh "$FRR_DIR" 'show bgp ipv4 unicast summary json' | grep -o '"ribCount": *[0-9]*' |
  grep -o '[0-9]*$' | head -1)
[[ ${have:-0} -ge $ROUTES ]] || fail "bgpd holds ${have:-0} prefixes, expected at least $ROUTES"
wait_count 0 >/dev/null || fail "routes present before the first announcement"

# --- baseline: the kernel's own cost for N route writes (scratch table 100, same namespace)
prefixes | sed "s/.*/route add & via $FRR_IP dev eth0 table 100/" >"$W/add.batch"
sed 's/^route add/route del/' "$W/add.batch" >"$W/del.batch"
declare -a b_add=() b_del=() b_poll=() b_dump=()
for ((r = 0; r < REPEATS; r++)); do
  t0=$(now)
  ip -n "$NS_NODE" -batch "$W/add.batch" || fail "ip -batch add"
  t1=$(now)
  ip -n "$NS_NODE" -4 route show table 100 | wc -l >/dev/null
  t2=$(now)
  b_poll+=("$(ms "$t1" "$t2")")
  out=$("$WAIT" --netns "$NS_NODE" --table 100 --proto 3 --want "$ROUTES" --timeout 5) ||
    fail "route dump of table 100"
  b_dump+=("${out##* }") # the median dump time
  t2=$(now)
  ip -n "$NS_NODE" -batch "$W/del.batch" || fail "ip -batch del"
  t3=$(now)
  b_add+=("$(ms "$t0" "$t1")")
  b_del+=("$(ms "$t2" "$t3")")
done

# --- rounds

# record_wait T0 WANT WHAT ALL [FIRST]: waits until the node holds WANT routes after a change made
# at T0 (microseconds), then appends the milliseconds until then to the array named ALL and, when
# given, the milliseconds until the first route change to the array named FIRST; fails with WHAT
# when the count is not reached.
record_wait() {
  local t0=$1 want=$2 what=$3 t1 tf
  local -n all_ms=$4
  read -r t1 tf < <(wait_count "$want")
  [[ -n ${tf:-} ]] || fail "$what"
  all_ms+=("$(ms "$t0" "$t1")")
  if [[ -n ${5:-} ]]; then
    local -n first_ms=$5
    first_ms+=("$(ms "$t0" "$tf")")
  fi
}

declare -a announce=() announce1=() vtysh_ms=() withdraw=() withdraw1=() session=() session1=()
declare -a cmd_to_est=()
declare -a peerdown=()
echo "bgp_frr_routes: $ROUTES prefixes FRR (AS 65000) -> BIRD (confd config, AS 64512) -> kernel," \
  "$REPEATS rounds, polling every 10 ms"
for ((r = 1; r <= REPEATS; r++)); do
  t0=$(now)
  frr_af "no neighbor $NODE_IP route-map HOLD out" || fail "vtysh"
  vtysh_ms+=("$(ms "$t0" "$(now)")")
  record_wait "$t0" "$ROUTES" "announce round $r" announce announce1

  t0=$(now)
  frr_af "neighbor $NODE_IP route-map HOLD out" || fail "vtysh"
  record_wait "$t0" 0 "withdraw round $r" withdraw withdraw1

  # A fresh session with the prefixes released: the whole table at session start.
  frr_bgp "neighbor $NODE_IP shutdown" || fail "vtysh"
  frr_af "no neighbor $NODE_IP route-map HOLD out" || fail "vtysh"
  for _ in $(seq 100); do bird_established || break; sleep 0.1; done
  t0=$(now)
  frr_bgp "no neighbor $NODE_IP shutdown" || fail "vtysh"
  read -r est t1 tf < <(wait_session_and_count "$ROUTES")
  [[ -n ${tf:-} ]] || fail "session round $r"
  session+=("$(ms "$est" "$t1")")
  session1+=("$(ms "$est" "$tf")")
  cmd_to_est+=("$(ms "$t0" "$est")")

  t0=$(now)
  frr_bgp "neighbor $NODE_IP shutdown" || fail "vtysh"
  record_wait "$t0" 0 "peer down round $r" peerdown

  # Back to the start state: session up, prefixes held.
  frr_af "neighbor $NODE_IP route-map HOLD out" || fail "vtysh"
  frr_bgp "no neighbor $NODE_IP shutdown" || fail "vtysh"
  frr_wait_established "$FRR_DIR" "$NODE_IP" 30 || fail "session did not come back"
  for _ in $(seq 100); do bird_established && break; sleep 0.1; done
  echo "  round $r: announce ${announce[-1]} ms (first route ${announce1[-1]} ms)," \
    "withdraw ${withdraw[-1]} ms (first ${withdraw1[-1]} ms)," \
    "session ${session[-1]} ms (first ${session1[-1]} ms; command -> Established" \
    "${cmd_to_est[-1]} ms), peer down ${peerdown[-1]} ms"
done

# "median min max" of the arguments.
stats() {
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median %g ms (min %g, max %g)", m, v[1], v[NR] }'
}

K="bgp $ROUTES routes FRR -> kernel"
echo "summary"
echo "$K, announce (vtysh -> all in kernel): $(stats "${announce[@]}")  goal < 2000 ms"
echo "  first route in kernel after: $(stats "${announce1[@]}");" \
  "the vtysh command itself: $(stats "${vtysh_ms[@]}")"
echo "$K, withdraw (vtysh -> none in kernel): $(stats "${withdraw[@]}")"
echo "  first route gone after: $(stats "${withdraw1[@]}")"
echo "$K, session start (Established -> all in kernel): $(stats "${session[@]}")"
echo "  first route in kernel after: $(stats "${session1[@]}")"
echo "bgp session restart (no shutdown -> BIRD Established): $(stats "${cmd_to_est[@]}")"
echo "bgp peer down (FRR shutdown -> none in kernel): $(stats "${peerdown[@]}")"
echo "baseline ip -batch $ROUTES route adds in the same netns: $(stats "${b_add[@]}");" \
  "deletes: $(stats "${b_del[@]}")"
echo "baseline one poll of $ROUTES routes: netlink dump $(stats "${b_dump[@]}")," \
  "ip route show | wc -l $(stats "${b_poll[@]}")"
