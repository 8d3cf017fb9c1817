#include "confd/render.h"

#include "api/netaddr.h"
#include "api/selector.h"
#include "common/base64.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace caracal::confd {
namespace {

using api::IpAddr;
using api::IpNet;

// ---- small helpers -------------------------------------------------------------------------

// SHA-256 (FIPS 180-4); used for the hashed router id and for shortening long filter names.
std::array<uint8_t, 32> sha256(std::string_view data) {
  static constexpr uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg(data);
  uint64_t bitLen = static_cast<uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) {
    msg.push_back('\0');
  }
  for (int i = 7; i >= 0; --i) {
    msg.push_back(static_cast<char>((bitLen >> (i * 8)) & 0xff));
  }
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (size_t off = 0; off < msg.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const uint8_t*>(msg.data() + off + i * 4);
      w[i] = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 =
          hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }
  std::array<uint8_t, 32> out{};
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 4; ++j) {
      out[i * 4 + j] = static_cast<uint8_t>(h[i] >> (24 - j * 8));
    }
  }
  return out;
}

// BIRD 2.0 strings have no escape sequences: a value containing a double quote or a line break
// cannot be written at all.
bool birdStringSafe(std::string_view s) {
  return s.find_first_of("\"\n\r") == std::string_view::npos && s.find('\0') == s.npos;
}

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

std::optional<int> parsePort(const std::string& p) {
  if (p.empty() || p.size() > 5 ||
      !std::all_of(p.begin(), p.end(), [](char c) { return std::isdigit(c) != 0; })) {
    return std::nullopt;
  }
  int port = std::stoi(p);
  if (port < 1 || port > 65535) {
    return std::nullopt;
  }
  return port;
}

// "10.0.0.1", "10.0.0.1:1790", "fd00::1", "[fd00::1]:1790" → address and port (0 when absent).
std::optional<std::pair<IpAddr, int>> parsePeerIp(const std::string& text) {
  std::string host = text;
  int port = 0;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    auto p = parsePort(text.substr(close + 2));
    if (!p) {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = *p;
    auto ip = api::parseIp(host);
    if (!ip || ip->family != 6) {
      return std::nullopt;
    }
    return std::make_pair(*ip, port);
  }
  size_t colon = text.find(':');
  if (colon != std::string::npos && text.find(':', colon + 1) == std::string::npos) {
    host = text.substr(0, colon);
    auto p = parsePort(text.substr(colon + 1));
    if (!p) {
      return std::nullopt;
    }
    port = *p;
  }
  auto ip = api::parseIp(host);
  if (!ip || (port != 0 && ip->family != 4)) {
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
    return std::make_tuple(a.addr.family, a.addr.bytes, a.prefix) <
           std::make_tuple(b.addr.family, b.addr.bytes, b.prefix);
  });
  nets.erase(std::unique(nets.begin(), nets.end()), nets.end());
}

// Objects in name order; objects sharing a name (invalid input) are ordered by content, so the
// result never depends on the order of the input.
std::vector<const Value*> byName(const std::vector<Value>& objs) {
  std::vector<std::pair<std::string, const Value*>> keyed;
  for (const Value& o : objs) {
    keyed.emplace_back(o.getString("metadata.name"), &o);
  }
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) {
      return a.first < b.first;
    }
    return toJson(*a.second) < toJson(*b.second);
  });
  std::vector<const Value*> out;
  for (const auto& k : keyed) {
    out.push_back(k.second);
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

// ---- model ---------------------------------------------------------------------------------

struct NodeInfo {
  std::string name;
  std::optional<IpAddr> ip[2];     // [0] IPv4, [1] IPv6
  std::optional<int64_t> asNumber; // spec.bgp.asNumber when set
  std::string rrClusterId;
  api::Labels labels;
};

int famIndex(int family) { return family == 4 ? 0 : 1; }

struct Session {
  std::string name; // Mesh_10_0_0_2, Global_10_0_0_1_port_1790, Mesh_fd00__2, ...
  int family = 4;
  std::string ip;
  int port = 0; // 0: default
  int64_t asNumber = 0;
  std::optional<int64_t> localAs; // BGPPeer localASNumber
  bool passive = false;
  bool sourceAddress = true;
  bool multihop = false;
  int ttlSecurityHops = 0;
  std::string nextHop; // "", "self", "keep"
  int64_t restartTime = 0;
  int64_t keepalive = 0;
  int allowLocalAs = 0;
  std::optional<std::string> password;
  std::vector<std::string> filters; // BGPFilter names, in the peer's order
  bool rrClient = false;
  std::string origin; // the BGPPeer that produced it, for warnings
};

// One BGPFilter rule, ready to print.
struct FilterRule {
  std::string condition; // "" when the rule matches everything
  bool accept = false;
};

struct FilterDef {
  std::string name;
  std::string symbol; // name part of the BIRD function symbols
  // [family index][0 import, 1 export]
  std::vector<FilterRule> rules[2][2];
  bool has(int fi, int dir) const { return !rules[fi][dir].empty(); }
};

// Per address family: what is announced, blackholed and kept out of the kernel.
struct Family {
  int family = 4;
  std::vector<IpNet> services, exportPools, noExportPools, tunnelPools, blocks;
  // prefixAdvertisements: the prefix and the BIRD statements adding its communities.
  std::vector<std::pair<IpNet, std::vector<std::string>>> advertisements;
  std::vector<std::pair<IpNet, std::string>> viaRoutes; // reachableBy: peer/32 via gateway
  std::string suffix() const { return family == 4 ? "" : "_v6"; }
  std::string channel() const { return family == 4 ? "ipv4" : "ipv6"; }
};

// calico_export_to_bgp_peers, bgp_template, ... for IPv4; the same with "_v6" for IPv6.
std::string sym(const std::string& base, int family) { return family == 4 ? base : base + "_v6"; }

class Renderer {
public:
  explicit Renderer(const BirdInputs& in) : in_(in) {
    fam_[0].family = 4;
    fam_[1].family = 6;
  }

  Result<BirdConfig> run() {
    RETURN_IF_ERROR(readNodes());
    readConfig();
    readPools();
    readBlocks();
    readFilters();
    buildMesh();
    RETURN_IF_ERROR(buildPeers());
    BirdConfig out;
    out.text = text();
    std::sort(warnings_.begin(), warnings_.end());
    warnings_.erase(std::unique(warnings_.begin(), warnings_.end()), warnings_.end());
    out.warnings = std::move(warnings_);
    return out;
  }

private:
  bool enabled(int fi) const { return self_->ip[fi].has_value(); }

  Status readNodes() {
    for (const Value& n : in_.nodes) {
      NodeInfo info;
      info.name = n.getString("metadata.name");
      std::string v4 = specString(n, "bgp.ipv4Address");
      std::string v6 = specString(n, "bgp.ipv6Address");
      auto net4 = api::parseCidrOrIp(v4);
      auto net6 = api::parseCidrOrIp(v6);
      if (net4 && net4->addr.family == 4) {
        info.ip[0] = net4->addr;
      }
      if (net6 && net6->addr.family == 6) {
        info.ip[1] = net6->addr;
      }
      if (!v6.empty() && !info.ip[1]) {
        warnings_.push_back("Node " + info.name + ": unusable spec.bgp.ipv6Address (\"" + v6 +
                            "\"); IPv6 ignored");
      }
      if (!info.ip[0] && !info.ip[1]) {
        warnings_.push_back("Node " + info.name + ": no usable spec.bgp.ipv4Address (\"" + v4 +
                            "\") or ipv6Address; skipped");
        continue;
      }
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
      return Status(Code::Invalid, "node " + in_.nodeName +
                                       " has no Node object with an IPv4 or IPv6 BGP address");
    }
    if (self_->ip[0]) {
      routerId_ = self_->ip[0]->str();
    } else {
      // No IPv4 address: the router id (always four octets) is derived from the node name, as
      // Calico does with CALICO_ROUTER_ID=hash; the first octet is kept below 224.
      auto h = sha256(self_->name);
      int first = h[0] > 223 ? h[0] - 32 : h[0];
      routerId_ = std::to_string(first) + "." + std::to_string(h[1]) + "." + std::to_string(h[2]) +
                  "." + std::to_string(h[3]);
    }
    return Status::ok();
  }

  // A BGPConfiguration field, from node.<name> when set there, else from default.
  const Value* configField(std::string_view dotted) const {
    const Value* s = spec(in_.nodeConfig);
    if (const Value* v = s ? s->path(dotted) : nullptr) {
      return v;
    }
    s = spec(in_.defaultConfig);
    return s ? s->path(dotted) : nullptr;
  }

  void readConfig() {
    globalAs_ = specInt(in_.defaultConfig, "asNumber").value_or(kDefaultAsNumber);
    mesh_ = specBool(in_.defaultConfig, "nodeToNodeMeshEnabled", true);
    const Value* port = configField("listenPort");
    listenPort_ = port && port->isInt() ? static_cast<int>(port->asInt()) : kDefaultBgpPort;
    const Value* bind = configField("bindMode");
    bindNodeIp_ = bind && bind->asString() == "NodeIP";
    std::string cfgName = "BGPConfiguration " + in_.defaultConfig.getString("metadata.name");
    if (const Value* ign = configField("ignoredInterfaces")) {
      for (const Value& i : ign->asArray()) {
        if (i.asString().empty() || !birdStringSafe(i.asString())) {
          warnings_.push_back("BGPConfiguration: spec.ignoredInterfaces: unusable interface "
                              "pattern skipped");
          continue;
        }
        ignoredInterfaces_.push_back(i.asString());
      }
    }
    for (const char* f : {"serviceClusterIPs", "serviceExternalIPs", "serviceLoadBalancerIPs"}) {
      const Value* s = spec(in_.defaultConfig);
      const Value* list = s ? s->find(f) : nullptr;
      for (const Value& item : list ? list->asArray() : Value::Array{}) {
        std::string text = item.getString("cidr");
        auto net = api::parseCidrOrIp(text);
        if (!net) {
          warnings_.push_back(cfgName + ": spec." + f + ": invalid CIDR \"" + text + "\" skipped");
          continue;
        }
        fam_[famIndex(net->addr.family)].services.push_back(net->masked());
      }
    }
    for (Family& f : fam_) {
      sortUnique(f.services);
    }
    if (const Value* v =
            spec(in_.defaultConfig) ? spec(in_.defaultConfig)->find("keepaliveTime") : nullptr) {
      auto secs = durationSeconds(*v);
      if (!secs || *secs < 1 || *secs > 21845) {
        warnings_.push_back(cfgName + ": spec.keepaliveTime unreadable or out of range; ignored");
      } else {
        keepalive_ = *secs;
      }
    }
    if (const Value* v = spec(in_.defaultConfig)
                             ? spec(in_.defaultConfig)->find("nodeMeshMaxRestartTime")
                             : nullptr) {
      auto secs = durationSeconds(*v);
      if (!secs) {
        warnings_.push_back(cfgName + ": spec.nodeMeshMaxRestartTime unreadable; ignored");
      } else {
        meshRestartTime_ = *secs;
      }
    }
    if (const Value* s = spec(in_.defaultConfig); s && s->path("nodeMeshPassword.secretKeyRef")) {
      std::string why;
      meshPassword_ = resolvePassword(*s->path("nodeMeshPassword.secretKeyRef"), why);
      if (!meshPassword_) {
        meshPasswordError_ = why;
      }
    }
    readCommunities(cfgName);
  }

  // communities [{name, value}] and prefixAdvertisements [{cidr, communities: [name|value]}].
  void readCommunities(const std::string& cfgName) {
    const Value* s = spec(in_.defaultConfig);
    if (!s) {
      return;
    }
    std::map<std::string, std::string> named;
    if (const Value* c = s->find("communities")) {
      for (const Value& e : c->asArray()) {
        named[e.getString("name")] = e.getString("value");
      }
    }
    const Value* ads = s->find("prefixAdvertisements");
    for (const Value& ad : ads ? ads->asArray() : Value::Array{}) {
      std::string text = ad.getString("cidr");
      auto net = api::parseCidrOrIp(text);
      if (!net) {
        warnings_.push_back(cfgName + ": spec.prefixAdvertisements: invalid CIDR \"" + text +
                            "\" skipped");
        continue;
      }
      std::vector<std::string> stmts;
      const Value* list = ad.find("communities");
      for (const Value& c : list ? list->asArray() : Value::Array{}) {
        std::string value = c.asString();
        if (auto it = named.find(value); it != named.end()) {
          value = it->second;
        }
        auto stmt = communityStatement(value);
        if (!stmt) {
          warnings_.push_back(cfgName + ": community \"" + c.asString() + "\" for " + text +
                              " is neither a known name nor aa:nn or aa:nn:mm; skipped");
          continue;
        }
        stmts.push_back(*stmt);
      }
      if (!stmts.empty()) {
        fam_[famIndex(net->addr.family)].advertisements.emplace_back(net->masked(), stmts);
      }
    }
  }

  // "64512:100" → standard community, "64512:300:100" → large community.
  static std::optional<std::string> communityStatement(const std::string& v) {
    std::vector<int64_t> parts;
    size_t i = 0;
    while (i <= v.size()) {
      size_t j = v.find(':', i);
      std::string p = v.substr(i, j == std::string::npos ? std::string::npos : j - i);
      if (p.empty() || p.size() > 10 ||
          !std::all_of(p.begin(), p.end(), [](char c) { return std::isdigit(c) != 0; })) {
        return std::nullopt;
      }
      parts.push_back(std::stoll(p));
      if (j == std::string::npos) {
        break;
      }
      i = j + 1;
    }
    if (parts.size() == 2 && parts[0] <= 65535 && parts[1] <= 65535) {
      return "bgp_community.add((" + std::to_string(parts[0]) + ", " + std::to_string(parts[1]) +
             "));";
    }
    if (parts.size() == 3 &&
        std::all_of(parts.begin(), parts.end(), [](int64_t p) { return p <= 4294967295LL; })) {
      return "bgp_large_community.add((" + std::to_string(parts[0]) + ", " +
             std::to_string(parts[1]) + ", " + std::to_string(parts[2]) + "));";
    }
    return std::nullopt;
  }

  // spec.password.secretKeyRef {name, key} against the Secrets; nullopt (and `why`) when the
  // secret or key is missing or the value cannot be written into the configuration.
  std::optional<std::string> resolvePassword(const Value& ref, std::string& why) const {
    std::string name = ref.getString("name");
    std::string key = ref.getString("key");
    const Value* secret = nullptr;
    for (const Value* s : byName(in_.secrets)) {
      if (s->getString("metadata.name") == name) {
        secret = s;
        break;
      }
    }
    if (!secret) {
      why = "secret \"" + name + "\" (key \"" + key + "\") not found";
      return std::nullopt;
    }
    std::optional<std::string> value;
    if (const Value* v = secret->path("stringData"); v && v->find(key)) {
      value = v->find(key)->asString();
    } else if (const Value* d = secret->path("data"); d && d->find(key)) {
      auto decoded = base64Decode(d->find(key)->asString(), Base64Mode::Strict);
      if (!decoded) {
        why = "secret \"" + name + "\" key \"" + key + "\" is not valid base64";
        return std::nullopt;
      }
      value = std::move(*decoded);
    }
    if (!value) {
      why = "secret \"" + name + "\" has no key \"" + key + "\"";
      return std::nullopt;
    }
    if (value->empty() || !birdStringSafe(*value)) {
      why = "secret \"" + name + "\" key \"" + key +
            "\" is empty or holds a double quote or line break, which BIRD cannot read";
      return std::nullopt;
    }
    return value;
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
      Family& f = fam_[famIndex(net->addr.family)];
      IpNet cidr = net->masked();
      if (specBool(p, "disableBGPExport", false)) {
        f.noExportPools.push_back(cidr);
      } else {
        f.exportPools.push_back(cidr);
      }
      auto encap = [&](std::string_view field) {
        std::string m = specString(p, field);
        return !m.empty() && m != "Never";
      };
      if (encap("ipipMode") || encap("vxlanMode")) {
        f.tunnelPools.push_back(cidr);
      }
    }
    for (Family& f : fam_) {
      sortUnique(f.exportPools);
      sortUnique(f.noExportPools);
      sortUnique(f.tunnelPools);
    }
  }

  void readBlocks() {
    for (const std::string& b : in_.affineBlocks) {
      auto net = api::parseCidr(b);
      if (!net) {
        warnings_.push_back("affine block \"" + b + "\": not a CIDR; skipped");
        continue;
      }
      fam_[famIndex(net->addr.family)].blocks.push_back(net->masked());
    }
    for (Family& f : fam_) {
      sortUnique(f.blocks);
    }
  }

  // ---- BGPFilter ----

  // The BIRD symbol part for a filter name: kept when short enough, else shortened with a hash
  // so that 'bgp_<name>_importFilterV4' stays within BIRD's 64-character symbol limit.
  static std::string filterSymbol(const std::string& name) {
    constexpr size_t kMax = 64 - 19; // "bgp_" + "_importFilterV4"
    if (name.size() <= kMax) {
      return name;
    }
    auto h = sha256(name);
    char hex[17];
    for (int i = 0; i < 8; ++i) {
      std::snprintf(hex + i * 2, 3, "%02X", h[i]);
    }
    return name.substr(0, kMax - 17) + "_" + std::string(hex, 16);
  }

  static std::string filterFunction(const FilterDef& f, int family, int dir) {
    return "'bgp_" + f.symbol + (dir == 0 ? "_importFilterV" : "_exportFilterV") +
           (family == 4 ? "4" : "6") + "'";
  }

  // One rule → condition; "" (and `err`) when the rule cannot be rendered.
  static std::optional<FilterRule> filterRule(const Value& r, int family, std::string& err) {
    FilterRule out;
    std::string action = r.getString("action");
    if (action == "Accept" || action == "accept") {
      out.accept = true;
    } else if (action != "Reject" && action != "reject") {
      err = "action \"" + action + "\" is not Accept or Reject";
      return std::nullopt;
    }
    std::vector<std::string> conds;
    std::string cidrText = r.getString("cidr");
    if (!cidrText.empty()) {
      auto net = api::parseCidr(cidrText);
      if (!net || net->addr.family != family) {
        err = "cidr \"" + cidrText + "\" is not an IPv" + std::to_string(family) + " CIDR";
        return std::nullopt;
      }
      static const std::map<std::string, std::string> ops = {
          {"Equal", "="}, {"NotEqual", "!="}, {"In", "~"}, {"NotIn", "!~"}};
      auto op = ops.find(r.getString("matchOperator"));
      if (op == ops.end()) {
        err = "matchOperator \"" + r.getString("matchOperator") +
              "\" is not Equal, NotEqual, In or NotIn";
        return std::nullopt;
      }
      std::string target = net->masked().str();
      if (const Value* pl = r.find("prefixLength")) {
        int64_t lo = net->prefix;
        int64_t hi = net->addr.bits();
        if (const Value* mn = pl->find("min"); mn && mn->isInt()) {
          lo = std::max(lo, mn->asInt());
        }
        if (const Value* mx = pl->find("max"); mx && mx->isInt()) {
          hi = std::min(hi, mx->asInt());
        }
        if (lo > hi) {
          err = "prefixLength selects no length (min " + std::to_string(lo) + " > max " +
                std::to_string(hi) + ")";
          return std::nullopt;
        }
        target = "[ " + target + "{" + std::to_string(lo) + "," + std::to_string(hi) + "} ]";
      }
      conds.push_back("(net " + op->second + " " + target + ")");
    }
    std::string source = r.getString("source");
    if (!source.empty()) {
      if (source != "RemotePeers") {
        err = "source \"" + source + "\" is not RemotePeers";
        return std::nullopt;
      }
      conds.push_back("((defined(source))&&(source ~ [ RTS_BGP ]))");
    }
    std::string iface = r.getString("interface");
    if (!iface.empty()) {
      if (!birdStringSafe(iface)) {
        err = "interface pattern cannot contain a double quote or line break";
        return std::nullopt;
      }
      conds.push_back("((defined(ifname))&&(ifname ~ \"" + iface + "\"))");
    }
    for (size_t i = 0; i < conds.size(); ++i) {
      out.condition += (i ? "&&" : "") + conds[i];
    }
    return out;
  }

  void readFilters() {
    for (const Value* fp : byName(in_.filters)) {
      FilterDef def;
      def.name = fp->getString("metadata.name");
      def.symbol = filterSymbol(def.name);
      bool ok = true;
      static const char* kFields[2][2] = {{"importV4", "exportV4"}, {"importV6", "exportV6"}};
      for (int fi = 0; fi < 2 && ok; ++fi) {
        for (int dir = 0; dir < 2 && ok; ++dir) {
          const Value* s = spec(*fp);
          const Value* rules = s ? s->find(kFields[fi][dir]) : nullptr;
          const auto& arr = rules ? rules->asArray() : Value::Array{};
          for (size_t i = 0; i < arr.size(); ++i) {
            std::string err;
            auto rule = filterRule(arr[i], fi == 0 ? 4 : 6, err);
            if (!rule) {
              warnings_.push_back("BGPFilter " + def.name + ": spec." + kFields[fi][dir] + "[" +
                                  std::to_string(i) + "]: " + err + "; filter not rendered");
              ok = false;
              break;
            }
            def.rules[fi][dir].push_back(*rule);
          }
        }
      }
      if (ok && !filters_.count(def.name)) {
        filters_.emplace(def.name, std::move(def));
      } else if (ok) {
        warnings_.push_back("BGPFilter " + def.name + ": defined twice; first kept");
      } else {
        badFilters_.insert(def.name);
      }
    }
  }

  // ---- sessions ----

  int64_t asOf(const NodeInfo& n) const { return n.asNumber.value_or(globalAs_); }

  // RR node towards an iBGP peer outside its cluster: the peer is its client.
  bool isRrClient(int64_t localAs, int64_t peerAs, const std::string& peerCluster) const {
    return !self_->rrClusterId.empty() && peerAs == localAs && peerCluster != self_->rrClusterId;
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
    if (meshPasswordError_) {
      warnings_.push_back("BGPConfiguration default: spec.nodeMeshPassword: " +
                          *meshPasswordError_ + "; node-to-node mesh sessions not rendered");
      return;
    }
    for (int fi = 0; fi < 2; ++fi) {
      if (!enabled(fi)) {
        continue;
      }
      std::string own = self_->ip[fi]->str();
      for (const NodeInfo& n : nodes_) {
        if (&n == self_ || !n.rrClusterId.empty() || !n.ip[fi] || n.ip[fi] == self_->ip[fi]) {
          continue;
        }
        Session s;
        s.family = fi == 0 ? 4 : 6;
        s.ip = n.ip[fi]->str();
        s.name = "Mesh_" + underscored(s.ip);
        s.port = listenPort_ == kDefaultBgpPort ? 0 : listenPort_;
        s.asNumber = asOf(n);
        s.passive = s.ip > own; // Calico's rule: the lexicographically higher address listens.
        s.multihop = true;
        s.restartTime = meshRestartTime_;
        s.keepalive = keepalive_;
        s.password = meshPassword_;
        s.origin = "node-to-node mesh";
        add(std::move(s));
      }
    }
  }

  Status buildPeers() {
    for (const Value* pp : byName(in_.peers)) {
      RETURN_IF_ERROR(buildPeer(*pp));
    }
    return Status::ok();
  }

  // The BGPPeer settings shared by all its sessions; nullopt when the peer must be skipped.
  std::optional<Session> peerBase(const Value& p, const std::string& name) {
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
    const Value* s = spec(p);
    if (s && s->find("maxRestartTime")) {
      auto secs = durationSeconds(*s->find("maxRestartTime"));
      if (!secs) {
        warnings_.push_back(name + ": spec.maxRestartTime unreadable; ignored");
      } else {
        base.restartTime = *secs;
      }
    }
    base.keepalive = keepalive_;
    if (s && s->find("keepaliveTime")) {
      auto secs = durationSeconds(*s->find("keepaliveTime"));
      if (!secs || *secs < 1 || *secs > 21845) {
        warnings_.push_back(name + ": spec.keepaliveTime unreadable or out of range; ignored");
      } else {
        base.keepalive = *secs;
      }
    }
    base.localAs = specInt(p, "localASNumber");
    if (auto n = specInt(p, "numAllowedLocalASNumbers"); n && *n > 0) {
      base.allowLocalAs = static_cast<int>(std::min<int64_t>(*n, 255));
    }
    if (s && s->path("password.secretKeyRef")) {
      std::string why;
      base.password = resolvePassword(*s->path("password.secretKeyRef"), why);
      if (!base.password) {
        warnings_.push_back(name + ": spec.password: " + why + "; peer not rendered");
        return std::nullopt;
      }
    }
    const Value* filters = s ? s->find("filters") : nullptr;
    for (const Value& f : filters ? filters->asArray() : Value::Array{}) {
      const std::string& fname = f.asString();
      if (filters_.count(fname)) {
        base.filters.push_back(fname);
      } else if (badFilters_.count(fname)) {
        warnings_.push_back(name + ": BGPFilter \"" + fname + "\" is invalid; filter skipped");
      } else {
        warnings_.push_back(name + ": unknown BGPFilter \"" + fname + "\"; filter skipped");
      }
    }
    return base;
  }

  Status buildPeer(const Value& p) {
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

    if (hasPeerSel) {
      // A session between two nodes is configured on both ends: a node on the local side peers
      // with every selected node, and a selected node peers back with the local side.
      bool local = localSide(*self_);
      bool remote = remoteSel.matches(self_->labels);
      if (!local && !remote) {
        return Status::ok();
      }
      std::optional<Session> base = peerBase(p, name);
      if (!base) {
        return Status::ok();
      }
      for (const NodeInfo& n : nodes_) {
        if (&n == self_ || !((local && remoteSel.matches(n.labels)) || (remote && localSide(n)))) {
          continue;
        }
        for (int fi = 0; fi < 2; ++fi) {
          if (!enabled(fi) || !n.ip[fi]) {
            continue;
          }
          Session s = *base;
          s.family = fi == 0 ? 4 : 6;
          s.ip = n.ip[fi]->str();
          s.name = "Node_" + underscored(s.ip);
          s.asNumber = asOf(n);
          int64_t localAs = s.localAs.value_or(asOf(*self_));
          s.rrClient = isRrClient(localAs, s.asNumber, n.rrClusterId);
          s.multihop = s.asNumber != localAs && s.ttlSecurityHops == 0;
          add(std::move(s));
        }
      }
      return Status::ok();
    }
    if (!localSide(*self_)) {
      return Status::ok();
    }

    std::string peerIp = specString(p, "peerIP");
    auto addr = parsePeerIp(peerIp);
    if (!addr) {
      warnings_.push_back(name + ": spec.peerIP \"" + peerIp +
                          "\" is not an IP address, ip:port or [ipv6]:port; skipped");
      return Status::ok();
    }
    auto as = specInt(p, "asNumber");
    if (!as) {
      warnings_.push_back(name + ": spec.asNumber missing; skipped");
      return Status::ok();
    }
    int fi = famIndex(addr->first.family);
    if (!enabled(fi)) {
      warnings_.push_back(name + ": spec.peerIP is IPv" + std::to_string(addr->first.family) +
                          " but this node has no IPv" + std::to_string(addr->first.family) +
                          " BGP address; skipped");
      return Status::ok();
    }
    if (addr->first == *self_->ip[fi]) {
      return Status::ok(); // a node never peers with itself
    }
    std::optional<Session> base = peerBase(p, name);
    if (!base) {
      return Status::ok();
    }
    Session s = *base;
    s.family = addr->first.family;
    s.ip = addr->first.str();
    s.port = addr->second;
    s.name = prefix + underscored(s.ip) + (s.port ? "_port_" + std::to_string(s.port) : "");
    s.asNumber = *as;
    // An explicit address may be a Node of this cluster: honour its cluster id.
    std::string cluster;
    for (const NodeInfo& n : nodes_) {
      if (n.ip[fi] == addr->first) {
        cluster = n.rrClusterId;
      }
    }
    int64_t localAs = s.localAs.value_or(asOf(*self_));
    s.rrClient = isRrClient(localAs, s.asNumber, cluster);
    s.multihop = s.asNumber != localAs && s.ttlSecurityHops == 0;
    std::string via = specString(p, "reachableBy");
    if (!via.empty()) {
      auto gw = api::parseIp(via);
      if (!gw || gw->family != addr->first.family) {
        warnings_.push_back(name + ": spec.reachableBy \"" + via + "\" is not an IPv" +
                            std::to_string(addr->first.family) + " address; ignored");
      } else {
        IpNet host{addr->first, addr->first.bits()};
        fam_[fi].viaRoutes.emplace_back(host, gw->str());
      }
    }
    add(std::move(s));
    return Status::ok();
  }

  // ---- text ----

  void filterFunctions(std::ostringstream& o) const {
    for (int fi = 0; fi < 2; ++fi) {
      if (!enabled(fi)) {
        continue;
      }
      int family = fi == 0 ? 4 : 6;
      for (const auto& [name, f] : filters_) {
        if (!f.has(fi, 0) && !f.has(fi, 1)) {
          continue;
        }
        o << "# v" << family << " BGPFilter " << name << "\n";
        for (int dir = 0; dir < 2; ++dir) {
          if (!f.has(fi, dir)) {
            continue;
          }
          o << "function " << filterFunction(f, family, dir) << "()\n{\n";
          for (const FilterRule& r : f.rules[fi][dir]) {
            const char* act = r.accept ? "accept;" : "reject;";
            if (r.condition.empty()) {
              o << "  " << act << "\n";
            } else {
              o << "  if (" << r.condition << ") then { " << act << " }\n";
            }
          }
          o << "}\n\n";
        }
      }
    }
  }

  void familyFunctions(std::ostringstream& o, const Family& f) const {
    const std::string sfx = f.suffix();
    o << "# Never accept from BGP a block affine to this node (its blackhole and workloads are\n"
      << "# local). Longer prefixes inside it are accepted: addresses other nodes borrowed.\n"
      << "function calico_import_from_bgp_peers" << sfx << "()\n{\n";
    if (!f.blocks.empty()) {
      o << "  if net ~ " << prefixSet(f.blocks, false) << " then return false;\n";
    }
    o << "  return true;\n}\n\n";

    o << "# Announce only pool blocks (whole local blocks, never their members) and service\n"
      << "# CIDRs; learnt kernel routes only when they point at a local workload (borrowed IPs).\n"
      << "function calico_export_to_bgp_peers" << sfx << "()\n{\n";
    for (const auto& [net, stmts] : f.advertisements) {
      o << "  if net ~ " << net.str() << " then {";
      for (const std::string& st : stmts) {
        o << " " << st;
      }
      o << " }\n";
    }
    if (!f.noExportPools.empty()) {
      o << "  if net ~ " << prefixSet(f.noExportPools, true) << " then return false;\n";
    }
    o << "  if source = RTS_INHERIT && ifname !~ \"cali*\" then return false;\n";
    o << "  if source = RTS_DEVICE then return false;\n";
    for (const IpNet& b : f.blocks) {
      o << "  if net = " << b.str() << " then return true;\n";
      o << "  if net ~ " << prefixSet({b}, true) << " then return false;\n";
    }
    if (!f.services.empty()) {
      o << "  if net ~ " << prefixSet(f.services, false) << " then return true;\n";
    }
    if (!f.exportPools.empty()) {
      o << "  if net ~ " << prefixSet(f.exportPools, true) << " then return true;\n";
    }
    o << "  return false;\n}\n\n";

    o << "# Routes BIRD writes into the kernel: BGP routes only, and none that felix owns (local\n"
      << "# blocks' blackholes and every route of an IPIP or VXLAN pool). A borrowed address\n"
      << "# inside a local block is another node's workload: its /32 is programmed.\n"
      << "filter calico_kernel_programming" << sfx << "\n{\n";
    if (!f.blocks.empty()) {
      o << "  if net ~ " << prefixSet(f.blocks, false) << " then reject;\n";
    }
    if (!f.tunnelPools.empty()) {
      o << "  if net ~ " << prefixSet(f.tunnelPools, true) << " then reject;\n";
    }
    if (!f.services.empty()) {
      o << "  if net ~ " << prefixSet(f.services, false) << " then reject;\n";
    }
    o << "  if source = RTS_BGP then accept;\n  reject;\n}\n\n";
  }

  void familyProtocols(std::ostringstream& o, const Family& f) const {
    o << "protocol kernel {\n"
      << "  " << f.channel() << " {\n    import all;\n    export filter calico_kernel_programming"
      << f.suffix() << ";\n  };\n"
      << "  learn;\n  persist;\n  scan time 2;\n  graceful restart;\n  merge paths on;\n}\n\n";
  }

  void familyStatic(std::ostringstream& o, const Family& f) const {
    o << "protocol static {\n  " << f.channel() << ";\n";
    std::vector<IpNet> statics = f.blocks;
    statics.insert(statics.end(), f.services.begin(), f.services.end());
    sortUnique(statics);
    for (const IpNet& n : statics) {
      o << "  route " << n.str() << " blackhole;\n";
    }
    auto via = f.viaRoutes;
    std::sort(via.begin(), via.end(), [](const auto& a, const auto& b) {
      return std::make_pair(a.first.str(), a.second) < std::make_pair(b.first.str(), b.second);
    });
    via.erase(std::unique(via.begin(), via.end()), via.end());
    for (const auto& [net, gw] : via) {
      o << "  route " << net.str() << " via " << gw << ";\n";
    }
    o << "}\n\n";
  }

  void familyTemplate(std::ostringstream& o, const Family& f) const {
    o << "template bgp " << sym("bgp_template", f.family) << " {\n"
      << "  local";
    if (bindNodeIp_) {
      // strict bind listens on the local address only, so the template must carry it.
      o << " " << self_->ip[famIndex(f.family)]->str();
    }
    if (listenPort_ != kDefaultBgpPort) {
      o << " port " << listenPort_;
    }
    o << " as " << asOf(*self_) << ";\n";
    if (bindNodeIp_) {
      o << "  strict bind on;\n";
    }
    o << "  " << f.channel() << " {\n"
      << "    import where calico_import_from_bgp_peers" << f.suffix() << "();\n"
      << "    export where calico_export_to_bgp_peers" << f.suffix() << "();\n"
      << "    gateway recursive;\n"
      << "    add paths on;\n"
      << "  };\n"
      << "  graceful restart;\n"
      << "  connect delay time 2;\n"
      << "  connect retry time 5;\n"
      << "  error wait time 5, 30;\n"
      << "  debug { states };\n"
      << "}\n";
  }

  void session(std::ostringstream& o, const Session& s) const {
    int fi = famIndex(s.family);
    const Family& f = fam_[fi];
    o << "\nprotocol bgp " << s.name << " from " << sym("bgp_template", s.family) << " {\n";
    if (s.localAs) {
      o << "  local as " << *s.localAs << ";\n";
    }
    o << "  neighbor " << s.ip;
    if (s.port) {
      o << " port " << s.port;
    }
    o << " as " << s.asNumber << ";\n";
    if (s.sourceAddress) {
      o << "  source address " << self_->ip[fi]->str() << ";\n";
    }
    if (s.ttlSecurityHops > 0) {
      o << "  ttl security on;\n  multihop " << s.ttlSecurityHops << ";\n";
    } else if (s.multihop) {
      o << "  multihop;\n";
    }
    if (s.passive) {
      o << "  passive on;\n";
    }
    if (s.password) {
      o << "  password \"" << *s.password << "\";\n";
    }
    if (s.keepalive > 0) {
      o << "  keepalive time " << s.keepalive << ";\n  hold time " << s.keepalive * 3 << ";\n";
    }
    if (s.allowLocalAs > 0) {
      o << "  allow local as " << s.allowLocalAs << ";\n";
    }
    if (s.restartTime > 0) {
      o << "  graceful restart time " << s.restartTime << ";\n";
    }
    if (s.rrClient) {
      o << "  rr client;\n  rr cluster id " << self_->rrClusterId << ";\n";
    }
    std::vector<std::string> calls[2];
    for (const std::string& name : s.filters) {
      const FilterDef& def = filters_.at(name);
      for (int dir = 0; dir < 2; ++dir) {
        if (def.has(fi, dir)) {
          calls[dir].push_back(filterFunction(def, s.family, dir) + "();");
        }
      }
    }
    if (!s.nextHop.empty() || !calls[0].empty() || !calls[1].empty()) {
      o << "  " << f.channel() << " {\n";
      if (!s.nextHop.empty()) {
        o << "    next hop " << s.nextHop << ";\n";
      }
      // BGPFilter functions first: their accept or reject ends the filter; routes no rule
      // matched go on to the default logic.
      static const char* kDefault[2] = {"calico_import_from_bgp_peers",
                                        "calico_export_to_bgp_peers"};
      static const char* kDir[2] = {"import", "export"};
      for (int dir = 0; dir < 2; ++dir) {
        if (calls[dir].empty()) {
          continue;
        }
        o << "    " << kDir[dir] << " filter {\n";
        for (const std::string& c : calls[dir]) {
          o << "      " << c << "\n";
        }
        o << "      if " << kDefault[dir] << f.suffix() << "() then accept;\n"
          << "      reject;\n    };\n";
      }
      o << "  };\n";
    }
    o << "}\n";
  }

  std::string text() const {
    std::ostringstream o;
    o << "# BIRD 2 configuration for node " << self_->name << ", rendered by caracal confd.\n"
      << "# Generated file: changes are overwritten.\n\n"
      << "router id " << routerId_ << ";\n\n"
      << "# caracal-node starts BIRD with -R (graceful restart recovery): the kernel routes the\n"
      << "# previous BIRD left stay until the sessions have converged, or at most this long when\n"
      << "# a peer is unreachable.\n"
      << "graceful restart wait " << kGracefulRestartWaitSeconds << ";\n\n";

    // Functions first: BIRD needs them defined before protocols use them.
    filterFunctions(o);
    for (int fi = 0; fi < 2; ++fi) {
      if (enabled(fi)) {
        familyFunctions(o, fam_[fi]);
      }
    }

    o << "protocol device {\n  scan time 2;\n}\n\n"
      << "protocol direct {\n";
    for (int fi = 0; fi < 2; ++fi) {
      if (enabled(fi)) {
        o << "  " << fam_[fi].channel() << ";\n";
      }
    }
    o << "  interface ";
    for (const std::string& i : ignoredInterfaces_) {
      o << "-\"" << i << "\", ";
    }
    o << "-\"cali*\", -\"vxlan.calico\", -\"tunl0\", \"*\";\n}\n\n";
    for (int fi = 0; fi < 2; ++fi) {
      if (enabled(fi)) {
        familyProtocols(o, fam_[fi]);
      }
    }

    o << "# Blackholes for the blocks affine to this node and the advertised service CIDRs.\n";
    for (int fi = 0; fi < 2; ++fi) {
      if (enabled(fi)) {
        familyStatic(o, fam_[fi]);
      }
    }

    bool first = true;
    for (int fi = 0; fi < 2; ++fi) {
      if (enabled(fi)) {
        if (!first) {
          o << "\n";
        }
        familyTemplate(o, fam_[fi]);
        first = false;
      }
    }

    std::vector<const Session*> ordered;
    for (const auto& [key, s] : sessions_) {
      ordered.push_back(&s);
    }
    std::sort(ordered.begin(), ordered.end(),
              [](const Session* a, const Session* b) { return a->name < b->name; });
    for (const Session* s : ordered) {
      session(o, *s);
    }
    return o.str();
  }

  const BirdInputs& in_;
  std::vector<NodeInfo> nodes_;
  const NodeInfo* self_ = nullptr;
  std::string routerId_;
  int64_t globalAs_ = kDefaultAsNumber;
  bool mesh_ = true;
  int listenPort_ = kDefaultBgpPort;
  bool bindNodeIp_ = false;
  int64_t keepalive_ = 0;
  int64_t meshRestartTime_ = 0;
  std::optional<std::string> meshPassword_;
  std::optional<std::string> meshPasswordError_;
  std::vector<std::string> ignoredInterfaces_;
  Family fam_[2];
  std::map<std::string, FilterDef> filters_;
  std::set<std::string> badFilters_;
  std::map<std::pair<std::string, int>, Session> sessions_;
  std::vector<std::string> warnings_;
};

} // namespace

Result<BirdConfig> renderBirdConfig(const BirdInputs& in) { return Renderer(in).run(); }

Status addBirdInput(BirdInputs& in, const Value& obj) {
  const std::string kind = obj.getString("kind");
  const std::string name = obj.getString("metadata.name");
  if (kind == "List" || (kind.empty() && obj.has("items"))) {
    if (const Value* items = obj.find("items"); items && items->isArray()) {
      for (const Value& item : items->asArray()) {
        RETURN_IF_ERROR(addBirdInput(in, item));
      }
    }
    return Status();
  }
  if (kind == "Node") {
    in.nodes.push_back(obj);
  } else if (kind == "BGPPeer") {
    in.peers.push_back(obj);
  } else if (kind == "IPPool") {
    in.pools.push_back(obj);
  } else if (kind == "BGPFilter") {
    in.filters.push_back(obj);
  } else if (kind == "Secret") {
    in.secrets.push_back(obj);
  } else if (kind == "BGPConfiguration") {
    if (name == "default") {
      in.defaultConfig = obj;
    } else if (name == "node." + in.nodeName) {
      in.nodeConfig = obj;
    }
  } else {
    return Status(Code::NotFound, "not an input of the BIRD configuration: " +
                                      (kind.empty() ? std::string("(no kind)") : kind) + "/" +
                                      name);
  }
  return Status();
}

} // namespace caracal::confd
