#include "felix/route_calc.h"

#include "common/strings.h"

#include <algorithm>
#include <cstring>
#include <openssl/sha.h>
#include <set>
#include <unordered_map>

namespace caracal::felix {

namespace {

constexpr uint8_t kScopeLink = 253;
constexpr const char* kCalicoGroup = "projectcalico.org";

std::optional<netlink::Mac> parseMacText(std::string_view s) {
  if (s.size() != 17) {
    return std::nullopt;
  }
  netlink::Mac m{};
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  for (size_t i = 0; i < 6; ++i) {
    int hi = hex(s[i * 3]);
    int lo = hex(s[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':' && s[i * 3 + 2] != '-')) {
      return std::nullopt;
    }
    m[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return m;
}

struct NodeInfo {
  std::optional<IpNet> ipv4Address; // host bits kept: 10.0.0.5/24
  std::optional<IpAddr> ipipAddr;
  std::optional<IpAddr> vxlanAddr;
  std::optional<netlink::Mac> vxlanMac;
};

struct PoolInfo {
  IpNet cidr;
  EncapMode ipip = EncapMode::Never;
  EncapMode vxlan = EncapMode::Never;
  bool natOutgoing = false;
  bool disabled = false;
};

struct BlockInfo {
  IpNet cidr;
  std::string node; // affinity "host:<node>"; "" when none
};

struct WepInfo {
  std::string node;
  std::string iface;
  std::vector<IpNet> nets;
};

struct FelixConf {
  std::optional<int64_t> vxlanVni, vxlanPort, vxlanMtu, ipipMtu;
  std::optional<bool> vxlanEnabled, ipipEnabled;
};

std::optional<int64_t> optInt(const Value& spec, std::string_view key) {
  const Value* v = spec.find(key);
  if (v && v->isInt()) {
    return v->asInt();
  }
  return std::nullopt;
}

std::optional<bool> optBool(const Value& spec, std::string_view key) {
  const Value* v = spec.find(key);
  if (v && v->isBool()) {
    return v->asBool();
  }
  return std::nullopt;
}

// Key for exact-prefix lookups of blocks.
struct NetKey {
  std::array<uint8_t, 16> bytes{};
  int family = 0;
  int prefix = 0;
  bool operator==(const NetKey&) const = default;
};
struct NetKeyHash {
  size_t operator()(const NetKey& k) const {
    uint64_t h = 1469598103934665603ULL;
    for (uint8_t b : k.bytes) {
      h = (h ^ b) * 1099511628211ULL;
    }
    h = (h ^ static_cast<uint64_t>(k.prefix)) * 1099511628211ULL;
    return static_cast<size_t>(h ^ static_cast<uint64_t>(k.family));
  }
};
NetKey netKey(const IpNet& n) {
  IpNet m = n.masked();
  return NetKey{m.addr.bytes, m.addr.family, m.prefix};
}

bool netLess(const IpNet& a, const IpNet& b) {
  if (a.addr.family != b.addr.family) {
    return a.addr.family < b.addr.family;
  }
  if (a.addr.bytes != b.addr.bytes) {
    return a.addr.bytes < b.addr.bytes;
  }
  return a.prefix < b.prefix;
}

} // namespace

struct RouteCalc::State {
  std::map<std::string, NodeInfo> nodes;
  std::map<std::string, PoolInfo> pools;
  std::map<std::string, BlockInfo> blocks;
  std::map<std::string, WepInfo> weps;
  std::map<std::string, FelixConf> felixConfs;
};

std::vector<const api::KindInfo*> routeCalcKinds() {
  std::vector<const api::KindInfo*> out;
  for (const char* k : {"Node", "IPPool", "IPAMBlock", "WorkloadEndpoint", "FelixConfiguration"}) {
    if (const api::KindInfo* info = api::findByKind("projectcalico.org/v3", k)) {
      out.push_back(info);
    }
  }
  return out;
}

netlink::Mac vtepMacForNode(std::string_view nodeName) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(nodeName.data()), nodeName.size(), digest);
  return netlink::Mac{0x66, digest[0], digest[1], digest[2], digest[3], digest[4]};
}

EncapMode parseEncapMode(std::string_view text) {
  if (text == "Always") {
    return EncapMode::Always;
  }
  if (text == "CrossSubnet") {
    return EncapMode::CrossSubnet;
  }
  return EncapMode::Never;
}

const char* encapModeName(EncapMode m) {
  switch (m) {
  case EncapMode::Always:
    return "Always";
  case EncapMode::CrossSubnet:
    return "CrossSubnet";
  case EncapMode::Never:
    break;
  }
  return "Never";
}

RouteCalc::RouteCalc(CalcConfig cfg) : cfg_(std::move(cfg)), st_(std::make_unique<State>()) {}
RouteCalc::~RouteCalc() = default;

void RouteCalc::setUnderlay(std::string interface, uint32_t mtu) {
  cfg_.underlayInterface = std::move(interface);
  cfg_.underlayMtu = mtu;
}

void RouteCalc::onUpdate(const api::KindInfo& kind, const std::string& key, const Value* obj) {
  if (kind.group != kCalicoGroup) {
    return;
  }
  const Value empty = Value::object();
  const Value* specp = obj ? obj->find("spec") : nullptr;
  const Value& spec = specp ? *specp : empty;

  if (kind.kind == "Node") {
    if (!obj) {
      st_->nodes.erase(key);
      return;
    }
    NodeInfo n;
    if (auto a = api::parseCidrOrIp(spec.getString("bgp.ipv4Address")); a && a->addr.family == 4) {
      n.ipv4Address = *a;
    }
    if (auto a = api::parseIp(spec.getString("bgp.ipv4IPIPTunnelAddr")); a && a->family == 4) {
      n.ipipAddr = *a;
    }
    if (auto a = api::parseIp(spec.getString("ipv4VXLANTunnelAddr")); a && a->family == 4) {
      n.vxlanAddr = *a;
    }
    n.vxlanMac = parseMacText(spec.getString("vxlanTunnelMACAddr"));
    st_->nodes[key] = std::move(n);
  } else if (kind.kind == "IPPool") {
    auto cidr = api::parseCidr(spec.getString("cidr"));
    if (!obj || !cidr) {
      st_->pools.erase(key);
      return;
    }
    PoolInfo p;
    p.cidr = cidr->masked();
    p.ipip = parseEncapMode(spec.getString("ipipMode"));
    p.vxlan = parseEncapMode(spec.getString("vxlanMode"));
    if (p.cidr.addr.family != 4) {
      p.ipip = EncapMode::Never; // IPIP is IPv4 only; IPv6 VXLAN is not handled here
      p.vxlan = EncapMode::Never;
    }
    const Value* nat = spec.find("natOutgoing");
    p.natOutgoing = nat && nat->asBool();
    const Value* dis = spec.find("disabled");
    p.disabled = dis && dis->asBool();
    st_->pools[key] = p;
  } else if (kind.kind == "IPAMBlock") {
    auto cidr = api::parseCidr(spec.getString("cidr"));
    const Value* deleted = spec.find("deleted");
    if (!obj || !cidr || (deleted && deleted->asBool())) {
      st_->blocks.erase(key);
      return;
    }
    BlockInfo b;
    b.cidr = cidr->masked();
    std::string aff = spec.getString("affinity");
    if (startsWith(aff, "host:")) {
      b.node = aff.substr(5);
    }
    st_->blocks[key] = std::move(b);
  } else if (kind.kind == "WorkloadEndpoint") {
    if (!obj) {
      st_->weps.erase(key);
      return;
    }
    WepInfo w;
    w.node = spec.getString("node");
    w.iface = spec.getString("interfaceName");
    if (const Value* nets = spec.find("ipNetworks"); nets && nets->isArray()) {
      for (const Value& v : nets->asArray()) {
        if (auto n = api::parseCidrOrIp(v.asString())) {
          w.nets.push_back(n->masked());
        }
      }
    }
    st_->weps[key] = std::move(w);
  } else if (kind.kind == "FelixConfiguration") {
    if (!obj) {
      st_->felixConfs.erase(key);
      return;
    }
    FelixConf c;
    c.vxlanVni = optInt(spec, "vxlanVNI");
    c.vxlanPort = optInt(spec, "vxlanPort");
    c.vxlanMtu = optInt(spec, "vxlanMTU");
    c.ipipMtu = optInt(spec, "ipipMTU");
    c.vxlanEnabled = optBool(spec, "vxlanEnabled");
    c.ipipEnabled = optBool(spec, "ipipEnabled");
    st_->felixConfs[key] = c;
  }
}

CalcOutput RouteCalc::compute() const {
  CalcOutput out;
  const State& st = *st_;

  // FelixConfiguration: node.<name> overrides default, field by field.
  FelixConf fc;
  for (const std::string& name : {std::string("default"), "node." + cfg_.nodeName}) {
    auto it = st.felixConfs.find(name);
    if (it == st.felixConfs.end()) {
      continue;
    }
    const FelixConf& c = it->second;
    fc.vxlanVni = c.vxlanVni ? c.vxlanVni : fc.vxlanVni;
    fc.vxlanPort = c.vxlanPort ? c.vxlanPort : fc.vxlanPort;
    fc.vxlanMtu = c.vxlanMtu ? c.vxlanMtu : fc.vxlanMtu;
    fc.ipipMtu = c.ipipMtu ? c.ipipMtu : fc.ipipMtu;
    fc.vxlanEnabled = c.vxlanEnabled ? c.vxlanEnabled : fc.vxlanEnabled;
    fc.ipipEnabled = c.ipipEnabled ? c.ipipEnabled : fc.ipipEnabled;
  }

  // This node.
  const NodeInfo* local = nullptr;
  if (auto it = st.nodes.find(cfg_.nodeName); it != st.nodes.end()) {
    local = &it->second;
    out.localNodeKnown = true;
    out.localAddress = local->ipv4Address;
    out.localVxlanAddr = local->vxlanAddr;
    out.localIpipAddr = local->ipipAddr;
  }

  // Pools: which encapsulations are in use (any pool: its routes need the device) and wanted
  // (enabled pools: the node needs a tunnel address to receive new workloads).
  bool vxlanInUse = fc.vxlanEnabled.value_or(false);
  bool ipipInUse = fc.ipipEnabled.value_or(false);
  std::vector<const PoolInfo*> pools;
  for (const auto& [name, p] : st.pools) {
    pools.push_back(&p);
    vxlanInUse = vxlanInUse || p.vxlan != EncapMode::Never;
    ipipInUse = ipipInUse || p.ipip != EncapMode::Never;
    if (!p.disabled) {
      out.vxlanWanted = out.vxlanWanted || p.vxlan != EncapMode::Never;
      out.ipipWanted = out.ipipWanted || p.ipip != EncapMode::Never;
    }
    out.natAllPools.push_back(p.cidr);
    if (p.natOutgoing) {
      out.natMasqPools.push_back(p.cidr);
    }
  }
  std::sort(out.natAllPools.begin(), out.natAllPools.end(), netLess);
  out.natAllPools.erase(std::unique(out.natAllPools.begin(), out.natAllPools.end()),
                        out.natAllPools.end());
  std::sort(out.natMasqPools.begin(), out.natMasqPools.end(), netLess);
  out.natMasqPools.erase(std::unique(out.natMasqPools.begin(), out.natMasqPools.end()),
                         out.natMasqPools.end());
  auto poolFor = [&](const IpNet& net) -> const PoolInfo* {
    const PoolInfo* best = nullptr;
    for (const PoolInfo* p : pools) {
      if (p->cidr.contains(net) && (!best || p->cidr.prefix > best->cidr.prefix)) {
        best = p;
      }
    }
    return best;
  };

  // MTUs.
  uint32_t underlay = cfg_.underlayMtu;
  auto sub = [&](uint32_t overhead) { return underlay > overhead ? underlay - overhead : 0u; };
  uint32_t vxlanMtu =
      fc.vxlanMtu && *fc.vxlanMtu > 0 ? static_cast<uint32_t>(*fc.vxlanMtu) : sub(kVxlanOverhead);
  uint32_t ipipMtu =
      fc.ipipMtu && *fc.ipipMtu > 0 ? static_cast<uint32_t>(*fc.ipipMtu) : sub(kIpipOverhead);
  out.podMtu = underlay;
  if (vxlanInUse) {
    out.podMtu = std::min(out.podMtu, vxlanMtu);
  }
  if (ipipInUse) {
    out.podMtu = std::min(out.podMtu, ipipMtu);
  }

  const bool haveLocalAddr = local && local->ipv4Address;
  if (vxlanInUse && haveLocalAddr) {
    VxlanDeviceConfig d;
    d.vni =
        fc.vxlanVni && *fc.vxlanVni > 0 ? static_cast<uint32_t>(*fc.vxlanVni) : kDefaultVxlanVni;
    d.port = fc.vxlanPort && *fc.vxlanPort > 0 && *fc.vxlanPort < 65536
                 ? static_cast<uint16_t>(*fc.vxlanPort)
                 : kDefaultVxlanPort;
    d.local = local->ipv4Address->addr;
    d.parent = cfg_.underlayInterface;
    d.mac = local->vxlanMac ? *local->vxlanMac : vtepMacForNode(cfg_.nodeName);
    d.mtu = vxlanMtu;
    if (local->vxlanAddr) {
      d.address = IpNet{*local->vxlanAddr, 32};
    }
    out.vxlan = d;
  }
  if (ipipInUse && haveLocalAddr) {
    IpipDeviceConfig d;
    d.local = local->ipv4Address->addr;
    d.mtu = ipipMtu;
    if (local->ipipAddr) {
      d.address = IpNet{*local->ipipAddr, 32};
    }
    out.ipip = d;
  }

  // Blocks by exact prefix, for the "is this workload address borrowed?" question.
  std::unordered_map<NetKey, const BlockInfo*, NetKeyHash> blockIndex;
  std::set<int, std::greater<int>> blockPrefixes;
  for (const auto& [name, b] : st.blocks) {
    blockIndex.emplace(netKey(b.cidr), &b); // first (by name) wins on duplicates
    blockPrefixes.insert(b.cidr.prefix);
  }
  auto blockFor = [&](const IpNet& net) -> const BlockInfo* {
    for (int prefix : blockPrefixes) {
      if (prefix > net.prefix || prefix > net.addr.bits()) {
        continue;
      }
      auto it = blockIndex.find(netKey(IpNet{net.addr, prefix}));
      if (it != blockIndex.end() && it->second->cidr.addr.family == net.addr.family) {
        return it->second;
      }
    }
    return nullptr;
  };

  // Routes by destination, with the rank of their source (lower wins).
  struct Ranked {
    int rank;
    DesiredRoute r;
  };
  std::unordered_map<NetKey, Ranked, NetKeyHash> routes;
  auto put = [&](int rank, DesiredRoute r) {
    NetKey k = netKey(r.route.dst);
    auto it = routes.find(k);
    if (it == routes.end()) {
      routes.emplace(k, Ranked{rank, std::move(r)});
    } else if (rank < it->second.rank) {
      it->second = Ranked{rank, std::move(r)};
    }
  };
  auto base = [](const IpNet& dst) {
    netlink::Route r;
    r.dst = dst.masked();
    r.protocol = netlink::kRouteProtocol;
    return r;
  };
  const std::optional<IpNet> localNet =
      haveLocalAddr ? std::optional<IpNet>(local->ipv4Address->masked()) : std::nullopt;

  // The route to `dst` (a block or a /32 of a remote workload) on node `nodeName`.
  auto remoteRoute = [&](int rank, const IpNet& dst, const std::string& nodeName) {
    if (dst.addr.family != 4 || nodeName == cfg_.nodeName) {
      return;
    }
    auto nit = st.nodes.find(nodeName);
    if (nit == st.nodes.end() || !nit->second.ipv4Address) {
      return; // next hop unknown yet
    }
    const NodeInfo& remote = nit->second;
    const IpAddr nodeIp = remote.ipv4Address->addr;
    if (haveLocalAddr && nodeIp == local->ipv4Address->addr) {
      return;
    }
    const PoolInfo* pool = poolFor(dst);
    if (!pool) {
      return; // no pool, no encapsulation to choose: BGP's business
    }
    const bool sameSubnet = localNet && localNet->contains(nodeIp);
    auto tunnelled = [&](EncapMode m) {
      return m == EncapMode::Always || (m == EncapMode::CrossSubnet && !sameSubnet);
    };
    DesiredRoute d{base(dst), ""};
    if (tunnelled(pool->vxlan)) {
      if (!out.vxlan || !remote.vxlanAddr) {
        return;
      }
      d.route.gateway = *remote.vxlanAddr;
      d.route.onlink = true;
      d.ifname = kVxlanDevice;
    } else if (tunnelled(pool->ipip)) {
      if (!out.ipip) {
        return;
      }
      d.route.gateway = nodeIp;
      d.route.onlink = true;
      d.ifname = kIpipDevice;
    } else if (pool->vxlan == EncapMode::Never && pool->ipip == EncapMode::Never &&
               cfg_.bgpProgramsUnencapsulated) {
      return; // BIRD's kernel protocol programs what BGP learnt for this pool
    } else if (sameSubnet && !cfg_.underlayInterface.empty()) {
      // CrossSubnet inside the subnet, or no encapsulation with the peer on-link.
      d.route.gateway = nodeIp;
      d.ifname = cfg_.underlayInterface;
    } else {
      return; // Never/Never across subnets: left to BGP
    }
    put(rank, std::move(d));
  };

  // Workloads.
  std::map<std::string, LocalInterface> ifaces;
  for (const auto& [key, w] : st.weps) {
    if (w.node == cfg_.nodeName) {
      if (w.iface.empty()) {
        continue;
      }
      if (w.iface.size() <= std::strlen(kWorkloadInterfacePrefix) ||
          !startsWith(w.iface, kWorkloadInterfacePrefix)) {
        out.rejectedWorkloads.push_back(key);
        continue;
      }
      LocalInterface& li = ifaces[w.iface];
      li.name = w.iface;
      for (const IpNet& n : w.nets) {
        DesiredRoute d{base(n), w.iface};
        if (n.addr.family == 4) {
          d.route.scope = kScopeLink;
          li.ipv4 = true;
        } else {
          li.ipv6 = true; // the kernel keeps IPv6 routes at universe scope
        }
        put(0, std::move(d));
      }
    } else if (!w.node.empty()) {
      for (const IpNet& n : w.nets) {
        const BlockInfo* b = blockFor(n);
        if (b && b->node == w.node) {
          continue; // covered by the route of its node's block
        }
        remoteRoute(1, n, w.node);
      }
    }
  }
  for (auto& [name, li] : ifaces) {
    out.workloadInterfaces.push_back(li);
  }

  // Blocks.
  for (const auto& [name, b] : st.blocks) {
    if (b.node.empty()) {
      continue;
    }
    if (b.node == cfg_.nodeName) {
      DesiredRoute d{base(b.cidr), ""};
      d.route.type = netlink::RouteType::Blackhole;
      put(2, std::move(d));
    } else {
      remoteRoute(2, b.cidr, b.node);
    }
  }

  out.routes.reserve(routes.size());
  for (auto& [k, rr] : routes) {
    out.routes.push_back(std::move(rr.r));
  }
  std::sort(out.routes.begin(), out.routes.end(), [](const DesiredRoute& a, const DesiredRoute& b) {
    return netLess(a.route.dst, b.route.dst);
  });
  for (const DesiredRoute& d : out.routes) {
    if (d.ifname == kIpipDevice && d.route.gateway) {
      out.ipipPeers.push_back(IpipPeer{d.route.dst, *d.route.gateway});
    }
  }

  // IPIP is accepted from every other node, also one without a block routed through tunl0.
  if (out.ipip) {
    for (const auto& [name, n] : st.nodes) {
      if (name == cfg_.nodeName || !n.ipv4Address || n.ipv4Address->addr == out.ipip->local) {
        continue;
      }
      out.ipipSources.push_back(n.ipv4Address->addr);
    }
    std::sort(out.ipipSources.begin(), out.ipipSources.end(),
              [](const IpAddr& a, const IpAddr& b) { return a.bytes < b.bytes; });
    out.ipipSources.erase(std::unique(out.ipipSources.begin(), out.ipipSources.end()),
                          out.ipipSources.end());
  }

  // VTEPs of every remote node.
  if (out.vxlan) {
    for (const auto& [name, n] : st.nodes) {
      if (name == cfg_.nodeName || !n.vxlanAddr || !n.ipv4Address) {
        continue;
      }
      if (n.ipv4Address->addr == out.vxlan->local) {
        continue;
      }
      out.vxlanPeers.push_back(VxlanPeer{name, *n.vxlanAddr,
                                         n.vxlanMac ? *n.vxlanMac : vtepMacForNode(name),
                                         n.ipv4Address->addr});
    }
  }
  return out;
}

} // namespace caracal::felix
