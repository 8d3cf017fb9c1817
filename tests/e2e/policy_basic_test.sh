#!/usr/bin/env bash
# Kubernetes NetworkPolicy applied with real kubectl is enforced in the nodes' kernels: the
# controller converts it, every node's felix programs it (nftables or iptables, the argument),
# and deleting it restores access. Pods a, b on node1 and c on node2 in namespace x serve TCP 80
# and 81; the probes are the lab's matrix.
source "$(dirname "$0")/lib.sh"
DATAPLANE=${1:?usage: policy_basic_test.sh nftables|iptables}

lab_up --nodes 2 --encap vxlan --dataplane "$DATAPLANE"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  labels: {ns: x}\n' | k create -f - >/dev/null
check "pod x/a on node1" lab pod create x/a --node node1 --labels pod=a --serve tcp:80,tcp:81
check "pod x/b on node1" lab pod create x/b --node node1 --labels pod=b --serve tcp:80,tcp:81
check "pod x/c on node2" lab pod create x/c --node node2 --labels pod=c --serve tcp:80,tcp:81

# matrix PORT: the reachability matrix as compact JSON.
matrix() { lab probe --matrix --port "$1" --timeout-ms 500 -o json | tr -d ' \n'; }
# expect_matrix NAME PORT JSON: waits up to 10 s for the matrix to equal JSON.
expect_matrix() {
  local name=$1 port=$2 want=$3 got deadline=$((SECONDS + 10))
  while got=$(matrix "$port") && [ "$got" != "$want" ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.3
  done
  expect_eq "$name" "$got" "$want"
}
all='{"x/a":{"x/a":true,"x/b":true,"x/c":true},"x/b":{"x/a":true,"x/b":true,"x/c":true},"x/c":{"x/a":true,"x/b":true,"x/c":true}}'
expect_matrix "no policy: everything reaches everything (profiles allow)" 80 "$all"

cat >"$T/knp.yaml" <<'YAML'
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
check "kubectl apply of a NetworkPolicy" k apply -f "$T/knp.yaml"
check_until() { local n=$1 s=$2; shift 2; if wait_until "$s" "$@"; then pass "$n"; else fail "$n"; fi; }
check_until "the controller writes knp.default.a-from-b" 10 \
  k get networkpolicies.projectcalico.org -n x knp.default.a-from-b
expect_matrix "port 80: only b reaches a" 80 \
  '{"x/a":{"x/a":true,"x/b":true,"x/c":true},"x/b":{"x/a":true,"x/b":true,"x/c":true},"x/c":{"x/a":false,"x/b":true,"x/c":true}}'
expect_matrix "port 81: nobody else reaches a" 81 \
  '{"x/a":{"x/a":true,"x/b":true,"x/c":true},"x/b":{"x/a":false,"x/b":true,"x/c":true},"x/c":{"x/a":false,"x/b":true,"x/c":true}}'

# Default-deny egress for c, as a second policy.
cat >"$T/deny-egress.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: c-no-egress
  namespace: x
spec:
  podSelector:
    matchLabels: {pod: c}
  policyTypes: [Egress]
YAML
check "kubectl apply of a default-deny egress policy" k apply -f "$T/deny-egress.yaml"
expect_matrix "port 81: c reaches nobody, a still only itself" 81 \
  '{"x/a":{"x/a":true,"x/b":true,"x/c":true},"x/b":{"x/a":false,"x/b":true,"x/c":true},"x/c":{"x/a":false,"x/b":false,"x/c":true}}'

check "kubectl delete of both policies" k delete -f "$T/knp.yaml" -f "$T/deny-egress.yaml"
expect_matrix "deleting the policies restores access" 81 "$all"
finish
