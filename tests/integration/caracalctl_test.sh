#!/usr/bin/env bash
# caracalctl against the real caracal-apiserver: Calico manifests load unchanged and read back
# equal, bad input is refused with a clear error and leaves the store unchanged, acknowledged writes
# survive kill -9 of the server.
source "$(dirname "$0")/lib.sh"
start_apiserver

# --- Calico-format manifests, as users have them.
cat >"$T/calico.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv4-ippool
spec:
  cidr: 192.168.0.0/16
  blockSize: 26
  ipipMode: CrossSubnet
  vxlanMode: Never
  natOutgoing: true
  nodeSelector: all()
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor
spec:
  peerIP: 10.0.0.1
  asNumber: 64600
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: to-rr
spec:
  nodeSelector: all()
  peerSelector: route-reflector == 'true'
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: allow-dns
spec:
  order: 100
  selector: all()
  types: [Egress]
  egress:
  - action: Allow
    protocol: UDP
    destination:
      selector: k8s-app == 'kube-dns'
      namespaceSelector: projectcalico.org/name == 'kube-system'
      ports: [53]
  - action: Pass
YAML
out=$(ctl apply -f "$T/calico.yaml" 2>&1)
expect_contains "caracalctl apply of Calico manifests" "$out" "Successfully applied 4 resource(s)"
out=$(ctl get ippool default-ipv4-ippool -o yaml 2>&1)
expect_contains "IPPool reads back: cidr" "$out" "cidr: 192.168.0.0/16"
expect_contains "IPPool reads back: ipipMode" "$out" "ipipMode: CrossSubnet"
expect_contains "IPPool reads back: natOutgoing" "$out" "natOutgoing: true"
expect_contains "IPPool reads back: nodeSelector" "$out" "nodeSelector: all()"
out=$(ctl get bgppeer tor -o json 2>&1)
expect_contains "BGPPeer reads back: peerIP" "$out" '"peerIP": "10.0.0.1"'
expect_contains "BGPPeer reads back: asNumber" "$out" '"asNumber": 64600'
out=$(ctl get gnp allow-dns -o yaml 2>&1)
expect_contains "GNP reads back: order" "$out" "order: 100"
expect_contains "GNP reads back: rule selector" "$out" "selector: k8s-app == 'kube-dns'"
expect_contains "GNP reads back: ports" "$out" "- 53"
expect_contains "GNP reads back: Pass rule" "$out" "action: Pass"
# Reading back and re-applying changes nothing but the resourceVersion-free content.
ctl get ippool default-ipv4-ippool -o yaml >"$T/roundtrip.yaml" 2>&1
out=$(ctl apply -f "$T/roundtrip.yaml" 2>&1)
expect_contains "a read-back object applies again" "$out" "Successfully applied 1 'IPPool' resource(s)"

out=$(ctl get ippools 2>&1)
expect_contains "get ippools (ps columns)" "$out" "CIDR"
expect_contains "get ippools lists the pool" "$out" "192.168.0.0/16"
out=$(ctl get ippools -o wide 2>&1)
expect_contains "get ippools -o wide adds IPIPMODE" "$out" "IPIPMODE"
out=$(ctl get pool -o name 2>&1)
expect_contains "calicoctl alias 'pool'" "$out" "default-ipv4-ippool"
out=$(ctl get bgpp 2>&1)
expect_contains "get bgppeers shows global peers" "$out" "(global)"

# --- calicoctl's columns for BGP peers and nodes (cells compared with runs of spaces squeezed).
squeeze() { awk '{$1 = $1; print}'; }
out=$(ctl get bgppeers 2>&1 | squeeze)
expect_eq "get bgppeers header" "$(head -1 <<<"$out")" "NAME PEERIP NODE ASN"
expect_contains "get bgppeers: global peer row" "$out" "tor 10.0.0.1 (global) 64600"
expect_contains "get bgppeers: selector peer shows its node selector and ASN 0" "$out" "to-rr all() 0"
expect_eq "get bgppeers -o wide has the same columns" "$(ctl get bgppeers -o wide 2>&1 | squeeze)" "$out"
cat >"$T/nodes.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: ctl-node-a
spec:
  bgp:
    ipv4Address: 10.0.0.11/24
---
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: ctl-node-b
spec:
  bgp:
    asNumber: 65002
    ipv4Address: 10.0.0.12/24
    ipv6Address: fd00::12/64
YAML
out=$(ctl apply -f "$T/nodes.yaml" 2>&1)
expect_contains "apply Calico nodes" "$out" "Successfully applied 2 'Node' resource(s)"
out=$(ctl get nodes 2>&1 | squeeze)
expect_eq "get nodes (ps) prints NAME only" "$(head -1 <<<"$out")" "NAME"
expect_contains "get nodes lists a node" "$out" "ctl-node-a"
out=$(ctl get nodes -o wide 2>&1 | squeeze)
expect_eq "get nodes -o wide header" "$(head -1 <<<"$out")" "NAME ASN IPV4 IPV6"
expect_contains "get nodes -o wide: inherited ASN without a BGPConfiguration" "$out" \
  "ctl-node-a (64512) 10.0.0.11/24"
expect_contains "get nodes -o wide: own ASN and both addresses" "$out" \
  "ctl-node-b 65002 10.0.0.12/24 fd00::12/64"
cat >"$T/bgpconfig.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  asNumber: 65000
YAML
check "apply the default BGPConfiguration" ctl apply -f "$T/bgpconfig.yaml"
out=$(ctl get nodes -o wide 2>&1 | squeeze)
expect_contains "get nodes -o wide: ASN inherited from the default BGPConfiguration" "$out" \
  "ctl-node-a (65000) 10.0.0.11/24"
expect_contains "get nodes -o wide: a node's own ASN wins" "$out" "ctl-node-b 65002"
check "delete the nodes" ctl delete -f "$T/nodes.yaml"
check "delete the default BGPConfiguration" ctl delete -f "$T/bgpconfig.yaml"

# --- label, patch, selector, delete.
check "caracalctl label" ctl label ippool default-ipv4-ippool team=net
out=$(ctl get ippools -l team=net -o name 2>&1)
expect_contains "label selector on get" "$out" "default-ipv4-ippool"
check "caracalctl patch" ctl patch ippool default-ipv4-ippool -p '{"spec":{"natOutgoing":false}}'
out=$(ctl get ippool default-ipv4-ippool -o yaml 2>&1)
expect_contains "patch applied" "$out" "natOutgoing: false"
expect_eq "selector true" "$(ctl selector "app == 'web' && has(env)" --labels app=web,env=prod)" "true"
expect_eq "selector false" "$(ctl selector "app == 'web' && has(env)" --labels app=web)" "false"
out=$(ctl selector "app == web" --labels app=web 2>&1)
rc=$?
expect_eq "selector syntax error exits non-zero" "$rc" "1"
expect_contains "selector syntax error says the column" "$out" "column"

# Without --labels, selector lists the endpoints it matches.
cat >"$T/endpoints.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node1-k8s-web--1-eth0
  namespace: default
  labels: {app: web}
spec:
  node: node1
  orchestrator: k8s
  pod: web-1
  endpoint: eth0
  interfaceName: cali0123456789a
  ipNetworks: [192.168.1.5/32]
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node1-k8s-db--1-eth0
  namespace: default
  labels: {app: db}
spec:
  node: node1
  orchestrator: k8s
  pod: db-1
  endpoint: eth0
  interfaceName: cali0123456789b
  ipNetworks: [192.168.1.6/32]
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: node1-eth0
  labels: {app: web}
spec:
  node: node1
  interfaceName: eth0
  expectedIPs: [10.0.0.5]
YAML
check "apply endpoints" ctl apply -f "$T/endpoints.yaml"
out=$(ctl selector "app == 'web'" 2>&1)
expect_contains "selector lists the matching workload endpoint" "$out" "node1-k8s-web--1-eth0"
expect_contains "selector lists the matching host endpoint" "$out" "node1-eth0"
expect_not_contains "selector leaves out the others" "$out" "node1-k8s-db--1-eth0"
out=$(ctl selector "projectcalico.org/namespace == 'default' && app == 'db'" 2>&1)
expect_contains "selector sees the namespace label" "$out" "node1-k8s-db--1-eth0"
check "delete endpoints" ctl delete -f "$T/endpoints.yaml"

# --- bad input: each is refused with the field named, and the store does not change.
rev=$(store_rev)
printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p2\nspec: [\n' >"$T/bad1.yaml"
out=$(ctl apply -f "$T/bad1.yaml" 2>&1)
expect_contains "malformed YAML is refused" "$out" "YAML"
cat >"$T/bad2.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p2
spec:
  cidr: 10.20.0.0/16
  blockSize: big
YAML
out=$(ctl apply -f "$T/bad2.yaml" 2>&1)
expect_contains "wrong type names the field" "$out" "spec.blockSize"
cat >"$T/bad3.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p2
spec:
  cidr: 10.20.0.0/16
  ipipmode: Always
YAML
out=$(ctl apply -f "$T/bad3.yaml" 2>&1)
expect_contains "unknown field suggests the right one" "$out" "ipipMode"
cat >"$T/bad4.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p2
spec:
  cidr: 10.20.0.300/16
YAML
out=$(ctl apply -f "$T/bad4.yaml" 2>&1)
expect_contains "invalid CIDR names the field" "$out" "spec.cidr"
cat >"$T/bad5.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: bad-sel
spec:
  selector: app == web
YAML
out=$(ctl apply -f "$T/bad5.yaml" 2>&1)
expect_contains "invalid selector names the field" "$out" "spec.selector"
# A file with one good and one bad document applies nothing.
cat "$T/calico.yaml" >"$T/mixed.yaml"
printf -- '---\n' >>"$T/mixed.yaml"
cat "$T/bad4.yaml" >>"$T/mixed.yaml"
out=$(ctl apply -f "$T/mixed.yaml" 2>&1)
expect_contains "mixed file reports the bad document index" "$out" "mixed.yaml:4"
cat >"$T/overlap.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: overlapping
spec:
  cidr: 192.168.64.0/18
YAML
out=$(ctl apply -f "$T/overlap.yaml" 2>&1)
expect_contains "overlapping pool is refused" "$out" "default-ipv4-ippool"
# Oversized body straight to the API (the limit is 3 MiB by default).
head -c 4000000 /dev/zero | tr '\0' 'a' >"$T/big.json"
code=$(curl -sk -o "$T/big.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data-binary @"$T/big.json" "$SERVER_URL/apis/projectcalico.org/v3/ippools")
expect_eq "oversized body gets 413" "$code" "413"
code=$(curl -sk -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer wrong" \
  -H 'Content-Type: application/json' --data-binary @"$T/bad4.yaml" "$SERVER_URL/apis/projectcalico.org/v3/ippools")
expect_eq "wrong credentials get 401" "$code" "401"
out=$(CARACAL_TOKEN=wrong CARACAL_SERVER="$SERVER_URL" ctl --insecure-skip-tls-verify get ippools 2>&1)
expect_contains "caracalctl with a wrong token is refused" "$out" "Unauthorized"
expect_eq "no bad input changed the store" "$(store_rev)" "$rev"

# --- durability: acknowledged writes survive kill -9 of the server.
for i in $(seq 1 20); do
  printf 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: set-%s\nspec:\n  nets: [10.99.%s.0/24]\n' "$i" "$i"
  echo "---"
done >"$T/sets.yaml"
out=$(ctl apply -f "$T/sets.yaml" 2>&1)
expect_contains "20 sets applied" "$out" "Successfully applied 20 'GlobalNetworkSet' resource(s)"
rev=$(store_rev)
kill9_apiserver
start_apiserver
n=$(ctl get globalnetworksets -o name 2>/dev/null | wc -l)
expect_eq "all acknowledged sets survive kill -9" "$n" "20"
expect_eq "the store revision survives kill -9" "$(store_rev)" "$rev"
out=$(ctl get ippool default-ipv4-ippool -o yaml 2>&1)
expect_contains "earlier objects survive too" "$out" "cidr: 192.168.0.0/16"

check "caracalctl delete -f" ctl delete -f "$T/calico.yaml"
out=$(ctl get ippools -o name 2>&1)
expect_not_contains "deleted pool is gone" "$out" "default-ipv4-ippool"

finish
