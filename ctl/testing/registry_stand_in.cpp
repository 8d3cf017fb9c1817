// A small stand-in for the resource model (api/registry.h), linked into ctl_test only while the
// caracal_api library is not part of the build. It describes a few kinds with calicoctl's columns
// and checks just enough for the command tests; the real model replaces it as soon as it exists.
#include "api/registry.h"
#include "common/strings.h"

#include <set>

namespace caracal::api {

namespace {

std::string text(const Value& obj, std::string_view dotted) {
  const Value* v = obj.path(dotted);
  if (!v || v->isNull()) {
    return "";
  }
  if (v->isString()) {
    return v->asString();
  }
  if (v->isArray()) {
    std::vector<std::string> parts;
    for (const auto& e : v->asArray()) {
      parts.push_back(e.isString() ? e.asString() : toJson(e));
    }
    return join(parts, ",");
  }
  return toJson(*v);
}

Column col(std::string name, int priority, std::string dotted, std::string def = "") {
  Column c;
  c.name = std::move(name);
  c.priority = priority;
  c.cell = [dotted, def](const Value& o) {
    std::string t = text(o, dotted);
    return t.empty() ? def : t;
  };
  return c;
}

KindInfo calico(std::string kind, std::string plural, bool namespaced,
                std::vector<std::string> aliases, std::vector<Column> columns) {
  KindInfo k;
  k.group = "projectcalico.org";
  k.version = "v3";
  k.kind = std::move(kind);
  k.plural = std::move(plural);
  k.singular = toLower(k.kind);
  k.namespaced = namespaced;
  k.aliases = std::move(aliases);
  k.columns = std::move(columns);
  return k;
}

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> all = [] {
    std::vector<KindInfo> v;
    KindInfo ns;
    ns.version = "v1";
    ns.kind = "Namespace";
    ns.plural = "namespaces";
    ns.singular = "namespace";
    ns.shortNames = {"ns"};
    ns.columns = {col("NAME", 0, "metadata.name")};
    v.push_back(ns);
    v.push_back(calico("IPPool", "ippools", false, {"ipp", "pool", "pools", "ippools"},
                       {col("NAME", 0, "metadata.name"), col("CIDR", 0, "spec.cidr"),
                        col("NAT", 1, "spec.natOutgoing", "false"),
                        col("IPIPMODE", 1, "spec.ipipMode", "Never"),
                        col("VXLANMODE", 1, "spec.vxlanMode", "Never"),
                        col("DISABLED", 1, "spec.disabled", "false"),
                        col("DISABLEBGPEXPORT", 1, "spec.disableBGPExport", "false"),
                        col("SELECTOR", 0, "spec.nodeSelector", "all()")}));
    v.push_back(calico("BGPPeer", "bgppeers", false, {"bgpp", "bgppeers"},
                       {col("NAME", 0, "metadata.name"), col("PEERIP", 0, "spec.peerIP"),
                        col("NODE", 0, "spec.node", "(global)"),
                        col("ASN", 0, "spec.asNumber")}));
    v.push_back(calico("NetworkPolicy", "networkpolicies", true, {"np", "policy", "policies"},
                       {col("NAME", 0, "metadata.name"), col("TIER", 0, "spec.tier", "default"),
                        col("ORDER", 1, "spec.order"), col("SELECTOR", 1, "spec.selector")}));
    v.push_back(calico("GlobalNetworkPolicy", "globalnetworkpolicies", false, {"gnp"},
                       {col("NAME", 0, "metadata.name"), col("TIER", 0, "spec.tier", "default"),
                        col("ORDER", 1, "spec.order"), col("SELECTOR", 1, "spec.selector")}));
    v.push_back(calico("WorkloadEndpoint", "workloadendpoints", true, {"wep", "weps"},
                       {col("NAME", 1, "metadata.name"), col("WORKLOAD", 0, "spec.pod"),
                        col("NODE", 0, "spec.node"), col("NETWORKS", 0, "spec.ipNetworks"),
                        col("INTERFACE", 0, "spec.interfaceName"),
                        col("PROFILES", 1, "spec.profiles"), col("NATS", 1, "spec.ipNATs")}));
    v.push_back(calico("HostEndpoint", "hostendpoints", false, {"hep", "heps"},
                       {col("NAME", 0, "metadata.name"), col("NODE", 0, "spec.node"),
                        col("INTERFACE", 1, "spec.interfaceName"),
                        col("IPS", 1, "spec.expectedIPs"), col("PROFILES", 1, "spec.profiles")}));
    return v;
  }();
  return all;
}

} // namespace

const std::vector<const KindInfo*>& allKinds() {
  static const std::vector<const KindInfo*> ptrs = [] {
    std::vector<const KindInfo*> p;
    for (const auto& k : kinds()) {
      p.push_back(&k);
    }
    return p;
  }();
  return ptrs;
}

const KindInfo* findByResource(std::string_view group, std::string_view version,
                               std::string_view plural) {
  for (const auto* k : allKinds()) {
    if (k->group == group && k->version == version && k->plural == plural) {
      return k;
    }
  }
  return nullptr;
}

const KindInfo* findByKind(std::string_view apiVersion, std::string_view kind) {
  for (const auto* k : allKinds()) {
    if (k->apiVersion() == apiVersion && k->kind == kind) {
      return k;
    }
  }
  return nullptr;
}

const KindInfo* findByName(std::string_view name) {
  std::string n = toLower(name);
  for (const auto* k : allKinds()) {
    std::vector<std::string> names = {toLower(k->kind), k->plural, k->singular};
    names.insert(names.end(), k->shortNames.begin(), k->shortNames.end());
    names.insert(names.end(), k->aliases.begin(), k->aliases.end());
    for (const auto& candidate : names) {
      if (candidate == n) {
        return k;
      }
    }
  }
  return nullptr;
}

Status normalize(const KindInfo& info, Value& obj, const NormalizeOptions&) {
  std::vector<FieldCause> causes;
  if (obj.getString("apiVersion") != info.apiVersion()) {
    causes.push_back({"apiVersion", "must be " + info.apiVersion()});
  }
  if (obj.getString("kind") != info.kind) {
    causes.push_back({"kind", "must be " + info.kind});
  }
  if (obj.getString("metadata.name").empty()) {
    causes.push_back({"metadata.name", "Required value"});
  }
  bool hasNs = !obj.getString("metadata.namespace").empty();
  if (info.namespaced && !hasNs) {
    causes.push_back({"metadata.namespace", "Required value"});
  }
  if (!info.namespaced && hasNs) {
    causes.push_back({"metadata.namespace", "not allowed for a cluster-scoped kind"});
  }
  if (info.kind == "IPPool") {
    static const std::vector<std::string> known = {
        "cidr",       "blockSize",        "ipipMode",          "vxlanMode",    "natOutgoing",
        "disabled",   "disableBGPExport", "nodeSelector",      "allowedUses",  "assignmentMode",
        "namespaceSelector"};
    const Value* spec = obj.find("spec");
    if (!spec || spec->getString("cidr").empty()) {
      causes.push_back({"spec.cidr", "Required value"});
    }
    if (spec) {
      for (const auto& m : spec->asObject()) {
        if (std::find(known.begin(), known.end(), m.first) == known.end()) {
          std::string guess = closestMatch(m.first, known);
          causes.push_back({"spec." + m.first,
                            guess.empty() ? "unknown field"
                                          : "unknown field (did you mean \"" + guess + "\"?)"});
        }
      }
      for (const char* mode : {"ipipMode", "vxlanMode"}) {
        const Value* v = spec->find(mode);
        static const std::set<std::string> allowed = {"Always", "CrossSubnet", "Never"};
        if (v && !allowed.count(v->asString())) {
          causes.push_back({std::string("spec.") + mode,
                            "unknown value \"" + v->asString() +
                                "\" (allowed: Always, CrossSubnet, Never)"});
        }
      }
    }
  }
  if (!causes.empty()) {
    return Status::invalid(std::move(causes));
  }
  return Status::ok();
}

Status validateUpdate(const KindInfo&, const Value&, const Value&) { return Status::ok(); }

Status validateAgainst(const KindInfo&, const Value&, const std::vector<Value>&) {
  return Status::ok();
}

Value openapiSchema(const KindInfo&) { return Value::object(); }

} // namespace caracal::api
