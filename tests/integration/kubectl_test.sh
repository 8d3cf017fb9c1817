#!/usr/bin/env bash
# Real kubectl against caracal-apiserver: discovery, OpenAPI-validated apply (create, then patch),
# get as table/yaml/json, label, watch, delete; typed-client commands that send protobuf bodies
# (create namespace/serviceaccount, drain); TLS and bearer-token authentication.
source "$(dirname "$0")/lib.sh"
start_apiserver

write_prod_manifests

out=$(k version -o json 2>&1)
expect_contains "kubectl version reads the server version" "$out" '"minor": "32"'

out=$(k apply -f "$T/ns.yaml" 2>&1)
expect_contains "kubectl apply creates a namespace" "$out" "namespace/prod created"
out=$(k get ns prod -o jsonpath='{.metadata.labels.kubernetes\.io/metadata\.name}' 2>&1)
expect_eq "namespace gets kubernetes.io/metadata.name" "$out" "prod"

# kubectl's generators use the typed client, which sends Kubernetes protobuf bodies; replies are JSON.
out=$(k create namespace dev 2>&1)
expect_contains "kubectl create namespace (protobuf body)" "$out" "namespace/dev created"
out=$(k get ns dev -o jsonpath='{.status.phase}' 2>&1)
expect_eq "namespace created from protobuf is Active" "$out" "Active"
out=$(k label ns dev team=net 2>&1)
expect_contains "kubectl label ns" "$out" "namespace/dev labeled"
out=$(k get ns -l team=net -o name 2>&1)
expect_eq "the namespace label is stored" "$out" "namespace/dev"
out=$(k annotate ns dev owner=netops 2>&1)
expect_contains "kubectl annotate ns" "$out" "namespace/dev annotated"
out=$(k create serviceaccount builder -n dev 2>&1)
expect_contains "kubectl create serviceaccount (protobuf body)" "$out" "serviceaccount/builder created"
out=$(k get sa builder -n dev -o jsonpath='{.metadata.namespace}' 2>&1)
expect_eq "the serviceaccount is in its namespace" "$out" "dev"
out=$(k create namespace dry --dry-run=server 2>&1)
expect_contains "kubectl create namespace --dry-run=server" "$out" "created (server dry run)"
out=$(k get ns dry 2>&1)
expect_contains "a server dry run stores nothing" "$out" "NotFound"
out=$(k delete ns dev --dry-run=server 2>&1)
expect_contains "kubectl delete --dry-run=server (dryRun in the DeleteOptions body)" "$out" "server dry run"
out=$(k get ns dev -o name 2>&1)
expect_eq "a dry-run delete keeps the namespace" "$out" "namespace/dev"
out=$(k delete ns dev 2>&1)
expect_contains "kubectl delete ns" "$out" "namespace \"dev\" deleted"
out=$(k get ns dev 2>&1)
expect_contains "the deleted namespace is gone" "$out" "NotFound"
out=$(k get sa builder -n dev 2>&1)
expect_contains "deleting a namespace deletes its serviceaccounts" "$out" "NotFound"
# A protobuf body of a kind without a decoder is refused with 415, naming JSON and YAML.
printf 'k8s\x00\x0a\x09\x0a\x02v1\x12\x03Pod\x12\x00' >"$T/pod.pb"
out=$(curl -sk -w ' %{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H "Content-Type: application/vnd.kubernetes.protobuf" --data-binary @"$T/pod.pb" \
  "$SERVER_URL/api/v1/namespaces/default/pods")
expect_contains "a protobuf Pod body gets 415" "$out" " 415"
expect_contains "the 415 names the accepted media types" "$out" "application/json, application/yaml"

out=$(k apply -f "$T/np.yaml" 2>&1)
expect_contains "kubectl apply creates a NetworkPolicy (strict validation)" "$out" "networkpolicy.networking.k8s.io/allow-web created"
out=$(k apply -f "$T/np.yaml" 2>&1)
expect_contains "kubectl apply of the same file is unchanged" "$out" "unchanged"
sed -i 's/port: 80/port: 8080/' "$T/np.yaml"
out=$(k apply -f "$T/np.yaml" 2>&1)
expect_contains "kubectl apply of a changed file patches" "$out" "networkpolicy.networking.k8s.io/allow-web configured"
out=$(k get netpol allow-web -n prod -o jsonpath='{.spec.ingress[0].ports[0].port}' 2>&1)
expect_eq "the patch reached the store" "$out" "8080"

out=$(k get networkpolicies -n prod 2>&1)
expect_contains "kubectl get prints a table with the name" "$out" "allow-web"
expect_contains "kubectl get table has a POD-SELECTOR column" "$out" "POD-SELECTOR"
out=$(k get networkpolicies -A 2>&1)
expect_contains "kubectl get -A shows the namespace column" "$out" "NAMESPACE"
expect_contains "kubectl get -A shows the namespace" "$out" "prod"
out=$(k get netpol allow-web -n prod -o yaml 2>&1)
expect_contains "kubectl get -o yaml" "$out" "kind: NetworkPolicy"
expect_contains "kubectl get -o yaml has resourceVersion" "$out" "resourceVersion:"
out=$(k get netpol -n prod -o json 2>&1)
expect_contains "kubectl get -o json lists" "$out" '"kind": "List"'

out=$(k label netpol allow-web -n prod tier=frontend 2>&1)
expect_contains "kubectl label" "$out" "labeled"
out=$(k get netpol -n prod -l tier=frontend -o name 2>&1)
expect_eq "label selector finds the labelled policy" "$out" "networkpolicy.networking.k8s.io/allow-web"
out=$(k get netpol -n prod -l tier=backend -o name 2>&1)
expect_eq "label selector excludes others" "$out" ""

# Watch: kubectl lists, then watches from the list's resourceVersion; the server ends the stream
# after timeoutSeconds via --request-timeout.
k get netpol -n prod -w --output-watch-events --request-timeout=8s >"$T/watch.out" 2>&1 &
wpid=$!
for _ in $(seq 100); do grep -q allow-web "$T/watch.out" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
k label netpol allow-web -n prod watched=yes >/dev/null 2>&1
k delete netpol allow-web -n prod >/dev/null 2>&1
wait $wpid
out=$(cat "$T/watch.out")
expect_contains "kubectl watch sees MODIFIED" "$out" "MODIFIED"
expect_contains "kubectl watch sees DELETED" "$out" "DELETED"
out=$(k get netpol allow-web -n prod 2>&1)
expect_contains "deleted object is gone" "$out" "NotFound"

# Calico kinds through kubectl.
cat >"$T/pool.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-k
spec:
  cidr: 10.250.0.0/16
  ipipMode: CrossSubnet
  natOutgoing: true
YAML
out=$(k apply -f "$T/pool.yaml" 2>&1)
expect_contains "kubectl apply creates an IPPool" "$out" "ippool.projectcalico.org/pool-k created"
sed -i 's/natOutgoing: true/natOutgoing: false/' "$T/pool.yaml"
out=$(k apply -f "$T/pool.yaml" 2>&1)
expect_contains "kubectl apply patches an IPPool (merge patch)" "$out" "configured"
out=$(k apply --server-side -f "$T/pool.yaml" 2>&1)
expect_contains "kubectl apply --server-side" "$out" "serverside-applied"
out=$(k get ippools -o wide 2>&1)
expect_contains "kubectl get ippools table" "$out" "10.250.0.0/16"
out=$(k get ippool pool-k -o jsonpath='{.spec.blockSize}' 2>&1)
expect_eq "IPPool default blockSize is stored" "$out" "26"

out=$(k patch ippool pool-k --type=json -p '[{"op":"replace","path":"/spec/natOutgoing","value":true}]' 2>&1)
expect_contains "kubectl patch --type=json" "$out" "patched"
out=$(k get ippool pool-k -o jsonpath='{.spec.natOutgoing}' 2>&1)
expect_eq "JSON patch reached the store" "$out" "true"

# A real Pod manifest round-trips (fields we do not model are kept).
cat >"$T/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: prod
  labels: {app: web}
spec:
  nodeName: node-a
  serviceAccountName: default
  containers:
  - name: web
    image: nginx:1.27
    ports:
    - {name: http, containerPort: 80, protocol: TCP}
    resources:
      limits: {cpu: 100m}
YAML
out=$(k create -f "$T/pod.yaml" 2>&1)
expect_contains "kubectl create of a Pod" "$out" "pod/web-1 created"
out=$(k get pod web-1 -n prod -o jsonpath='{.spec.containers[0].resources.limits.cpu}' 2>&1)
expect_eq "unmodelled Pod fields are kept" "$out" "100m"
out=$(k get pods -n prod --field-selector spec.nodeName=node-a -o name 2>&1)
expect_eq "field selector spec.nodeName" "$out" "pod/web-1"
# kubectl drain lists the node's pods and deletes them with protobuf DeleteOptions (this server
# has no eviction API).
printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: node-a\n' >"$T/node.yaml"
out=$(k create -f "$T/node.yaml" 2>&1)
expect_contains "kubectl create of a Node" "$out" "node/node-a created"
out=$(k drain node-a --force --ignore-daemonsets --grace-period=1 --timeout=30s 2>&1)
expect_contains "kubectl drain deletes the node's pods" "$out" "node/node-a drained"
out=$(k get pod web-1 -n prod 2>&1)
expect_contains "the drained pod is gone" "$out" "NotFound"
out=$(k get node node-a -o jsonpath='{.spec.unschedulable}' 2>&1)
expect_eq "kubectl drain cordons the node" "$out" "true"
out=$(k create -f "$T/pod.yaml" 2>&1)
expect_contains "kubectl create of the Pod again" "$out" "pod/web-1 created"
out=$(k delete pods --all -n prod 2>&1)
expect_contains "kubectl delete --all" "$out" "deleted"
out=$(k get pods -n prod 2>&1)
expect_contains "no pods left" "$out" "No resources found"

# Strict validation errors through kubectl name the field.
cat >"$T/badpool.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-bad
spec:
  cidr: 10.251.0.0/16
  ipipMode: sometimes
YAML
rev=$(store_rev)
out=$(k apply -f "$T/badpool.yaml" 2>&1)
expect_contains "kubectl apply of an invalid IPPool names the field" "$out" "spec.ipipMode"
expect_eq "invalid IPPool changed nothing" "$(store_rev)" "$rev"

# Authentication: no token, wrong token.
code=$(curl -sk -o /dev/null -w '%{http_code}' "$SERVER_URL/api/v1/namespaces")
expect_eq "no credentials get 401" "$code" "401"
code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer nope" "$SERVER_URL/apis/projectcalico.org/v3/ippools")
expect_eq "wrong token gets 401" "$code" "401"
out=$(k --token nope get ippools 2>&1)
expect_contains "kubectl with a wrong token is refused" "$out" "provide credentials"
# TLS: the CA in the kubeconfig verifies the server.
code=$(curl -s --cacert "$DATA/ca.crt" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$SERVER_URL/version")
expect_eq "server certificate verifies against the generated CA" "$code" "200"

out=$(k delete -f "$T/pool.yaml" 2>&1)
expect_contains "kubectl delete -f" "$out" "ippool.projectcalico.org \"pool-k\" deleted"

finish
