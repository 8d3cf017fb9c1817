# shellcheck shell=bash
# FRR (zebra + bgpd) as a BGP peer inside a network namespace, without systemd and without
# /etc/frr: every path is explicit and lives in one directory of the caller. Source this file.
#
#   frr_start <netns> <dir>     starts zebra, then bgpd, in <netns>; reads <dir>/zebra.conf and
#                               <dir>/bgpd.conf; pid files, the zserv socket, the vty sockets and
#                               the logs (<dir>/zebra.log, <dir>/bgpd.log, and what the daemons
#                               print before they detach: <dir>/<daemon>.out) go to <dir>. Waits
#                               until both daemons answer on their vty socket. Returns non-zero
#                               (and prints the logs) when one does not start.
#   frr_stop <dir>              SIGTERM to the daemons of <dir> (by their pid files), SIGKILL after
#                               5 s; safe to call twice or when nothing was started.
#   frr_vtysh <dir> <cmd>...    runs vtysh against the daemons of <dir>, each argument one command
#                               line (`frr_vtysh D 'configure terminal' 'router bgp 65000' ...`).
#   frr_wait_established <dir> <neighbor-ip> [timeout-s]
#                               waits until bgpd's session to <neighbor-ip> is Established.
#
# The daemons run as the default user `frr` (running them as root fails on the frrvty group check),
# so <dir> is made world-writable (chmod 777). TCP vty ports are disabled (-P 0): only the unix
# sockets in <dir> are used. Needs root, for `ip netns exec`.

FRR_SBIN=${FRR_SBIN:-/usr/lib/frr}
FRR_VTYSH=${FRR_VTYSH:-vtysh}

frr_start() {
  local ns=$1 dir=$2 d
  if [[ -z $ns || -z $dir ]]; then
    echo "frr_start: usage: frr_start <netns> <dir>" >&2
    return 2
  fi
  for d in zebra bgpd; do
    if [[ ! -f $dir/$d.conf ]]; then
      echo "frr_start: $dir/$d.conf is missing" >&2
      return 2
    fi
  done
  # The daemons drop to user frr: every directory above <dir> must be searchable by others
  # (mktemp -d makes 0700 directories; chmod 711 them).
  local up
  up=$(cd "$dir" && pwd)
  while up=$(dirname "$up") && [[ $up != / ]]; do
    if [[ $(( $(stat -c '%#a' "$up") & 1 )) -eq 0 ]]; then
      echo "frr_start: $up is not searchable by others (the daemons run as user frr)" >&2
      return 2
    fi
  done
  chmod 777 "$dir" || return 1
  chmod a+r "$dir/zebra.conf" "$dir/bgpd.conf" || return 1
  # zebra first: bgpd connects to it through the zserv socket.
  for d in zebra bgpd; do
    local extra=()
    [[ $d == zebra ]] && extra=(-s 90000000)
    if ! ip netns exec "$ns" "$FRR_SBIN/$d" -d -f "$dir/$d.conf" -i "$dir/$d.pid" \
      -z "$dir/zserv.api" --vty_socket "$dir" -P 0 --log "file:$dir/$d.log" "${extra[@]}" \
      >"$dir/$d.out" 2>&1; then
      echo "frr_start: $d did not start in $ns" >&2
      cat "$dir/$d.out" >&2 2>/dev/null
      return 1
    fi
    if ! _frr_wait_vty "$dir" "$d" 10; then
      echo "frr_start: $d does not answer on $dir/$d.vty" >&2
      tail -n 20 "$dir/$d.log" >&2 2>/dev/null
      return 1
    fi
  done
}

# Waits until `vtysh -d <daemon> -c 'show version'` answers (the daemon has read its config).
_frr_wait_vty() {
  local dir=$1 daemon=$2 timeout=$3 i
  for ((i = 0; i < timeout * 10; i++)); do
    if [[ -S $dir/$daemon.vty ]] &&
      "$FRR_VTYSH" --vty_socket "$dir" -d "$daemon" -c 'show version' >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

frr_stop() {
  local dir=$1 d pid i
  [[ -n $dir ]] || return 0
  for d in bgpd zebra; do
    [[ -f $dir/$d.pid ]] || continue
    pid=$(cat "$dir/$d.pid" 2>/dev/null)
    [[ $pid =~ ^[0-9]+$ ]] || continue
    kill -TERM "$pid" 2>/dev/null || continue
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    rm -f "$dir/$d.pid"
  done
  return 0
}

frr_vtysh() {
  local dir=$1
  shift
  local args=() c
  for c in "$@"; do
    args+=(-c "$c")
  done
  "$FRR_VTYSH" --vty_socket "$dir" "${args[@]}"
}

frr_wait_established() {
  local dir=$1 nbr=$2 timeout=${3:-30} i
  for ((i = 0; i < timeout * 10; i++)); do
    if frr_vtysh "$dir" "show bgp neighbors $nbr json" 2>/dev/null |
      grep -Eq '"bgpState": ?"Established"'; then
      return 0
    fi
    sleep 0.1
  done
  echo "frr_wait_established: no Established session to $nbr after ${timeout}s" >&2
  return 1
}
