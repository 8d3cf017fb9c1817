#!/usr/bin/env bash
# Deleting a pod runs CNI DEL: its address goes back to the block, its IPAMHandle and
# WorkloadEndpoint disappear, and its node stops routing to it.
source "$(dirname "$0")/lib.sh"
lab_up --nodes 2 --encap vxlan
make_namespace e2e
check "pod e2e/a on node1" lab pod create e2e/a --node node1 --serve tcp:80
check "pod e2e/b on node2" lab pod create e2e/b --node node2 --serve tcp:80
check "a reaches b before the delete" lab probe e2e/a e2e/b --port 80

ip_b=$(pod_ip e2e/b)
cid=$(k get workloadendpoints -n e2e -o 'jsonpath={.items[?(@.spec.pod=="b")].spec.containerID}')
expect_eq "the WorkloadEndpoint of b names its container" "${#cid}" 64
handle="k8s-pod-network.$cid"
# Blocks are /26: the block's name and b's ordinal in it follow from the address.
last=${ip_b##*.}
base="${ip_b%.*}.$((last & ~63))"
block="${base//./-}-26"
ordinal=$((last & 63))
# The allocation of b's ordinal: an attribute index while in use, null ("") once released.
alloc() {
  local v
  v=$(k get ipamblock "$block" -o "jsonpath={.spec.allocations[$ordinal]}")
  [ "$v" = null ] || echo "$v"
}
[ -n "$(alloc)" ] && pass "allocation $ordinal of $block is set" || fail "allocation $ordinal of $block is not set"
check "b's IPAMHandle exists" k get ipamhandle "$handle"
out=$(lab node exec node2 -- ip route show proto 80)
expect_contains "node2 routes b" "$out" "$ip_b dev cali"
out=$(ctl ipam show --ip="$ip_b" 2>&1)
expect_contains "caracalctl ipam show: b's address is in use" "$out" "is in use"

check "pod delete e2e/b" lab pod delete e2e/b
check_fails "the Pod object is gone" k get pod b -n e2e
expect_eq "b's address is released (allocation $ordinal of $block is empty)" "$(alloc)" ""
check_fails "b's IPAMHandle is gone" k get ipamhandle "$handle"
out=$(k get ipamblock "$block" -o json)
expect_not_contains "no block attribute refers to b's handle" "$out" "$cid"
out=$(k get workloadendpoints -n e2e -o name)
expect_eq "only a's WorkloadEndpoint is left" "$(echo "$out" | grep -c .)" 1
out=$(lab node exec node2 -- ip route show proto 80)
expect_not_contains "node2 no longer routes b's address" "$out" "$ip_b dev cali"
expect_not_contains "node2 has no cali interface left" "$(lab node exec node2 -- ip -o link show)" " cali"
out=$(ctl ipam show --ip="$ip_b" 2>&1)
expect_contains "caracalctl ipam show: b's address is free" "$out" "is not assigned"
check_fails "pod delete of a deleted pod fails" lab pod delete e2e/b

# The freed capacity is usable: a new pod on node2 gets an address and is reachable.
check "pod e2e/c on node2" lab pod create e2e/c --node node2 --serve tcp:80
check "a reaches the new pod" lab probe e2e/a e2e/c --port 80
finish
