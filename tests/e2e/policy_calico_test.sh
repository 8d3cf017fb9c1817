#!/usr/bin/env bash
# Policy semantics that only Calico's own API has, enforced in the nodes' kernels (nftables or
# iptables, the argument): tiers (order, Pass, end-of-tier drop, defaultAction), policy order
# across GlobalNetworkPolicy and NetworkPolicy, a rule namespaceSelector, and GlobalNetworkSets.
# Pods x/a and x/b on node1 and y/c on node2 serve TCP 80 and 81; the objects are applied with
# caracalctl, read back with real kubectl, and every case is checked on the lab's probe matrix.
# Each case leaves the cluster as it found it (no policy, all pairs reachable) unless it says
# it builds on the previous one.
source "$(dirname "$0")/lib.sh"
DATAPLANE=${1:?usage: policy_calico_test.sh nftables|iptables}

lab_up --nodes 2 --encap vxlan --dataplane "$DATAPLANE"
# The names are quoted: YAML 1.1 (kubectl) reads a bare y as a boolean.
for ns in x y; do
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "%s"\n  labels: {ns: "%s"}\n' "$ns" "$ns" |
    k create -f - >/dev/null
done
expect_eq "namespace y carries label ns=y" "$(k get namespace y -o 'jsonpath={.metadata.labels.ns}')" y
check "pod x/a on node1" lab pod create x/a --node node1 --labels pod=a --serve tcp:80,tcp:81
check "pod x/b on node1" lab pod create x/b --node node1 --labels pod=b --serve tcp:80,tcp:81
check "pod y/c on node2" lab pod create y/c --node node2 --labels pod=c --serve tcp:80,tcp:81
# Without all three pods no case below means anything.
[ "$FAILED" -eq 0 ] || finish

PODS=(x/a x/b y/c)
# mx ROW_A ROW_B ROW_C: an expected matrix as the compact JSON `probe --matrix -o json` prints.
# Row i belongs to the client PODS[i]; its three digits say whether that client reaches x/a, x/b
# and y/c (1 = reachable). A pod reaching itself never leaves its namespace, so the diagonal is 1.
mx() {
  local rows=("$@") out='{' i j sep
  for i in 0 1 2; do
    [ "$i" -eq 0 ] || out+=','
    out+="\"${PODS[$i]}\":{"
    sep=''
    for j in 0 1 2; do
      out+="$sep\"${PODS[$j]}\":"
      if [ "${rows[$i]:$j:1}" = 1 ]; then out+=true; else out+=false; fi
      sep=','
    done
    out+='}'
  done
  echo "$out}"
}
# matrix PORT: the reachability matrix as compact JSON.
matrix() { lab probe --matrix --port "$1" --timeout-ms 500 -o json | tr -d ' \n'; }
# expect_matrix NAME PORT ROW_A ROW_B ROW_C: waits up to 10 s for the matrix to equal mx ROWS.
expect_matrix() {
  local name=$1 port=$2 want got deadline=$((SECONDS + 10))
  want=$(mx "$3" "$4" "$5")
  while got=$(matrix "$port") && [ "$got" != "$want" ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.3
  done
  expect_eq "$name" "$got" "$want"
}
# apply NAME FILE / delete NAME FILE: caracalctl on a manifest.
apply() { check "$1" ctl apply -f "$2"; }
delete() { check "$1" ctl delete -f "$2"; }
# get_field KIND NAME JSONPATH [-n NS]: one field of a stored object, read with kubectl.
get_field() {
  local kind=$1 name=$2 path=$3
  shift 3
  k get "$kind" "$name" "$@" -o "jsonpath={$path}" 2>&1
}
# The objects this test creates that must be gone once a case has cleaned up.
expect_no_objects() {
  expect_eq "$1: no GlobalNetworkPolicy left" \
    "$(k get globalnetworkpolicies.projectcalico.org -o name 2>&1)" ""
  expect_eq "$1: no NetworkPolicy left" \
    "$(k get networkpolicies.projectcalico.org -A -o name 2>&1)" ""
  expect_eq "$1: no GlobalNetworkSet left" \
    "$(k get globalnetworksets.projectcalico.org -o name 2>&1)" ""
  expect_not_contains "$1: tier security is gone" \
    "$(k get tiers.projectcalico.org -o name 2>&1)" "security"
  expect_not_contains "$1: tier quiet is gone" \
    "$(k get tiers.projectcalico.org -o name 2>&1)" "quiet"
}

expect_matrix "no policy: everything reaches everything (port 80)" 80 111 111 111
expect_matrix "no policy: everything reaches everything (port 81)" 81 111 111 111

# The default-tier policy the tier cases put under the earlier tier: everything may reach a.
cat >"$T/allow-to-a.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-to-a
  namespace: x
spec:
  selector: pod == 'a'
  types: [Ingress]
  ingress:
  - action: Allow
YAML
cat >"$T/tier-security.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: security
spec:
  order: 100
YAML

# ---- 1. an earlier tier's Deny beats a later tier's Allow ----------------------------------------
# Tier security (order 100) denies TCP 81 to a and passes everything else on; the default tier
# (order 1e6) allows everything to a. Port 81 to a is blocked for every other pod, port 80 open.
cat >"$T/gnp-deny-81.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: security.deny-81
spec:
  tier: security
  order: 10
  selector: pod == 'a'
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [81]
  - action: Pass
YAML
apply "case 1: caracalctl apply of tier security" "$T/tier-security.yaml"
apply "case 1: caracalctl apply of GNP security.deny-81" "$T/gnp-deny-81.yaml"
apply "case 1: caracalctl apply of NetworkPolicy x/allow-to-a" "$T/allow-to-a.yaml"
expect_eq "case 1: kubectl reads tier security's order" "$(get_field tiers security .spec.order)" 100
expect_eq "case 1: tier security defaults to defaultAction Deny" \
  "$(get_field tiers security .spec.defaultAction)" Deny
expect_eq "case 1: kubectl lists the GlobalNetworkPolicy" \
  "$(k get globalnetworkpolicies -o name 2>&1)" "globalnetworkpolicy.projectcalico.org/security.deny-81"
expect_eq "case 1: the GlobalNetworkPolicy is in tier security" \
  "$(get_field globalnetworkpolicies security.deny-81 .spec.tier)" security
expect_eq "case 1: the NetworkPolicy is in the default tier" \
  "$(get_field networkpolicies.projectcalico.org allow-to-a .spec.tier -n x)" default
expect_matrix "case 1: port 81 to a is denied by tier security despite the default-tier Allow" 81 \
  111 011 011
expect_matrix "case 1: port 80 to a passes tier security and is allowed" 80 111 111 111

# ---- 2. Pass hands the decision to the next tier -------------------------------------------------
# The same GNP now passes traffic from b and denies everything else to a. b reaches a only
# because the default tier allows it; c is denied in tier security. Builds on case 1.
cat >"$T/gnp-pass-b.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: security.deny-81
spec:
  tier: security
  order: 10
  selector: pod == 'a'
  types: [Ingress]
  ingress:
  - action: Pass
    source:
      selector: pod == 'b'
  - action: Deny
YAML
apply "case 2: caracalctl apply of the GNP changed to Pass b, Deny the rest" "$T/gnp-pass-b.yaml"
expect_eq "case 2: the stored GNP's first rule is Pass" \
  "$(get_field globalnetworkpolicies security.deny-81 '.spec.ingress[0].action')" Pass
expect_matrix "case 2: port 80: b passes to the default tier (allowed), c denied by the tier" 80 \
  111 111 011
expect_matrix "case 2: port 81: the same" 81 111 111 011
# The default tier now denies b: the passed traffic is decided there, so b is blocked too.
cat >"$T/deny-b-to-a.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-to-a
  namespace: x
spec:
  selector: pod == 'a'
  types: [Ingress]
  ingress:
  - action: Deny
    source:
      selector: pod == 'b'
  - action: Allow
YAML
apply "case 2: caracalctl apply of x/allow-to-a changed to deny b first" "$T/deny-b-to-a.yaml"
expect_matrix "case 2: passed traffic from b is denied by the default tier" 80 111 011 011
# Without any default-tier policy for a, Pass in the last tier that selects a falls through to
# a's profile (kns.x allows everything): b reaches a again, c is still denied.
delete "case 2: caracalctl delete of x/allow-to-a" "$T/deny-b-to-a.yaml"
expect_matrix "case 2: Pass from the last tier falls through to the profile (allow)" 80 \
  111 111 011
# As in Calico ("Cannot delete a non-empty tier"), a tier that still holds a policy cannot be
# deleted: were it gone, its policies would silently stop applying and c would reach a.
check_fails "case 2: caracalctl delete of tier security while it holds a policy is refused" \
  ctl delete -f "$T/tier-security.yaml"
expect_eq "case 2: tier security is still there" "$(get_field tiers security .metadata.name)" security
expect_matrix "case 2: and still in force" 80 111 111 011
delete "case 2: caracalctl delete of GNP security.deny-81" "$T/gnp-pass-b.yaml"
# (--skip-not-exists: a refusal above that did not happen must not fail this step too.)
check "case 2: caracalctl delete of tier security" \
  ctl delete --skip-not-exists -f "$T/tier-security.yaml"
expect_matrix "case 2: cleaned up: everything reaches everything" 80 111 111 111
expect_no_objects "case 2"

# ---- 3. end of tier: defaultAction Deny (default) vs Pass ----------------------------------------
# Tier quiet (order 150) holds a policy that selects a but whose only rule matches nothing (a pod
# label no pod has). With the default defaultAction Deny, traffic to a that no rule in the tier
# matched is dropped at the end of the tier; with defaultAction Pass it goes on to the default
# tier, which decides (first allows everything to a, then only b).
cat >"$T/tier-quiet.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: quiet
spec:
  order: 150
YAML
cat >"$T/tier-quiet-pass.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: quiet
spec:
  order: 150
  defaultAction: Pass
YAML
cat >"$T/gnp-nomatch.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: quiet.no-match
spec:
  tier: quiet
  selector: pod == 'a'
  types: [Ingress]
  ingress:
  - action: Allow
    source:
      selector: pod == 'nobody'
YAML
cat >"$T/allow-b-to-a.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-to-a
  namespace: x
spec:
  selector: pod == 'a'
  types: [Ingress]
  ingress:
  - action: Allow
    source:
      selector: pod == 'b'
YAML
apply "case 3: caracalctl apply of tier quiet (no defaultAction)" "$T/tier-quiet.yaml"
apply "case 3: caracalctl apply of GNP quiet.no-match" "$T/gnp-nomatch.yaml"
apply "case 3: caracalctl apply of NetworkPolicy x/allow-to-a" "$T/allow-to-a.yaml"
expect_eq "case 3: tier quiet's defaultAction defaults to Deny" \
  "$(get_field tiers quiet .spec.defaultAction)" Deny
expect_matrix "case 3: defaultAction Deny: unmatched traffic to a dropped at the end of tier" 80 \
  111 011 011
apply "case 3: caracalctl apply of tier quiet with defaultAction Pass" "$T/tier-quiet-pass.yaml"
expect_eq "case 3: kubectl reads defaultAction Pass" "$(get_field tiers quiet .spec.defaultAction)" Pass
expect_matrix "case 3: defaultAction Pass: the default tier allows everything to a" 80 111 111 111
apply "case 3: caracalctl apply of x/allow-to-a narrowed to b" "$T/allow-b-to-a.yaml"
expect_matrix "case 3: defaultAction Pass: the default tier now lets only b reach a" 80 \
  111 111 011
apply "case 3: caracalctl apply of tier quiet back to defaultAction Deny" "$T/tier-quiet.yaml"
expect_matrix "case 3: defaultAction Deny again: b is dropped at the end of tier quiet" 80 \
  111 011 011
delete "case 3: caracalctl delete of x/allow-to-a" "$T/allow-b-to-a.yaml"
delete "case 3: caracalctl delete of GNP quiet.no-match" "$T/gnp-nomatch.yaml"
delete "case 3: caracalctl delete of tier quiet" "$T/tier-quiet.yaml"
expect_matrix "case 3: cleaned up: everything reaches everything" 80 111 111 111
expect_no_objects "case 3"

# ---- 4. a GlobalNetworkPolicy of lower order overrides a NetworkPolicy ---------------------------
# In the default tier, a GNP with order 10 selecting every pod denies ingress from namespaces
# labelled ns=y; NetworkPolicies with order 1000 in x and y allow everything. c (in y) can
# reach neither a nor b; every other pair is fine. Then, without y's allow-all, traffic to c
# matches no rule in the default tier (the GNP selects c too) and is dropped at its end.
cat >"$T/gnp-deny-y.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: deny-from-y
spec:
  order: 10
  selector: all()
  types: [Ingress]
  ingress:
  - action: Deny
    source:
      namespaceSelector: ns == 'y'
YAML
cat >"$T/allow-all-x.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-all
  namespace: x
spec:
  order: 1000
  selector: all()
  types: [Ingress]
  ingress:
  - action: Allow
YAML
sed 's/namespace: x/namespace: "y"/' "$T/allow-all-x.yaml" >"$T/allow-all-y.yaml"
apply "case 4: caracalctl apply of NetworkPolicy x/allow-all (order 1000)" "$T/allow-all-x.yaml"
apply "case 4: caracalctl apply of NetworkPolicy y/allow-all (order 1000)" "$T/allow-all-y.yaml"
apply "case 4: caracalctl apply of GNP deny-from-y (order 10)" "$T/gnp-deny-y.yaml"
expect_eq "case 4: the GNP is in the default tier" \
  "$(get_field globalnetworkpolicies deny-from-y .spec.tier)" default
expect_eq "case 4: kubectl reads the GNP's order" \
  "$(get_field globalnetworkpolicies deny-from-y .spec.order)" 10
expect_matrix "case 4: c (ns y) reaches neither a nor b; a<->b and a,b->c fine" 80 \
  111 111 001
expect_matrix "case 4: the same on port 81" 81 111 111 001
delete "case 4: caracalctl delete of NetworkPolicy y/allow-all" "$T/allow-all-y.yaml"
expect_matrix "case 4: nothing allows traffic to c any more: end-of-tier drop" 80 110 110 001
delete "case 4: caracalctl delete of GNP deny-from-y" "$T/gnp-deny-y.yaml"
delete "case 4: caracalctl delete of NetworkPolicy x/allow-all" "$T/allow-all-x.yaml"
expect_matrix "case 4: cleaned up: everything reaches everything" 80 111 111 111
expect_no_objects "case 4"

# ---- 5. order between two NetworkPolicies of one tier --------------------------------------------
# Both select a; the one with the lower order is applied first. Deny at 100 and Allow at 200:
# nobody reaches a. Swapping the orders swaps the result.
# np_a NAME ORDER ACTION: a NetworkPolicy in x selecting a with one catch-all ingress rule.
np_a() {
  cat <<YAML
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: $1
  namespace: x
spec:
  order: $2
  selector: pod == 'a'
  types: [Ingress]
  ingress:
  - action: $3
YAML
}
np_a deny-a 100 Deny >"$T/deny-a.yaml"
np_a allow-a 200 Allow >"$T/allow-a.yaml"
apply "case 5: caracalctl apply of deny-a (order 100)" "$T/deny-a.yaml"
apply "case 5: caracalctl apply of allow-a (order 200)" "$T/allow-a.yaml"
expect_matrix "case 5: Deny at order 100 beats Allow at order 200" 80 111 011 011
np_a deny-a 200 Deny >"$T/deny-a.yaml"
np_a allow-a 100 Allow >"$T/allow-a.yaml"
apply "case 5: caracalctl apply of allow-a at order 100" "$T/allow-a.yaml"
apply "case 5: caracalctl apply of deny-a at order 200" "$T/deny-a.yaml"
expect_eq "case 5: kubectl reads deny-a's new order" \
  "$(get_field networkpolicies.projectcalico.org deny-a .spec.order -n x)" 200
expect_matrix "case 5: swapped: Allow at order 100 beats Deny at order 200" 80 111 111 111
# Back to Deny first: the swap works in both directions (and proves the Allow above was not
# just a policy that had not been programmed yet).
np_a deny-a 50 Deny >"$T/deny-a.yaml"
apply "case 5: caracalctl apply of deny-a at order 50" "$T/deny-a.yaml"
expect_matrix "case 5: Deny at order 50 beats Allow at order 100" 80 111 011 011
delete "case 5: caracalctl delete of deny-a" "$T/deny-a.yaml"
delete "case 5: caracalctl delete of allow-a" "$T/allow-a.yaml"
expect_matrix "case 5: cleaned up: everything reaches everything" 80 111 111 111
expect_no_objects "case 5"

# ---- 6. a GlobalNetworkSet as a rule peer --------------------------------------------------------
# The set bad-hosts (role=bad) holds c's pod IP; a GNP denies ingress from role == 'bad' and
# allows the rest. c reaches nobody else; taking its IP out of the set restores access.
ip_c=$(pod_ip y/c)
expect_contains "case 6: kubectl reads c's pod IP" "$ip_c" "10.244."
wep_nets=$(k get workloadendpoints -n y -o 'jsonpath={.items[*].spec.ipNetworks[*]}' 2>&1)
expect_eq "case 6: c's WorkloadEndpoint carries the same IP" "$wep_nets" "$ip_c/32"
# gns NET: the GlobalNetworkSet bad-hosts holding NET.
gns() {
  cat <<YAML
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: bad-hosts
  labels: {role: bad}
spec:
  nets: [$1]
YAML
}
gns "$ip_c/32" >"$T/gns.yaml"
cat >"$T/gnp-deny-bad.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: deny-bad
spec:
  selector: all()
  types: [Ingress]
  ingress:
  - action: Deny
    source:
      selector: role == 'bad'
  - action: Allow
YAML
apply "case 6: caracalctl apply of GlobalNetworkSet bad-hosts with c's IP" "$T/gns.yaml"
apply "case 6: caracalctl apply of GNP deny-bad" "$T/gnp-deny-bad.yaml"
expect_eq "case 6: kubectl reads the set's nets" \
  "$(get_field globalnetworksets bad-hosts '.spec.nets[0]')" "$ip_c/32"
expect_matrix "case 6: c's address is in a role=bad set: c reaches nobody else" 80 111 111 001
gns "192.0.2.1/32" >"$T/gns.yaml"
apply "case 6: caracalctl apply of bad-hosts without c's IP" "$T/gns.yaml"
expect_eq "case 6: kubectl reads the updated nets" \
  "$(get_field globalnetworksets bad-hosts '.spec.nets[0]')" "192.0.2.1/32"
expect_matrix "case 6: c's address left the set: access restored" 80 111 111 111
gns "$ip_c/32" >"$T/gns.yaml"
apply "case 6: caracalctl apply of bad-hosts with c's IP again" "$T/gns.yaml"
expect_matrix "case 6: c's address back in the set: blocked again" 80 111 111 001

# ---- 7. deleting everything restores the all-true matrix -----------------------------------------
# Case 6's objects are still in force; a tier with a policy and a namespaced policy are added so
# that the final deletion removes one of each kind at once.
apply "case 7: caracalctl apply of tier security" "$T/tier-security.yaml"
apply "case 7: caracalctl apply of GNP security.deny-81" "$T/gnp-deny-81.yaml"
apply "case 7: caracalctl apply of NetworkPolicy x/allow-to-a" "$T/allow-to-a.yaml"
expect_matrix "case 7: port 81: tier security and the set both in force" 81 111 011 001
expect_eq "case 7: kubectl lists both GlobalNetworkPolicies" \
  "$(k get globalnetworkpolicies -o name 2>&1 | sort | tr '\n' ' ')" \
  "globalnetworkpolicy.projectcalico.org/deny-bad globalnetworkpolicy.projectcalico.org/security.deny-81 "
delete "case 7: caracalctl delete of GNP deny-bad" "$T/gnp-deny-bad.yaml"
delete "case 7: caracalctl delete of GlobalNetworkSet bad-hosts" "$T/gns.yaml"
delete "case 7: caracalctl delete of the tier's objects" "$T/gnp-deny-81.yaml"
delete "case 7: caracalctl delete of x/allow-to-a" "$T/allow-to-a.yaml"
delete "case 7: caracalctl delete of tier security" "$T/tier-security.yaml"
expect_no_objects "case 7"
expect_matrix "case 7: everything deleted: all pairs reachable (port 80)" 80 111 111 111
expect_matrix "case 7: everything deleted: all pairs reachable (port 81)" 81 111 111 111
finish
