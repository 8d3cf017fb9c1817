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

finish
