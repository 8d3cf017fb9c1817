#!/usr/bin/env bash
# Kubernetes NetworkPolicy conformance matrix: namespaces x, y, z (label ns=<name>), each with pods
# a, b, c (label pod=<name>) on node1, node2, node3, all serving TCP and UDP on 80 and 81. Every
# case applies NetworkPolicies with real kubectl, compares the 9x9 reachability matrices with the
# expected truth table, deletes the policies with kubectl and checks that access is back before
# the next case. The dataplane (nftables or iptables) is the argument. YAML 1.1 reads a bare y as
# a boolean, so the name and label value "y" are always quoted.
source "$(dirname "$0")/lib.sh"
DATAPLANE=${1:?usage: policy_matrix_test.sh nftables|iptables}
T0=$SECONDS

NAMESPACES=(x y z)
PODS=(a b c)
lab_up --nodes 3 --encap vxlan --dataplane "$DATAPLANE"
for ns in "${NAMESPACES[@]}"; do
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "%s"\n  labels: {ns: "%s"}\n' \
    "$ns" "$ns" |
    k create -f - >/dev/null || { echo "FAIL: namespace $ns"; exit 1; }
  n=1
  for p in "${PODS[@]}"; do
    check "pod $ns/$p on node$n" lab pod create "$ns/$p" --node "node$n" --labels "pod=$p" \
      --serve tcp:80,tcp:81,udp:80,udp:81
    n=$((n + 1))
  done
done
[ "$FAILED" -eq 0 ] || finish
ALL_PODS=()
for ns in "${NAMESPACES[@]}"; do for p in "${PODS[@]}"; do ALL_PODS+=("$ns/$p"); done; done

# ---- expected matrices ----
# want RULE...: the expected `probe --matrix -o json` answer (compact). Every pair starts allowed;
# each rule "-FROM>TO" (deny) or "+FROM>TO" (allow) sets the pairs whose names match the two bash
# patterns (x/a, x/*, */b, *), later rules winning. A pod reaching itself never leaves its netns
# (the kernel routes its own address over lo), so the diagonal is always true.
want() {
  local out="{" from to rule allowed sep1="" sep2 pf pt
  for from in "${ALL_PODS[@]}"; do
    out+="$sep1\"$from\":{"
    sep1="," sep2=""
    for to in "${ALL_PODS[@]}"; do
      allowed=true
      if [ "$from" != "$to" ]; then
        for rule in "$@"; do
          pf=${rule:1} pf=${pf%%>*} pt=${rule#*>}
          # shellcheck disable=SC2053  # the rule parts are patterns on purpose
          if [[ "$from" == $pf && "$to" == $pt ]]; then
            if [ "${rule:0:1}" = "+" ]; then allowed=true; else allowed=false; fi
          fi
        done
      fi
      out+="$sep2\"$to\":$allowed"
      sep2=","
    done
    out+="}"
  done
  echo "$out}"
}

# matrix PROTO PORT: the reachability matrix as compact JSON.
matrix() { lab probe --matrix --port "$2" --protocol "$1" --timeout-ms 300 -o json | tr -d ' \n'; }

# diff_matrix GOT WANT: the cells that differ, as "FROM>TO got=V" (readable failure output).
diff_matrix() {
  local from to g w out=""
  for from in "${ALL_PODS[@]}"; do
    for to in "${ALL_PODS[@]}"; do
      g=$(grep -o "\"$from\":{[^}]*}" <<<"$1" | grep -o "\"$to\":[a-z]*" | cut -d: -f2)
      w=$(grep -o "\"$from\":{[^}]*}" <<<"$2" | grep -o "\"$to\":[a-z]*" | cut -d: -f2)
      [ "$g" == "$w" ] || out+="$from>$to got=${g:-?} want=$w; "
    done
  done
  echo "$out"
}

CASE=""
CHECKED=()
# expect NAME PROTO PORT RULE...: waits up to 12 s for the PROTO/PORT matrix to equal want(RULES).
# The first check of a case must differ from the all-allowed matrix, so that it cannot pass before
# the policies are in force.
expect() {
  local name=$1 proto=$2 port=$3 got wnt deadline=$((SECONDS + 12))
  shift 3
  wnt=$(want "$@")
  [[ " ${CHECKED[*]} " == *" $proto:$port "* ]] || CHECKED+=("$proto:$port")
  while got=$(matrix "$proto" "$port") && [ "$got" != "$wnt" ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.3
  done
  if [ "$got" == "$wnt" ]; then
    pass "$CASE: $name ($proto/$port)"
  else
    fail "$CASE: $name ($proto/$port)" "differing cells: $(diff_matrix "$got" "$wnt")"
    echo "       got:  $got"
  fi
}

# begin NAME YAML: starts a case, applying YAML (one or more NetworkPolicy documents).
begin() {
  CASE=$1
  CHECKED=()
  printf '%s\n' "$2" >"$T/case.yaml"
  local out
  if out=$(k apply -f "$T/case.yaml" 2>&1); then pass "$CASE: kubectl apply"; else
    fail "$CASE: kubectl apply" "$out"; fi
}
# end: deletes the case's policies and checks that every matrix the case looked at is whole again
# and that no converted Calico policy is left.
end() {
  local out pp
  if out=$(k delete -f "$T/case.yaml" 2>&1); then pass "$CASE: kubectl delete"; else
    fail "$CASE: kubectl delete" "$out"; fi
  for pp in "${CHECKED[@]}"; do
    expect "deleting the policies restores access" "${pp%%:*}" "${pp#*:}"
  done
  if wait_until 10 no_calico_policies; then
    pass "$CASE: no Calico policy left"
  else
    fail "$CASE: no Calico policy left" "$(k get networkpolicies.projectcalico.org -A -o name 2>&1)"
  fi
}

# no_calico_policies: the API answers and holds no Calico NetworkPolicy in any namespace.
no_calico_policies() {
  local out
  out=$(k get networkpolicies.projectcalico.org -A -o name) && [ -z "$out" ]
}

# np NS NAME SPEC: a NetworkPolicy document (SPEC is the indented body of spec:).
np() {
  printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: %s\n' "$2"
  printf '  namespace: "%s"\nspec:\n%s\n---\n' "$1" "$3"
}

CASE=baseline
expect "no policy: everything reaches everything" tcp 80
expect "no policy: everything reaches everything" udp 81

# 1
begin "default deny ingress (x)" "$(np x deny-ingress '
  podSelector: {}
  policyTypes: [Ingress]')"
expect "nobody reaches x" tcp 80 '-*>x/*'
expect "nobody reaches x" udp 81 '-*>x/*'
end

# 2
begin "default deny egress (x)" "$(np x deny-egress '
  podSelector: {}
  policyTypes: [Egress]')"
expect "x reaches nobody" tcp 80 '-x/*>*'
expect "x reaches nobody" udp 80 '-x/*>*'
end

# 3
begin "allow same namespace only (x)" "$(np x same-ns '
  podSelector: {}
  ingress:
  - from:
    - podSelector: {}')"
expect "only x reaches x" tcp 80 '-*>x/*' '+x/*>x/*'
end

# 4
begin "podSelector peer" "$(np x a-from-b '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector:
        matchLabels: {pod: b}')"
expect "only x/b reaches x/a" tcp 80 '-*>x/a' '+x/b>x/a'
expect "only x/b reaches x/a" tcp 81 '-*>x/a' '+x/b>x/a'
end

# 5
begin "namespaceSelector peer" "$(np x a-from-ns-y '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: "y"}')"
expect "only y reaches x/a" tcp 80 '-*>x/a' '+y/*>x/a'
end

# 6
begin "namespaceSelector AND podSelector in one peer" "$(np x a-from-y-b '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: "y"}
      podSelector:
        matchLabels: {pod: b}')"
expect "only y/b reaches x/a" tcp 80 '-*>x/a' '+y/b>x/a'
end

# 7
begin "namespaceSelector OR podSelector (two peers)" "$(np x a-from-y-or-b '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: "y"}
    - podSelector:
        matchLabels: {pod: b}')"
expect "y and x/b reach x/a" tcp 80 '-*>x/a' '+y/*>x/a' '+x/b>x/a'
end

# 8
begin "empty namespaceSelector AND podSelector: pod b of every namespace" "$(np x a-from-all-b '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchLabels: {pod: b}')"
expect "x/b, y/b, z/b reach x/a" tcp 80 '-*>x/a' '+*/b>x/a'
end

# 9
begin "matchExpressions selectors (In / NotIn)" "$(np x a-from-expr '
  podSelector:
    matchExpressions:
    - {key: pod, operator: In, values: [a, b]}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions:
        - {key: ns, operator: In, values: ["y", "z"]}
      podSelector:
        matchExpressions:
        - {key: pod, operator: NotIn, values: [c]}')"
expect "y/a y/b z/a z/b reach x/a and x/b" tcp 80 '-*>x/[ab]' '+[yz]/[ab]>x/[ab]'
end

# 10
begin "named port (serve-80-tcp)" "$(np x a-named-port '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - port: serve-80-tcp')"
expect "tcp/81 to x/a blocked" tcp 81 '-*>x/a'
expect "tcp/80 to x/a open" tcp 80
expect "udp/80 to x/a blocked" udp 80 '-*>x/a'
end

# 11
begin "named UDP port (serve-81-udp)" "$(np x a-named-udp '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - protocol: UDP
      port: serve-81-udp')"
expect "udp/80 to x/a blocked" udp 80 '-*>x/a'
expect "udp/81 to x/a open" udp 81
expect "tcp/81 to x/a blocked" tcp 81 '-*>x/a'
end

# 12
begin "endPort range 80-81" "$(np x a-range '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - protocol: TCP
      port: 80
      endPort: 81')"
expect "udp/80 to x/a blocked" udp 80 '-*>x/a'
expect "tcp/80 to x/a open" tcp 80
expect "tcp/81 to x/a open" tcp 81
end

# 13
begin "endPort range 81-90" "$(np x a-range-81 '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - port: 81
      endPort: 90')"
expect "tcp/80 to x/a blocked" tcp 80 '-*>x/a'
expect "tcp/81 to x/a open" tcp 81
end

# 14
IP_YB=$(pod_ip y/b)
IP_ZC=$(pod_ip z/c)
IP_YA=$(pod_ip y/a)
expect_contains "pod IPs from kubectl" "$IP_YB $IP_ZC $IP_YA" "10.244."
begin "ingress ipBlock with except" "$(np x a-ipblock "
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - ipBlock:
        cidr: 10.244.0.0/16
        except: [$IP_YB/32]")"
expect "everyone but y/b reaches x/a" tcp 80 '-y/b>x/a'
end

# 15
begin "egress ipBlock with except" "$(np x a-egress-ipblock "
  podSelector:
    matchLabels: {pod: a}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock:
        cidr: 10.244.0.0/16
        except: [$IP_ZC/32, $IP_YA/32]")"
expect "x/a reaches everyone but z/c and y/a" tcp 80 '-x/a>z/c' '-x/a>y/a'
end

# 16
begin "egress restricted to one pod" "$(np x a-to-y-c '
  podSelector:
    matchLabels: {pod: a}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels: {ns: "y"}
      podSelector:
        matchLabels: {pod: c}')"
expect "x/a reaches only y/c" tcp 80 '-x/a>*' '+x/a>y/c'
expect "x/a reaches only y/c" udp 81 '-x/a>*' '+x/a>y/c'
end

# 17
begin "egress restricted to one port" "$(np x a-egress-81 '
  podSelector:
    matchLabels: {pod: a}
  policyTypes: [Egress]
  egress:
  - ports:
    - port: 81')"
expect "x/a reaches nobody on tcp/80" tcp 80 '-x/a>*'
expect "x/a reaches everyone on tcp/81" tcp 81
expect "x/a reaches nobody on udp/81" udp 81 '-x/a>*'
end

# 18
begin "two policies combine (union)" "$(np x a-from-b '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector:
        matchLabels: {pod: b}')
$(np x a-from-z '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: z}')"
expect "x/b and z reach x/a" tcp 80 '-*>x/a' '+x/b>x/a' '+z/*>x/a'
end

# 19
begin "allow-all for one pod beside a namespace default deny" "$(np x deny-all '
  podSelector: {}
  policyTypes: [Ingress]')
$(np x a-allow-all '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - {}')"
expect "only x/a is reachable in x" tcp 80 '-*>x/b' '-*>x/c'
end

# 20
begin "UDP-only policy" "$(np x a-udp-80 '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - protocol: UDP
      port: 80')"
expect "tcp/80 to x/a blocked" tcp 80 '-*>x/a'
expect "udp/80 to x/a open" udp 80
expect "udp/81 to x/a blocked" udp 81 '-*>x/a'
end

# 21
begin "policyTypes [Ingress, Egress] with empty egress" "$(np x a-no-egress '
  podSelector:
    matchLabels: {pod: a}
  policyTypes: [Ingress, Egress]
  ingress:
  - {}
  egress: []')"
expect "x/a reaches nobody, everyone reaches x/a" tcp 80 '-x/a>*'
expect "x/a reaches nobody, everyone reaches x/a" udp 80 '-x/a>*'
end

# 22
begin "empty podSelector in namespace y, peer in y" "$(np y from-a '
  podSelector: {}
  ingress:
  - from:
    - podSelector:
        matchLabels: {pod: a}')"
expect "only y/a reaches y" tcp 80 '-*>y/*' '+y/a>y/*'
end

# 23
begin "egress of x to namespace y only" "$(np x to-y '
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels: {ns: "y"}')"
expect "x reaches only y" tcp 80 '-x/*>*' '+x/*>y/*'
end

# 24
begin "egress deny at the source wins over ingress allow at the target" "$(np x a-no-egress '
  podSelector:
    matchLabels: {pod: a}
  policyTypes: [Egress]')
$(np y b-from-x-a '
  podSelector:
    matchLabels: {pod: b}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: x}
      podSelector:
        matchLabels: {pod: a}')"
expect "x/a reaches nobody, nobody reaches y/b" tcp 80 '-x/a>*' '-*>y/b'
end

# 25
begin "peer with a port: x/b reaches x/a on 81 only" "$(np x a-from-b-81 '
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector:
        matchLabels: {pod: b}
    ports:
    - protocol: TCP
      port: 81')"
expect "nobody reaches x/a on tcp/80" tcp 80 '-*>x/a'
expect "only x/b reaches x/a on tcp/81" tcp 81 '-*>x/a' '+x/b>x/a'
end

# 26: an update through kubectl apply replaces the rule, and deletion then restores access.
begin "policy update with kubectl apply" "$(np z c-from '
  podSelector:
    matchLabels: {pod: c}
  ingress:
  - from:
    - podSelector:
        matchLabels: {pod: a}')"
expect "only z/a reaches z/c" tcp 80 '-*>z/c' '+z/a>z/c'
sed -i 's/pod: a}/pod: b}/' "$T/case.yaml"
if out=$(k apply -f "$T/case.yaml" 2>&1); then pass "$CASE: kubectl apply of the update"; else
  fail "$CASE: kubectl apply of the update" "$out"; fi
expect "after the update only z/b reaches z/c" tcp 80 '-*>z/c' '+z/b>z/c'
end

echo "runtime: $((SECONDS - T0))s ($DATAPLANE)"
finish
