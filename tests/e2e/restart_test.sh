#!/usr/bin/env bash
# Restarting caracal-node (SIGTERM, then SIGKILL) leaves the dataplane alone: a long-lived TCP
# connection between pods on two nodes keeps echoing every 100 ms across both restarts, and the
# routes are the same before and after.
source "$(dirname "$0")/lib.sh"
lab_up --nodes 2 --encap vxlan
make_namespace e2e
check "pod e2e/a on node1" lab pod create e2e/a --node node1 --serve tcp:80
check "pod e2e/b on node2" lab pod create e2e/b --node node2 --serve tcp:80
ip_a=$(pod_ip e2e/a)
routes1=$(lab node exec node1 -- ip route show proto 80 | sort)
routes2=$(lab node exec node2 -- ip route show proto 80 | sort)

# One connection, held 25 s; every echo must come back within 2 s.
lab exec e2e/b -- "$LABTOOL" probe "$ip_a" --port 80 --hold-ms 25000 --timeout-ms 2000 \
  >"$T/hold.out" 2>&1 &
hold=$!
sleep 2
check "caracal-node on node1 stops on SIGTERM" lab node stop node1
check "caracal-node on node2 stops on SIGTERM" lab node stop node2
expect_eq "node1 routes stay while caracal-node is down" \
  "$(lab node exec node1 -- ip route show proto 80 | sort)" "$routes1"
check "pods still talk with caracal-node down" lab probe e2e/a e2e/b --port 80
check "caracal-node on node1 restarts" lab node start node1
check "caracal-node on node2 restarts" lab node start node2
sleep 2
check "caracal-node on node1 dies on SIGKILL" lab node stop node1 --signal KILL
check "caracal-node on node1 restarts after SIGKILL" lab node start node1
if wait $hold; then pass "the held TCP connection survived both restarts"; else
  fail "the held TCP connection broke" "$(cat "$T/hold.out")"; fi

expect_eq "node1 routes after the restarts are the same" \
  "$(lab node exec node1 -- ip route show proto 80 | sort)" "$routes1"
expect_eq "node2 routes after the restarts are the same" \
  "$(lab node exec node2 -- ip route show proto 80 | sort)" "$routes2"
check "a new pod after the restart" lab pod create e2e/c --node node1 --serve tcp:80
check "b reaches the new pod" lab probe e2e/b e2e/c --port 80
check "the new pod reaches b's node" lab probe e2e/c e2e/a --port 80
finish
