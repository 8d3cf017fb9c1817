#!/usr/bin/env bash
# Five nodes, no encapsulation, the mesh turned off and node1 made a route reflector with
# caracalctl, as in Calico's route reflector how-to: every other node has exactly one session (to
# node1), node1 has four, and every node still learns every other node's block, via the reflector.
source "$(dirname "$0")/lib.sh"
lab_up --nodes 5 --encap none

cat >"$T/bgpconfig.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  nodeToNodeMeshEnabled: false
  asNumber: 64512
EOF
cat >"$T/bgppeer.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: peer-with-rr
spec:
  nodeSelector: all()
  peerSelector: route-reflector == 'true'
EOF
check "apply BGPConfiguration default (mesh off)" ctl apply -f "$T/bgpconfig.yaml"
check "label node1 route-reflector=true" ctl label nodes node1 route-reflector=true
check "give node1 a route reflector cluster id" \
  ctl patch node node1 -p '{"spec":{"bgp":{"routeReflectorClusterID":"244.0.0.1"}}}'
out=$(ctl get node node1 -o yaml)
expect_contains "node1 carries the cluster id" "$out" "routeReflectorClusterID: 244.0.0.1"
if [[ "$out" =~ route-reflector:\ [\'\"]true[\'\"] ]]; then pass "node1 carries the label"; else
  fail "node1 carries the label" "$out"; fi
check "apply BGPPeer peer-with-rr" ctl apply -f "$T/bgppeer.yaml"

# ---- sessions: a star around node1, no mesh ----
# A BGPPeer with a peerSelector gives Node_ sessions, which node status calls "node specific".
for k in 2 3 4 5; do
  check "node$k's only peer is node1, Established within 15 s" wait_until 15 \
    eval "[ \"\$(bgp_peers node$k)\" = '10.99.0.11|node specific|up|Established' ]"
done
want1=$(for k in 2 3 4 5; do echo "10.99.0.1$k|node specific|up|Established"; done)
check "node1 (the reflector) has four Established peers within 15 s" wait_until 15 \
  eval '[ "$(bgp_peers node1)" = "$want1" ]'
expect_eq "node1's peers" "$(bgp_peers node1)" "$want1"
for k in 1 2 3 4 5; do
  conf="$CARACAL_LAB_STATE/nodes/node$k/bird/bird.conf"
  check_fails "node$k's bird.conf has no mesh session" grep -q "protocol bgp Mesh_" "$conf"
  expect_not_contains "node$k's status has no mesh peer" "$(bgp_peers "node$k")" "mesh"
done
conf1=$(cat "$CARACAL_LAB_STATE/nodes/node1/bird/bird.conf")
expect_contains "node1 reflects to its clients" "$conf1" "rr client"
expect_contains "node1 uses cluster id 244.0.0.1" "$conf1" "rr cluster id 244.0.0.1"
check_fails "node2 is no reflector" grep -q "rr client" "$CARACAL_LAB_STATE/nodes/node2/bird/bird.conf"

# ---- pods and routes: every block everywhere, learnt through the reflector ----
make_namespace rr
for k in 1 2 3 4 5; do
  check "pod rr/p$k on node$k" lab pod create "rr/p$k" --node "node$k" --serve tcp:80,udp:81
done
declare -A block
for k in 1 2 3 4 5; do
  block[$k]=$(node_blocks "node$k")
  if [[ "${block[$k]}" =~ ^10\.244\.[0-9]+\.[0-9]+/26$ ]]; then pass "node$k has one block (${block[$k]})"; else
    fail "node$k has one block" "blackholes: ${block[$k]}"; fi
done
for j in 1 2 3 4 5; do
  for k in 1 2 3 4 5; do
    [ "$j" != "$k" ] || continue
    check "node$j: BIRD routes node$k's block via 10.99.0.1$k" \
      wait_until 10 has_bird_route "node$j" "${block[$k]}" "10.99.0.1$k"
  done
  expect_eq "node$j has exactly four BIRD routes" \
    "$(lab node exec "node$j" -- ip -4 route show proto bird | grep -c .)" 4
done
out=$(birdc -s "$CARACAL_LAB_STATE/nodes/node2/bird/bird.ctl" show route for "${block[3]}" all)
expect_contains "node2 learnt node3's block through the reflector (cluster list)" "$out" \
  "BGP.cluster_list: 244.0.0.1"
expect_contains "node2's route to node3's block originates at node3" "$out" \
  "BGP.originator_id: 10.99.0.13"

for proto in tcp:80 udp:81 icmp:0; do
  args=(--protocol "${proto%%:*}" -o json)
  [ "${proto%%:*}" = icmp ] || args+=(--port "${proto#*:}")
  json=$(lab probe --matrix "${args[@]}")
  expect_eq "matrix ${proto%%:*}: 25 reachable pairs" "$(matrix_count "$json" true)" 25
  expect_eq "matrix ${proto%%:*}: no unreachable pair" "$(matrix_count "$json" false)" 0
done
finish
