#!/usr/bin/env bash
# Three nodes, no encapsulation, BGP full mesh: BIRD on every node learns the other nodes' blocks
# and pods reach each other over plain routes. BIRD dying is repaired by caracal-node; stopping a
# node's agent is a graceful restart (peers keep its routes, a held connection survives); removing
# a node withdraws its block everywhere.
source "$(dirname "$0")/lib.sh"
lab_up --nodes 3 --encap none

connectivity_suite
json=$(lab probe --matrix --protocol icmp -o json)
expect_eq "matrix icmp: 16 reachable pairs" "$(matrix_count "$json" true)" 16
expect_eq "matrix icmp: no unreachable pair" "$(matrix_count "$json" false)" 0

# ---- routes: remote blocks are BIRD's, felix keeps only local ones ----
declare -A block
for k in 1 2 3; do
  block[$k]=$(node_blocks "node$k")
  if [[ "${block[$k]}" =~ ^10\.244\.[0-9]+\.[0-9]+/26$ ]]; then pass "node$k has one block (${block[$k]})"; else
    fail "node$k has one block" "blackholes: ${block[$k]}"; fi
done
for j in 1 2 3; do
  for k in 1 2 3; do
    [ "$j" != "$k" ] || continue
    check "node$j: BIRD routes node$k's block via 10.99.0.1$k" \
      has_bird_route "node$j" "${block[$k]}" "10.99.0.1$k"
    expect_eq "node$j: no felix route for node$k's block" "$(felix_route "node$j" "${block[$k]}")" ""
  done
  out=$(lab node exec "node$j" -- ip -d link show)
  expect_not_contains "node$j has no vxlan.calico" "$out" "vxlan.calico"
  expect_not_contains "node$j has no tunl0" "$out" "tunl0"
  expect_not_contains "node$j has no vxlan device at all" "$out" "vxlan id"
done
expect_contains "BIRD's routes have metric 32" "$(bird_route node1 "${block[2]}")" "metric 32"
out=$(lab node exec node1 -- ip -4 route show proto bird)
expect_eq "node1 has exactly two BIRD routes" "$(grep -c . <<<"$out")" 2

# ---- sessions ----
out=$(bgp_peers node1)
expect_eq "node1 peers with node2 and node3 over the mesh" "$out" \
  "10.99.0.12|node-to-node mesh|up|Established
10.99.0.13|node-to-node mesh|up|Established"
out=$(lab node status node1)
expect_contains "node status prints calicoctl's table" "$out" "IPv4 BGP status"
out=$(bgp_peers node3)
expect_eq "node3 peers with node1 and node2 over the mesh" "$out" \
  "10.99.0.11|node-to-node mesh|up|Established
10.99.0.12|node-to-node mesh|up|Established"

# ---- BIRD killed on node2: caracal-node starts a new one, sessions and routes come back ----
old=$(bird_pid node2)
if bird_alive "$old"; then pass "node2's BIRD runs (pid $old)"; else fail "node2's BIRD runs" "pid file: $old"; fi
since=$(bgp_since node1 10.99.0.12)
kill -9 "$old"
new_bird() { local p; p=$(bird_pid node2); [ "$p" != "$old" ] && bird_alive "$p"; }
check "a new BIRD runs on node2 within 5 s" wait_until 5 new_bird
check "node2 keeps its kernel routes across BIRD's death" \
  has_bird_route node2 "${block[1]}" 10.99.0.11
reestablished() { bgp_established node1 10.99.0.12 "node-to-node mesh" &&
  [ "$(bgp_since node1 10.99.0.12)" != "$since" ]; }
check "node1's session to node2 is re-established within 10 s" wait_until 10 reestablished
check "node2's new BIRD has both sessions within 10 s" wait_until 10 \
  eval 'bgp_established node2 10.99.0.11 "node-to-node mesh" &&
    bgp_established node2 10.99.0.13 "node-to-node mesh"'
check "node1 still routes node2's block" has_bird_route node1 "${block[2]}" 10.99.0.12
check "node3 still routes node2's block" has_bird_route node3 "${block[2]}" 10.99.0.12
check "node2 routes node1's block" wait_until 5 has_bird_route node2 "${block[1]}" 10.99.0.11
check "node2 routes node3's block" wait_until 5 has_bird_route node2 "${block[3]}" 10.99.0.13
json=$(lab probe --matrix --port 80 -o json)
expect_eq "matrix tcp after BIRD's restart: all 16 reachable" "$(matrix_count "$json" true)" 16

# ---- graceful restart: node2's agent stopped and started under a held connection ----
ip_b=$(pod_ip e2e/b)
lab exec e2e/a -- "$LABTOOL" probe "$ip_b" --port 80 --hold-ms 15000 --timeout-ms 2000 \
  >"$T/hold.out" 2>&1 &
hold=$!
sleep 1
bpid=$(bird_pid node2)
check "caracal-node on node2 stops" lab node stop node2
if bird_alive "$bpid"; then fail "node2's BIRD stops with its agent" "pid $bpid still runs"; else
  pass "node2's BIRD stops with its agent"; fi
down2() { ! bgp_established node1 10.99.0.12 "node-to-node mesh"; }
check "node1's session to node2 goes down" wait_until 10 down2
check "node1 keeps node2's block (stale) while node2's agent is down" \
  has_bird_route node1 "${block[2]}" 10.99.0.12
check "node2 keeps its routes while its agent is down" has_bird_route node2 "${block[1]}" 10.99.0.11
check "pods still talk with node2's agent down" lab probe e2e/a e2e/b --port 80
check "caracal-node on node2 starts again" lab node start node2
check "node1's session to node2 is Established again within 10 s" \
  wait_until 10 bgp_established node1 10.99.0.12 "node-to-node mesh"
if wait $hold; then pass "the held TCP connection survived node2's agent restart"; else
  fail "the held TCP connection broke" "$(cat "$T/hold.out")"; fi
check "node1 routes node2's block after the restart" has_bird_route node1 "${block[2]}" 10.99.0.12

# ---- node3 removed: its block is withdrawn, its session goes away ----
check "node remove node3" lab node remove node3
gone() { [ -z "$(bird_route "$1" "${block[3]}")" ]; }
check "node1 drops node3's block within 10 s" wait_until 10 gone node1
check "node2 drops node3's block within 10 s" wait_until 10 gone node2
no_peer3() { ! lab node status node1 2>/dev/null | grep -qF 10.99.0.13; }
check "node1's status no longer lists 10.99.0.13 within 10 s" wait_until 10 no_peer3
expect_eq "node1 keeps its session with node2" "$(bgp_peers node1)" \
  "10.99.0.12|node-to-node mesh|up|Established"
check "node1 still routes node2's block" has_bird_route node1 "${block[2]}" 10.99.0.12
check "pods on node1 and node2 still talk" lab probe e2e/a e2e/b --port 80
finish
