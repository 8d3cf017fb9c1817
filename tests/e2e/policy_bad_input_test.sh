#!/usr/bin/env bash
# Bad policy input is refused at the API with a message that names the field and the value, and
# the dataplane keeps enforcing the last good state. Pods a, b on node1 and c on node2 in
# namespace x serve TCP 80; a good Kubernetes NetworkPolicy (only b reaches a) is in force while
# invalid Kubernetes and Calico policies, and an invalid update of the good one, are sent with
# real kubectl and caracalctl. Every refusal must leave the stored objects, the reachability matrix
# and each node's rules (nftables or iptables, the argument) exactly as they were. A policy whose
# selector matches no endpoint is valid and must be accepted without changing enforcement.
source "$(dirname "$0")/lib.sh"
DATAPLANE=${1:?usage: policy_bad_input_test.sh nftables|iptables}

lab_up --nodes 2 --encap vxlan --dataplane "$DATAPLANE"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  labels: {ns: x}\n' | k create -f - >/dev/null
check "pod x/a on node1" lab pod create x/a --node node1 --labels pod=a --serve tcp:80
check "pod x/b on node1" lab pod create x/b --node node1 --labels pod=b --serve tcp:80
check "pod x/c on node2" lab pod create x/c --node node2 --labels pod=c --serve tcp:80

# matrix: the TCP 80 reachability matrix as compact JSON (outer key: the client).
matrix() { lab probe --matrix --port 80 --timeout-ms 500 -o json | tr -d ' \n'; }
# expect_matrix NAME JSON: waits up to 10 s for the matrix to equal JSON.
expect_matrix() {
  local name=$1 want=$2 got deadline=$((SECONDS + 10))
  while got=$(matrix) && [ "$got" != "$want" ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.3
  done
  expect_eq "$name" "$got" "$want"
}
check_until() { local n=$1 s=$2; shift 2; if wait_until "$s" "$@"; then pass "$n"; else fail "$n"; fi; }

all='{"x/a":{"x/a":true,"x/b":true,"x/c":true},"x/b":{"x/a":true,"x/b":true,"x/c":true},"x/c":{"x/a":true,"x/b":true,"x/c":true}}'
only_b='{"x/a":{"x/a":true,"x/b":true,"x/c":true},"x/b":{"x/a":true,"x/b":true,"x/c":true},"x/c":{"x/a":false,"x/b":true,"x/c":true}}'
expect_matrix "no policy: everything reaches everything" "$all"

# ---- 1. the last good state ----------------------------------------------------------------------
cat >"$T/good.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: a-from-b
  namespace: x
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector:
        matchLabels: {pod: b}
    ports:
    - port: 80
YAML
check "kubectl apply of the good NetworkPolicy a-from-b" k apply -f "$T/good.yaml"
check_until "the controller writes knp.default.a-from-b" 10 \
  k get networkpolicies.projectcalico.org -n x knp.default.a-from-b
expect_matrix "good policy: only b (and a itself) reach a" "$only_b"

# ---- 2. the dataplane as the good policy left it -------------------------------------------------
# snapshot NODE: the node's policy rules with what legitimately varies (iptables-save's header
# comments and packet counters, ipset's memory size) left out.
snapshot() {
  if [ "$DATAPLANE" = nftables ]; then
    lab node exec "$1" -- nft list table inet caracal 2>&1
  else
    lab node exec "$1" -- iptables-save -t filter 2>&1 | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
    lab node exec "$1" -- ipset list 2>&1 | grep -v '^Size in memory:'
  fi
}
# node1 hosts a, so its rules carry the policy's chain (named after the policy in nftables, after
# its hash in iptables); node2 hosts only c, which the policy does not select, so there (as in
# Calico) only c's endpoint and namespace profile chains are programmed. Either way an empty or
# failed listing must not pass for an unchanged one.
policy_chain=a-from-b
[ "$DATAPLANE" = nftables ] || policy_chain=":cali-pi-"
snap1_before=$(snapshot node1)
snap2_before=$(snapshot node2)
expect_contains "node1's $DATAPLANE rules carry the good policy" "$snap1_before" "$policy_chain"
expect_contains "node2's $DATAPLANE rules carry c's namespace profile" "$snap2_before" "kns.x"
good_spec=$(k get networkpolicy a-from-b -n x -o 'jsonpath={.spec}')
good_rv=$(k get networkpolicy a-from-b -n x -o 'jsonpath={.metadata.resourceVersion}')
calico_spec=$(k get networkpolicies.projectcalico.org knp.default.a-from-b -n x -o 'jsonpath={.spec}')
expect_contains "the stored good spec selects pod b" "$good_spec" '"pod":"b"'

# ---- 3. refusals ---------------------------------------------------------------------------------
# refused NAME NEEDLES COMMAND...: the command must fail, and its stderr must contain every
# "|"-separated needle (the field path, the bad value, what is allowed). The whole message is
# printed so that the log shows what a user sees.
refused() {
  local name=$1 needles=$2 rc n
  shift 2
  "$@" >"$T/out" 2>"$T/err"
  rc=$?
  printf '       stderr: %s\n' "$(tr '\n' ' ' <"$T/err")"
  if [ $rc -eq 0 ]; then
    fail "$name: refused" "exit 0, stdout: $(cat "$T/out")"
    return
  fi
  pass "$name: refused (exit $rc)"
  IFS='|' read -ra list <<<"$needles"
  for n in "${list[@]}"; do
    if grep -qF -- "$n" "$T/err"; then pass "$name: message names [$n]"; else
      fail "$name: message names [$n]" "stderr: $(cat "$T/err")"; fi
  done
}

# knp NAME INGRESS-PEER-YAML: a Kubernetes NetworkPolicy selecting pod a with one ingress peer.
knp() {
  cat <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: $1
  namespace: x
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - $2
YAML
}
knp bad-cidr-octet 'ipBlock: {cidr: 10.0.0.300/8}' >"$T/bad1.yaml"
refused "kubectl: ipBlock cidr 10.0.0.300/8" \
  'spec.ingress[0].from[0].ipBlock.cidr|10.0.0.300/8|CIDR' k apply -f "$T/bad1.yaml"
knp bad-cidr-word 'ipBlock: {cidr: not-a-cidr}' >"$T/bad2.yaml"
refused "kubectl: ipBlock cidr not-a-cidr" \
  'spec.ingress[0].from[0].ipBlock.cidr|not-a-cidr|CIDR' k apply -f "$T/bad2.yaml"
knp bad-except 'ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}' >"$T/bad3.yaml"
refused "kubectl: ipBlock except outside its cidr" \
  'spec.ingress[0].from[0].ipBlock.except[0]|10.1.0.0/24|10.0.0.0/16' k apply -f "$T/bad3.yaml"
knp bad-operator 'podSelector: {matchExpressions: [{key: pod, operator: Equals, values: [b]}]}' \
  >"$T/bad4.yaml"
refused "kubectl: matchExpressions operator Equals" \
  'spec.ingress[0].from[0].podSelector.matchExpressions[0].operator|Equals|NotIn|DoesNotExist' \
  k apply -f "$T/bad4.yaml"

cat >"$T/bad5.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: bad-selector
  namespace: x
spec:
  selector: "app == "
  types: [Ingress]
  ingress:
  - action: Deny
YAML
refused "caracalctl: NetworkPolicy selector 'app == '" 'spec.selector|app == ' \
  ctl apply -f "$T/bad5.yaml"
cat >"$T/bad6.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: bad-nets
  namespace: x
spec:
  selector: pod == 'a'
  types: [Ingress]
  ingress:
  - action: Deny
    source:
      nets: ["10.1.2.3/40"]
YAML
refused "caracalctl: NetworkPolicy source.nets 10.1.2.3/40" \
  'spec.ingress[0].source.nets[0]|10.1.2.3/40' ctl apply -f "$T/bad6.yaml"
cat >"$T/bad7.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: bad-ns-selector
spec:
  namespaceSelector: "ns in {'x'"
  types: [Ingress]
  ingress:
  - action: Deny
YAML
refused "caracalctl: GlobalNetworkPolicy namespaceSelector \"ns in {'x'\"" \
  "spec.namespaceSelector|ns in {'x'" ctl apply -f "$T/bad7.yaml"

# The same three through kubectl: the API server itself refuses them, not only caracalctl.
refused "kubectl: NetworkPolicy selector 'app == '" 'spec.selector|app == ' k apply -f "$T/bad5.yaml"
refused "kubectl: NetworkPolicy source.nets 10.1.2.3/40" \
  'spec.ingress[0].source.nets[0]|10.1.2.3/40' k apply -f "$T/bad6.yaml"
refused "kubectl: GlobalNetworkPolicy namespaceSelector \"ns in {'x'\"" \
  "spec.namespaceSelector|ns in {'x'" k apply -f "$T/bad7.yaml"

# A policy in a tier that does not exist: refused (404), as Calico's API server does.
cat >"$T/bad8.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: audit.deny-all
spec:
  tier: audit
  selector: all()
  types: [Ingress]
  ingress:
  - action: Deny
YAML
refused "caracalctl: GlobalNetworkPolicy in tier audit, which does not exist" \
  'tiers.projectcalico.org "audit" not found|spec.tier' ctl apply -f "$T/bad8.yaml"
refused "kubectl: GlobalNetworkPolicy in tier audit, which does not exist" \
  'tiers.projectcalico.org "audit" not found|spec.tier' k apply -f "$T/bad8.yaml"

# An update of the good policy to an invalid one: refused, the stored object untouched.
knp a-from-b 'ipBlock: {cidr: 10.0.0.300/8}' >"$T/bad-update.yaml"
refused "kubectl: update of a-from-b to cidr 10.0.0.300/8" \
  'spec.ingress[0].from[0].ipBlock.cidr|10.0.0.300/8' k apply -f "$T/bad-update.yaml"
expect_eq "a-from-b's stored spec is unchanged" \
  "$(k get networkpolicy a-from-b -n x -o 'jsonpath={.spec}')" "$good_spec"
expect_eq "a-from-b's resourceVersion is unchanged" \
  "$(k get networkpolicy a-from-b -n x -o 'jsonpath={.metadata.resourceVersion}')" "$good_rv"

# None of the refused objects exists, in either API group.
expect_eq "only a-from-b is stored (networking.k8s.io)" \
  "$(k get networkpolicies.networking.k8s.io -n x -o name 2>&1)" \
  "networkpolicy.networking.k8s.io/a-from-b"
expect_eq "only knp.default.a-from-b is stored (projectcalico.org)" \
  "$(k get networkpolicies.projectcalico.org -n x -o name 2>&1)" \
  "networkpolicy.projectcalico.org/knp.default.a-from-b"
expect_eq "no GlobalNetworkPolicy is stored" \
  "$(k get globalnetworkpolicies.projectcalico.org -o name 2>&1)" ""

# ---- 4. the last good state is still enforced ----------------------------------------------------
# The matrix takes a round of probes: any change the refusals had propagated would show by then.
expect_matrix "after the refusals: still only b reaches a" "$only_b"
expect_eq "the converted policy's spec is unchanged" \
  "$(k get networkpolicies.projectcalico.org knp.default.a-from-b -n x -o 'jsonpath={.spec}')" \
  "$calico_spec"
expect_eq "node1's $DATAPLANE rules are unchanged" "$(snapshot node1)" "$snap1_before"
expect_eq "node2's $DATAPLANE rules are unchanged" "$(snapshot node2)" "$snap2_before"

# ---- 5. a selector that matches nothing is valid -------------------------------------------------
cat >"$T/nobody.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: deny-nobody
  namespace: x
spec:
  selector: pod == 'nobody'
  types: [Ingress]
  ingress:
  - action: Deny
YAML
check "caracalctl: a NetworkPolicy selecting nobody is accepted" ctl apply -f "$T/nobody.yaml"
check "it is stored" k get networkpolicies.projectcalico.org -n x deny-nobody
knp deny-nobody-k8s 'podSelector: {matchLabels: {pod: b}}' |
  sed 's/matchLabels: {pod: a}/matchLabels: {pod: nobody}/' >"$T/nobody-k8s.yaml"
check "kubectl: a NetworkPolicy selecting nobody is accepted" k apply -f "$T/nobody-k8s.yaml"
check_until "the controller writes knp.default.deny-nobody-k8s" 10 \
  k get networkpolicies.projectcalico.org -n x knp.default.deny-nobody-k8s
expect_matrix "policies selecting nobody change nothing" "$only_b"
# As in Calico, a policy is programmed only where it selects a local endpoint.
expect_eq "node1's $DATAPLANE rules are still unchanged" "$(snapshot node1)" "$snap1_before"
expect_eq "node2's $DATAPLANE rules are still unchanged" "$(snapshot node2)" "$snap2_before"

# ---- 6. deleting the good policy restores access -------------------------------------------------
check "kubectl delete of a-from-b" k delete -f "$T/good.yaml"
expect_matrix "deleting a-from-b restores access" "$all"
check "delete the policies selecting nobody" k delete -f "$T/nobody-k8s.yaml"
check "caracalctl delete of deny-nobody" ctl delete -f "$T/nobody.yaml"
expect_matrix "no policy left: everything reaches everything" "$all"
finish
