# Shared helpers of the end-to-end tests: each test gets its own caracal-lab (state directory in a
# fresh temp dir, hence its own namespace prefix), real kubectl and caracalctl pointed at it, and
# a trap that takes the lab down whatever happens.
# Usage: source lib.sh; lab up ...; ...; finish
set -uo pipefail

BUILD_DIR="${BUILD_DIR:?BUILD_DIR must point at the build tree}"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LAB="$TOP/tools/caracal-lab"
BIN="$BUILD_DIR/cmd"
LABTOOL="$BIN/caracal-labtool"
export CARACAL_BUILD_DIR="$BUILD_DIR"
export PATH="$TOP/tools/bin:$BIN:$PATH"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the e2e tests need root (network namespaces)"
  exit 77
fi
for b in caracal-apiserver caracal-node caracal caracal-ipam caracal-labtool caracalctl; do
  if [ ! -x "$BIN/$b" ]; then
    echo "FAIL: $BIN/$b is missing: build it first (ninja -C $BUILD_DIR $b)"
    exit 1
  fi
done

T=$(mktemp -d /tmp/caracal-e2e.XXXXXX)
export CARACAL_LAB_STATE="$T/lab"
export HOME="$T/home"
mkdir -p "$HOME"
PASSED=0
FAILED=0
DUMPED=0

# What a failed run needs for diagnosis: the lab's own view and the tail of every log.
dump_lab() {
  [ $DUMPED -eq 0 ] || return 0
  DUMPED=1
  echo "--- caracal-lab status"
  "$LAB" status 2>&1 | sed 's/^/    /'
  local f
  for f in "$CARACAL_LAB_STATE"/apiserver.log "$CARACAL_LAB_STATE"/nodes/*/caracal-node.log \
    "$CARACAL_LAB_STATE"/nodes/*/cni.log; do
    [ -s "$f" ] || continue
    echo "--- $f (last 40 lines)"
    tail -n 40 "$f" | sed 's/^/    /'
  done
}

cleanup() {
  local rc=$?
  capture_stop
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then dump_lab; fi
  "$LAB" down >"$T/down.log" 2>&1 || { echo "caracal-lab down failed:"; cat "$T/down.log"; }
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

lab() { "$LAB" "$@"; }

# Real kubectl with a fresh discovery cache per call, as a new user would run it.
k() { kubectl --cache-dir "$T/kcache.$RANDOM$RANDOM" "$@"; }
ctl() { "$BIN/caracalctl" "$@"; }

# lab_up ARGS...: brings the lab up (fatal on failure) and loads its environment.
lab_up() {
  if ! lab up "$@"; then
    echo "FAIL: caracal-lab up $*"
    exit 1
  fi
  eval "$(lab env)"
}

# Creates a namespace the way a user does, through kubectl. (`kubectl create -f` sends JSON;
# `kubectl create namespace` would send protobuf.)
make_namespace() {
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$1" | k create -f - >/dev/null
}

pod_ip() { k get pod "${1#*/}" -n "${1%%/*}" -o 'jsonpath={.status.podIP}'; }

# The lab's namespace prefix, derived exactly as caracal-lab derives it.
lab_prefix() {
  echo "clab-$(printf '%s' "$(realpath -m "$CARACAL_LAB_STATE")" | sha1sum | cut -c1-8)"
}

pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && printf '       %s\n' "$2"; }

# check NAME COMMAND...: the command must succeed.
check() { local name=$1; shift; local out; if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi; }
# check_fails NAME COMMAND...: the command must fail.
check_fails() { local name=$1; shift; local out; if out=$("$@" 2>&1); then fail "$name (succeeded)" "$out"; else pass "$name"; fi; }
expect_eq() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "got [$2], want [$3]"; fi; }
expect_contains() { if [[ "$2" == *"$3"* ]]; then pass "$1"; else fail "$1" "[$3] not in: $2"; fi; }
expect_not_contains() { if [[ "$2" != *"$3"* ]]; then pass "$1"; else fail "$1" "[$3] unexpectedly in: $2"; fi; }

# wait_until SECONDS COMMAND...: polls every 0.5 s until the command succeeds.
wait_until() {
  local secs=$1
  shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

# ---- captures on the fabric: the underlay as the switch sees it ----
# One tcpdump at a time, in the fabric namespace on br0, numeric and line-buffered. The cleanup
# trap stops it whatever happens (and `caracal-lab down` kills anything left in the namespace).
CAPTURE_PID=""
capture_running() {
  local st
  [ -n "$CAPTURE_PID" ] && st=$(awk '{print $3}' "/proc/$CAPTURE_PID/stat" 2>/dev/null) &&
    [ "$st" != Z ]
}
# capture_start FILE COUNT FILTER...: starts the capture (it ends by itself after COUNT packets)
# and returns once tcpdump is listening; a capture that does not start is a failed check.
capture_start() {
  local file=$1 count=$2
  shift 2
  capture_stop
  # A simple command (not the `lab` function) so that the job execs: caracal-lab execs `ip netns
  # exec`, which execs tcpdump, and $! is tcpdump itself.
  "$LAB" fabric exec -- tcpdump -i br0 -n -l -c "$count" "$@" >"$file" 2>"$file.err" &
  CAPTURE_PID=$!
  if ! wait_until 10 grep -q "listening on" "$file.err"; then
    fail "tcpdump on the fabric started" "$(cat "$file.err")"
    capture_stop
    return 1
  fi
}
# capture_stop: ends the capture (SIGTERM, SIGKILL after 5 s) and reaps it; safe to repeat.
capture_stop() {
  [ -n "$CAPTURE_PID" ] || return 0
  kill -TERM "$CAPTURE_PID" 2>/dev/null
  local deadline=$((SECONDS + 5))
  while capture_running && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  kill -KILL "$CAPTURE_PID" 2>/dev/null
  wait "$CAPTURE_PID" 2>/dev/null
  CAPTURE_PID=""
}
# capture_while COMMAND...: runs the command (up to 10 times, 0.2 s apart) until the capture has
# seen its COUNT packets, then stops the capture.
capture_while() {
  local _
  for _ in $(seq 1 10); do
    capture_running || break
    "$@" >/dev/null 2>&1
    sleep 0.2
  done
  capture_stop
}

# Counts true/false cells of a `probe --matrix -o json` answer.
matrix_count() { grep -o "$2" <<<"$1" | wc -l; }

# The connectivity checks shared by the encapsulation tests: four pods on three nodes (a and d
# share node1), echo servers on tcp:80 and udp:81 everywhere.
connectivity_suite() {
  make_namespace e2e
  out=$(lab pod create missing/x 2>&1)
  expect_contains "pod create in a missing namespace says to create it" "$out" "does not exist"
  check "pod e2e/a on node1" lab pod create e2e/a --node node1 --labels app=web,tier=fe --serve tcp:80,udp:81
  check "pod e2e/b on node2" lab pod create e2e/b --node node2 --serve tcp:80,udp:81
  check "pod e2e/c on node3" lab pod create e2e/c --node node3 --serve tcp:80,udp:81
  check "pod e2e/d on node1" lab pod create e2e/d --node node1 --serve tcp:80,udp:81

  local ip_a ip_b
  ip_a=$(pod_ip e2e/a)
  ip_b=$(pod_ip e2e/b)
  expect_contains "pod status carries the pod IP (kubectl)" "$ip_a" "10.244."
  expect_eq "the Pod is on the node it was created for" \
    "$(k get pod a -n e2e -o 'jsonpath={.spec.nodeName}')" node1
  out=$(k get pod a -n e2e -o 'jsonpath={.spec.containers[0].ports[*].name}')
  expect_eq "--serve names the container ports" "$out" "serve-80-tcp serve-81-udp"
  out=$(k get workloadendpoints -n e2e -o name 2>&1 | wc -l)
  expect_eq "one WorkloadEndpoint per pod" "$out" 4

  check "cross-node TCP a->b" lab probe e2e/a e2e/b --port 80
  check "cross-node UDP a->b" lab probe e2e/a e2e/b --port 81 --protocol udp
  check "cross-node ICMP a->b" lab probe e2e/a e2e/b --protocol icmp
  check "cross-node TCP b->c" lab probe e2e/b e2e/c --port 80
  check "cross-node UDP c->a" lab probe e2e/c e2e/a --port 81 --protocol udp
  check "cross-node ICMP c->b" lab probe e2e/c e2e/b --protocol icmp
  check "same-node TCP a->d" lab probe e2e/a e2e/d --port 80
  check "same-node UDP d->a" lab probe e2e/d e2e/a --port 81 --protocol udp
  check "same-node ICMP a->d" lab probe e2e/a e2e/d --protocol icmp
  check_fails "a port nobody serves is unreachable" lab probe e2e/a e2e/b --port 82 --timeout-ms 500
  # The fabric has no route back to pod addresses: only natOutgoing makes this work.
  check "a pod reaches the fabric outside the pool (natOutgoing)" \
    lab exec e2e/a -- "$LABTOOL" probe 10.99.0.1 --protocol icmp
  check "a pod reaches a node address" lab exec e2e/b -- "$LABTOOL" probe 10.99.0.11 --protocol icmp

  local t0 json
  for proto in tcp:80 udp:81; do
    t0=$SECONDS
    json=$(lab probe --matrix --port "${proto#*:}" --protocol "${proto%%:*}" -o json)
    expect_eq "matrix ${proto%%:*}: 16 reachable pairs" "$(matrix_count "$json" true)" 16
    expect_eq "matrix ${proto%%:*}: no unreachable pair" "$(matrix_count "$json" false)" 0
    expect_contains "matrix json is keyed by NS/NAME" "$json" '"e2e/a":{"e2e/a":true'
    if [ $((SECONDS - t0)) -le 10 ]; then pass "matrix ${proto%%:*} took $((SECONDS - t0))s"; else
      fail "matrix ${proto%%:*} took $((SECONDS - t0))s"; fi
  done
  # Blocked pairs (no server on the port) cost one timeout in parallel, not one each.
  t0=$SECONDS
  json=$(lab probe --matrix --port 83 --timeout-ms 1000 -o json)
  expect_eq "matrix to an unserved port: all 16 pairs false" "$(matrix_count "$json" false)" 16
  if [ $((SECONDS - t0)) -le 6 ]; then pass "blocked matrix is parallel ($((SECONDS - t0))s)"; else
    fail "blocked matrix took $((SECONDS - t0))s"; fi
  out=$(lab probe --matrix --port 80)
  expect_contains "matrix table output" "$out" "FROM \\ TO"

  out=$(lab node exec node1 -- ip route show proto 80)
  expect_contains "node1 routes pod a to its veth" "$out" "$ip_a dev cali"
  out=$(lab node exec node2 -- ip route show proto 80)
  expect_contains "node2 routes pod b to its veth" "$out" "$ip_b dev cali"
}

finish() {
  echo "$PASSED passed, $FAILED failed"
  if [ "$FAILED" -ne 0 ]; then
    dump_lab
    exit 1
  fi
  exit 0
}

# ---- BGP (labs with the bird backend) ----
# bgp_peers NODE: the IPv4 peer rows of `caracal-lab node status NODE`, one per line, as
# "ADDRESS|TYPE|STATE|INFO" (the SINCE column left out).
bgp_peers() {
  lab node status "$1" 2>/dev/null | awk -F'|' '
    /^IPv6 BGP status/ { exit }
    NF >= 7 && $2 ~ /[0-9]/ {
      for (i = 2; i <= 6; i++) { gsub(/^ +| +$/, "", $i) }
      print $2 "|" $3 "|" $4 "|" $6
    }'
}
# bgp_since NODE ADDRESS: the SINCE column of that peer's row (changes whenever the state does).
bgp_since() {
  lab node status "$1" 2>/dev/null | awk -F'|' -v a="$2" '
    /^IPv6 BGP status/ { exit }
    NF >= 7 { p = $2; gsub(/^ +| +$/, "", p); if (p == a) { s = $5; gsub(/^ +| +$/, "", s); print s } }'
}
# bgp_established NODE ADDRESS TYPE: that peer is up and Established with that peer type.
bgp_established() { bgp_peers "$1" | grep -qxF "$2|$3|up|Established"; }
# node_blocks NODE: the IPAM blocks affine to NODE, from the blackholes its felix keeps.
node_blocks() { lab node exec "$1" -- ip -4 route show proto 80 type blackhole | awk '{print $2}'; }
# bird_route NODE CIDR: NODE's kernel route for exactly CIDR written by BIRD ("" when none).
bird_route() { lab node exec "$1" -- ip -4 route show proto bird exact "$2"; }
# felix_route NODE CIDR: the same for routes written by felix (protocol 80).
felix_route() { lab node exec "$1" -- ip -4 route show proto 80 exact "$2"; }
# has_bird_route NODE CIDR VIA: BIRD routes CIDR via that next hop on NODE.
has_bird_route() { [[ "$(bird_route "$1" "$2")" == *"via $3 "* ]]; }
# bird_pid NODE: the pid in that node's BIRD pid file.
bird_pid() { cat "$CARACAL_LAB_STATE/nodes/$1/bird/bird.pid" 2>/dev/null; }
# bird_alive PID: PID is a running bird.
bird_alive() { [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = bird ]; }
