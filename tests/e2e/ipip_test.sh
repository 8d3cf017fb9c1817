#!/usr/bin/env bash
# Three nodes over IP-in-IP. This kernel has no ipip module, so caracal-node uses its userspace
# tunnel (a TUN device named tunl0); the checks are the same as over VXLAN.
source "$(dirname "$0")/lib.sh"
lab_up --nodes 3 --encap ipip

connectivity_suite

out=$(lab node exec node1 -- ip link show tunl0)
expect_contains "node1 has tunl0" "$out" "tunl0"
out=$(lab node exec node1 -- ip route show proto 80)
expect_contains "node1 reaches remote blocks through tunl0" "$out" "dev tunl0"
expect_contains "the tunnel routes go via node2's underlay address" "$out" "via 10.99.0.12"
expect_not_contains "no VXLAN routes with encap ipip" "$out" "vxlan.calico"
out=$(ctl get nodes -o yaml)
expect_contains "caracal-node registered IPIP tunnel addresses" "$out" "ipv4IPIPTunnelAddr"

# IP-in-IP on the wire: the fabric's bridge carries protocol 4 packets between the node addresses
# with the pods' packets inside (a on node1, b on node2).
ip_a=$(pod_ip e2e/a)
ip_b=$(pod_ip e2e/b)
cap="$T/ipip-wire.txt"
if capture_start "$cap" 3 ip proto 4; then
  capture_while lab probe e2e/a e2e/b --protocol icmp
  out=$(cat "$cap")
  expect_contains "IPIP on the wire: node1 -> node2 around a -> b (echo request)" "$out" \
    "IP 10.99.0.11 > 10.99.0.12: IP $ip_a > $ip_b: ICMP echo request"
  expect_contains "IPIP on the wire: node2 -> node1 around b -> a (echo reply)" "$out" \
    "IP 10.99.0.12 > 10.99.0.11: IP $ip_b > $ip_a: ICMP echo reply"
fi

finish
