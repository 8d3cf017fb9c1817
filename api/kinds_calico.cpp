// The projectcalico.org/v3 kinds.
#include "api/formats.h"
#include "api/kinds_internal.h"
#include "api/netaddr.h"
#include "common/strings.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace caracal::api::detail {

using namespace schema;

namespace {

KindInfo calicoInfo(std::string kind, std::string plural, std::string singular, bool namespaced,
                    std::vector<std::string> shortNames, std::vector<std::string> aliases) {
  KindInfo i;
  i.group = "projectcalico.org";
  i.version = "v3";
  i.kind = std::move(kind);
  i.plural = std::move(plural);
  i.singular = std::move(singular);
  i.namespaced = namespaced;
  i.shortNames = std::move(shortNames);
  i.aliases = std::move(aliases);
  i.categories = {"calico"};
  return i;
}

bool boolAt(const Value& v, std::string_view dotted) {
  const Value* b = v.path(dotted);
  return b && b->isBool() && b->asBool();
}

// Go-style rendering of a float (order fields): 100, 100.5, 1e+06.
std::string orderText(const Value& obj, std::string_view dotted) {
  const Value* v = obj.path(dotted);
  if (!v || !v->isNumber()) {
    return "";
  }
  if (v->isInt()) {
    return std::to_string(v->asInt());
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", v->asDouble());
  return buf;
}

std::string joinedMap(const Value* m) {
  if (!m || !m->isObject()) {
    return "";
  }
  std::vector<std::string> parts;
  for (const auto& kv : m->asObject()) {
    parts.push_back(kv.first + "=" + kv.second.asString());
  }
  std::sort(parts.begin(), parts.end());
  return join(parts, ",");
}

N strEnum(std::vector<std::string> values) { return str().enums(std::move(values)); }
N strEnumCI(std::vector<std::string> values) {
  return str().enums(std::move(values)).ignoreCase(false);
}
N logLevel() { return strEnumCI({"Trace", "Debug", "Info", "Warning", "Error", "Fatal"}); }
N enabledDisabled() { return strEnum({"Enabled", "Disabled"}); }

N spec(std::vector<F> fields) { return object(std::move(fields)).def(Value::object()); }

N portRangeNoName() {
  return port().check([](Value& v, const std::string& path, Ctx& ctx) {
    if (v.isString() && v.asString().find(':') == std::string::npos) {
      ctx.add(path, "must be a port number or a \"min:max\" range, not a named port");
    }
  });
}

// ---- IPPool ------------------------------------------------------------------------------------

bool encapOn(const Value& spec, const char* field) {
  std::string m = spec.getString(field);
  return m == "Always" || m == "CrossSubnet";
}

void checkIPPoolSpec(Value& spec, const std::string& path, Ctx& ctx) {
  // An empty allowedUses means the default, as in Calico.
  const Value* uses = spec.find("allowedUses");
  if (uses && uses->isArray() && uses->size() == 0 && ctx.applyDefaults()) {
    spec.set("allowedUses", Value(Value::Array{Value("Workload"), Value("Tunnel")}));
  }
  auto net = parseCidr(spec.getString("cidr"));
  if (net) {
    int family = net->addr.family;
    if (!net->isMasked()) {
      ctx.add(child(path, "cidr"), "IP pool CIDR " + quoted(spec.getString("cidr")) +
                                       " is not strictly masked (did you mean " +
                                       quoted(net->masked().str()) + "?)");
    } else {
      spec.set("cidr", net->str());
    }
    if (!spec.has("blockSize") && ctx.applyDefaults()) {
      spec.set("blockSize", Value(int64_t(family == 4 ? 26 : 122)));
    }
    const Value* bs = spec.find("blockSize");
    if (bs && bs->isInt()) {
      int64_t lo = family == 4 ? 20 : 116;
      int64_t hi = family == 4 ? 32 : 128;
      if (bs->asInt() < lo || bs->asInt() > hi) {
        ctx.add(child(path, "blockSize"), "must be between " + std::to_string(lo) + " and " +
                                              std::to_string(hi) + " for an IPv" +
                                              std::to_string(family) + " pool, got " +
                                              std::to_string(bs->asInt()));
      } else if (!boolAt(spec, "disabled") && net->prefix > bs->asInt()) {
        ctx.add(child(path, "cidr"), "IP pool /" + std::to_string(net->prefix) +
                                         " is smaller than one block (/" +
                                         std::to_string(bs->asInt()) +
                                         "): the prefix length must be at most the block size");
      }
    }
    if (family == 6 && encapOn(spec, "ipipMode")) {
      ctx.add(child(path, "ipipMode"), "IPIP is not supported for an IPv6 pool; must be Never");
    }
    static const IpNet kLinkLocal4 = *parseCidr("169.254.0.0/16");
    static const IpNet kLinkLocal6 = *parseCidr("fe80::/10");
    if (net->masked().overlaps(family == 4 ? kLinkLocal4 : kLinkLocal6)) {
      ctx.add(child(path, "cidr"), std::string("IP pool overlaps the link-local range ") +
                                       (family == 4 ? "169.254.0.0/16" : "fe80::/10"));
    }
  }
  if (encapOn(spec, "ipipMode") && encapOn(spec, "vxlanMode")) {
    ctx.add(child(path, "ipipMode"), "ipipMode and vxlanMode cannot both be enabled", kForbidden);
  }
  uses = spec.find("allowedUses");
  bool lb = false;
  bool other = false;
  if (uses && uses->isArray()) {
    for (const auto& u : uses->asArray()) {
      lb = lb || (u.isString() && u.asString() == "LoadBalancer");
      other = other || (u.isString() && u.asString() != "LoadBalancer");
    }
  }
  if (lb) {
    if (other) {
      ctx.add(child(path, "allowedUses"),
              "LoadBalancer cannot be combined with Workload or Tunnel");
    }
    for (const char* f : {"ipipMode", "vxlanMode"}) {
      if (encapOn(spec, f)) {
        ctx.add(child(path, f), "must be Never for a LoadBalancer pool");
      }
    }
    if (boolAt(spec, "disableBGPExport")) {
      ctx.add(child(path, "disableBGPExport"), "must not be true for a LoadBalancer pool");
    }
    std::string sel = spec.getString("nodeSelector", "all()");
    if (sel != "all()") {
      ctx.add(child(path, "nodeSelector"), "must be all() for a LoadBalancer pool");
    }
  }
}

KindDef ipPool() {
  KindDef d;
  d.info = calicoInfo("IPPool", "ippools", "ippool", false, {"ipp"}, {"ipps", "pool", "pools"});
  d.info.columns = {
      nameColumn(),
      pathColumn("CIDR", 0, "spec.cidr"),
      pathColumn("NAT", 1, "spec.natOutgoing", "false"),
      pathColumn("IPIPMODE", 1, "spec.ipipMode", "Never"),
      pathColumn("VXLANMODE", 1, "spec.vxlanMode", "Never"),
      pathColumn("DISABLED", 1, "spec.disabled", "false"),
      pathColumn("DISABLEBGPEXPORT", 1, "spec.disableBGPExport", "false"),
      pathColumn("SELECTOR", 0, "spec.nodeSelector"),
      pathColumn("ASSIGNMENTMODE", 1, "spec.assignmentMode", "Automatic"),
  };
  CidrOpts poolCidr;
  poolCidr.allowBareIp = false;
  poolCidr.allowHostBits = true; // reported by the spec check with a pool-specific message
  N ipipV1 = object({F("enabled", boolean()), F("mode", str())})
                 .check([](Value&, const std::string& path, Ctx& ctx) {
                   ctx.add(path, "must not be set: an APIv1 field, use ipipMode", kForbidden);
                 });
  N natV1 = boolean().check([](Value& v, const std::string& path, Ctx& ctx) {
    if (v.asBool()) {
      ctx.add(path, "must not be set: an APIv1 field, use natOutgoing", kForbidden);
    }
  });
  N s = spec({
      F("cidr", cidr(poolCidr).desc("The pool CIDR")).required().immutable(),
      F("blockSize", integer().range(0, 128).desc("Block prefix length: 26 (IPv4) / 122 (IPv6)"))
          .zeroIsUnset()
          .immutable(),
      F("ipipMode", strEnum({"Always", "CrossSubnet", "Never"}).def("Never")),
      F("vxlanMode", strEnum({"Always", "CrossSubnet", "Never"}).def("Never")),
      F("natOutgoing", boolean()),
      F("disabled", boolean()),
      F("disableBGPExport", boolean()),
      F("nodeSelector", selector().def("all()")),
      F("namespaceSelector", selector()),
      F("allowedUses", array(strEnum({"Workload", "Tunnel", "LoadBalancer"}))
                           .unique()
                           .def(Value(Value::Array{Value("Workload"), Value("Tunnel")}))),
      F("assignmentMode", strEnum({"Automatic", "Manual"}).def("Automatic")),
      F("ipip", ipipV1),
      F("nat-outgoing", natV1),
  });
  s.check(checkIPPoolSpec);
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  d.against = [](const Value& obj, const std::vector<Value>& others, Ctx& ctx) {
    if (boolAt(obj, "spec.disabled")) {
      return;
    }
    auto net = parseCidr(obj.getString("spec.cidr"));
    if (!net) {
      return;
    }
    std::string self = obj.getString("metadata.name");
    for (const auto& o : others) {
      std::string name = o.getString("metadata.name");
      if (name == self || boolAt(o, "spec.disabled")) {
        continue;
      }
      auto onet = parseCidr(o.getString("spec.cidr"));
      if (onet && net->masked().overlaps(onet->masked())) {
        ctx.add("spec.cidr", "IP pool " + quoted(net->masked().str()) + " overlaps IPPool " +
                                 quoted(name) + " (" + onet->masked().str() + ")");
      }
    }
  };
  return d;
}

KindDef ipReservation() {
  KindDef d;
  d.info = calicoInfo("IPReservation", "ipreservations", "ipreservation", false, {},
                      {"reservation", "reservations", "ipres"});
  d.info.columns = {
      nameColumn(),
      column("CIDRS", 1,
             [](const Value& o) {
               std::string s = fieldText(o, "spec.reservedCIDRs");
               return s.size() > 80 ? s.substr(0, 77) + "..." : s;
             }),
  };
  CidrOpts loose;
  loose.allowHostBits = true;
  N s = spec({F("reservedCIDRs", array(cidr(loose)).unique())});
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

// ---- BGP ---------------------------------------------------------------------------------------

N bgpPassword() { return object({F("secretKeyRef", secretKeyRef())}); }

KindDef bgpConfiguration() {
  KindDef d;
  d.info = calicoInfo("BGPConfiguration", "bgpconfigurations", "bgpconfiguration", false,
                      {"bgpconfig", "bgpconfigs"}, {});
  d.info.columns = {
      nameColumn(),
      pathColumn("LOGSEVERITY", 0, "spec.logSeverityScreen"),
      pathColumn("MESHENABLED", 0, "spec.nodeToNodeMeshEnabled", "-"),
      pathColumn("ASNUMBER", 0, "spec.asNumber", "-"),
  };
  N block = object({F("cidr", cidr())});
  N community = object({
      F("name", resourceName()).required(),
      F("value", str().check([](Value& v, const std::string& path, Ctx& ctx) {
        std::string err = checkCommunity(v.asString());
        if (!err.empty()) {
          ctx.add(path, "invalid community " + quoted(v.asString()) + ": " + err);
        }
      })).required(),
  });
  N prefixAdv = object({
      F("cidr", cidr()).required(),
      F("communities", array(str())),
  });
  N ignored = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    const std::string& s = v.asString();
    bool ok = s != "*" && !s.empty() && s.size() <= 15;
    for (char c : s) {
      ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '*' ||
                  c == '-');
    }
    if (!ok) {
      ctx.add(path, "invalid interface pattern " + quoted(s) +
                        ": 1-15 characters of [A-Za-z0-9_.*-], not just \"*\"");
    }
  });
  N s = spec({
      F("logSeverityScreen", logLevel().def("Info")),
      F("nodeToNodeMeshEnabled", boolean()),
      F("asNumber", asNumber()),
      F("serviceLoadBalancerIPs", array(block)),
      F("serviceExternalIPs", array(block)),
      F("serviceClusterIPs", array(block)),
      F("serviceLoadBalancerAggregation", enabledDisabled().def("Enabled")),
      F("communities", array(community)),
      F("prefixAdvertisements", array(prefixAdv)),
      F("listenPort", integer().range(1, 65535)),
      F("nodeMeshPassword", bgpPassword()),
      F("nodeMeshMaxRestartTime", duration()),
      F("bindMode", strEnum({"None", "NodeIP"})),
      F("ignoredInterfaces", array(ignored).unique()),
      F("localWorkloadPeeringIPV4", ipAddress(4)),
      F("localWorkloadPeeringIPV6", ipAddress(6)),
      F("programClusterRoutes", enabledDisabled()),
  });
  s.check([](Value& spec, const std::string& path, Ctx& ctx) {
    std::vector<std::string> names;
    const Value* comms = spec.find("communities");
    if (comms && comms->isArray()) {
      for (const auto& c : comms->asArray()) {
        names.push_back(c.getString("name"));
      }
    }
    const Value* pas = spec.find("prefixAdvertisements");
    size_t nPas = pas && pas->isArray() ? pas->size() : 0;
    if (!names.empty() && nPas == 0) {
      ctx.add(child(path, "communities"),
              "communities are defined but no prefixAdvertisements use them");
    }
    for (size_t i = 0; i < nPas; ++i) {
      const Value* list = pas->asArray()[i].find("communities");
      if (!list || !list->isArray()) {
        continue;
      }
      for (size_t j = 0; j < list->size(); ++j) {
        std::string c = list->asArray()[j].asString();
        if (checkCommunity(c).empty() || std::find(names.begin(), names.end(), c) != names.end()) {
          continue;
        }
        ctx.add(index(child(index(child(path, "prefixAdvertisements"), i), "communities"), j),
                "invalid community " + quoted(c) +
                    ": neither \"aa:nn\" / \"aa:nn:mm\" nor a name defined in spec.communities");
      }
    }
    const Value* mesh = spec.find("nodeToNodeMeshEnabled");
    if (mesh && mesh->isBool() && !mesh->asBool()) {
      for (const char* f : {"nodeMeshPassword", "nodeMeshMaxRestartTime"}) {
        if (spec.has(f)) {
          ctx.add(child(path, f), "cannot be set when nodeToNodeMeshEnabled is false", kForbidden);
        }
      }
    }
  });
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

KindDef bgpPeer() {
  KindDef d;
  d.info = calicoInfo("BGPPeer", "bgppeers", "bgppeer", false, {"bgpp"}, {"bgpps", "bp", "bps"});
  d.info.columns = {
      nameColumn(),
      pathColumn("PEERIP", 0, "spec.peerIP"),
      column("NODE", 0,
             [](const Value& o) {
               std::string node = o.getString("spec.node");
               if (!node.empty()) {
                 return node;
               }
               std::string sel = o.getString("spec.nodeSelector");
               return sel.empty() ? std::string("(global)") : sel;
             }),
      pathColumn("ASN", 0, "spec.asNumber"),
  };
  N peerIp = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    std::string err = checkIpPort(v.asString());
    if (!err.empty()) {
      ctx.add(path, "invalid peer address " + quoted(v.asString()) + ": " + err);
    }
  });
  N s = spec({
      F("node", resourceName()),
      F("nodeSelector", selector()),
      F("peerIP", peerIp),
      F("peerSelector", selector()),
      F("localWorkloadSelector", selector()),
      F("asNumber", asNumber()).zeroIsUnset(),
      F("localASNumber", asNumber()),
      F("keepOriginalNextHop", boolean()),
      F("nextHopMode", strEnum({"Auto", "Self", "Keep"})),
      F("password", bgpPassword()),
      F("sourceAddress", strEnum({"UseNodeIP", "None"})),
      F("maxRestartTime", duration()),
      F("keepaliveTime", duration()),
      F("numAllowedLocalASNumbers", integer().range(0, 2147483647)),
      F("ttlSecurity", integer().range(0, 255)),
      F("reachableBy", ipAddress()),
      F("reversePeering", strEnum({"Auto", "Manual"})),
      F("filters", array(resourceName())),
  });
  s.check([](Value& spec, const std::string& path, Ctx& ctx) {
    if (spec.has("node") && spec.has("nodeSelector")) {
      ctx.add(child(path, "node"), "node and nodeSelector cannot both be set", kForbidden);
    }
    bool ip = spec.has("peerIP");
    bool sel = spec.has("peerSelector");
    bool wl = spec.has("localWorkloadSelector");
    if (ip && sel) {
      ctx.add(child(path, "peerIP"), "peerIP and peerSelector cannot both be set", kForbidden);
    }
    if (!ip && !sel && !wl) {
      ctx.add(child(path, "peerIP"),
              "one of peerIP, peerSelector or localWorkloadSelector is required", kRequired);
    }
    if (sel && spec.has("asNumber")) {
      ctx.add(child(path, "asNumber"),
              "must be empty when peerSelector is set (the AS number comes from the peer Node)",
              kForbidden);
    }
    if (wl) {
      if (ip || sel) {
        ctx.add(child(path, "localWorkloadSelector"),
                "cannot be combined with peerIP or peerSelector", kForbidden);
      }
      if (!spec.has("asNumber")) {
        ctx.add(child(path, "asNumber"), "required when localWorkloadSelector is set", kRequired);
      }
    }
    if (spec.has("reachableBy")) {
      if (!ip) {
        ctx.add(child(path, "reachableBy"), "must be empty when peerIP is empty", kForbidden);
      } else {
        std::string peer = spec.getString("peerIP");
        std::string host = peer;
        if (!parseIp(peer)) {
          host = peer.front() == '[' ? peer.substr(1, peer.find(']') - 1)
                                     : peer.substr(0, peer.rfind(':'));
        }
        auto a = parseIp(host);
        auto b = parseIp(spec.getString("reachableBy"));
        if (a && b && a->family != b->family) {
          ctx.add(child(path, "reachableBy"), "must be of the same IP family as peerIP");
        }
      }
    }
    if (boolAt(spec, "keepOriginalNextHop") && spec.has("nextHopMode")) {
      ctx.add(child(path, "keepOriginalNextHop"),
              "cannot be true when nextHopMode is set (keepOriginalNextHop is deprecated)",
              kForbidden);
    }
  });
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

N bgpFilterRule(int family) {
  CidrOpts opts;
  opts.family = family;
  int maxLen = family == 4 ? 32 : 128;
  N community = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    std::string err = checkCommunity(v.asString());
    if (!err.empty()) {
      ctx.add(path, "invalid community " + quoted(v.asString()) + ": " + err);
    }
  });
  N operation =
      object({
                 F("addCommunity", object({F("value", community).required()})),
                 F("prependASPath",
                   object({F("prefix", array(asNumber()).minItems(1).maxItems(10)).required()})),
                 F("setPriority", object({F("value", integer().range(1, 2147483646)).required()})),
             })
          .check([](Value& v, const std::string& path, Ctx& ctx) {
            if (v.size() != 1) {
              ctx.add(path, "exactly one of addCommunity, prependASPath or setPriority must "
                            "be set");
            }
          });
  return object({
                    F("cidr", cidr(opts)),
                    F("prefixLength", object({F("min", integer().range(0, maxLen)),
                                              F("max", integer().range(0, maxLen))})),
                    F("source", strEnum({"RemotePeers"})),
                    F("interface", str().check([](Value& v, const std::string& path, Ctx& ctx) {
                      const std::string& s = v.asString();
                      bool ok = !s.empty() && s.size() <= 15;
                      for (char c : s) {
                        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                    c == '.' || c == '*' || c == '-');
                      }
                      if (!ok) {
                        ctx.add(path, "invalid interface pattern " + quoted(s) +
                                          ": 1-15 characters of [A-Za-z0-9_.*-]");
                      }
                    })),
                    F("matchOperator", strEnum({"Equal", "NotEqual", "In", "NotIn"})),
                    F("peerType", strEnum({"eBGP", "iBGP"})),
                    F("communities",
                      object({F("values", array(community).minItems(1).maxItems(1)).required()})),
                    F("asPathPrefix", array(asNumber())),
                    F("priority", integer().range(1, 2147483646)),
                    F("action", strEnum({"Accept", "Reject"})).required(),
                    F("operations", array(operation).minItems(1).maxItems(10)),
                })
      .check([](Value& v, const std::string& path, Ctx& ctx) {
        bool cidrSet = v.has("cidr");
        if (cidrSet != v.has("matchOperator")) {
          ctx.add(child(path, cidrSet ? "matchOperator" : "cidr"),
                  "cidr and matchOperator must both be set or both be empty", kRequired);
        }
        if (v.has("prefixLength") && !cidrSet) {
          ctx.add(child(path, "cidr"), "required when prefixLength is set", kRequired);
        }
        const Value* ops = v.find("operations");
        if (ops && ops->isArray() && ops->size() > 0 && v.getString("action") != "Accept") {
          ctx.add(child(path, "operations"), "only allowed with action Accept", kForbidden);
        }
        const Value* pmin = v.path("prefixLength.min");
        const Value* pmax = v.path("prefixLength.max");
        if (pmin && pmax && pmin->isInt() && pmax->isInt() && pmin->asInt() > pmax->asInt()) {
          ctx.add(child(path, "prefixLength"), "min must not be greater than max");
        }
      });
}

KindDef bgpFilter() {
  KindDef d;
  d.info =
      calicoInfo("BGPFilter", "bgpfilters", "bgpfilter", false, {}, {"bgpf", "bgpfs", "bf", "bfs"});
  auto count = [](const char* a, const char* b) {
    return [a, b](const Value& o) {
      size_t n = 0;
      for (const char* f : {a, b}) {
        const Value* l = o.path(std::string("spec.") + f);
        n += l && l->isArray() ? l->size() : 0;
      }
      return std::to_string(n);
    };
  };
  d.info.columns = {
      nameColumn(),
      column("NUMEXPORT", 0, count("exportV4", "exportV6"), "integer"),
      column("NUMIMPORT", 0, count("importV4", "importV6"), "integer"),
  };
  N s = spec({
      F("exportV4", array(bgpFilterRule(4))),
      F("importV4", array(bgpFilterRule(4))),
      F("exportV6", array(bgpFilterRule(6))),
      F("importV6", array(bgpFilterRule(6))),
  });
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

// ---- Node --------------------------------------------------------------------------------------

KindDef calicoNode() {
  KindDef d;
  d.info =
      calicoInfo("Node", "nodes", "node", false, {}, {"no", "nos", "caliconode", "caliconodes"});
  d.info.columns = {
      nameColumn(),
      column("ASN", 1,
             [](const Value& o) {
               if (!o.path("spec.bgp")) {
                 return std::string();
               }
               std::string asn = fieldText(o, "spec.bgp.asNumber");
               return asn.empty() ? std::string("(64512)") : asn;
             }),
      pathColumn("IPV4", 1, "spec.bgp.ipv4Address"),
      pathColumn("IPV6", 1, "spec.bgp.ipv6Address"),
  };
  CidrOpts v4;
  v4.family = 4;
  v4.allowHostBits = true;
  CidrOpts v6;
  v6.family = 6;
  v6.allowHostBits = true;
  CidrOpts anyHost;
  anyHost.allowHostBits = true;
  N bgp =
      object({
                 F("asNumber", asNumber()),
                 F("ipv4Address", cidr(v4).desc("IPv4 address and prefix length (10.0.0.5/24)")),
                 F("ipv6Address", cidr(v6)),
                 F("ipv4IPIPTunnelAddr", ipAddress(4)),
                 F("routeReflectorClusterID", ipAddress(4)),
             })
          .check([](Value& v, const std::string& path, Ctx& ctx) {
            if (v.size() == 0) {
              ctx.add(path, "must not be empty (omit it instead)");
            }
          });
  N s = spec({
      F("bgp", bgp),
      F("ipv4VXLANTunnelAddr", ipAddress(4)),
      F("vxlanTunnelMACAddr", macAddress()),
      F("ipv6VXLANTunnelAddr", ipAddress(6)),
      F("vxlanTunnelMACAddrV6", macAddress()),
      F("orchRefs", array(object({F("nodeName", str()), F("orchestrator", str()).required()}))),
      F("wireguard",
        object({F("interfaceIPv4Address", ipAddress(4)), F("interfaceIPv6Address", ipAddress(6))})),
      F("addresses",
        array(object({F("address", cidr(anyHost)).required(),
                      F("type", strEnum({"CalicoNodeIP", "InternalIP", "ExternalIP"}))}))),
      F("interfaces", array(object({F("name", str()), F("addresses", array(str()))}))),
  });
  N status = object({
      F("wireguardPublicKey", str()),
      F("wireguardPublicKeyV6", str()),
      F("podCIDRs", array(cidr(anyHost))),
  });
  d.schema =
      objectSchema(NameRule::Subdomain, false, {F("spec", s).required(), F("status", status)})
          .ptr();
  return d;
}

// ---- FelixConfiguration ------------------------------------------------------------------------

KindDef felixConfiguration() {
  KindDef d;
  d.info = calicoInfo("FelixConfiguration", "felixconfigurations", "felixconfiguration", false,
                      {"felixconfig", "felixconfigs"}, {});
  d.info.columns = {nameColumn()};
  auto b = [] { return boolean(); };
  auto i = [] { return integer(); };
  auto s = [] { return str(); };
  auto dur = [] { return duration(); };
  auto mtu = [] { return integer().range(0, 65535); };
  auto tcpPort = [] { return integer().range(0, 65535); };
  auto mask = [] { return integer().range(0, 4294967295LL); };
  CidrOpts loose;
  loose.allowHostBits = true;
  N durOrAuto = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    if (v.asString() != "Auto" && !parseGoDuration(v.asString())) {
      ctx.add(path, "invalid value " + quoted(v.asString()) + ": must be a duration or Auto");
    }
  });
  N protoPort = object({
      F("protocol", strEnumCI({"TCP", "UDP", "SCTP"})),
      F("port", integer().range(0, 65535)).required(),
      F("net", cidr(loose)),
  });
  N routeTableRange = object({F("min", integer()).required(), F("max", integer()).required()})
                          .check([](Value& v, const std::string& path, Ctx& ctx) {
                            int64_t lo = v.path("min") ? v.path("min")->asInt() : 0;
                            int64_t hi = v.path("max") ? v.path("max")->asInt() : 0;
                            if (lo < 1 || hi < lo || hi > 250) {
                              ctx.add(path, "must be a range of route table indices within 1..250");
                            }
                          });
  N routeTableRanges =
      array(object({F("min", integer()).required(), F("max", integer()).required()})
                .check([](Value& v, const std::string& path, Ctx& ctx) {
                  int64_t lo = v.path("min") ? v.path("min")->asInt() : 0;
                  int64_t hi = v.path("max") ? v.path("max")->asInt() : 0;
                  if (lo < 1) {
                    ctx.add(child(path, "min"), "must be at least 1");
                  } else if (lo > hi) {
                    ctx.add(path, "min must not be greater than max");
                  } else if (hi > 4294967295LL) {
                    ctx.add(child(path, "max"), "must be at most 4294967295");
                  }
                }));
  N ctTimeouts = object({
      F("creationGracePeriod", durOrAuto),
      F("tcpSynSent", durOrAuto),
      F("tcpEstablished", durOrAuto),
      F("tcpFinsSeen", durOrAuto),
      F("tcpResetSeen", durOrAuto),
      F("udpTimeout", durOrAuto),
      F("genericTimeout", durOrAuto),
      F("icmpTimeout", durOrAuto),
  });
  N logPrefix = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    for (char c : v.asString()) {
      if (!std::isalnum(static_cast<unsigned char>(c)) &&
          std::string("%: /_-").find(c) == std::string::npos) {
        ctx.add(path, "invalid log prefix " + quoted(v.asString()) +
                          ": only letters, digits and %: /_- are allowed");
        return;
      }
    }
  });
  N rateLimit = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    const std::string& x = v.asString();
    size_t slash = x.find('/');
    bool ok = slash != std::string::npos && slash >= 1 && slash <= 4 && x[0] != '0';
    for (size_t k = 0; ok && k < slash; ++k) {
      ok = std::isdigit(static_cast<unsigned char>(x[k])) != 0;
    }
    std::string unit = ok ? x.substr(slash + 1) : "";
    ok = ok && (unit == "second" || unit == "minute" || unit == "hour" || unit == "day");
    if (!ok) {
      ctx.add(path, "invalid rate " + quoted(x) + ": expected \"N/unit\" such as \"10/second\"");
    }
  });
  N keyValueList = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    for (const auto& item : split(v.asString(), ',')) {
      if (item.empty()) {
        continue;
      }
      size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        ctx.add(path, "invalid list " + quoted(v.asString()) +
                          ": expected comma-separated key=value pairs");
        return;
      }
    }
  });
  N openstackRegion = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    const std::string& x = v.asString();
    if (x.size() > 46 || !checkDns1123Label(x).empty()) {
      ctx.add(path,
              "invalid region " + quoted(x) + ": must be a DNS label of at most 46 characters");
    }
  });

  N sp = spec({
      F("allowIPIPPacketsFromWorkloads", b()),
      F("allowVXLANPacketsFromWorkloads", b()),
      F("awsSrcDstCheck", strEnum({"DoNothing", "Enable", "Disable"})),
      F("bpfAttachType", strEnum({"TC", "TCX"})),
      F("bpfCTLBLogFilter", s()),
      F("bpfConnectTimeLoadBalancing", strEnum({"TCP", "Enabled", "Disabled"})),
      F("bpfConnectTimeLoadBalancingEnabled", b()),
      F("bpfConntrackLogLevel", strEnum({"Off", "Debug"})),
      F("bpfConntrackMode", strEnum({"Auto", "Userspace", "BPFProgram"})),
      F("bpfConntrackTimeouts", ctTimeouts),
      F("bpfDSROptoutCIDRs", array(cidr(loose))),
      F("bpfDataIfacePattern", s()),
      F("bpfDisableGROForIfaces", s()),
      F("bpfDisableUnprivileged", b()),
      F("bpfEnabled", b()),
      F("bpfEnforceRPF", strEnumCI({"Disabled", "Strict", "Loose"})),
      F("bpfExcludeCIDRsFromNAT", array(cidr(loose))),
      F("bpfExportBufferSizeMB", i()),
      F("bpfExtToServiceConnmark", i()),
      F("bpfExternalServiceMode", strEnumCI({"Tunnel", "DSR"})),
      F("bpfForceTrackPacketsFromIfaces", array(s())),
      F("bpfHostConntrackBypass", b()),
      F("bpfHostNetworkedNATWithoutCTLB", enabledDisabled()),
      F("bpfIPFragTimeout", dur()),
      F("bpfIPFragmentReassemblyEnabled", b()),
      F("bpfJITHardening", strEnum({"Auto", "Strict"})),
      F("bpfKubeProxyEndpointSlicesEnabled", b()),
      F("bpfKubeProxyHealthzPort", tcpPort()),
      F("bpfKubeProxyIptablesCleanupEnabled", b()),
      F("bpfKubeProxyMinSyncPeriod", dur()),
      F("bpfL3IfacePattern", s()),
      F("bpfLogFilters", mapOf(str())),
      F("bpfLogLevel", strEnumCI({"Off", "Info", "Debug"})),
      F("bpfMaglevMaxEndpointsPerService", i()),
      F("bpfMaglevMaxServices", i()),
      F("bpfMapSizeConntrack", i()),
      F("bpfMapSizeConntrackCleanupQueue", integer().min(1)),
      F("bpfMapSizeConntrackScaling", strEnumCI({"Disabled", "DoubleIfFull"})),
      F("bpfMapSizeIPSets", i()),
      F("bpfMapSizeIfState", i()),
      F("bpfMapSizeNATAffinity", i()),
      F("bpfMapSizeNATBackend", i()),
      F("bpfMapSizeNATFrontend", i()),
      F("bpfMapSizePerCpuConntrack", i()),
      F("bpfMapSizeRoute", i()),
      F("bpfOverlayHostSourceIP", strEnum({"TunnelAddress", "HostAddress"})),
      F("bpfPSNATPorts", portRangeNoName()),
      F("bpfPolicyDebugEnabled", b()),
      F("bpfProfiling", enabledDisabled()),
      F("bpfRedirectToPeer", strEnum({"Enabled", "Disabled", "L2Only"})),
      F("cgroupV2Path", s()),
      F("chainInsertMode", strEnumCI({"Insert", "Append"})),
      F("dataplaneDriver", s()),
      F("dataplaneWatchdogTimeout", dur()),
      F("debugDisableLogDropping", b()),
      F("debugHost", s()),
      F("debugMemoryProfilePath", s()),
      F("debugPort", tcpPort()),
      F("debugSimulateCalcGraphHangAfter", dur()),
      F("debugSimulateDataplaneApplyDelay", dur()),
      F("debugSimulateDataplaneHangAfter", dur()),
      F("defaultEndpointToHostAction", strEnumCI({"Drop", "Accept", "Return"})),
      F("deviceRouteProtocol", integer().range(0, 255)),
      F("deviceRouteSourceAddress", ipAddress(4)),
      F("deviceRouteSourceAddressIPv6", ipAddress(6)),
      F("disableConntrackInvalidCheck", b()),
      F("endpointReportingDelay", dur()),
      F("endpointReportingEnabled", b()),
      F("endpointStatusPathPrefix", s()),
      F("externalNodesList", array(cidr(loose))),
      F("failsafeInboundHostPorts", array(protoPort)),
      F("failsafeOutboundHostPorts", array(protoPort)),
      F("featureDetectOverride", keyValueList),
      F("featureGates", keyValueList),
      F("floatingIPs", enabledDisabled()),
      F("flowLogsCollectorDebugTrace", b()),
      F("flowLogsFlushInterval", dur()),
      F("flowLogsGoldmaneServer", s()),
      F("flowLogsLocalReporter", enabledDisabled()),
      F("flowLogsPolicyEvaluationMode", strEnum({"None", "Continuous"})),
      F("genericXDPEnabled", b()),
      F("goGCThreshold", i()),
      F("goMaxProcs", i()),
      F("goMemoryLimitMB", i()),
      F("healthEnabled", b()),
      F("healthHost", s()),
      F("healthPort", tcpPort()),
      F("healthTimeoutOverrides",
        array(object({F("name", s()).required(), F("timeout", dur()).required()}))),
      F("interfaceExclude", s()),
      F("interfacePrefix", s()),
      F("interfaceRefreshInterval", dur()),
      F("ipForwarding", enabledDisabled()),
      F("ipipEnabled", b()),
      F("ipipMTU", mtu()),
      F("ipsetsRefreshInterval", dur()),
      F("iptablesBackend", strEnumCI({"Legacy", "NFT", "Auto"})),
      F("iptablesFilterAllowAction", strEnumCI({"Accept", "Return"})),
      F("iptablesFilterDenyAction", strEnumCI({"Drop", "Reject"})),
      F("iptablesLockFilePath", s()),
      F("iptablesLockProbeInterval", dur()),
      F("iptablesLockTimeout", dur()),
      F("iptablesMangleAllowAction", strEnumCI({"Accept", "Return"})),
      F("iptablesMarkMask", mask()),
      F("iptablesNATOutgoingInterfaceFilter", s()),
      F("iptablesPostWriteCheckInterval", dur()),
      F("iptablesRefreshInterval", dur()),
      F("ipv4ElevatedRoutePriority", i()),
      F("ipv4NormalRoutePriority", i()),
      F("ipv6ElevatedRoutePriority", i()),
      F("ipv6NormalRoutePriority", i()),
      F("ipv6Support", b()),
      F("istioAmbientMode", enabledDisabled()),
      F("istioDSCPMark", intOrString()),
      F("kubeNodePortRanges", array(portRangeNoName()).maxItems(7)),
      F("liveMigrationRouteConvergenceTime", dur()),
      F("localSubnetL2Reachability", strEnum({"Disabled", "PodsAndLoadBalancers"})),
      F("localSubnetL2ReachabilityRefreshInterval", dur()),
      F("logActionRateLimit", rateLimit),
      F("logActionRateLimitBurst", integer().range(0, 9999)),
      F("logDebugFilenameRegex", s()),
      F("logFilePath", s()),
      F("logPrefix", logPrefix),
      F("logSeverityFile", logLevel()),
      F("logSeverityScreen", logLevel()),
      F("logSeveritySys", logLevel()),
      F("maxIpsetSize", i()),
      F("metadataAddr", s()),
      F("metadataPort", tcpPort()),
      F("mtuIfacePattern", s()),
      F("natOutgoingAddress", ipAddress(4)),
      F("natOutgoingExclusions", strEnum({"IPPoolsOnly", "IPPoolsAndHostIPs"})),
      F("natPortRange", portRangeNoName()),
      F("netlinkTimeout", dur()),
      F("nftablesFilterAllowAction", strEnumCI({"Accept", "Return"})),
      F("nftablesFilterDenyAction", strEnumCI({"Drop", "Reject"})),
      F("nftablesMangleAllowAction", strEnumCI({"Accept", "Return"})),
      F("nftablesMarkMask", mask()),
      F("nftablesMode", strEnum({"Disabled", "Enabled", "Auto"}).def("Auto")),
      F("nftablesRefreshInterval", dur()),
      F("nodeSelector", selector()),
      F("openstackRegion", openstackRegion),
      F("policySyncPathPrefix", s()),
      F("programClusterRoutes", strEnum({"Enabled", "Disabled", "EnabledIPIPOnly"})),
      F("prometheusGoMetricsEnabled", b()),
      F("prometheusMetricsCAFile", s()),
      F("prometheusMetricsCertFile", s()),
      F("prometheusMetricsClientAuth", s()),
      F("prometheusMetricsEnabled", b()),
      F("prometheusMetricsHost", s()),
      F("prometheusMetricsKeyFile", s()),
      F("prometheusMetricsPort", tcpPort()),
      F("prometheusProcessMetricsEnabled", b()),
      F("prometheusWireGuardMetricsEnabled", b()),
      F("removeExternalRoutes", b()),
      F("reportingInterval", dur()),
      F("reportingTTL", dur()),
      F("requireMTUFile", b()),
      F("routeRefreshInterval", dur()),
      F("routeSource", strEnumCI({"WorkloadIPs", "CalicoIPAM"})),
      F("routeSyncDisabled", b()),
      F("routeTableRange", routeTableRange),
      F("routeTableRanges", routeTableRanges),
      F("serviceLoopPrevention", strEnumCI({"Drop", "Reject", "Disabled"})),
      F("sidecarAccelerationEnabled", b()),
      F("usageReportingEnabled", b()),
      F("usageReportingInitialDelay", dur()),
      F("usageReportingInterval", dur()),
      F("useInternalDataplaneDriver", b()),
      F("vxlanEnabled", b()),
      F("vxlanMTU", mtu()),
      F("vxlanMTUV6", mtu()),
      F("vxlanPort", integer().range(0, 65535)),
      F("vxlanVNI", integer().range(0, 16777215)),
      F("windowsManageFirewallRules", enabledDisabled()),
      F("wireguardEnabled", b()),
      F("wireguardEnabledV6", b()),
      F("wireguardHostEncryptionEnabled", b()),
      F("wireguardInterfaceName", s()),
      F("wireguardInterfaceNameV6", s()),
      F("wireguardKeepAlive", dur()),
      F("wireguardListeningPort", tcpPort()),
      F("wireguardListeningPortV6", tcpPort()),
      F("wireguardMTU", mtu()),
      F("wireguardMTUV6", mtu()),
      F("wireguardRoutingRulePriority", i()),
      F("wireguardThreadingEnabled", b()),
      F("workloadSourceSpoofing", strEnumCI({"Disabled", "Any"})),
      F("xdpEnabled", b()),
      F("xdpRefreshInterval", dur()),
  });
  sp.check([](Value& spec, const std::string& path, Ctx& ctx) {
    if (spec.has("routeTableRange") && spec.has("routeTableRanges")) {
      ctx.add(child(path, "routeTableRange"), "cannot be set together with routeTableRanges",
              kForbidden);
    }
  });
  Check nodeSelectorRule = [](Value& obj, const std::string&, Ctx& ctx) {
    std::string name = obj.getString("metadata.name");
    if ((name == "default" || startsWith(name, "node.")) && obj.path("spec.nodeSelector")) {
      ctx.add("spec.nodeSelector",
              "must not be set on the \"default\" or a per-node (\"node.<name>\") "
              "FelixConfiguration",
              kForbidden);
    }
  };
  d.schema =
      objectSchema(NameRule::Subdomain, false, {F("spec", sp).required()}, {nodeSelectorRule})
          .ptr();
  return d;
}

KindDef clusterInformation() {
  KindDef d;
  d.info = calicoInfo("ClusterInformation", "clusterinformations", "clusterinformation", false, {},
                      {"clusterinfo", "clusterinfos"});
  d.info.columns = {nameColumn()};
  N s = spec({
      F("clusterGUID", str()),
      F("clusterType", str()),
      F("calicoVersion", str()),
      F("datastoreReady", boolean()),
      F("variant", str()),
  });
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

// ---- policy ------------------------------------------------------------------------------------

N tierName() {
  return str().check([](Value& v, const std::string& path, Ctx& ctx) {
    std::string err = checkDns1123Label(v.asString());
    if (!err.empty()) {
      ctx.add(path, "invalid tier name " + quoted(v.asString()) + ": " + err);
    }
  });
}

KindDef tier() {
  KindDef d;
  d.info = calicoInfo("Tier", "tiers", "tier", false, {}, {});
  d.info.columns = {
      nameColumn(),
      column(
          "ORDER", 0, [](const Value& o) { return orderText(o, "spec.order"); }, "number"),
  };
  N s = spec({
      F("order", number().desc("Tiers apply in increasing order; unset means last")),
      F("defaultAction", strEnum({"Deny", "Pass"}).def("Deny")),
  });
  N status = object({F("conditions", array(object({}).preserveUnknown()))});
  Check builtIns = [](Value& obj, const std::string&, Ctx& ctx) {
    struct BuiltIn {
      const char* name;
      double order;
      const char* action;
    };
    static const BuiltIn kBuiltIns[] = {
        {"default", 1e6, "Deny"}, {"kube-admin", 1000, "Pass"}, {"kube-baseline", 1e7, "Pass"}};
    std::string name = obj.getString("metadata.name");
    for (const auto& b : kBuiltIns) {
      if (name != b.name) {
        continue;
      }
      const Value* order = obj.path("spec.order");
      if (!order || !order->isNumber() || order->asDouble() != b.order) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.0f", b.order);
        ctx.add("spec.order",
                std::string("the ") + quoted(b.name) + " tier must have order " + buf);
      }
      std::string action = obj.getString("spec.defaultAction", "Deny");
      if (action != b.action) {
        ctx.add("spec.defaultAction",
                std::string("the ") + quoted(b.name) + " tier must have defaultAction " + b.action);
      }
    }
  };
  d.schema = objectSchema(NameRule::Tier, false, {F("spec", s).required(), F("status", status)},
                          {builtIns})
                 .ptr();
  return d;
}

void checkPolicyRules(Value& spec, const std::string& path, Ctx& ctx, bool global) {
  for (const char* dir : {"ingress", "egress"}) {
    const Value* rules = spec.find(dir);
    if (!rules || !rules->isArray()) {
      continue;
    }
    bool egress = std::string(dir) == "egress";
    for (size_t i = 0; i < rules->size(); ++i) {
      const Value& r = rules->asArray()[i];
      std::string rpath = index(child(path, dir), i);
      if (egress && r.path("source.services")) {
        ctx.add(child(rpath, "source.services"), "not allowed in an egress rule source",
                kForbidden);
      }
      if (!egress && r.path("destination.services")) {
        ctx.add(child(rpath, "destination.services"), "not allowed in an ingress rule destination",
                kForbidden);
      }
      if (egress && r.has("http")) {
        ctx.add(child(rpath, "http"), "not allowed in an egress rule", kForbidden);
      }
      const char* svcSide = egress ? "destination" : "source";
      const Value* svc = r.path(std::string(svcSide) + ".services");
      if (global && svc && svc->isObject() && !svc->has("namespace")) {
        ctx.add(child(child(rpath, svcSide), "services.namespace"),
                "required in a GlobalNetworkPolicy", kRequired);
      }
    }
  }
}

N policySpec(bool global) {
  std::vector<F> fields = {
      F("tier", tierName().def("default")),
      F("order", number().desc("Policies apply in increasing order within a tier")),
      F("selector", selector().maxLen(1024)),
      F("types", array(strEnum({"Ingress", "Egress"})).unique().maxItems(2)),
      F("ingress", array(calicoRule()).maxItems(1024)),
      F("egress", array(calicoRule()).maxItems(1024)),
      F("serviceAccountSelector", selector().maxLen(1024)),
      F("performanceHints", array(strEnum({"AssumeNeededOnEveryNode"})).unique()),
  };
  if (global) {
    fields.push_back(F("namespaceSelector", selector().maxLen(1024)));
    fields.push_back(F("doNotTrack", boolean()));
    fields.push_back(F("preDNAT", boolean()));
    fields.push_back(F("applyOnForward", boolean()));
  }
  N s = spec(std::move(fields));
  s.check([global](Value& spec, const std::string& path, Ctx& ctx) {
    if (ctx.applyDefaults()) {
      defaultPolicyTypes(spec);
    }
    checkPolicyRules(spec, path, ctx, global);
    forbidGlobal(spec, path, "selector", ctx);
    forbidGlobal(spec, path, "serviceAccountSelector", ctx);
    if (!global) {
      return;
    }
    forbidGlobal(spec, path, "namespaceSelector", ctx);
    bool dnt = boolAt(spec, "doNotTrack");
    bool preDnat = boolAt(spec, "preDNAT");
    if (dnt && preDnat) {
      ctx.add(child(path, "preDNAT"), "preDNAT and doNotTrack cannot both be true", kForbidden);
    }
    if (preDnat) {
      const Value* eg = spec.find("egress");
      if (eg && eg->isArray() && eg->size() > 0) {
        ctx.add(child(path, "egress"), "a preDNAT policy cannot have egress rules", kForbidden);
      }
      const Value* types = spec.find("types");
      if (types && types->isArray()) {
        for (const auto& t : types->asArray()) {
          if (t.isString() && t.asString() == "Egress") {
            ctx.add(child(path, "types"), "a preDNAT policy cannot have the Egress type",
                    kForbidden);
          }
        }
      }
    }
    if ((dnt || preDnat) && !boolAt(spec, "applyOnForward")) {
      ctx.add(child(path, "applyOnForward"), "must be true when doNotTrack or preDNAT is true");
    }
  });
  return s;
}

std::vector<Column> policyColumns() {
  return {
      nameColumn(),
      pathColumn("TIER", 0, "spec.tier", "default"),
      column(
          "ORDER", 1, [](const Value& o) { return orderText(o, "spec.order"); }, "number"),
      pathColumn("SELECTOR", 1, "spec.selector"),
  };
}

KindDef globalNetworkPolicy() {
  KindDef d;
  d.info = calicoInfo("GlobalNetworkPolicy", "globalnetworkpolicies", "globalnetworkpolicy", false,
                      {"gnp"}, {"gnps", "cgnp"});
  d.info.columns = policyColumns();
  d.schema =
      objectSchema(NameRule::GlobalPolicy, false, {F("spec", policySpec(true)).required()}).ptr();
  return d;
}

KindDef networkPolicy() {
  KindDef d;
  d.info = calicoInfo("NetworkPolicy", "networkpolicies", "networkpolicy", true, {"cnp"},
                      {"np", "nps", "policy", "policies", "pol", "pols", "caliconetworkpolicy",
                       "caliconetworkpolicies"});
  d.info.columns = policyColumns();
  d.schema =
      objectSchema(NameRule::CalicoPolicy, true, {F("spec", policySpec(false)).required()}).ptr();
  return d;
}

Check forbidNamespaceLabel() {
  return [](Value& obj, const std::string&, Ctx& ctx) {
    if (obj.path("metadata.labels") &&
        obj.path("metadata.labels")->has("projectcalico.org/namespace")) {
      ctx.add("metadata.labels", "projectcalico.org/namespace is reserved and cannot be set",
              kForbidden);
    }
  };
}

KindDef globalNetworkSet() {
  KindDef d;
  d.info = calicoInfo("GlobalNetworkSet", "globalnetworksets", "globalnetworkset", false, {"gns"},
                      {"gnss"});
  d.info.columns = {nameColumn(), pathColumn("NETS", 1, "spec.nets")};
  CidrOpts loose;
  loose.allowHostBits = true;
  N s = spec({F("nets", array(cidr(loose)))});
  d.schema =
      objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}, {forbidNamespaceLabel()})
          .ptr();
  return d;
}

KindDef networkSet() {
  KindDef d;
  d.info = calicoInfo("NetworkSet", "networksets", "networkset", true, {"netset"}, {"netsets"});
  d.info.columns = {nameColumn(), pathColumn("NETS", 1, "spec.nets")};
  CidrOpts loose;
  loose.allowHostBits = true;
  N s = spec({F("nets", array(cidr(loose)))});
  d.schema =
      objectSchema(NameRule::Subdomain, true, {F("spec", s).required()}, {forbidNamespaceLabel()})
          .ptr();
  return d;
}

// ---- endpoints ---------------------------------------------------------------------------------

N endpointPort(bool workload) {
  std::vector<F> fields;
  if (workload) {
    fields.push_back(F("name", portName()));
  } else {
    fields.push_back(F("name", portName()).required());
  }
  fields.push_back(F("protocol", protocol()).required());
  fields.push_back(F("port", integer().range(1, 65535)).required());
  if (workload) {
    fields.push_back(F("hostPort", integer().range(0, 65535)));
    fields.push_back(F("hostIP", ipAddress()));
  }
  return object(std::move(fields)).check([workload](Value& v, const std::string& path, Ctx& ctx) {
    const Value* proto = v.find("protocol");
    if (proto && !protocolHasPorts(proto)) {
      ctx.add(child(path, "protocol"), "must be TCP, UDP or SCTP (a protocol with ports)");
    }
    if (workload && !v.has("name")) {
      const Value* hp = v.find("hostPort");
      if (!hp || !hp->isInt() || hp->asInt() == 0) {
        ctx.add(child(path, "name"), "required when no hostPort is set", kRequired);
      }
    }
  });
}

KindDef hostEndpoint() {
  KindDef d;
  d.info = calicoInfo("HostEndpoint", "hostendpoints", "hostendpoint", false, {"hep", "heps"}, {});
  d.info.columns = {
      nameColumn(),
      pathColumn("NODE", 0, "spec.node"),
      pathColumn("INTERFACE", 1, "spec.interfaceName"),
      pathColumn("IPS", 1, "spec.expectedIPs"),
      pathColumn("PROFILES", 1, "spec.profiles"),
  };
  N s = spec({
      F("node", resourceName()),
      F("interfaceName", interfaceName(true)),
      F("expectedIPs", array(ipAddress()).unique()),
      F("profiles", array(resourceName()).unique()),
      F("ports", array(endpointPort(false))),
  });
  s.check([](Value& spec, const std::string& path, Ctx& ctx) {
    if (!spec.has("node")) {
      ctx.add(child(path, "node"), "required value", kRequired);
    }
    const Value* ips = spec.find("expectedIPs");
    if (!spec.has("interfaceName") && !(ips && ips->isArray() && ips->size() > 0)) {
      ctx.add(child(path, "interfaceName"),
              "at least one of interfaceName or expectedIPs must be specified", kRequired);
    }
  });
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

KindDef workloadEndpoint() {
  KindDef d;
  d.info = calicoInfo("WorkloadEndpoint", "workloadendpoints", "workloadendpoint", true, {"wep"},
                      {"weps"});
  d.info.columns = {
      column("NAME", 1, [](const Value& o) { return o.getString("metadata.name"); }),
      column("WORKLOAD", 0,
             [](const Value& o) {
               std::string w = o.getString("spec.workload");
               return w.empty() ? o.getString("spec.pod") : w;
             }),
      pathColumn("NODE", 0, "spec.node"),
      pathColumn("NETWORKS", 0, "spec.ipNetworks"),
      pathColumn("INTERFACE", 0, "spec.interfaceName"),
      pathColumn("PROFILES", 1, "spec.profiles"),
      column("NATS", 1,
             [](const Value& o) {
               std::vector<std::string> parts;
               const Value* nats = o.path("spec.ipNATs");
               if (nats && nats->isArray()) {
                 for (const auto& n : nats->asArray()) {
                   parts.push_back(n.getString("internalIP") + "->" + n.getString("externalIP"));
                 }
               }
               return join(parts, ",");
             }),
  };
  N containerId = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    const std::string& s = v.asString();
    bool ok = !s.empty() && std::isalnum(static_cast<unsigned char>(s.front())) &&
              std::isalnum(static_cast<unsigned char>(s.back()));
    for (char c : s) {
      ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
    }
    if (!ok) {
      ctx.add(path, "invalid container ID " + quoted(s) +
                        ": alphanumeric characters or '-', starting and ending alphanumeric");
    }
  });
  N qos = object({
      F("ingressBandwidth", integer()),
      F("ingressBurst", integer()),
      F("ingressPeakrate", integer()),
      F("ingressMinburst", integer()),
      F("egressBandwidth", integer()),
      F("egressBurst", integer()),
      F("egressPeakrate", integer()),
      F("egressMinburst", integer()),
      F("ingressPacketRate", integer()),
      F("ingressPacketBurst", integer()),
      F("egressPacketRate", integer()),
      F("egressPacketBurst", integer()),
      F("ingressMaxConnections", integer()),
      F("egressMaxConnections", integer()),
      F("dscp", intOrString()),
  });
  CidrOpts single;
  CidrOpts loose;
  loose.allowHostBits = true;
  N s = spec({
      F("orchestrator", resourceName()),
      F("workload", resourceName()),
      F("node", resourceName()),
      F("containerID", containerId),
      F("pod", resourceName()),
      F("endpoint", resourceName()),
      F("serviceAccountName", resourceName()),
      F("ipNetworks", array(cidr(single))),
      F("ipNATs", array(object({F("internalIP", ipAddress()).required(),
                                F("externalIP", ipAddress()).required()}))),
      F("ipv4Gateway", ipAddress(4)),
      F("ipv6Gateway", ipAddress(6)),
      F("profiles", array(resourceName())),
      F("interfaceName", interfaceName(false)).required(),
      F("mac", macAddress()),
      F("ports", array(endpointPort(true))),
      F("allowSpoofedSourcePrefixes", array(cidr(loose))),
      F("qosControls", qos),
  });
  s.check([](Value& spec, const std::string& path, Ctx& ctx) {
    std::vector<IpNet> nets;
    const Value* list = spec.find("ipNetworks");
    if (list && list->isArray()) {
      for (size_t i = 0; i < list->size(); ++i) {
        auto n = parseCidrOrIp(list->asArray()[i].asString());
        if (!n) {
          continue;
        }
        if (n->prefix != n->addr.bits()) {
          ctx.add(index(child(path, "ipNetworks"), i),
                  "must be a single address (/32 or /128), got " + quoted(n->str()));
        }
        nets.push_back(*n);
      }
    }
    const Value* nats = spec.find("ipNATs");
    if (nats && nats->isArray()) {
      for (size_t i = 0; i < nats->size(); ++i) {
        auto ip = parseIp(nats->asArray()[i].getString("internalIP"));
        auto ext = parseIp(nats->asArray()[i].getString("externalIP"));
        if (!ip) {
          continue;
        }
        if (ext && ext->family != ip->family) {
          ctx.add(child(index(child(path, "ipNATs"), i), "externalIP"),
                  "must be of the same IP family as internalIP");
        }
        bool inside =
            std::any_of(nets.begin(), nets.end(), [&](const IpNet& n) { return n.contains(*ip); });
        if (!inside) {
          ctx.add(child(index(child(path, "ipNATs"), i), "internalIP"),
                  "must be one of the endpoint's ipNetworks");
        }
      }
    }
  });
  d.schema = objectSchema(NameRule::Subdomain, true, {F("spec", s).required()}).ptr();
  return d;
}

KindDef profile() {
  KindDef d;
  d.info = calicoInfo("Profile", "profiles", "profile", false, {}, {"pro", "pros"});
  d.info.columns = {
      nameColumn(),
      column("LABELS", 1, [](const Value& o) { return joinedMap(o.path("spec.labelsToApply")); }),
  };
  N s = spec({
      F("ingress", array(calicoRule()).maxItems(1024)),
      F("egress", array(calicoRule()).maxItems(1024)),
      F("labelsToApply", labelMap()),
  });
  s.check([](Value& spec, const std::string& path, Ctx& ctx) {
    checkPolicyRules(spec, path, ctx, false);
  });
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

// ---- IPAM --------------------------------------------------------------------------------------

KindDef ipamBlock() {
  KindDef d;
  d.info = calicoInfo("IPAMBlock", "ipamblocks", "ipamblock", false, {}, {"block", "blocks"});
  d.info.columns = {
      nameColumn(),
      pathColumn("CIDR", 0, "spec.cidr"),
      pathColumn("AFFINITY", 0, "spec.affinity"),
  };
  N affinity = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    const std::string& s = v.asString();
    size_t colon = s.find(':');
    std::string kind = colon == std::string::npos ? "" : s.substr(0, colon);
    std::string host = colon == std::string::npos ? "" : s.substr(colon + 1);
    bool ok = (kind == "host" || kind == "virtual") && !host.empty();
    for (char c : host) {
      ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_');
    }
    if (!ok) {
      ctx.add(path, "invalid affinity " + quoted(s) +
                        ": expected \"host:<node>\" or "
                        "\"virtual:<name>\"");
    }
  });
  N attribute = object({
      F("handle_id", str()),
      F("secondary", mapOf(str())),
      F("alternate", mapOf(str())),
  });
  N s = spec({
      F("cidr", cidr()).required().immutable(),
      F("affinity", affinity),
      F("affinityClaimTime", timestamp()),
      F("allocations", array(integer().min(0).nullable())),
      F("unallocated", array(integer().min(0))),
      F("attributes", array(attribute)),
      F("sequenceNumber", integer().min(0)),
      F("sequenceNumberForAllocation", mapOf(integer().min(0))),
      F("deleted", boolean()),
      F("strictAffinity", boolean()),
  });
  s.check([](Value& spec, const std::string& path, Ctx& ctx) {
    const Value* allocs = spec.find("allocations");
    const Value* attrs = spec.find("attributes");
    size_t nattrs = attrs && attrs->isArray() ? attrs->size() : 0;
    if (allocs && allocs->isArray()) {
      for (size_t i = 0; i < allocs->size(); ++i) {
        const Value& a = allocs->asArray()[i];
        if (a.isInt() && a.asInt() >= 0 && size_t(a.asInt()) >= nattrs) {
          ctx.add(index(child(path, "allocations"), i),
                  "refers to attribute " + std::to_string(a.asInt()) + " but only " +
                      std::to_string(nattrs) + " exist");
        }
      }
    }
  });
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

KindDef blockAffinity() {
  KindDef d;
  d.info = calicoInfo("BlockAffinity", "blockaffinities", "blockaffinity", false, {},
                      {"affinity", "affinities"});
  d.info.columns = {
      nameColumn(),
      pathColumn("NODE", 0, "spec.node"),
      pathColumn("CIDR", 0, "spec.cidr"),
      pathColumn("STATE", 0, "spec.state"),
  };
  // Older writers store `deleted` as the string "true"/"false"; both forms are accepted.
  N deleted = any()
                  .desc("boolean, or the string \"true\"/\"false\"")
                  .check([](Value& v, const std::string& path, Ctx& ctx) {
                    if (v.isBool()) {
                      return;
                    }
                    if (v.isString() && (v.asString() == "true" || v.asString() == "false")) {
                      return;
                    }
                    ctx.add(path, "must be a boolean or \"true\"/\"false\", got " + describe(v),
                            kTypeInvalid);
                  });
  N s = spec({
      F("state", strEnum({"confirmed", "pending", "pendingDeletion"})).required(),
      F("node", resourceName()).required().immutable(),
      F("cidr", cidr()).required().immutable(),
      F("type", strEnum({"host", "virtual"})),
      F("deleted", deleted),
  });
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

KindDef ipamHandle() {
  KindDef d;
  d.info = calicoInfo("IPAMHandle", "ipamhandles", "ipamhandle", false, {}, {"handle", "handles"});
  d.info.columns = {nameColumn(), pathColumn("HANDLEID", 1, "spec.handleID")};
  N s = spec({
      F("handleID", str()).required().immutable(),
      F("block", mapOf(integer().min(0))).required(),
      F("deleted", boolean()),
  });
  s.check([](Value& spec, const std::string& path, Ctx& ctx) {
    const Value* blocks = spec.find("block");
    if (!blocks || !blocks->isObject()) {
      return;
    }
    for (const auto& b : blocks->asObject()) {
      if (!parseCidr(b.first)) {
        ctx.add(key(child(path, "block"), b.first), "invalid block CIDR " + quoted(b.first));
      }
    }
  });
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

KindDef ipamConfiguration() {
  KindDef d;
  d.info = calicoInfo("IPAMConfiguration", "ipamconfigurations", "ipamconfiguration", false, {},
                      {"ipamconfig", "ipamconfigs"});
  d.info.columns = {
      nameColumn(),
      pathColumn("STRICTAFFINITY", 1, "spec.strictAffinity", "false"),
      pathColumn("MAXBLOCKSPERHOST", 1, "spec.maxBlocksPerHost", "0"),
  };
  N s = spec({
      F("strictAffinity", boolean().def(false)),
      F("maxBlocksPerHost", integer().range(0, 2147483647)),
      F("autoAllocateBlocks", boolean().def(true)),
  });
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", s).required()}).ptr();
  return d;
}

} // namespace

std::vector<KindDef> calicoKinds() {
  std::vector<KindDef> out;
  out.push_back(ipPool());
  out.push_back(ipReservation());
  out.push_back(bgpConfiguration());
  out.push_back(bgpPeer());
  out.push_back(bgpFilter());
  out.push_back(calicoNode());
  out.push_back(felixConfiguration());
  out.push_back(clusterInformation());
  out.push_back(tier());
  out.push_back(globalNetworkPolicy());
  out.push_back(networkPolicy());
  out.push_back(globalNetworkSet());
  out.push_back(networkSet());
  out.push_back(hostEndpoint());
  out.push_back(workloadEndpoint());
  out.push_back(profile());
  out.push_back(ipamBlock());
  out.push_back(blockAffinity());
  out.push_back(ipamHandle());
  out.push_back(ipamConfiguration());
  return out;
}

} // namespace caracal::api::detail
