#!/usr/bin/env bash
# VXLAN CrossSubnet across a routed fabric: three nodes on two subnets (node1 and node3 on
# 10.99.0.0/24, node2 on 10.99.1.0/24). Within a subnet the pod traffic goes natively between the
# nodes; across the subnets it goes through vxlan.calico. Checked in the routing tables and on the
# wire (tcpdump on the fabric's br0), and with pods reaching each other over every pair.
source "$(dirname "$0")/lib.sh"
lab_up --nodes 3 --subnets 2 --encap vxlan-crosssubnet

# The underlay: two subnets, each node's default route via its own bridge address.
out=$(lab node exec node1 -- ip -4 -o addr show dev eth0)
expect_contains "node1 is on the first subnet" "$out" "10.99.0.11/24"
out=$(lab node exec node2 -- ip -4 -o addr show dev eth0)
expect_contains "node2 is on the second subnet" "$out" "10.99.1.12/24"
out=$(lab node exec node3 -- ip -4 -o addr show dev eth0)
expect_contains "node3 is on the first subnet" "$out" "10.99.0.13/24"
out=$(lab node exec node2 -- ip route show default)
expect_contains "node2's default route is via br1" "$out" "default via 10.99.1.1 dev eth0"
out=$(lab fabric exec -- sysctl -n net.ipv4.ip_forward)
expect_eq "the fabric routes between the subnets" "$out" 1
check "node2 reaches node1 through the fabric" \
  lab node exec node2 -- "$LABTOOL" probe 10.99.0.11 --protocol icmp
out=$(ctl get ippools -o yaml)
expect_contains "the pool is VXLAN CrossSubnet" "$out" "vxlanMode: CrossSubnet"

connectivity_suite

ip_a=$(pod_ip e2e/a) # node1
ip_b=$(pod_ip e2e/b) # node2
ip_c=$(pod_ip e2e/c) # node3

# Routes: native within the subnet, VXLAN across.
out=$(lab node exec node1 -- ip route get "$ip_c")
expect_contains "node1 -> node3 (same subnet) is native" "$out" "via 10.99.0.13 dev eth0"
expect_not_contains "node1 -> node3 does not use vxlan.calico" "$out" "vxlan.calico"
out=$(lab node exec node3 -- ip route get "$ip_a")
expect_contains "node3 -> node1 (same subnet) is native" "$out" "via 10.99.0.11 dev eth0"
out=$(lab node exec node1 -- ip route show proto 80)
expect_contains "node1's block route to node3 is native (proto 80)" "$out" "via 10.99.0.13 dev eth0"
out=$(lab node exec node1 -- ip route get "$ip_b")
expect_contains "node1 -> node2 (other subnet) goes through vxlan.calico" "$out" "dev vxlan.calico"
out=$(lab node exec node2 -- ip route get "$ip_a")
expect_contains "node2 -> node1 goes through vxlan.calico" "$out" "dev vxlan.calico"
out=$(lab node exec node2 -- ip route get "$ip_c")
expect_contains "node2 -> node3 goes through vxlan.calico" "$out" "dev vxlan.calico"
out=$(lab node exec node3 -- ip route get "$ip_b")
expect_contains "node3 -> node2 goes through vxlan.calico" "$out" "dev vxlan.calico"
out=$(lab node exec node1 -- bridge fdb show dev vxlan.calico)
expect_contains "node1's FDB sends node2's VTEP across the fabric" "$out" "dst 10.99.1.12"

# Every pair, every protocol (the suite did TCP and UDP matrices and single probes).
check "same-subnet TCP a->c" lab probe e2e/a e2e/c --port 80
check "same-subnet UDP c->a" lab probe e2e/c e2e/a --port 81 --protocol udp
check "same-subnet ICMP a->c" lab probe e2e/a e2e/c --protocol icmp
check "cross-subnet TCP b->a" lab probe e2e/b e2e/a --port 80
check "cross-subnet UDP b->c" lab probe e2e/b e2e/c --port 81 --protocol udp
check "cross-subnet ICMP b->a" lab probe e2e/b e2e/a --protocol icmp
json=$(lab probe --matrix --protocol icmp -o json)
expect_eq "matrix icmp: 16 reachable pairs" "$(matrix_count "$json" true)" 16
expect_eq "matrix icmp: no unreachable pair" "$(matrix_count "$json" false)" 0

# On the wire, same subnet: plain pod packets on br0 and no VXLAN to or from node3.
cap="$T/same-subnet.txt"
if capture_start "$cap" 100 "(icmp and host $ip_c) or (udp port 4789 and host 10.99.0.13)"; then
  for i in 1 2 3; do check "ICMP a->c under capture ($i)" lab probe e2e/a e2e/c --protocol icmp; done
  sleep 0.5
  capture_stop
  out=$(cat "$cap")
  expect_contains "node1 -> node3: plain pod packets on the fabric" "$out" \
    "IP $ip_a > $ip_c: ICMP echo request"
  expect_contains "node3 -> node1: plain pod replies on the fabric" "$out" \
    "IP $ip_c > $ip_a: ICMP echo reply"
  expect_not_contains "node1 <-> node3: no VXLAN on the fabric" "$out" "VXLAN"
  expect_not_contains "node1 <-> node3: nothing on UDP 4789" "$out" ".4789:"
fi

# On the wire, across the subnets: UDP 4789 between the node addresses, the pod packets inside.
cap="$T/cross-subnet.txt"
if capture_start "$cap" 4 udp port 4789 and host 10.99.1.12; then
  capture_while lab probe e2e/a e2e/b --protocol icmp
  out=$(cat "$cap")
  if grep -qE "^[0-9:.]+ IP 10\.99\.0\.11\.[0-9]+ > 10\.99\.1\.12\.4789: VXLAN" <<<"$out"; then
    pass "node1 -> node2: VXLAN (UDP 4789) from node1 to node2 on the fabric"
  else
    fail "node1 -> node2: no VXLAN from 10.99.0.11 to 10.99.1.12:4789 on the fabric" "$out"
  fi
  expect_contains "node1 -> node2: the VXLAN packets carry a -> b" "$out" \
    "IP $ip_a > $ip_b: ICMP echo request"
fi

finish
