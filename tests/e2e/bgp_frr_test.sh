#!/usr/bin/env bash
# Interoperability with a router nobody here wrote: FRR's bgpd in its own namespace on the fabric,
# a top-of-rack router in AS 65000, peered with every node through one global BGPPeer (eBGP).
# It must learn every node's block (and nothing else of ours), its own prefix must reach the
# nodes' kernels and not be exported back to it, and traffic must flow both ways through it.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/lib/frr.sh"
if [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null; then
  echo "FAIL: FRR is not installed (tools/setup.sh installs the Debian package frr)"
  exit 1
fi

readonly TOR_IP=10.99.0.250
readonly TOR_PREFIX=172.20.0.0/24
readonly TOR_ADDR=172.20.0.1

# check_until NAME SECONDS COMMAND...: a check that may take up to SECONDS to become true.
check_until() {
  local name=$1 secs=$2
  shift 2
  if wait_until "$secs" "$@"; then pass "$name"; else fail "$name" "$("$@" 2>&1 | tail -n 5)"; fi
}

lab_up --nodes 3 --encap none
make_namespace e2e
check "pod e2e/a on node1" lab pod create e2e/a --node node1 --serve tcp:80
check "pod e2e/b on node2" lab pod create e2e/b --node node2 --serve tcp:80
check "pod e2e/c on node3" lab pod create e2e/c --node node3 --serve tcp:80

# The router's namespace on br0; `caracal-lab down` removes it with everything in it.
tor_ns=$(lab fabric attach tor --ip "$TOR_IP/24") || { echo "FAIL: fabric attach"; exit 1; }
ip -n "$tor_ns" route add default via 10.99.0.1
# An address inside the prefix it announces, so that pods can reach it, and a blackhole for the
# prefix itself so that FRR's `network` has a route to originate (its import check).
ip -n "$tor_ns" addr add "$TOR_ADDR/32" dev lo
ip -n "$tor_ns" route add blackhole "$TOR_PREFIX"

# FRR's files: the daemons run as user frr, so the test directory must be searchable.
chmod 711 "$T"
FRR="$T/frr"
mkdir -p "$FRR"
frr_cleanup() { frr_stop "$FRR" >/dev/null 2>&1 || true; }
# On exit: FRR, then lib.sh's cleanup with the script's own exit status (cleanup exits with the
# status it finds, so nothing may run between the two that changes it).
frr_then_cleanup() {
  local rc=$?
  frr_cleanup
  (exit "$rc")
  cleanup
}
trap frr_then_cleanup EXIT
echo "hostname tor" >"$FRR/zebra.conf"
{
  echo "hostname tor"
  echo "router bgp 65000"
  echo " bgp router-id $TOR_IP"
  echo " no bgp ebgp-requires-policy"
  echo " timers bgp 3 9"
  for k in 1 2 3; do
    echo " neighbor 10.99.0.1$k remote-as 64512"
    echo " neighbor 10.99.0.1$k timers connect 2"
  done
  echo " address-family ipv4 unicast"
  echo "  network $TOR_PREFIX"
  echo " exit-address-family"
} >"$FRR/bgpd.conf"
check "FRR (zebra + bgpd) starts in its namespace" frr_start "$tor_ns" "$FRR"

# tor_peer [SECRET KEY]: the global BGPPeer for the router, with a password from SECRET/KEY.
tor_peer() {
  printf 'apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: tor\n'
  printf 'spec:\n  peerIP: %s\n  asNumber: 65000\n' "$TOR_IP"
  [ $# -eq 0 ] || printf '  password:\n    secretKeyRef:\n      name: %s\n      key: %s\n' "$1" "$2"
}

# The node side is nothing but Calico configuration.
tor_peer >"$T/tor.yaml"
check "global BGPPeer tor applied with caracalctl" ctl apply -f "$T/tor.yaml"
for k in 1 2 3; do
  check "FRR session to node$k Established" frr_wait_established "$FRR" "10.99.0.1$k" 30
done
for k in 1 2 3; do
  expect_contains "node$k status lists the router as a global peer, Established" \
    "$(bgp_peers "node$k")" "$TOR_IP|global|up|Established"
done

# FRR learns every node's block, from that node.
blocks=()
for p in a b c; do
  ip=$(pod_ip "e2e/$p")
  IFS=. read -r o1 o2 o3 o4 <<<"$ip"
  blocks+=("$o1.$o2.$o3.$((o4 / 64 * 64))/26")
done
for i in 0 1 2; do
  k=$((i + 1))
  b=${blocks[$i]}
  check_until "FRR has $b via node$k" 15 bash -c \
    "vtysh --vty_socket '$FRR' -c 'show ip bgp $b' 2>/dev/null | grep -q '10.99.0.1$k'"
  # As with Calico, every node also re-announces the blocks it learnt over the mesh, so the
  # router installs them with several next hops (ECMP, `nexthop via` lines); the owner is one.
  check_until "the router's kernel routes $b (proto bgp) with node$k as a next hop" 15 bash -c \
    "ip -n '$tor_ns' route show '$b' | grep -q 'proto bgp' &&
     ip -n '$tor_ns' route show '$b' | grep -q 'via 10.99.0.1$k '"
done
# What each node announces: pool blocks only (no pool CIDR, node subnet, default route, nor the
# router's own prefix back to it).
for k in 1 2 3; do
  nets=$(frr_vtysh "$FRR" "show ip bgp neighbors 10.99.0.1$k routes" 2>&1 |
    awk '$1 ~ /^\*/ { n = ($2 ~ /\//) ? $2 : $3; print n }' | sort -u | tr '\n' ' ')
  expect_contains "node$k announces its own block" "$nets" "${blocks[$((k - 1))]}"
  others=$(tr ' ' '\n' <<<"$nets" | grep -v '^$' | grep -cv '^10\.244\.[0-9]*\.[0-9]*/26$')
  expect_eq "node$k announces nothing but /26 pool blocks (got: $nets)" "$others" 0
  expect_not_contains "node$k does not export the router's prefix back" "$nets" "$TOR_PREFIX"
done

# The router's prefix reaches every node's kernel through BIRD.
for k in 1 2 3; do
  check_until "node$k's kernel routes $TOR_PREFIX via the router (proto bird)" 15 bash -c \
    "ip -n '$(lab_prefix)-node$k' route show '$TOR_PREFIX' | grep -q 'via $TOR_IP .*proto bird'"
done

# Traffic through the routes both sides learnt: pod -> router address (node's BIRD route, the
# router answers by its FRR route to the pod's block), router -> pod.
check "pod a reaches the router's announced address" \
  lab exec e2e/a -- "$LABTOOL" probe "$TOR_ADDR" --protocol icmp
check "pod c reaches the router's announced address" \
  lab exec e2e/c -- "$LABTOOL" probe "$TOR_ADDR" --protocol icmp
check "the router reaches pod b's TCP server through its BGP route" \
  "$LABTOOL" probe "$(pod_ip e2e/b)" --port 80 --netns "/var/run/netns/$tor_ns"
check "pods still reach each other over the mesh" lab probe e2e/a e2e/c --port 80

# What both sides saw, while the sessions are still up, when something above failed.
if [ "$FAILED" -ne 0 ]; then
  echo "--- FRR: show ip bgp"
  frr_vtysh "$FRR" "show ip bgp" 2>&1 | sed 's/^/    /'
  echo "--- router kernel routes"
  ip -n "$tor_ns" route 2>&1 | sed 's/^/    /'
  echo "--- node1: birdc show route all"
  birdc -s "$CARACAL_LAB_STATE/nodes/node1/bird/bird.ctl" show route all 2>&1 | sed 's/^/    /'
  echo "--- node1 kernel routes"
  lab node exec node1 -- ip route 2>&1 | sed 's/^/    /'
fi
# A BGPFilter on the peer: importing the router's prefix is refused, then allowed again.
cat >"$T/filter.yaml" <<YAML
apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata:
  name: no-tor-prefix
spec:
  importV4:
  - action: Reject
    matchOperator: Equal
    cidr: $TOR_PREFIX
YAML
check "BGPFilter no-tor-prefix applied" ctl apply -f "$T/filter.yaml"
check "BGPPeer tor uses the filter" ctl patch bgppeer tor -p '{"spec":{"filters":["no-tor-prefix"]}}'
for k in 1 2 3; do
  check_until "node$k's kernel drops $TOR_PREFIX (import rejected by the filter)" 15 bash -c \
    "! ip -n '$(lab_prefix)-node$k' route show '$TOR_PREFIX' | grep -q ."
done
check "the router still learns node1's block (the filter only rejects that import)" \
  bash -c "vtysh --vty_socket '$FRR' -c 'show ip bgp ${blocks[0]}' | grep -q 10.99.0.11"
check "BGPPeer tor without filters" ctl patch bgppeer tor -p '{"spec":{"filters":[]}}'
check_until "node1's kernel has $TOR_PREFIX again" 15 bash -c \
  "ip -n '$(lab_prefix)-node1' route show '$TOR_PREFIX' | grep -q 'proto bird'"

# A BGP password (TCP MD5) from a Secret, as Calico takes it: until the Secret exists the peer is
# left out (a warning in node status), then the sessions come back with the password, which the
# router now demands.
make_namespace calico-system
tor_peer bgp-passwords tor >"$T/tor-pw.yaml"
check "BGPPeer tor now takes its password from a Secret" ctl apply -f "$T/tor-pw.yaml"
check_until "node1's status warns about the missing Secret" 15 bash -c \
  "'$LAB' node status node1 | grep -q '^Warning: .*bgp-passwords'"
check_until "without its password node1 has no session to the router" 15 bash -c \
  "! '$LAB' node status node1 | grep -qF '$TOR_IP'"
check "FRR demands the password" frr_vtysh "$FRR" "configure terminal" "router bgp 65000" \
  "neighbor 10.99.0.11 password s3cret-Pw" "neighbor 10.99.0.12 password s3cret-Pw" \
  "neighbor 10.99.0.13 password s3cret-Pw"
cat >"$T/secret.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: bgp-passwords
  namespace: calico-system
type: Opaque
stringData:
  tor: s3cret-Pw
YAML
check "Secret bgp-passwords created with kubectl" k create -f "$T/secret.yaml"
for k in 1 2 3; do
  check "FRR session to node$k Established with the password" frr_wait_established "$FRR" "10.99.0.1$k" 30
done
expect_contains "node1's bird.conf carries the password" \
  "$(cat "$CARACAL_LAB_STATE/nodes/node1/bird/bird.conf")" 'password "s3cret-Pw";'
out=$(lab node status node1 2>&1)
expect_not_contains "no warning once the Secret exists" "$out" "Warning:"
check "the router still reaches pod b" \
  "$LABTOOL" probe "$(pod_ip e2e/b)" --port 80 --netns "/var/run/netns/$tor_ns"

# Withdrawal: the router stops announcing, the nodes' kernels drop the route.
check "FRR withdraws its prefix" frr_vtysh "$FRR" "configure terminal" "router bgp 65000" \
  "address-family ipv4 unicast" "no network $TOR_PREFIX"
for k in 1 2 3; do
  check_until "node$k's kernel loses $TOR_PREFIX" 15 bash -c \
    "! ip -n '$(lab_prefix)-node$k' route show '$TOR_PREFIX' | grep -q ."
done

# Removing the BGPPeer closes the sessions and the router loses the blocks.
check "BGPPeer tor deleted" ctl delete bgppeer tor
check_until "FRR has no route to node1's block any more" 20 bash -c \
  "! vtysh --vty_socket '$FRR' -c 'show ip bgp ${blocks[0]}' 2>/dev/null | grep -q '10.99.0.11'"
out=$(bgp_peers node1)
expect_not_contains "node1 no longer lists the router" "$out" "$TOR_IP"
frr_cleanup
finish
