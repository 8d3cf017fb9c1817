#!/usr/bin/env bash
# caracal-controller against the real caracal-apiserver, driven by real kubectl: a k8s
# NetworkPolicy gets its Calico NetworkPolicy knp.default.<name> within seconds, follows changes,
# disappears with it; foreign Calico policies are left alone; an inert part of a policy produces a
# Warning Event; SIGTERM stops the controller cleanly.
source "$(dirname "$0")/lib.sh"
CONTROLLER="$BUILD_DIR/cmd/caracal-controller"
CONTROLLER_PID=""

controller_cleanup() {
  if [ -n "$CONTROLLER_PID" ]; then
    kill "$CONTROLLER_PID" 2>/dev/null
    wait "$CONTROLLER_PID" 2>/dev/null
  fi
  cleanup
}
trap controller_cleanup EXIT

# wait_for SECONDS COMMAND...: until the command succeeds, at most SECONDS.
wait_for() {
  local end=$((SECONDS + $1)); shift
  while [ "$SECONDS" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  "$@" >/dev/null 2>&1
}
calico_np() { k get networkpolicies.projectcalico.org -n prod "$@"; }
has_port() { [ "$(calico_np knp.default.allow-web -o jsonpath='{.spec.ingress[0].destination.ports[0]}' 2>/dev/null)" == "$1" ]; }
gone() { local out; out=$(calico_np "$1" 2>&1); [[ "$out" == *NotFound* ]]; }

start_apiserver

write_prod_manifests
# Owned-looking name, no source annotation: somebody else's.
cat >"$T/manual.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: knp.default.manual
  namespace: prod
spec:
  selector: app == 'db'
  types: [Ingress]
YAML
# Egress rules with only Ingress listed: kept but without effect, which the controller reports.
cat >"$T/inert.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: inert
  namespace: prod
spec:
  podSelector: {}
  policyTypes: [Ingress]
  egress:
  - ports:
    - port: 53
      protocol: UDP
YAML

check "kubectl apply namespace" k apply -f "$T/ns.yaml"
check "kubectl apply a foreign Calico policy" k apply -f "$T/manual.yaml"
manual_before=$(calico_np knp.default.manual -o jsonpath='{.metadata.resourceVersion}')

"$CONTROLLER" --kubeconfig "$KUBECONFIG" --log-level debug >>"$T/controller.log" 2>&1 &
CONTROLLER_PID=$!

out=$(k apply -f "$T/np.yaml" 2>&1)
expect_contains "kubectl apply creates the NetworkPolicy" "$out" "networkpolicy.networking.k8s.io/allow-web created"
start=$(date +%s%N)
if wait_for 10 calico_np knp.default.allow-web; then
  pass "knp.default.allow-web appears ($(( ($(date +%s%N) - start) / 1000000 )) ms)"
else
  fail "knp.default.allow-web appears within 10 s" "$(tail -20 "$T/controller.log")"
fi
out=$(calico_np knp.default.allow-web -o yaml 2>&1)
expect_contains "the Calico policy names its source" "$out" "policy.caracal.io/source-name: allow-web"
expect_contains "the Calico policy has the source uid" "$out" "policy.caracal.io/source-uid:"
expect_contains "the Calico policy selects the pods" "$out" "app == 'web'"
expect_contains "the Calico policy is in the default tier" "$out" "tier: default"
expect_contains "the Calico policy has order 1000" "$out" "order: 1000"
check "the rule allows port 80" has_port 80

sed -i 's/port: 80/port: 8080/' "$T/np.yaml"
out=$(k apply -f "$T/np.yaml" 2>&1)
expect_contains "kubectl apply changes the NetworkPolicy" "$out" "configured"
check "the Calico policy follows the change (port 8080)" wait_for 10 has_port 8080

out=$(k apply -f "$T/inert.yaml" 2>&1)
expect_contains "kubectl apply of a policy with inert egress rules" "$out" "created"
check "knp.default.inert appears" wait_for 10 calico_np knp.default.inert
events() { k get events -n prod -o yaml 2>&1; }
has_event() { events | grep -q "reason: RuleDropped"; }
check "a RuleDropped Event is recorded" wait_for 10 has_event
out=$(events)
expect_contains "the Event is a Warning" "$out" "type: Warning"
expect_contains "the Event is about the NetworkPolicy" "$out" "kind: NetworkPolicy"
expect_contains "the Event names the field" "$out" "spec.egress"
expect_contains "the Event names its component" "$out" "component: caracal-controller"
out=$(k get events -n prod 2>&1)
expect_contains "kubectl get events prints the object" "$out" "networkpolicy/inert"

out=$(k delete -f "$T/np.yaml" 2>&1)
expect_contains "kubectl delete the NetworkPolicy" "$out" "deleted"
check "the Calico policy is deleted with it" wait_for 10 gone knp.default.allow-web
check "the other converted policy stays" calico_np knp.default.inert
expect_eq "the foreign Calico policy is untouched" \
  "$(calico_np knp.default.manual -o jsonpath='{.metadata.resourceVersion}')" "$manual_before"

# A Calico policy deleted by hand comes back (level-triggered).
check "the converted policy exists before it is deleted by hand" calico_np knp.default.inert -o name
k delete networkpolicies.projectcalico.org -n prod knp.default.inert >/dev/null 2>&1
check "the converted policy is recreated" wait_for 10 calico_np knp.default.inert

kill -TERM "$CONTROLLER_PID"
rc=""
for _ in $(seq 100); do
  if ! kill -0 "$CONTROLLER_PID" 2>/dev/null; then
    wait "$CONTROLLER_PID"; rc=$?
    break
  fi
  sleep 0.1
done
expect_eq "SIGTERM stops the controller with status 0 within 10 s" "$rc" "0"
[ "$rc" == "0" ] && CONTROLLER_PID=""
out=$(cat "$T/controller.log")
expect_contains "the controller logged the signal" "$out" "stopping"

if [ "$FAILED" -ne 0 ]; then
  echo "--- controller log"; tail -50 "$T/controller.log"
fi
finish
