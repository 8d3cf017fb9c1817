#!/usr/bin/env bash
# `caracal-lab down` after a crash: everything killed with SIGKILL, once in the middle of `up`
# and once with a running lab and pods. Afterwards no namespace of the lab, no process of the
# lab and no state remain, and `down` can be repeated.
source "$(dirname "$0")/lib.sh"
PREFIX=$(lab_prefix)

# SIGKILL to every process of the lab: pid files, anything inside its namespaces, and any
# process whose command line carries the state directory.
kill_everything() {
  local pids=() f ns
  for f in "$CARACAL_LAB_STATE"/pids/*.pid; do [ -e "$f" ] && pids+=("$(cat "$f")"); done
  local more
  for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX-"); do
    mapfile -t more < <(ip netns pids "$ns")
    pids+=("${more[@]}")
  done
  while read -r f; do
    f=${f#/proc/}
    pids+=("${f%/cmdline}")
  done < <(grep -lsaF -- "$CARACAL_LAB_STATE/" /proc/[0-9]*/cmdline)
  [ ${#pids[@]} -eq 0 ] || kill -9 "${pids[@]}" 2>/dev/null
  sleep 0.5
}

leftover_namespaces() { ip netns list | awk '{print $1}' | grep "^$PREFIX-" || true; }
leftover_processes() { grep -lsaF -- "$CARACAL_LAB_STATE/" /proc/[0-9]*/cmdline || true; }

expect_clean() {
  expect_eq "$1: no namespace left" "$(leftover_namespaces)" ""
  expect_eq "$1: no process left" "$(leftover_processes)" ""
  if [ -e "$CARACAL_LAB_STATE" ]; then fail "$1: state directory left" "$(ls -la "$CARACAL_LAB_STATE")"
  else pass "$1: state directory removed"; fi
}

# 1. SIGKILL in the middle of `up`: once the API server runs, before the nodes are ready.
# Started directly (not through a shell function) so that $! is the caracal-lab process itself.
"$LAB" up --nodes 3 --encap vxlan >"$T/up1.log" 2>&1 &
up=$!
wait_until 60 test -e "$CARACAL_LAB_STATE/apiserver/admin.kubeconfig" ||
  fail "up never reached the API server stage" "$(cat "$T/up1.log")"
kill -9 $up
wait $up 2>/dev/null
kill_everything
[ -n "$(leftover_namespaces)" ] && pass "the crashed up left namespaces behind" ||
  fail "the crashed up left no namespaces (nothing to clean up)"
out=$(lab up --nodes 1 2>&1)
expect_contains "up refuses to start over a crashed lab" "$out" "caracal-lab down"
check "down after a crashed up" lab down
expect_clean "after a crashed up"
check "down again is a no-op" lab down

# 2. A running lab with pods, then SIGKILL to all of it.
lab_up --nodes 2 --encap vxlan
make_namespace e2e
check "pod e2e/a" lab pod create e2e/a --serve tcp:80,udp:81
check "pod e2e/b" lab pod create e2e/b --serve tcp:80
check "a reaches b" lab probe e2e/a e2e/b --port 80 --timeout-ms 3000
expect_eq "the lab has 2 nodes + 2 pods + fabric namespaces" "$(leftover_namespaces | wc -l)" 5
kill_everything
check "down after killing the running lab" lab down
expect_clean "after killing a running lab"
check "down again is a no-op" lab down

# 3. The same state directory is usable again.
lab_up --nodes 1 --encap vxlan
check_fails "pod create in a namespace that does not exist fails" lab pod create e2e2/x --serve tcp:80
expect_eq "a failed pod create leaves no pod namespace" \
  "$(leftover_namespaces | grep -c -- '-p[0-9]*$')" 0
check "down of the new lab" lab down
expect_clean "after a normal down"
finish
