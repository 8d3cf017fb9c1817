#!/usr/bin/env bash
# The CNI plugins `caracal` + `caracal-ipam` driven by the reference runtime library (libcni, via
# cnidriver.go), for cniVersion 1.0.0, 0.4.0 and 0.3.1, against a real caracal-apiserver.
#
# Layout: a "node" network namespace holds the apiserver (on its loopback), an uplink with a
# default route (as a real node has; proxy ARP answers for 169.254.1.1 only when the node has a
# route), and runs every libcni call, exactly where a container runtime runs the plugin. Each pod
# gets its own namespace. Everything is deleted on exit, whatever happens. Needs root (skips with
# status 77 otherwise).
#
# Checked per version: the ADD result's shape; eth0 in the pod (/32, 169.254.1.1 scope link, default
# route, MTU); the host veth (name, MAC, proxy_arp/forwarding/route_localnet, node route proto 80);
# ICMP both ways; the WorkloadEndpoint's fields; the pod annotations; the IPAM handle; CHECK (ok,
# then failing when a route is removed); DEL and a second DEL; nothing left (veth, WEP, handle,
# block allocation). Failed ADDs (missing pod, exhausted pool) leave nothing behind, and so does a
# DEL after the pod's namespace is gone.
source "$(dirname "$0")/../integration/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root for network namespaces"
  exit 77
fi
for b in caracal caracal-ipam caracal-apiserver; do
  if [ ! -x "$BUILD_DIR/cmd/$b" ]; then
    echo "missing $BUILD_DIR/cmd/$b: build it first"
    exit 1
  fi
done

TAG="cnit-$$"
NODE_NS="$TAG-node"
NETNS_LIST=()
cni_cleanup() {
  local ns
  for ns in "${NETNS_LIST[@]}"; do
    ip netns del "$ns" 2>/dev/null
  done
  cleanup # lib.sh: stops the apiserver, removes $T
}
trap cni_cleanup EXIT

new_netns() { ip netns add "$1" && NETNS_LIST+=("$1"); }
N() { ip netns exec "$NODE_NS" "$@"; }

# The uplink is a veth pair inside the node namespace (no dummy module is needed).
if ! { new_netns "$NODE_NS" &&
       N ip link set lo up &&
       N ip link add uplink0 type veth peer name uplink1 &&
       N ip addr add 192.0.2.1/24 dev uplink0 &&
       N ip link set uplink0 up &&
       N ip link set uplink1 up &&
       N ip route add default via 192.0.2.254 dev uplink0; }; then
  echo "cannot set up the node namespace $NODE_NS"
  exit 1
fi

# The apiserver listens on the node namespace's loopback, where the plugin finds it.
cat >"$T/apiserver-in-node" <<EOF
#!/bin/sh
exec ip netns exec $NODE_NS $BUILD_DIR/cmd/caracal-apiserver "\$@"
EOF
chmod +x "$T/apiserver-in-node"
APISERVER="$T/apiserver-in-node"
start_apiserver

# The runtime side: libcni.
DRIVER="${CNIDRIVER:-}"
if [ -z "$DRIVER" ] || [ ! -x "$DRIVER" ]; then
  if ! (cd "$(dirname "$0")" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$T/gocache" \
      go build -o "$T/cnidriver" cnidriver.go); then
    echo "cannot build cnidriver.go"
    exit 1
  fi
  DRIVER="$T/cnidriver"
fi
mkdir -p "$T/cache"
drv() { N "$DRIVER" -cache-dir "$T/cache" -path "$BUILD_DIR/cmd" "$@"; }
api() { N curl -sk -H "Authorization: Bearer $TOKEN" "$SERVER_URL$1"; }
api_code() { N curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$SERVER_URL$1"; }
hostveth() { echo -n "cali$(echo -n "$1.$2" | sha1sum | cut -c1-11)"; }
wepname() { echo -n "node--1-k8s-${1//-/--}-eth0"; }

# ICMP echo with a raw socket (no ping binary needed): icmp_ping ADDR -> exit 0 on a reply.
cat >"$T/icmp_ping.py" <<'PY'
import os, socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
dst = sys.argv[1]; ident = os.getpid() & 0xffff
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(1.0)
for seq in range(1, 4):
    payload = b"caracal-cni-test"
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, seq) + payload
    sock.sendto(pkt, (dst, 0))
    end = time.time() + 1.0
    while time.time() < end:
        try:
            data, addr = sock.recvfrom(2048)
        except socket.timeout:
            break
        ihl = (data[0] & 0x0f) * 4
        t, c, _, i, s = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if t == 0 and i == ident and addr[0] == dst:
            sys.exit(0)
sys.exit(1)
PY
icmp_ping() { local ns=$1 addr=$2; ip netns exec "$ns" python3 "$T/icmp_ping.py" "$addr"; }

# 0 when ADDR is allocated in some IPAMBlock, 1 when free.
ip_allocated() {
  api /apis/projectcalico.org/v3/ipamblocks | python3 -c '
import ipaddress, json, sys
ip = ipaddress.ip_address(sys.argv[1])
for b in json.load(sys.stdin).get("items", []):
    net = ipaddress.ip_network(b["spec"]["cidr"])
    if ip in net:
        allocs = b["spec"].get("allocations") or []
        o = int(ip) - int(net.network_address)
        sys.exit(0 if o < len(allocs) and allocs[o] is not None else 1)
sys.exit(1)' "$1"
}

# ---- cluster objects
cat >"$T/objects.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: cni-pool
spec:
  cidr: 10.77.0.0/16
  blockSize: 26
  ipipMode: Never
  vxlanMode: Never
  nodeSelector: all()
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: tiny
spec:
  cidr: 10.78.0.0/32
  blockSize: 32
  ipipMode: Never
  vxlanMode: Never
  nodeSelector: "!all()"
---
apiVersion: v1
kind: Namespace
metadata:
  name: cni-test
YAML
pod_yaml() { # NAME [ANNOTATIONS-JSON]
  local ann=${2:-"{}"}
  cat <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: cni-test
  labels: {app: web, run: "$1"}
  annotations: $ann
spec:
  serviceAccountName: web-sa
  nodeName: node-1
  containers:
  - name: main
    image: nginx
    ports:
    - {name: http, containerPort: 8080}
    - {containerPort: 9090}
YAML
}
for v in 100 040 031; do
  pod_yaml "web-$v"
  pod_yaml "gone-$v"
  pod_yaml "full-a-$v" '{"cni.projectcalico.org/ipv4pools": "[\"tiny\"]"}'
  pod_yaml "full-b-$v" '{"cni.projectcalico.org/ipv4pools": "[\"tiny\"]"}'
done >>"$T/objects.yaml"
out=$(N "$CTL" apply -f "$T/objects.yaml" 2>&1)
expect_contains "apply pools, namespace and pods" "$out" "Successfully applied"

echo 1410 >"$T/mtu"
conflist() { # VERSION MTU-JSON-FIELDS
  cat <<EOF
{"cniVersion":"$1","name":"k8s-pod-network","plugins":[
 {"type":"caracal","nodename":"node-1",$2"log_level":"debug","log_file_path":"$T/cni.log",
  "ipam":{"type":"caracal-ipam","assign_ipv4":"true","assign_ipv6":"false"},
  "kubernetes":{"kubeconfig":"$KUBECONFIG"},"policy":{"type":"k8s"}}]}
EOF
}

# Nothing of container CID / pod POD remains: no host veth, no WEP, no IPAM handle, no eth0.
expect_nothing_left() { # LABEL POD CID NETNS
  local label=$1 pod=$2 cid=$3 netns=$4 hostif
  hostif=$(hostveth cni-test "$pod")
  if N ip link show "$hostif" >/dev/null 2>&1; then fail "$label: host veth $hostif left"; else pass "$label: no host veth"; fi
  expect_eq "$label: no WorkloadEndpoint" \
    "$(api_code "/apis/projectcalico.org/v3/namespaces/cni-test/workloadendpoints/$(wepname "$pod")")" "404"
  expect_eq "$label: no IPAM handle" \
    "$(api_code "/apis/projectcalico.org/v3/ipamhandles/k8s-pod-network.$cid")" "404"
  if [ -e "/var/run/netns/$netns" ] && ip -n "$netns" link show eth0 >/dev/null 2>&1; then
    fail "$label: eth0 left in the pod"
  else
    pass "$label: no eth0 in the pod"
  fi
}

run_version() { # VERSION TAG MTU-FIELDS EXPECTED-MTU
  local V=$1 t=$2 mtuf=$3 want_mtu=$4
  local conf="$T/net-$t.conflist" pod="web-$t" cid="c0ffee$t$$" podns="$TAG-$t"
  local hostif out ip
  conflist "$V" "$mtuf" >"$conf"
  new_netns "$podns"
  hostif=$(hostveth cni-test "$pod")
  local args="IgnoreUnknown=1;K8S_POD_NAMESPACE=cni-test;K8S_POD_NAME=$pod;K8S_POD_INFRA_CONTAINER_ID=$cid"
  echo "# cniVersion $V"

  # --- ADD and its result
  if ! out=$(drv -args "$args" add "$conf" "/var/run/netns/$podns" "$cid" eth0); then
    fail "$V: ADD" "$out"
    return
  fi
  pass "$V: ADD"
  expect_eq "$V: result cniVersion" "$(jq -r .cniVersion <<<"$out")" "$V"
  expect_eq "$V: interfaces[0] = host veth" "$(jq -r '.interfaces[0].name' <<<"$out")" "$hostif"
  expect_eq "$V: interfaces[0].mac" "$(jq -r '.interfaces[0].mac' <<<"$out")" "ee:ee:ee:ee:ee:ee"
  expect_eq "$V: interfaces[1] = eth0 in the sandbox" \
    "$(jq -r '.interfaces[1] | .name + " " + .sandbox' <<<"$out")" "eth0 /var/run/netns/$podns"
  expect_eq "$V: ips[0].interface" "$(jq -r '.ips[0].interface' <<<"$out")" "1"
  if [ "$V" = "1.0.0" ]; then
    expect_eq "$V: ips[0] has no version" "$(jq -r '.ips[0].version // "none"' <<<"$out")" "none"
  else
    expect_eq "$V: ips[0].version" "$(jq -r '.ips[0].version' <<<"$out")" "4"
  fi
  expect_eq "$V: routes" "$(jq -c '.routes' <<<"$out")" '[{"dst":"0.0.0.0/0","gw":"169.254.1.1"}]'
  ip=$(jq -r '.ips[0].address' <<<"$out")
  ip=${ip%/32}
  local podmac
  podmac=$(jq -r '.interfaces[1].mac' <<<"$out")
  expect_contains "$V: address from cni-pool, /32" "$(jq -r '.ips[0].address' <<<"$out")/" "10.77."
  expect_contains "$V: address is a /32" "$(jq -r '.ips[0].address' <<<"$out")" "/32"

  # --- the pod side
  out=$(ip -n "$podns" -4 addr show dev eth0 2>&1)
  expect_contains "$V: eth0 has $ip/32" "$out" "inet $ip/32"
  expect_contains "$V: eth0 MTU $want_mtu" "$out" "mtu $want_mtu "
  expect_contains "$V: eth0 MAC matches the result" "$(ip -n "$podns" link show eth0)" "$podmac"
  out=$(ip -n "$podns" -4 route show 2>&1)
  expect_contains "$V: pod route 169.254.1.1 scope link" "$out" "169.254.1.1 dev eth0 scope link"
  expect_contains "$V: pod default route" "$out" "default via 169.254.1.1 dev eth0"

  # --- the node side
  out=$(N ip link show "$hostif" 2>&1)
  expect_contains "$V: host veth exists and is up" "$out" "state UP"
  expect_contains "$V: host veth MAC" "$out" "link/ether ee:ee:ee:ee:ee:ee"
  expect_contains "$V: host veth MTU" "$out" "mtu $want_mtu "
  for s in proxy_arp forwarding route_localnet; do
    expect_eq "$V: $s=1 on $hostif" "$(N cat "/proc/sys/net/ipv4/conf/$hostif/$s")" "1"
  done
  expect_eq "$V: no address on the host side" "$(N ip -4 -o addr show dev "$hostif" | wc -l)" "0"
  expect_contains "$V: node route" "$(N ip -4 route show "$ip/32")" "$ip dev $hostif proto 80 scope link"
  if icmp_ping "$NODE_NS" "$ip"; then pass "$V: node -> pod ICMP"; else fail "$V: node -> pod ICMP"; fi
  if icmp_ping "$podns" 192.0.2.1; then pass "$V: pod -> node ICMP (proxy ARP)"; else fail "$V: pod -> node ICMP (proxy ARP)"; fi

  # --- the API objects
  local wep
  wep=$(api "/apis/projectcalico.org/v3/namespaces/cni-test/workloadendpoints/$(wepname "$pod")")
  expect_eq "$V: WEP spec" \
    "$(jq -c '.spec | [.orchestrator, .node, .pod, .endpoint, .containerID, .interfaceName, .mac, .serviceAccountName]' <<<"$wep")" \
    "[\"k8s\",\"node-1\",\"$pod\",\"eth0\",\"$cid\",\"$hostif\",\"$podmac\",\"web-sa\"]"
  expect_eq "$V: WEP ipNetworks" "$(jq -c .spec.ipNetworks <<<"$wep")" "[\"$ip/32\"]"
  expect_eq "$V: WEP profiles" "$(jq -c .spec.profiles <<<"$wep")" '["kns.cni-test","ksa.cni-test.web-sa"]'
  expect_eq "$V: WEP ports (named only)" "$(jq -c .spec.ports <<<"$wep")" '[{"name":"http","protocol":"TCP","port":8080}]'
  expect_eq "$V: WEP labels" \
    "$(jq -c '.metadata.labels | [.app, .run, ."projectcalico.org/namespace", ."projectcalico.org/orchestrator", ."projectcalico.org/serviceaccount"]' <<<"$wep")" \
    "[\"web\",\"$pod\",\"cni-test\",\"k8s\",\"web-sa\"]"
  out=$(api "/api/v1/namespaces/cni-test/pods/$pod")
  expect_eq "$V: pod annotations" \
    "$(jq -c '.metadata.annotations | [."cni.projectcalico.org/podIP", ."cni.projectcalico.org/podIPs", ."cni.projectcalico.org/containerID"]' <<<"$out")" \
    "[\"$ip/32\",\"$ip/32\",\"$cid\"]"
  out=$(api "/apis/projectcalico.org/v3/ipamhandles/k8s-pod-network.$cid")
  expect_eq "$V: IPAM handle" "$(jq -r .spec.handleID <<<"$out")" "k8s-pod-network.$cid"
  if ip_allocated "$ip"; then pass "$V: $ip allocated in its block"; else fail "$V: $ip allocated in its block"; fi

  # --- CHECK (defined from 0.4.0 on)
  if [ "$V" != "0.3.1" ]; then
    if out=$(drv -args "$args" check "$conf" "/var/run/netns/$podns" "$cid" eth0); then
      pass "$V: CHECK"
    else
      fail "$V: CHECK" "$out"
    fi
    ip -n "$podns" route del default
    if out=$(drv -args "$args" check "$conf" "/var/run/netns/$podns" "$cid" eth0); then
      fail "$V: CHECK without the default route must fail" "$out"
    else
      expect_eq "$V: CHECK failure code" "$(jq -r .code <<<"$out")" "104"
      expect_contains "$V: CHECK names the missing route" "$(jq -r .details <<<"$out")" "default route"
    fi
    ip -n "$podns" route add default via 169.254.1.1 dev eth0
    check "$V: CHECK ok again once repaired" drv -args "$args" check "$conf" "/var/run/netns/$podns" "$cid" eth0
  else
    out=$(drv -args "$args" check "$conf" "/var/run/netns/$podns" "$cid" eth0 2>&1)
    expect_contains "$V: libcni refuses CHECK for 0.3.1" "$out" "does not support the CHECK command"
  fi

  # --- DEL, twice
  check "$V: DEL" drv -args "$args" del "$conf" "/var/run/netns/$podns" "$cid" eth0
  expect_nothing_left "$V: after DEL" "$pod" "$cid" "$podns"
  if ip_allocated "$ip"; then fail "$V: $ip free again"; else pass "$V: $ip free again"; fi
  out=$(api "/api/v1/namespaces/cni-test/pods/$pod")
  expect_eq "$V: pod annotations cleared" \
    "$(jq -r '.metadata.annotations["cni.projectcalico.org/containerID"] // "none"' <<<"$out")" "none"
  check "$V: second DEL" drv -args "$args" del "$conf" "/var/run/netns/$podns" "$cid" eth0

  # --- a failed ADD: the pod does not exist
  local gcid="deadbeef$t$$"
  local gargs="IgnoreUnknown=1;K8S_POD_NAMESPACE=cni-test;K8S_POD_NAME=ghost-$t"
  if out=$(drv -args "$gargs" add "$conf" "/var/run/netns/$podns" "$gcid" eth0); then
    fail "$V: ADD for a missing pod must fail" "$out"
  else
    expect_eq "$V: missing pod error code" "$(jq -r .code <<<"$out")" "100"
    expect_eq "$V: missing pod error msg" "$(jq -r .msg <<<"$out")" "pod cni-test/ghost-$t not found"
  fi
  expect_nothing_left "$V: after failed ADD (missing pod)" "ghost-$t" "$gcid" "$podns"
  check "$V: DEL after a failed ADD" drv -args "$gargs" del "$conf" "/var/run/netns/$podns" "$gcid" eth0

  # --- a failed ADD: the pool is exhausted (tiny holds one address)
  local fans="$TAG-$t-fa" fbns="$TAG-$t-fb" facid="fa$t$$" fbcid="fb$t$$"
  new_netns "$fans"
  new_netns "$fbns"
  local faargs="K8S_POD_NAMESPACE=cni-test;K8S_POD_NAME=full-a-$t"
  local fbargs="K8S_POD_NAMESPACE=cni-test;K8S_POD_NAME=full-b-$t"
  if out=$(drv -args "$faargs" add "$conf" "/var/run/netns/$fans" "$facid" eth0); then
    expect_eq "$V: the tiny pool's only address" "$(jq -r '.ips[0].address' <<<"$out")" "10.78.0.0/32"
  else
    fail "$V: ADD from the tiny pool" "$out"
  fi
  if out=$(drv -args "$fbargs" add "$conf" "/var/run/netns/$fbns" "$fbcid" eth0); then
    fail "$V: ADD from an exhausted pool must fail" "$out"
  else
    expect_eq "$V: exhausted pool error code" "$(jq -r .code <<<"$out")" "101"
    expect_contains "$V: exhausted pool error msg" "$(jq -r .msg <<<"$out")" "from pools [tiny]"
  fi
  expect_nothing_left "$V: after failed ADD (exhausted)" "full-b-$t" "$fbcid" "$fbns"
  check "$V: DEL of the failed one" drv -args "$fbargs" del "$conf" "/var/run/netns/$fbns" "$fbcid" eth0
  check "$V: DEL of the tiny pool's pod" drv -args "$faargs" del "$conf" "/var/run/netns/$fans" "$facid" eth0
  expect_nothing_left "$V: tiny pool pod after DEL" "full-a-$t" "$facid" "$fans"

  # --- DEL after the pod's namespace is gone
  local gnns="$TAG-$t-gone" gncid="9e0e$t$$"
  local gnargs="K8S_POD_NAMESPACE=cni-test;K8S_POD_NAME=gone-$t"
  new_netns "$gnns"
  if out=$(drv -args "$gnargs" add "$conf" "/var/run/netns/$gnns" "$gncid" eth0); then
    pass "$V: ADD (pod whose netns goes away)"
    ip netns del "$gnns"
    check "$V: DEL with the netns gone" drv -args "$gnargs" del "$conf" "/var/run/netns/$gnns" "$gncid" eth0
    expect_nothing_left "$V: netns gone" "gone-$t" "$gncid" "$gnns"
    check "$V: second DEL with the netns gone" drv -args "$gnargs" del "$conf" "/var/run/netns/$gnns" "$gncid" eth0
  else
    fail "$V: ADD (pod whose netns goes away)" "$out"
  fi
}

out=$(drv version caracal)
expect_eq "VERSION caracal" "$out" '{"supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}'
out=$(drv version caracal-ipam)
expect_eq "VERSION caracal-ipam" "$out" '{"supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}'

run_version 1.0.0 100 '"mtu":1400,' 1400
run_version 0.4.0 040 '"mtu":0,"mtu_file":"'"$T/mtu"'",' 1410
run_version 0.3.1 031 '' 1500

# Nothing leaked anywhere.
expect_eq "no cali interface left on the node" "$(N ip -o link show | grep -c ' cali')" "0"
expect_eq "no WorkloadEndpoint left" "$(api /apis/projectcalico.org/v3/workloadendpoints | jq '.items | length')" "0"
expect_eq "no IPAM handle left" "$(api /apis/projectcalico.org/v3/ipamhandles | jq '.items | length')" "0"
expect_eq "no node route left" "$(N ip -4 route show proto 80 | wc -l)" "0"

if [ "$FAILED" -ne 0 ]; then
  echo "--- plugin log (last 60 lines)"
  tail -60 "$T/cni.log" 2>/dev/null
fi
finish
