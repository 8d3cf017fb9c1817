#!/usr/bin/env bash
# Host endpoints: a HostEndpoint for node1's eth0 puts node1's own traffic under policy (nftables
# or iptables, the argument). With no policy only the failsafe ports pass (SSH 22 and BGP 179 in,
# the API 6443 and BGP out), so the BGP mesh and the node's API connection survive; a
# GlobalNetworkPolicy selecting the host endpoint opens a port; pod traffic forwarded through the
# node is not affected; deleting the host endpoint lifts it all.
source "$(dirname "$0")/lib.sh"
DATAPLANE=${1:?usage: policy_hep_test.sh nftables|iptables}

lab_up --nodes 2 --encap none --dataplane "$DATAPLANE"
make_namespace x
check "pod x/a on node1" lab pod create x/a --node node1 --labels pod=a --serve tcp:80
check "pod x/b on node2" lab pod create x/b --node node2 --labels pod=b --serve tcp:80

# Servers in node1's own namespace: 22 (a failsafe port) and 8080 (not one).
"$LAB" node exec node1 -- "$LABTOOL" serve tcp:22,tcp:8080 \
  --ready-file "$CARACAL_LAB_STATE/hep-serve.ready" \
  >"$T/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; cleanup' EXIT
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

check "caracalctl delete of the HostEndpoint" ctl delete hostendpoint node1-eth0
check_until "node1 removes the host endpoint chain" 10 eval '! hep_chain'
check "without the host endpoint node1's traffic is unfiltered" from_node2 8080
check "caracalctl delete of the GlobalNetworkPolicy" ctl delete globalnetworkpolicy node-web

kill "$SERVER" 2>/dev/null
wait "$SERVER" 2>/dev/null
finish
