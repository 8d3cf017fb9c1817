#!/usr/bin/env bash
# Three nodes over VXLAN: pods on different nodes and on the same node reach each other by TCP,
# UDP and ICMP; the probe matrix is all true; the VXLAN device and routes look like Calico's.
source "$(dirname "$0")/lib.sh"
lab_up --nodes 3 --encap vxlan

connectivity_suite

out=$(lab node exec node1 -- ip -d link show vxlan.calico)
expect_contains "node1 has vxlan.calico with VNI 4096" "$out" "vxlan id 4096"
expect_contains "vxlan.calico uses port 4789" "$out" "dstport 4789"
expect_contains "vxlan.calico does not learn" "$out" "nolearning"
out=$(lab node exec node1 -- ip route show proto 80)
expect_contains "node1 reaches remote blocks through vxlan.calico" "$out" "dev vxlan.calico"
expect_contains "remote block routes are onlink" "$out" "onlink"
expect_contains "node1 blackholes its own block" "$out" "blackhole 10.244."
out=$(lab node exec node1 -- bridge fdb show dev vxlan.calico)
expect_contains "the FDB points at node2's underlay address" "$out" "dst 10.99.0.12"
expect_contains "the FDB points at node3's underlay address" "$out" "dst 10.99.0.13"
out=$(ctl get nodes -o yaml)
expect_contains "caracal-node registered VXLAN tunnel addresses" "$out" "ipv4VXLANTunnelAddr"

finish
