#!/usr/bin/env bash
# Concurrent block IPAM against a real caracal-apiserver: PROCS processes (two per node, racing on
# the same blocks) allocate COUNT addresses each; every address must be unique, every handle must
# resolve, and `caracalctl ipam check` must find nothing wrong.
# Environment: BUILD_DIR (required), PROCS (default 4), COUNT (default 500).
source "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/lib.sh"

STRESS="$BUILD_DIR/ipam/ipam_stress"
[ -x "$STRESS" ] || STRESS="$BUILD_DIR/ipam_stress"
PROCS="${PROCS:-4}"
COUNT="${COUNT:-500}"
TOTAL=$((PROCS * COUNT))
PIDS=()

stop_drivers() {
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  PIDS=()
}
trap 'stop_drivers; cleanup' EXIT

start_apiserver

check "pool created" ctl apply -f - <<EOF
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: stress-pool}
spec: {cidr: 10.128.0.0/16, blockSize: 26, nodeSelector: all()}
EOF

for i in $(seq 1 "$PROCS"); do
  node="stress-node-$(( (i + 1) / 2 ))"
  "$STRESS" run --kubeconfig "$KUBECONFIG" --node "$node" --count "$COUNT" --prefix "p$i" \
    --create-pods --ready-file "$T/ready.$i" --start-file "$T/start" --out "$T/alloc.$i" \
    >"$T/driver.$i.log" 2>&1 &
  PIDS+=($!)
done

for _ in $(seq 1200); do
  n=$(ls "$T"/ready.* 2>/dev/null | wc -l)
  [ "$n" -eq "$PROCS" ] && break
  sleep 0.1
done
expect_eq "all drivers ready (pods and nodes created)" "$(ls "$T"/ready.* 2>/dev/null | wc -l)" "$PROCS"

t0=$(date +%s%N)
touch "$T/start"
rc_all=0
for p in "${PIDS[@]}"; do
  wait "$p" || rc_all=1
done
t1=$(date +%s%N)
PIDS=()
ms=$(( (t1 - t0) / 1000000 ))
cat "$T"/driver.*.log
expect_eq "every driver succeeded" "$rc_all" "0"

lines=$(cat "$T"/alloc.* | wc -l)
expect_eq "$TOTAL allocations recorded" "$lines" "$TOTAL"
dups=$(cut -d' ' -f1 "$T"/alloc.* | sort | uniq -d | head -5)
expect_eq "no address handed out twice" "$dups" ""

check "every address resolves to its handle and back" "$STRESS" verify --kubeconfig "$KUBECONFIG" "$T"/alloc.*

out=$(ctl ipam check 2>&1); rc=$?
expect_eq "caracalctl ipam check exits 0" "$rc" "0"
expect_contains "ipam check reports no problems" "$out" "found 0 problems"
expect_contains "ipam check counted every allocation" "$out" "Found $TOTAL IP allocations"

out=$(ctl ipam show 2>&1)
expect_contains "ipam show counts the addresses in use" "$out" "| $TOTAL ("

rate=$(( ms > 0 ? TOTAL * 1000 / ms : TOTAL ))
echo "STRESS: $PROCS processes x $COUNT allocations = $TOTAL in ${ms} ms (${rate} allocations/s)"
finish
