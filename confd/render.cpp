#include "confd/render.h"

#include "api/netaddr.h"
#include "api/selector.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace caracal::confd {
namespace {

using api::IpAddr;
using api::IpNet;

struct NodeInfo {
  std::string name;
  IpAddr ip;
  std::optional<int64_t> asNumber; // spec.bgp.asNumber when set
  std::string rrClusterId;
  api::Labels labels;
};

struct Session {
  std::string name; // Mesh_10_0_0_2, Global_10_0_0_1_port_1790, ...
  std::string ip;
  int port = 0; // 0: default
  int64_t asNumber = 0;
  bool passive = false;
  bool sourceAddress = true;
  bool multihop = false;
  int ttlSecurityHops = 0;
  std::string nextHop; // "", "self", "keep"
  int64_t restartTime = 0;
  bool rrClient = false;
  std::string origin; // the BGPPeer that produced it, for warnings
};

const Value* spec(const Value& obj) { return obj.find("spec"); }

std::string specString(const Value& obj, std::string_view dotted) {
  const Value* s = spec(obj);
  return s ? s->getString(dotted) : "";
}

std::optional<int64_t> specInt(const Value& obj, std::string_view dotted) {
  const Value* s = spec(obj);
  const Value* v = s ? s->path(dotted) : nullptr;
  if (v && v->isInt()) {
    return v->asInt();
  }
  return std::nullopt;
}

bool specBool(const Value& obj, std::string_view dotted, bool def) {
  const Value* s = spec(obj);
  const Value* v = s ? s->path(dotted) : nullptr;
  return v && v->isBool() ? v->asBool() : def;
}

std::string underscored(std::string s) {
  std::replace(s.begin(), s.end(), '.', '_');
  std::replace(s.begin(), s.end(), ':', '_');
  return s;
}

// Go-style duration ("120s", "2m", "1h30m", "90") to whole seconds; nullopt when unreadable.
std::optional<int64_t> durationSeconds(const Value& v) {
  if (v.isInt()) {
    return v.asInt();
  }
  if (!v.isString()) {
    return std::nullopt;
  }
  const std::string& s = v.asString();
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) {
      ++j;
    }
    if (j == i) {
      return std::nullopt;
    }
    double n = std::stod(s.substr(i, j - i));
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) {
      ++k;
    }
    std::string unit = s.substr(j, k - j);
    if (unit == "h") {
      n *= 3600;
    } else if (unit == "m") {
      n *= 60;
    } else if (unit == "ms") {
      n /= 1000;
    } else if (unit != "s" && !unit.empty()) {
      return std::nullopt;
    }
    total += n;
    i = k;
  }
  return static_cast<int64_t>(total);
}

// "10.0.0.1", "10.0.0.1:1790" → address and port (0 when absent). IPv6 forms are rejected.
std::optional<std::pair<IpAddr, int>> parsePeerIp(const std::string& text) {
  std::string host = text;
  int port = 0;
  size_t colon = text.find(':');
  if (colon != std::string::npos && text.find(':', colon + 1) == std::string::npos) {
    host = text.substr(0, colon);
    std::string p = text.substr(colon + 1);
    if (p.empty() || p.size() > 5 ||
        !std::all_of(p.begin(), p.end(), [](char c) { return std::isdigit(c) != 0; })) {
      return std::nullopt;
    }
    port = std::stoi(p);
    if (port < 1 || port > 65535) {
      return std::nullopt;
    }
  }
  auto ip = api::parseIp(host);
  if (!ip || ip->family != 4) {
    return std::nullopt;
  }
  return std::make_pair(*ip, port);
}

// A BIRD prefix set: [ 10.0.0.0/16+, 10.1.0.0/24+ ].
std::string prefixSet(const std::vector<IpNet>& nets, bool orLonger) {
  std::string out = "[ ";
  for (size_t i = 0; i < nets.size(); ++i) {
    out += (i ? ", " : "") + nets[i].str() + (orLonger ? "+" : "");
  }
  return out + " ]";
}

void sortUnique(std::vector<IpNet>& nets) {
  std::sort(nets.begin(), nets.end(), [](const IpNet& a, const IpNet& b) {
    return std::make_pair(a.addr.bytes, a.prefix) < std::make_pair(b.addr.bytes, b.prefix);
  });
  nets.erase(std::unique(nets.begin(), nets.end()), nets.end());
}

// IPv4 CIDRs listed under spec.<field>[].cidr of a BGPConfiguration.
std::vector<IpNet> serviceCidrs(const Value& cfg, std::string_view field,
                                std::vector<std::string>& warnings) {
  std::vector<IpNet> out;
  const Value* s = spec(cfg);
  const Value* list = s ? s->find(field) : nullptr;
  if (!list) {
    return out;
  }
  for (const Value& item : list->asArray()) {
    std::string text = item.getString("cidr");
    auto net = api::parseCidrOrIp(text);
    if (!net) {
      warnings.push_back("BGPConfiguration " + cfg.getString("metadata.name") + ": spec." +
                         std::string(field) + ": invalid CIDR \"" + text + "\" skipped");
      continue;
    }
    if (net->addr.family == 4) {
      out.push_back(net->masked());
    }
  }
  return out;
}

Result<api::Selector> peerSelector(const Value& peer, std::string_view field) {
  auto sel = api::Selector::parse(specString(peer, field));
  if (!sel) {
    return sel.error().withContext("BGPPeer " + peer.getString("metadata.name") + ": spec." +
                                   std::string(field));
  }
  return sel;
}

class Renderer {
public:
  explicit Renderer(const BirdInputs& in) : in_(in) {}

  Result<BirdConfig> run() {
    RETURN_IF_ERROR(readNodes());
    readConfig();
    readPools();
    readBlocks();
    buildMesh();
    RETURN_IF_ERROR(buildPeers());
    BirdConfig out;
    out.text = text();
    std::sort(warnings_.begin(), warnings_.end());
    out.warnings = std::move(warnings_);
    return out;
  }

private:
  Status readNodes() {
    for (const Value& n : in_.nodes) {
      NodeInfo info;
      info.name = n.getString("metadata.name");
      std::string addr = specString(n, "bgp.ipv4Address");
      auto net = api::parseCidrOrIp(addr);
      if (!net || net->addr.family != 4) {
        warnings_.push_back("Node " + info.name + ": no usable spec.bgp.ipv4Address (\"" + addr +
                            "\"); skipped");
        continue;
      }
      info.ip = net->addr;
      info.asNumber = specInt(n, "bgp.asNumber");
      info.rrClusterId = specString(n, "bgp.routeReflectorClusterID");
      if (const Value* labels = n.path("metadata.labels")) {
        for (const auto& [k, v] : labels->asObject()) {
          info.labels[k] = v.asString();
        }
      }
      nodes_.push_back(std::move(info));
    }
    std::sort(nodes_.begin(), nodes_.end(),
              [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
    for (const NodeInfo& n : nodes_) {
      if (n.name == in_.nodeName) {
        self_ = &n;
      }
    }
    if (!self_) {
      return Status(Code::Invalid,
                    "node " + in_.nodeName + " has no Node object with an IPv4 BGP address");
    }
    return Status::ok();
  }

  void readConfig() {
    globalAs_ = specInt(in_.defaultConfig, "asNumber").value_or(kDefaultAsNumber);
    mesh_ = specBool(in_.defaultConfig, "nodeToNodeMeshEnabled", true);
    auto port = specInt(in_.nodeConfig, "listenPort");
    if (!port) {
      port = specInt(in_.defaultConfig, "listenPort");
    }
    listenPort_ = static_cast<int>(port.value_or(kDefaultBgpPort));
    for (const char* f : {"serviceClusterIPs", "serviceExternalIPs", "serviceLoadBalancerIPs"}) {
      for (const IpNet& n : serviceCidrs(in_.defaultConfig, f, warnings_)) {
        services_.push_back(n);
      }
    }
    sortUnique(services_);
  }

  void readPools() {
    for (const Value& p : in_.pools) {
      std::string text = specString(p, "cidr");
      auto net = api::parseCidr(text);
      if (!net) {
        warnings_.push_back("IPPool " + p.getString("metadata.name") + ": invalid spec.cidr \"" +
                            text + "\"; skipped");
        continue;
      }
      if (net->addr.family != 4) {
        continue;
      }
      IpNet cidr = net->masked();
      if (specBool(p, "disableBGPExport", false)) {
        noExportPools_.push_back(cidr);
      } else {
        exportPools_.push_back(cidr);
      }
      auto encap = [&](std::string_view f) {
        std::string m = specString(p, f);
        return !m.empty() && m != "Never";
      };
      if (encap("ipipMode") || encap("vxlanMode")) {
        tunnelPools_.push_back(cidr);
      }
    }
    sortUnique(exportPools_);
    sortUnique(noExportPools_);
    sortUnique(tunnelPools_);
  }

  void readBlocks() {
    for (const std::string& b : in_.affineBlocks) {
      auto net = api::parseCidr(b);
      if (!net) {
        warnings_.push_back("affine block \"" + b + "\": not a CIDR; skipped");
        continue;
      }
      if (net->addr.family == 4) {
        blocks_.push_back(net->masked());
      }
    }
    sortUnique(blocks_);
  }

  int64_t asOf(const NodeInfo& n) const { return n.asNumber.value_or(globalAs_); }

  // RR node towards an iBGP peer outside its cluster: the peer is its client.
  bool isRrClient(int64_t peerAs, const std::string& peerCluster) const {
    return !self_->rrClusterId.empty() && peerAs == asOf(*self_) &&
           peerCluster != self_->rrClusterId;
  }

  void add(Session s) {
    auto [it, inserted] = sessions_.emplace(std::make_pair(s.ip, s.port), s);
    if (inserted) {
      return;
    }
    // Explicit peers take the place of a mesh session to the same address; between explicit
    // peers, the first in name order wins (two BGPPeers often describe the same session, as in a
    // route-reflector mesh).
    if (startsWith(it->second.name, "Mesh_") && !startsWith(s.name, "Mesh_")) {
      it->second = std::move(s);
    }
  }

  static bool startsWith(const std::string& s, std::string_view p) {
    return s.compare(0, p.size(), p) == 0;
  }

  void buildMesh() {
    if (!mesh_ || !self_->rrClusterId.empty()) {
      return;
    }
    std::string own = self_->ip.str();
    for (const NodeInfo& n : nodes_) {
      if (&n == self_ || !n.rrClusterId.empty() || n.ip == self_->ip) {
        continue;
      }
      Session s;
      s.ip = n.ip.str();
      s.name = "Mesh_" + underscored(s.ip);
      s.port = listenPort_ == kDefaultBgpPort ? 0 : listenPort_;
      s.asNumber = asOf(n);
      s.passive = s.ip > own; // Calico's rule: the lexicographically higher address listens.
      s.multihop = true;
      s.origin = "node-to-node mesh";
      add(std::move(s));
    }
  }

  Status buildPeers() {
    std::vector<const Value*> peers;
    for (const Value& p : in_.peers) {
      peers.push_back(&p);
    }
    std::sort(peers.begin(), peers.end(), [](const Value* a, const Value* b) {
      return a->getString("metadata.name") < b->getString("metadata.name");
    });
    for (const Value* pp : peers) {
      const Value& p = *pp;
      std::string name = "BGPPeer " + p.getString("metadata.name");
      ASSIGN_OR_RETURN(api::Selector nodeSel, peerSelector(p, "nodeSelector"));
      ASSIGN_OR_RETURN(api::Selector remoteSel, peerSelector(p, "peerSelector"));
      std::string node = specString(p, "node");
      bool hasNodeSel = !specString(p, "nodeSelector").empty();
      bool hasPeerSel = !specString(p, "peerSelector").empty();
      // Which nodes the peer applies to ("local side"): one node, a selector, or all.
      auto localSide = [&](const NodeInfo& n) {
        if (!node.empty()) {
          return n.name == node;
        }
        return !hasNodeSel || nodeSel.matches(n.labels);
      };
      std::string prefix = node.empty() && !hasNodeSel ? "Global_" : "Node_";

      Session base;
      base.origin = name;
      base.sourceAddress = specString(p, "sourceAddress") != "None";
      if (auto ttl = specInt(p, "ttlSecurity"); ttl && *ttl > 0) {
        base.ttlSecurityHops = static_cast<int>(*ttl);
      }
      std::string mode = specString(p, "nextHopMode");
      if (mode == "Self") {
        base.nextHop = "self";
      } else if (mode == "Keep" || specBool(p, "keepOriginalNextHop", false)) {
        base.nextHop = "keep";
      }
      if (const Value* s = spec(p); s && s->find("maxRestartTime")) {
        auto secs = durationSeconds(*s->find("maxRestartTime"));
        if (!secs) {
          warnings_.push_back(name + ": spec.maxRestartTime unreadable; ignored");
        } else {
          base.restartTime = *secs;
        }
      }

      if (hasPeerSel) {
        // A session between two nodes is configured on both ends: a node on the local side peers
        // with every selected node, and a selected node peers back with the local side.
        bool local = localSide(*self_);
        bool remote = remoteSel.matches(self_->labels);
        for (const NodeInfo& n : nodes_) {
          if (&n == self_ ||
              !((local && remoteSel.matches(n.labels)) || (remote && localSide(n)))) {
            continue;
          }
          Session s = base;
          s.ip = n.ip.str();
          s.name = "Node_" + underscored(s.ip);
          s.asNumber = asOf(n);
          s.rrClient = isRrClient(s.asNumber, n.rrClusterId);
          s.multihop = s.asNumber != asOf(*self_) && s.ttlSecurityHops == 0;
          add(std::move(s));
        }
        continue;
      }
      if (!localSide(*self_)) {
        continue;
      }

      std::string peerIp = specString(p, "peerIP");
      auto addr = parsePeerIp(peerIp);
      if (!addr) {
        warnings_.push_back(name + ": spec.peerIP \"" + peerIp +
                            "\" is not an IPv4 address[:port]; skipped");
        continue;
      }
      auto as = specInt(p, "asNumber");
      if (!as) {
        warnings_.push_back(name + ": spec.asNumber missing; skipped");
        continue;
      }
      if (addr->first == self_->ip) {
        continue; // a node never peers with itself
      }
      Session s = base;
      s.ip = addr->first.str();
      s.port = addr->second;
      s.name = prefix + underscored(s.ip) + (s.port ? "_port_" + std::to_string(s.port) : "");
      s.asNumber = *as;
      // An explicit address may be a Node of this cluster: honour its cluster id.
      std::string cluster;
      for (const NodeInfo& n : nodes_) {
        if (n.ip == addr->first) {
          cluster = n.rrClusterId;
        }
      }
      s.rrClient = isRrClient(s.asNumber, cluster);
      s.multihop = s.asNumber != asOf(*self_) && s.ttlSecurityHops == 0;
      add(std::move(s));
    }
    return Status::ok();
  }

  std::string text() const {
    std::ostringstream o;
    const std::string own = self_->ip.str();
    o << "# BIRD 2 configuration for node " << self_->name << ", rendered by caracal confd.\n"
      << "# Generated file: changes are overwritten.\n\n"
      << "router id " << own << ";\n\n";

    // Filters first: BIRD needs functions defined before protocols use them.
    o << "# Never accept from BGP a route inside a block affine to this node: its workloads and\n"
      << "# blackhole are programmed locally.\n"
      << "function calico_import_from_bgp_peers()\n{\n";
    if (!blocks_.empty()) {
      o << "  if net ~ " << prefixSet(blocks_, true) << " then return false;\n";
    }
    o << "  return true;\n}\n\n";

    o << "# Announce only pool blocks (whole local blocks, never their members) and service\n"
      << "# CIDRs; learnt kernel routes only when they point at a local workload (borrowed IPs).\n"
      << "function calico_export_to_bgp_peers()\n{\n";
    if (!noExportPools_.empty()) {
      o << "  if net ~ " << prefixSet(noExportPools_, true) << " then return false;\n";
    }
    o << "  if source = RTS_INHERIT && ifname !~ \"cali*\" then return false;\n";
    o << "  if source = RTS_DEVICE then return false;\n";
    for (const IpNet& b : blocks_) {
      o << "  if net = " << b.str() << " then return true;\n";
      o << "  if net ~ " << prefixSet({b}, true) << " then return false;\n";
    }
    if (!services_.empty()) {
      o << "  if net ~ " << prefixSet(services_, false) << " then return true;\n";
    }
    if (!exportPools_.empty()) {
      o << "  if net ~ " << prefixSet(exportPools_, true) << " then return true;\n";
    }
    o << "  return false;\n}\n\n";

    o << "# Routes BIRD writes into the kernel: BGP routes only, and none that felix owns (local\n"
      << "# blocks and every route of an IPIP or VXLAN pool).\n"
      << "filter calico_kernel_programming\n{\n";
    if (!blocks_.empty()) {
      o << "  if net ~ " << prefixSet(blocks_, true) << " then reject;\n";
    }
    if (!tunnelPools_.empty()) {
      o << "  if net ~ " << prefixSet(tunnelPools_, true) << " then reject;\n";
    }
    if (!services_.empty()) {
      o << "  if net ~ " << prefixSet(services_, false) << " then reject;\n";
    }
    o << "  if source = RTS_BGP then accept;\n  reject;\n}\n\n";

    o << "protocol device {\n  scan time 2;\n}\n\n"
      << "protocol direct {\n  ipv4;\n"
      << "  interface -\"cali*\", -\"vxlan.calico\", -\"tunl0\", \"*\";\n}\n\n"
      << "protocol kernel {\n"
      << "  ipv4 {\n    import all;\n    export filter calico_kernel_programming;\n  };\n"
      << "  learn;\n  persist;\n  scan time 2;\n  graceful restart;\n  merge paths on;\n}\n\n";

    o << "# Blackholes for the blocks affine to this node and the advertised service CIDRs.\n"
      << "protocol static {\n  ipv4;\n";
    std::vector<IpNet> statics = blocks_;
    statics.insert(statics.end(), services_.begin(), services_.end());
    sortUnique(statics);
    for (const IpNet& n : statics) {
      o << "  route " << n.str() << " blackhole;\n";
    }
    o << "}\n\n";

    o << "template bgp bgp_template {\n"
      << "  local " << own;
    if (listenPort_ != kDefaultBgpPort) {
      o << " port " << listenPort_;
    }
    o << " as " << asOf(*self_) << ";\n"
      << "  ipv4 {\n"
      << "    import where calico_import_from_bgp_peers();\n"
      << "    export where calico_export_to_bgp_peers();\n"
      << "    gateway recursive;\n"
      << "    add paths on;\n"
      << "  };\n"
      << "  graceful restart;\n"
      << "  connect delay time 2;\n"
      << "  connect retry time 5;\n"
      << "  error wait time 5, 30;\n"
      << "  debug { states };\n"
      << "}\n";

    std::vector<const Session*> ordered;
    for (const auto& [key, s] : sessions_) {
      ordered.push_back(&s);
    }
    std::sort(ordered.begin(), ordered.end(),
              [](const Session* a, const Session* b) { return a->name < b->name; });
    for (const Session* s : ordered) {
      o << "\nprotocol bgp " << s->name << " from bgp_template {\n"
        << "  neighbor " << s->ip;
      if (s->port) {
        o << " port " << s->port;
      }
      o << " as " << s->asNumber << ";\n";
      if (s->sourceAddress) {
        o << "  source address " << own << ";\n";
      }
      if (s->ttlSecurityHops > 0) {
        o << "  ttl security on;\n  multihop " << s->ttlSecurityHops << ";\n";
      } else if (s->multihop) {
        o << "  multihop;\n";
      }
      if (s->passive) {
        o << "  passive on;\n";
      }
      if (s->restartTime > 0) {
        o << "  graceful restart time " << s->restartTime << ";\n";
      }
      if (s->rrClient) {
        o << "  rr client;\n  rr cluster id " << self_->rrClusterId << ";\n";
      }
      if (!s->nextHop.empty()) {
        o << "  ipv4 {\n    next hop " << s->nextHop << ";\n  };\n";
      }
      o << "}\n";
    }
    return o.str();
  }

  const BirdInputs& in_;
  std::vector<NodeInfo> nodes_;
  const NodeInfo* self_ = nullptr;
  int64_t globalAs_ = kDefaultAsNumber;
  bool mesh_ = true;
  int listenPort_ = kDefaultBgpPort;
  std::vector<IpNet> services_, exportPools_, noExportPools_, tunnelPools_, blocks_;
  std::map<std::pair<std::string, int>, Session> sessions_;
  std::vector<std::string> warnings_;
};

} // namespace

Result<BirdConfig> renderBirdConfig(const BirdInputs& in) { return Renderer(in).run(); }

} // namespace caracal::confd
