// Schema pieces shared by several kinds.
#include "api/formats.h"
#include "api/kinds_internal.h"
#include "api/netaddr.h"
#include "api/selector.h"
#include "common/strings.h"

namespace caracal::api::detail {

using namespace schema;

namespace {

constexpr size_t kMaxAnnotationBytes = 256 * 1024;

std::string familyWord(int family) { return family == 4 ? "IPv4 " : family == 6 ? "IPv6 " : ""; }

bool isLabelLike(std::string_view s) { return isDns1123LabelSyntax(s); }

// Name checks by rule. Returns "" when valid.
std::string checkName(NameRule rule, std::string_view name) {
  switch (rule) {
  case NameRule::Subdomain:
    return checkDns1123Subdomain(name);
  case NameRule::Label:
  case NameRule::Tier:
    return checkDns1123Label(name);
  case NameRule::GlobalPolicy: {
    auto parts = split(name, '.');
    bool ok = (parts.size() == 1 || parts.size() == 2) && name.size() <= 253;
    for (const auto& p : parts) {
      ok = ok && isLabelLike(p);
    }
    return ok ? ""
              : "must be lower case alphanumeric characters or '-', optionally prefixed by a "
                "tier name and '.', at most 253 characters";
  }
  case NameRule::CalicoPolicy: {
    if (startsWith(name, "knp.default.") || startsWith(name, "ossg.default.")) {
      std::string_view rest = name.substr(name.find(".default.") + 9);
      if (checkDns1123Subdomain(rest).empty() && name.size() <= 253) {
        return "";
      }
    }
    auto parts = split(name, '.');
    bool ok = (parts.size() == 1 || parts.size() == 2) && name.size() <= 253;
    for (const auto& p : parts) {
      ok = ok && isLabelLike(p);
    }
    return ok ? ""
              : "must be lower case alphanumeric characters or '-', optionally prefixed by a "
                "tier name and '.', or \"knp.default.<name>\"; at most 253 characters";
  }
  }
  return "";
}

N metadataNode(NameRule rule, bool namespaced) {
  N ownerRef = object({
      F("apiVersion", str()).required(),
      F("kind", str()).required(),
      F("name", str()).required(),
      F("uid", str()).required(),
      F("controller", boolean()),
      F("blockOwnerDeletion", boolean()),
  });
  N name = str()
               .desc("Unique name within the kind (and namespace)")
               .check([rule](Value& v, const std::string& path, Ctx& ctx) {
                 std::string err = checkName(rule, v.asString());
                 if (!err.empty()) {
                   ctx.add(path, "invalid value " + quoted(v.asString()) + ": " + err);
                 }
               });
  N ns = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    std::string err = checkDns1123Label(v.asString());
    if (!err.empty()) {
      ctx.add(path, "invalid value " + quoted(v.asString()) + ": " + err);
    }
  });
  N finalizer = str().check([](Value& v, const std::string& path, Ctx& ctx) {
    std::string err = checkQualifiedName(v.asString());
    if (!err.empty()) {
      ctx.add(path, "invalid value " + quoted(v.asString()) + ": " + err);
    }
  });
  return object({
                    F("name", name).required().immutable(),
                    F("generateName", str()),
                    F("namespace", ns).immutable(),
                    F("selfLink", str()),
                    F("uid", str()),
                    F("resourceVersion", str()),
                    F("generation", integer().min(0)),
                    F("creationTimestamp", timestamp()),
                    F("deletionTimestamp", timestamp()),
                    F("deletionGracePeriodSeconds", integer().min(0)),
                    F("labels", labelMap()),
                    F("annotations", annotationMap()),
                    F("ownerReferences", array(ownerRef)),
                    F("finalizers", array(finalizer).unique()),
                    F("managedFields", array(object({}).preserveUnknown())),
                })
      .desc("Standard object metadata")
      .check([namespaced](Value& v, const std::string& path, Ctx& ctx) {
        const Value* ns = v.find("namespace");
        if (namespaced && !ns) {
          ctx.add(child(path, "namespace"), "required value (the kind is namespaced)", kRequired);
        } else if (!namespaced && ns) {
          ctx.add(child(path, "namespace"), "must not be set: the kind is cluster-scoped",
                  kForbidden);
        }
      });
}

N icmpFields() {
  return object({
                    F("type", integer().range(0, 254).desc("ICMP type, e.g. 8 for echo request")),
                    F("code", integer().range(0, 255).desc("ICMP code; needs a type")),
                })
      .check([](Value& v, const std::string& path, Ctx& ctx) {
        if (v.has("code") && !v.has("type")) {
          ctx.add(child(path, "code"), "an ICMP code needs an ICMP type", kInvalid);
        }
      });
}

N entityRule() {
  CidrOpts netOpts;
  netOpts.allowBareIp = false;
  N services = object({
      F("name", resourceName()).required(),
      F("namespace", labelName()),
  });
  N serviceAccounts = object({
      F("names", array(str()).unique()),
      F("selector", selector()),
  });
  return object({
                    F("nets", array(cidr(netOpts)).maxItems(256).unique()),
                    F("notNets", array(cidr(netOpts)).maxItems(256).unique()),
                    F("selector", selector()),
                    F("notSelector", selector()),
                    F("namespaceSelector", selector()),
                    F("ports", array(port()).maxItems(50)),
                    F("notPorts", array(port()).maxItems(50)),
                    F("serviceAccounts", serviceAccounts),
                    F("services", services),
                })
      .check([](Value& v, const std::string& path, Ctx& ctx) {
        std::string sel = v.getString("selector");
        if (sel.find("global(") != std::string::npos) {
          ctx.add(child(path, "selector"), "global() can only be used in a rule namespaceSelector");
        }
        std::string nsSel = v.getString("namespaceSelector");
        if (nsSel.find("global(") != std::string::npos && trim(nsSel) != "global()") {
          ctx.add(child(path, "namespaceSelector"),
                  "global() cannot be combined with other selectors");
        }
        if (v.has("services")) {
          for (const char* other : {"namespaceSelector", "selector", "notSelector",
                                    "serviceAccounts", "nets", "notNets"}) {
            if (v.has(other)) {
              ctx.add(child(path, other),
                      std::string("cannot be combined with services in the same rule"), kForbidden);
            }
          }
        }
      });
}

N httpMatch() {
  N path = object({F("exact", str().maxLen(1024)), F("prefix", str().maxLen(1024))})
               .check([](Value& v, const std::string& p, Ctx& ctx) {
                 bool exact = v.has("exact");
                 bool prefix = v.has("prefix");
                 if (exact == prefix) {
                   ctx.add(p, "exactly one of exact or prefix must be set");
                   return;
                 }
                 std::string s = v.getString(exact ? "exact" : "prefix");
                 if (!startsWith(s, "/") || s.find_first_of("? #") != std::string::npos) {
                   ctx.add(child(p, exact ? "exact" : "prefix"),
                           "invalid path " + quoted(s) +
                               ": must start with '/' and contain no '?', '#' or space");
                 }
               });
  return object({
      F("methods", array(str()).maxItems(20).unique()),
      F("paths", array(path).maxItems(20)),
  });
}

bool isIcmpProto(const Value* p, bool v6) {
  if (!p) {
    return false;
  }
  if (p->isString()) {
    return p->asString() == (v6 ? "ICMPv6" : "ICMP");
  }
  return p->isInt() && p->asInt() == (v6 ? 58 : 1);
}

} // namespace

// ---------------------------------------------------------------------------------------------

N objectSchema(NameRule rule, bool namespaced, std::vector<F> fields, std::vector<Check> checks) {
  N top = object({
      F("apiVersion", str().desc("The group/version of the object")).immutable(),
      F("kind", str().desc("The kind of the object")).immutable(),
      F("metadata", metadataNode(rule, namespaced)).required(),
  });
  top.with(std::move(fields));
  for (auto& c : checks) {
    top.check(std::move(c));
  }
  return top;
}

N cidr(CidrOpts opts) {
  std::string fmt = "cidr";
  return str().format(fmt).check([opts](Value& v, const std::string& path, Ctx& ctx) {
    const std::string& s = v.asString();
    auto net = opts.allowBareIp ? parseCidrOrIp(s) : parseCidr(s);
    if (!net) {
      ctx.add(path, "invalid " + familyWord(opts.family) + "CIDR " + quoted(s));
      return;
    }
    if (opts.family && net->addr.family != opts.family) {
      ctx.add(path, "invalid " + familyWord(opts.family) + "CIDR " + quoted(s) + ": it is IPv" +
                        std::to_string(net->addr.family));
      return;
    }
    if (!opts.allowHostBits && !net->isMasked()) {
      ctx.add(path, "invalid CIDR " + quoted(s) + ": host bits are set (did you mean " +
                        quoted(net->masked().str()) + "?)");
      return;
    }
    if (opts.canonicalize) {
      bool bare = s.find('/') == std::string::npos;
      v = Value(bare ? net->addr.str() : net->str());
    }
  });
}

N ipAddress(int family) {
  return str().format("ip").check([family](Value& v, const std::string& path, Ctx& ctx) {
    auto ip = parseIp(v.asString());
    if (!ip || (family && ip->family != family)) {
      ctx.add(path, "invalid " + (family ? familyWord(family) : std::string("IP ")) + "address " +
                        quoted(v.asString()));
    }
  });
}

N selector() {
  return str()
      .desc("A Calico selector expression")
      .check([](Value& v, const std::string& path, Ctx& ctx) {
        Status st = validateSelector(v.asString());
        if (!st.isOk()) {
          ctx.add(path, "invalid selector " + quoted(v.asString()) +
                            (st.message().empty() ? "" : ": " + st.message()));
        }
      });
}

N duration() {
  return str().format("duration").check([](Value& v, const std::string& path, Ctx& ctx) {
    if (!parseGoDuration(v.asString())) {
      ctx.add(path, "invalid duration " + quoted(v.asString()) +
                        ": expected a duration such as \"90s\", \"1m30s\" or \"250ms\"");
    }
  });
}

N asNumber() {
  return intOrString()
      .desc("AS number: an integer or dotted \"x.y\"")
      .check([](Value& v, const std::string& path, Ctx& ctx) {
        const char* msg = ": must be 0-4294967295 or dotted \"x.y\" with parts 0-65535";
        if (v.isInt()) {
          if (v.asInt() < 0 || v.asInt() > 4294967295LL) {
            ctx.add(path, "invalid AS number " + std::to_string(v.asInt()) + msg);
          }
          return;
        }
        auto asn = parseAsNumber(v.asString());
        if (!asn) {
          ctx.add(path, "invalid AS number " + quoted(v.asString()) + msg);
          return;
        }
        v = Value(*asn);
      });
}

N port() {
  return intOrString()
      .desc("A port number, a \"min:max\" range or a named port")
      .check([](Value& v, const std::string& path, Ctx& ctx) {
        if (v.isInt()) {
          if (v.asInt() < 1 || v.asInt() > 65535) {
            ctx.add(path,
                    "invalid port " + std::to_string(v.asInt()) + ": must be between 1 and 65535");
          }
          return;
        }
        std::string err;
        auto p = parsePortString(v.asString(), &err);
        if (!p) {
          ctx.add(path, "invalid port " + quoted(v.asString()) + ": " + err);
          return;
        }
        if (!p->name.empty()) {
          return;
        }
        if (p->min == p->max) {
          v = Value(int64_t(p->min));
        } else {
          v = Value(std::to_string(p->min) + ":" + std::to_string(p->max));
        }
      });
}

N protocol() {
  static const std::vector<std::string> kNames = {"TCP",    "UDP",  "ICMP",
                                                  "ICMPv6", "SCTP", "UDPLite"};
  return intOrString()
      .desc("TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a protocol number 1-255")
      .check([](Value& v, const std::string& path, Ctx& ctx) {
        if (v.isString()) {
          const std::string s = v.asString();
          bool numeric = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
          if (numeric && s.size() <= 3) {
            v = Value(int64_t(std::stoi(s)));
          } else {
            for (const auto& n : kNames) {
              if (toLower(n) == toLower(s)) {
                v = Value(n);
                return;
              }
            }
            ctx.add(path,
                    "unknown protocol " + quoted(s) + " (allowed: " + join(kNames, ", ") +
                        " or a number 1-255)",
                    kNotSupported);
            return;
          }
        }
        if (v.asInt() < 1 || v.asInt() > 255) {
          ctx.add(path, "invalid protocol number " + std::to_string(v.asInt()) +
                            ": must be between 1 and 255");
        }
      });
}

N resourceName() {
  return str().check([](Value& v, const std::string& path, Ctx& ctx) {
    std::string err = checkDns1123Subdomain(v.asString());
    if (!err.empty()) {
      ctx.add(path, "invalid name " + quoted(v.asString()) + ": " + err);
    }
  });
}

N labelName() {
  return str().check([](Value& v, const std::string& path, Ctx& ctx) {
    std::string err = checkDns1123Label(v.asString());
    if (!err.empty()) {
      ctx.add(path, "invalid name " + quoted(v.asString()) + ": " + err);
    }
  });
}

N portName() {
  return str().check([](Value& v, const std::string& path, Ctx& ctx) {
    std::string err = checkPortName(v.asString());
    if (!err.empty()) {
      ctx.add(path, "invalid port name " + quoted(v.asString()) + ": " + err);
    }
  });
}

N interfaceName(bool allowWildcard) {
  return str().check([allowWildcard](Value& v, const std::string& path, Ctx& ctx) {
    std::string err = checkInterfaceName(v.asString(), allowWildcard);
    if (!err.empty()) {
      ctx.add(path, "invalid interface name " + quoted(v.asString()) + ": " + err);
    }
  });
}

N macAddress() {
  return str().check([](Value& v, const std::string& path, Ctx& ctx) {
    if (!isMacAddress(v.asString())) {
      ctx.add(path, "invalid MAC address " + quoted(v.asString()));
    }
  });
}

N timestamp() {
  return str().format("date-time").check([](Value& v, const std::string& path, Ctx& ctx) {
    if (!isRfc3339(v.asString())) {
      ctx.add(path, "invalid timestamp " + quoted(v.asString()) +
                        ": expected RFC 3339 such as \"2024-05-01T10:00:00Z\"");
    }
  });
}

N labelMap() {
  return mapOf(str()).check([](Value& v, const std::string& path, Ctx& ctx) {
    for (const auto& m : v.asObject()) {
      std::string err = checkQualifiedName(m.first);
      if (!err.empty()) {
        ctx.add(path, "invalid label key " + quoted(m.first) + ": " + err);
      }
      if (m.second.isString()) {
        err = checkLabelValue(m.second.asString());
        if (!err.empty()) {
          ctx.add(key(path, m.first),
                  "invalid label value " + quoted(m.second.asString()) + ": " + err);
        }
      }
    }
  });
}

N annotationMap() {
  return mapOf(str()).check([](Value& v, const std::string& path, Ctx& ctx) {
    size_t total = 0;
    for (const auto& m : v.asObject()) {
      std::string err = checkQualifiedName(toLower(m.first));
      if (!err.empty()) {
        ctx.add(path, "invalid annotation key " + quoted(m.first) + ": " + err);
      }
      total += m.first.size() + m.second.asString().size();
    }
    if (total > kMaxAnnotationBytes) {
      ctx.add(path,
              "annotations are " + std::to_string(total) +
                  " bytes in total, more than the limit of " + std::to_string(kMaxAnnotationBytes),
              kTooLong);
    }
  });
}

N secretKeyRef() {
  return object({
      F("name", str().desc("Name of the secret")),
      F("key", str().desc("Key within the secret")).required(),
      F("optional", boolean()),
  });
}

N k8sLabelSelector() {
  N expr =
      object({
                 F("key", str().check([](Value& v, const std::string& path, Ctx& ctx) {
                   std::string err = checkQualifiedName(v.asString());
                   if (!err.empty()) {
                     ctx.add(path, "invalid label key " + quoted(v.asString()) + ": " + err);
                   }
                 })).required(),
                 F("operator", str().enums({"In", "NotIn", "Exists", "DoesNotExist"})).required(),
                 F("values", array(str())),
             })
          .check([](Value& v, const std::string& path, Ctx& ctx) {
            std::string op = v.getString("operator");
            const Value* values = v.find("values");
            size_t n = values && values->isArray() ? values->size() : 0;
            if ((op == "In" || op == "NotIn") && n == 0) {
              ctx.add(child(path, "values"), "must be specified when operator is In or NotIn",
                      kRequired);
            }
            if ((op == "Exists" || op == "DoesNotExist") && n > 0) {
              ctx.add(child(path, "values"),
                      "may not be specified when operator is Exists or DoesNotExist", kForbidden);
            }
          });
  return object({
      F("matchLabels", labelMap()),
      F("matchExpressions", array(expr)),
  });
}

N calicoRule() {
  N ipVersion = integer().desc("4 or 6").check([](Value& v, const std::string& path, Ctx& ctx) {
    if (v.asInt() != 4 && v.asInt() != 6) {
      ctx.add(path, "unknown value " + std::to_string(v.asInt()) + " (allowed: 4, 6)",
              kNotSupported);
    }
  });
  N metadata = object({F("annotations", annotationMap())});
  return object({
                    F("action", str().enums({"Allow", "Deny", "Log", "Pass"})).required(),
                    F("ipVersion", ipVersion),
                    F("protocol", protocol()),
                    F("notProtocol", protocol()),
                    F("icmp", icmpFields()),
                    F("notICMP", icmpFields()),
                    F("source", entityRule()),
                    F("destination", entityRule()),
                    F("http", httpMatch()),
                    F("metadata", metadata),
                })
      .check([](Value& v, const std::string& path, Ctx& ctx) {
        const Value* proto = v.find("protocol");
        if (!protocolHasPorts(proto)) {
          for (const char* side : {"source", "destination"}) {
            for (const char* f : {"ports", "notPorts"}) {
              const Value* ports = v.path(std::string(side) + "." + f);
              if (ports && ports->isArray() && ports->size() > 0) {
                ctx.add(child(child(path, side), f),
                        "rules that specify ports must set protocol to TCP, UDP or SCTP");
              }
            }
          }
        }
        if (v.has("icmp") && !isIcmpProto(proto, false) && !isIcmpProto(proto, true)) {
          ctx.add(child(path, "icmp"),
                  "rules that specify icmp must set protocol to ICMP or ICMPv6");
        }
        const Value* ipv = v.find("ipVersion");
        int64_t version = ipv && ipv->isInt() ? ipv->asInt() : 0;
        const Value* notProto = v.find("notProtocol");
        if (version == 6 && (isIcmpProto(proto, false) || isIcmpProto(notProto, false))) {
          ctx.add(child(path, "ipVersion"), "must be 4 with protocol ICMP");
        }
        if (version == 4 && (isIcmpProto(proto, true) || isIcmpProto(notProto, true))) {
          ctx.add(child(path, "ipVersion"), "must be 6 with protocol ICMPv6");
        }
        // All CIDRs of one rule must share one IP version, and match ipVersion when set.
        bool seen4 = false;
        bool seen6 = false;
        for (const char* side : {"source", "destination"}) {
          for (const char* f : {"nets", "notNets"}) {
            const Value* nets = v.path(std::string(side) + "." + f);
            if (!nets || !nets->isArray()) {
              continue;
            }
            bool v4 = false;
            bool v6 = false;
            for (const auto& n : nets->asArray()) {
              auto net = parseCidrOrIp(n.asString());
              if (net) {
                v4 = v4 || net->addr.family == 4;
                v6 = v6 || net->addr.family == 6;
              }
            }
            std::string fpath = child(child(path, side), f);
            if ((version == 4 && v6) || (version == 6 && v4)) {
              ctx.add(fpath, "CIDR version does not match ipVersion " + std::to_string(version));
            } else if ((v4 && v6) || (v4 && seen6) || (v6 && seen4)) {
              ctx.add(fpath, "a rule cannot mix IPv4 and IPv6 CIDRs");
            }
            seen4 = seen4 || v4;
            seen6 = seen6 || v6;
          }
        }
        if (v.has("http")) {
          if (v.getString("action") != "Allow") {
            ctx.add(child(path, "http"), "only valid for Allow rules", kForbidden);
          }
          if (proto && !(proto->isString() && proto->asString() == "TCP") &&
              !(proto->isInt() && proto->asInt() == 6)) {
            ctx.add(child(path, "protocol"),
                    "rules that specify http must set protocol to TCP or leave it unset");
          }
        }
        if (v.path("destination.services")) {
          for (const char* f : {"ports", "notPorts"}) {
            if (v.path(std::string("destination.") + f)) {
              ctx.add(child(child(path, "destination"), f),
                      "cannot be combined with destination services", kForbidden);
            }
          }
        }
      });
}

bool protocolHasPorts(const Value* proto) {
  if (!proto) {
    return false;
  }
  if (proto->isString()) {
    const std::string& s = proto->asString();
    return s == "TCP" || s == "UDP" || s == "SCTP";
  }
  return proto->isInt() && (proto->asInt() == 6 || proto->asInt() == 17 || proto->asInt() == 132);
}

void defaultPolicyTypes(Value& spec) {
  const Value* types = spec.find("types");
  if (types && types->isArray() && types->size() > 0) {
    return;
  }
  auto nonEmpty = [&](const char* f) {
    const Value* r = spec.find(f);
    return r && r->isArray() && r->size() > 0;
  };
  bool ingress = nonEmpty("ingress");
  bool egress = nonEmpty("egress");
  Value out = Value::array();
  if (ingress || !egress) {
    out.push(Value("Ingress"));
  }
  if (egress) {
    out.push(Value("Egress"));
  }
  spec.set("types", std::move(out));
}

void forbidGlobal(const Value& spec, const std::string& path, const char* field, Ctx& ctx) {
  std::string s = spec.getString(field);
  if (s.find("global(") != std::string::npos) {
    ctx.add(child(path, field), "global() can only be used in a rule namespaceSelector");
  }
}

// ---------------------------------------------------------------------------------------------

std::string fieldText(const Value& obj, std::string_view dotted, std::string_view def) {
  const Value* v = obj.path(dotted);
  if (!v || v->isNull()) {
    return std::string(def);
  }
  auto one = [](const Value& x) -> std::string {
    switch (x.type()) {
    case Value::Type::String:
      return x.asString();
    case Value::Type::Bool:
      return x.asBool() ? "true" : "false";
    case Value::Type::Int:
      return std::to_string(x.asInt());
    case Value::Type::Null:
      return "";
    default:
      return toJson(x);
    }
  };
  if (v->isArray()) {
    std::vector<std::string> parts;
    for (const auto& x : v->asArray()) {
      parts.push_back(one(x));
    }
    return join(parts, ",");
  }
  return one(*v);
}

Column column(std::string name, int priority, std::function<std::string(const Value&)> cell,
              std::string type) {
  Column c;
  c.name = std::move(name);
  c.priority = priority;
  c.type = std::move(type);
  c.cell = std::move(cell);
  return c;
}

Column nameColumn() {
  return column("NAME", 0, [](const Value& o) { return o.getString("metadata.name"); });
}

Column pathColumn(std::string name, int priority, std::string dotted, std::string def,
                  std::string type) {
  return column(
      std::move(name), priority,
      [dotted = std::move(dotted), def = std::move(def)](const Value& o) {
        return fieldText(o, dotted, def);
      },
      std::move(type));
}

} // namespace caracal::api::detail
