#!/usr/bin/env bash
# Host endpoints: a HostEndpoint for node1's eth0 puts node1's own traffic under policy (nftables
# or iptables, the argument). With no policy only the failsafe ports pass (SSH 22 and BGP 179 in,
# the API 6443 and BGP out), so the BGP mesh and the node's API connection survive; a
# GlobalNetworkPolicy selecting the host endpoint opens a port; pod traffic forwarded through the
# node is not affected unless a policy has applyOnForward; a preDNAT policy decides on a
# NodePort-like port before it is translated; a doNotTrack policy lets a port through without
# connection tracking; a FelixConfiguration failsafe port with `net` opens only to that block;
# deleting the host endpoint lifts it all.
source "$(dirname "$0")/lib.sh"
DATAPLANE=${1:?usage: policy_hep_test.sh nftables|iptables}

lab_up --nodes 2 --encap none --dataplane "$DATAPLANE"
make_namespace x
check "pod x/a on node1" lab pod create x/a --node node1 --labels pod=a --serve tcp:80
check "pod x/b on node2" lab pod create x/b --node node2 --labels pod=b --serve tcp:80

# Servers in node1's own namespace: 22 (a failsafe port), 8080, 9090 and 9191 (not ones).
"$LAB" node exec node1 -- "$LABTOOL" serve tcp:22,tcp:8080,tcp:9090,tcp:9191 \
  --ready-file "$CARACAL_LAB_STATE/hep-serve.ready" \
  >"$T/serve.log" 2>&1 &
SERVER=$!
# Stops the server, then lib.sh's cleanup with the script's own exit status.
stop_server_then_cleanup() {
  local rc=$?
  kill "$SERVER" 2>/dev/null
  wait "$SERVER" 2>/dev/null
  (exit "$rc")
  cleanup
}
trap stop_server_then_cleanup EXIT
wait_until 10 test -s "$CARACAL_LAB_STATE/hep-serve.ready" || fail "node1's servers started" "$(cat "$T/serve.log")"

NODE1=10.99.0.11
# from_node2 PORT: node2's host opens a TCP connection to node1's host.
from_node2() { lab node exec node2 -- "$LABTOOL" probe "$NODE1" --port "$1" --timeout-ms 700; }
check_until() { local n=$1 s=$2; shift 2; if wait_until "$s" "$@"; then pass "$n"; else fail "$n"; fi; }
mesh_up() {
  bgp_established node1 10.99.0.12 "node-to-node mesh" &&
    bgp_established node2 10.99.0.11 "node-to-node mesh"
}
check_until "BGP mesh established" 30 mesh_up
check "before: node2 reaches node1:8080" from_node2 8080
check "before: pods a and b talk across the nodes" lab probe x/b x/a --port 80

if [ "$DATAPLANE" = nftables ]; then
  hep_chain() { lab node exec node1 -- nft list chain inet caracal fh-eth0 >/dev/null 2>&1; }
else
  hep_chain() { lab node exec node1 -- iptables-save -t filter | grep -q '^:cali-fh-eth0 '; }
fi

cat >"$T/hep.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: node1-eth0
  labels: {role: node}
spec:
  node: node1
  interfaceName: eth0
  expectedIPs: [10.99.0.11]
YAML
check "caracalctl apply of the HostEndpoint" ctl apply -f "$T/hep.yaml"
check_until "node1 programs the host endpoint chain" 10 hep_chain
check_until "no policy: node1:8080 is closed to node2" 10 eval '! from_node2 8080'
check "failsafe: node1:22 stays open" from_node2 22
sleep 3 # longer than BGP's connect retry; sessions must not have dropped
check "failsafe: the BGP mesh stays established" mesh_up
# Failsafe ports come from FelixConfiguration node.node1 when it sets them; `net` limits one to a
# block (node2 is 10.99.0.12).
felix_failsafe() {
  cat >"$T/felix.yaml" <<YAML
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: node.node1
spec:
  failsafeInboundHostPorts:
  - {protocol: TCP, port: 22, net: $1}
  - {protocol: TCP, port: 179}
YAML
  ctl apply -f "$T/felix.yaml"
}
check "FelixConfiguration node.node1: port 22 only from 10.123.0.0/16" felix_failsafe 10.123.0.0/16
check_until "failsafe net: node1:22 is closed to node2" 10 eval '! from_node2 22'
check "FelixConfiguration node.node1: port 22 only from 10.99.0.0/24" felix_failsafe 10.99.0.0/24
check_until "failsafe net: node1:22 is open to node2 again" 10 from_node2 22
check "caracalctl delete of FelixConfiguration node.node1" ctl delete felixconfiguration node.node1
check "failsafe: the BGP mesh is still established" mesh_up
check "forwarded pod traffic is not host traffic" lab probe x/b x/a --port 80
check "and the other way" lab probe x/a x/b --port 80

# A policy change still reaches node1 (its API connection is a failsafe port out): a
# GlobalNetworkPolicy for the host endpoint opens 8080.
cat >"$T/gnp.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: node-web
spec:
  selector: role == 'node'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [8080]
YAML
check "caracalctl apply of the GlobalNetworkPolicy" ctl apply -f "$T/gnp.yaml"
check_until "node1:8080 opens to node2" 10 from_node2 8080
check "node1:22 still open" from_node2 22

# applyOnForward: a policy for the host endpoint that also filters what node1 forwards out of
# eth0. Pods on node1 reach pods on node2 through node1's eth0 (BGP, no encapsulation).
cat >"$T/fwd.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: no-forwarded-80
spec:
  selector: role == 'node'
  applyOnForward: APPLY_ON_FORWARD
  types: [Egress]
  egress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [80]
  - action: Allow
YAML
sed 's/APPLY_ON_FORWARD/true/' "$T/fwd.yaml" >"$T/fwd-on.yaml"
sed 's/APPLY_ON_FORWARD/false/' "$T/fwd.yaml" >"$T/fwd-off.yaml"
check "caracalctl apply of an applyOnForward policy" ctl apply -f "$T/fwd-on.yaml"
check_until "applyOnForward: a -> b:80, forwarded out of node1's eth0, is denied" 10 \
  eval '! lab probe x/a x/b --port 80 --timeout-ms 700'
check "applyOnForward: traffic into node1's pods is not affected" lab probe x/b x/a --port 80
check "applyOnForward: the host's own failsafe traffic still passes" mesh_up
check "caracalctl apply without applyOnForward" ctl apply -f "$T/fwd-off.yaml"
check_until "without applyOnForward forwarded traffic is not filtered" 10 \
  lab probe x/a x/b --port 80 --timeout-ms 700
check "caracalctl delete of that policy" ctl delete globalnetworkpolicy no-forwarded-80

# preDNAT: node1 translates 30080 to 8080 (as kube-proxy does for a NodePort). A preDNAT policy
# sees the port the client asked for: it denies 30080 although 8080 (what it becomes) is allowed,
# and its Allow of 9090 skips the ordinary policy, which allows only 8080.
if [ "$DATAPLANE" = nftables ]; then
  lab node exec node1 -- nft 'add table ip nodeport; add chain ip nodeport pre { type nat hook prerouting priority dstnat; }; add rule ip nodeport pre tcp dport 30080 redirect to :8080' ||
    fail "node1: NodePort-like DNAT rule"
else
  lab node exec node1 -- iptables -t nat -A PREROUTING -p tcp --dport 30080 -j REDIRECT --to-ports 8080 ||
    fail "node1: NodePort-like DNAT rule"
fi
check "before preDNAT: node1:30080 (-> 8080) is open" from_node2 30080
check_fails "before preDNAT: node1:9090 is closed" from_node2 9090
cat >"$T/prednat.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: nodeports
spec:
  selector: role == 'node'
  preDNAT: true
  applyOnForward: true
  order: 10
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [30080]
  - action: Allow
    protocol: TCP
    destination:
      ports: [9090]
  - action: Deny
    protocol: TCP
    destination:
      ports: [22]
YAML
check "caracalctl apply of a preDNAT policy" ctl apply -f "$T/prednat.yaml"
check_until "preDNAT: node1:30080 is denied before translation" 10 eval '! from_node2 30080'
check_until "preDNAT: its Allow opens node1:9090 past the ordinary policy" 10 from_node2 9090
check "preDNAT: node1:8080 (no preDNAT rule) follows the ordinary policy" from_node2 8080
check "preDNAT: the failsafe port 22 stays open despite its Deny" from_node2 22
check "preDNAT: the BGP mesh stays established" mesh_up
check "preDNAT: forwarded pod traffic still flows" lab probe x/b x/a --port 80
check "caracalctl delete of the preDNAT policy" ctl delete globalnetworkpolicy nodeports
check_until "without it node1:30080 is open again" 10 from_node2 30080
check_fails "and node1:9090 closed" from_node2 9090

# doNotTrack: node1 lets 9191 through before connection tracking, both ways (the replies are not
# tracked either, so the policy allows them as egress from port 9191).
cat >"$T/untracked.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: untracked-9191
spec:
  selector: role == 'node'
  doNotTrack: true
  applyOnForward: true
  types: [Ingress, Egress]
  ingress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [9191]
  egress:
  - action: Allow
    protocol: TCP
    source:
      ports: [9191]
YAML
tracked_to() { lab node exec node1 -- cat /proc/net/nf_conntrack | grep -c "dport=$1 " || true; }
check_fails "before doNotTrack: node1:9191 is closed" from_node2 9191
check "caracalctl apply of a doNotTrack policy" ctl apply -f "$T/untracked.yaml"
check_until "doNotTrack: node1:9191 opens" 10 from_node2 9191
check "doNotTrack: node1 tracked none of those connections" test "$(tracked_to 9191)" -eq 0
check "tracked: node1 tracks its ordinary connections (8080)" eval 'from_node2 8080 && [ "$(tracked_to 8080)" -gt 0 ]'
check "doNotTrack: the BGP mesh stays established" mesh_up
check "caracalctl delete of the doNotTrack policy" ctl delete globalnetworkpolicy untracked-9191
check_until "without it node1:9191 is closed again" 10 eval '! from_node2 9191'

check "caracalctl delete of the HostEndpoint" ctl delete hostendpoint node1-eth0
check_until "node1 removes the host endpoint chain" 10 eval '! hep_chain'
check "without the host endpoint node1's traffic is unfiltered" from_node2 8080
check "caracalctl delete of the GlobalNetworkPolicy" ctl delete globalnetworkpolicy node-web

# Every change above went to the kernel as one incremental write: no failed write (the node
# then falls back to the whole state) in node1's log.
expect_eq "node1 wrote every change without an error" \
  "$(grep -c 'policy dataplane:' "$CARACAL_LAB_STATE/nodes/node1/caracal-node.log")" 0

kill "$SERVER" 2>/dev/null
wait "$SERVER" 2>/dev/null
finish
