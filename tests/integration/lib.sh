# Shared helpers for the integration tests: a private caracal-apiserver on an ephemeral loopback
# port, assertions, and cleanup that runs even when a test fails.
# Usage: source lib.sh; start_apiserver; ...; finish
set -uo pipefail

BUILD_DIR="${BUILD_DIR:?BUILD_DIR must point at the build tree}"
APISERVER="$BUILD_DIR/cmd/caracal-apiserver"
CTL="$BUILD_DIR/cmd/caracalctl"
TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$TOP/tools/bin:$PATH"

T=$(mktemp -d /tmp/caracal-it.XXXXXX)
DATA="$T/data"
export HOME="$T/home"
mkdir -p "$HOME"
APISERVER_PID=""
PASSED=0
FAILED=0

cleanup() {
  if [ -n "$APISERVER_PID" ]; then
    kill "$APISERVER_PID" 2>/dev/null
    wait "$APISERVER_PID" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT

# start_apiserver [extra flags...]: starts (or restarts) the server on the same data dir.
start_apiserver() {
  rm -f "$DATA/admin.kubeconfig"
  "$APISERVER" --data-dir "$DATA" --listen 127.0.0.1:0 "$@" >>"$T/apiserver.log" 2>&1 &
  APISERVER_PID=$!
  for _ in $(seq 200); do
    [ -s "$DATA/admin.kubeconfig" ] && break
    if ! kill -0 "$APISERVER_PID" 2>/dev/null; then
      echo "apiserver died:"; cat "$T/apiserver.log"; exit 1
    fi
    sleep 0.05
  done
  export KUBECONFIG="$DATA/admin.kubeconfig"
  SERVER_URL=$(grep -m1 'server:' "$KUBECONFIG" | awk '{print $2}')
  TOKEN=$(cat "$DATA/token")
}

stop_apiserver() {
  kill "$APISERVER_PID" 2>/dev/null
  wait "$APISERVER_PID" 2>/dev/null
  APISERVER_PID=""
}

kill9_apiserver() {
  kill -9 "$APISERVER_PID" 2>/dev/null
  wait "$APISERVER_PID" 2>/dev/null
  APISERVER_PID=""
}

# write_prod_manifests: $T/ns.yaml, the Namespace prod, and $T/np.yaml, the NetworkPolicy
# prod/allow-web (ingress to app=web from role=fe on TCP port 80; tests edit the port with sed).
write_prod_manifests() {
  cat >"$T/ns.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: prod
YAML
  cat >"$T/np.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          role: fe
    ports:
    - protocol: TCP
      port: 80
YAML
}

# kubectl with a fresh discovery cache per call, as a new user would run it.
k() { kubectl --cache-dir "$T/kcache.$RANDOM$RANDOM" "$@"; }
ctl() { "$CTL" "$@"; }

# The store revision, read from a list's metadata (any list shows the store-wide revision).
store_rev() { curl -sk -H "Authorization: Bearer $TOKEN" "$SERVER_URL/api/v1/namespaces" | grep -o '"resourceVersion":"[0-9]*"' | head -1 | grep -o '[0-9]*'; }

pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && printf '       %s\n' "$2"; }

# check NAME COMMAND...: the command must succeed.
check() { local name=$1; shift; local out; if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi; }
# check_fails NAME COMMAND...: the command must fail.
check_fails() { local name=$1; shift; local out; if out=$("$@" 2>&1); then fail "$name (succeeded)" "$out"; else pass "$name"; fi; }
# expect_eq NAME ACTUAL EXPECTED
expect_eq() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "got [$2], want [$3]"; fi; }
# expect_contains NAME HAYSTACK NEEDLE
expect_contains() { if [[ "$2" == *"$3"* ]]; then pass "$1"; else fail "$1" "[$3] not in: $2"; fi; }
expect_not_contains() { if [[ "$2" != *"$3"* ]]; then pass "$1"; else fail "$1" "[$3] unexpectedly in: $2"; fi; }

finish() {
  echo "$PASSED passed, $FAILED failed"
  if [ "$FAILED" -ne 0 ]; then
    echo "--- apiserver log"; tail -50 "$T/apiserver.log"
    exit 1
  fi
  exit 0
}
