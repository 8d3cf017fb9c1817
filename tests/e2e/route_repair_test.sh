#!/usr/bin/env bash
# A pod route deleted behind caracal-node's back is put back within the resync period.
source "$(dirname "$0")/lib.sh"
RESYNC=5
export CARACAL_LAB_NODE_ARGS="--resync-seconds $RESYNC"
lab_up --nodes 2 --encap vxlan
make_namespace e2e
check "pod e2e/a on node1" lab pod create e2e/a --node node1 --serve tcp:80
check "pod e2e/b on node2" lab pod create e2e/b --node node2 --serve tcp:80
check "a reaches b" lab probe e2e/a e2e/b --port 80

remote=$(lab node exec node1 -- ip route show proto 80 dev vxlan.calico | awk 'NR==1 {print $1}')
[ -n "$remote" ] && pass "node1 has a route to node2's block ($remote)" ||
  fail "node1 has no route through vxlan.calico"
route_back() { lab node exec node1 -- ip route show "$remote" proto 80 | grep -q vxlan.calico; }

check "delete the route by hand" lab node exec node1 -- ip route del "$remote"
t0=$SECONDS
if wait_until $((3 * RESYNC)) route_back; then
  took=$((SECONDS - t0))
  if [ $took -le $((RESYNC + 3)) ]; then pass "the route came back after ${took}s (resync ${RESYNC}s)"
  else fail "the route came back only after ${took}s (resync ${RESYNC}s)"; fi
else
  fail "the route did not come back within $((3 * RESYNC))s"
fi
check "a reaches b again" lab probe e2e/a e2e/b --port 80
finish
