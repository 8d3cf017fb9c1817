#include "felix/calc/items.h"

#include "policy/rules.h"

namespace caracal::felix::calc {

namespace {

using policy::kNamespaceLabel;
using policy::kNamespaceLabelPrefix;
using policy::kServiceAccountLabelPrefix;

api::Labels labelsAt(const Value& obj, const char* path) {
  api::Labels out;
  if (const Value* l = obj.path(path); l && l->isObject()) {
    for (const auto& [k, v] : l->asObject()) {
      if (v.isString()) {
        out[k] = v.asString();
      }
    }
  }
  return out;
}

std::vector<std::string> stringsAt(const Value& obj, const char* path) {
  std::vector<std::string> out;
  if (const Value* a = obj.path(path); a && a->isArray()) {
    for (const Value& v : a->asArray()) {
      if (v.isString() && !v.asString().empty()) {
        out.push_back(v.asString());
      }
    }
  }
  return out;
}

std::vector<NamedPort> portsAt(const Value& obj) {
  std::vector<NamedPort> out;
  if (const Value* a = obj.path("spec.ports"); a && a->isArray()) {
    for (const Value& p : a->asArray()) {
      int64_t port = p.path("port") ? p.path("port")->asInt() : 0;
      std::string name = p.getString("name");
      if (name.empty() || port <= 0 || port > 65535) {
        continue;
      }
      out.push_back(NamedPort{name, p.getString("protocol", "TCP"), static_cast<uint16_t>(port)});
    }
  }
  return out;
}

// "10.0.0.1" → "10.0.0.1/32", "fd00::1" → "fd00::1/128"; CIDRs unchanged.
std::string hostNet(const std::string& ip) {
  if (ip.find('/') != std::string::npos) {
    return ip;
  }
  return ip + (ip.find(':') != std::string::npos ? "/128" : "/32");
}

Profile prefixedProfile(std::string id, const api::Labels& labels, std::string_view prefix,
                        const std::string& name) {
  Profile p;
  p.id = std::move(id);
  for (const auto& [k, v] : labels) {
    p.labels[std::string(prefix) + k] = v;
  }
  p.labels[std::string(prefix) + "projectcalico.org/name"] = name;
  p.ingress = Value::array();
  p.egress = Value::array();
  return p;
}

Value allowAll() {
  Value rules = Value::array();
  rules.push(Value(Value::Object{{"action", Value("Allow")}}));
  return rules;
}

} // namespace

std::string itemId(const std::string& kind, const std::string& key) {
  if (kind == "WorkloadEndpoint") {
    return "wep/" + key;
  }
  if (kind == "HostEndpoint") {
    return "hep/" + key;
  }
  if (kind == "NetworkSet") {
    return "ns/" + key;
  }
  return "gns/" + key;
}

std::string profileId(const std::string& kind, const std::string& key) {
  if (kind == "Namespace") {
    return "kns." + key;
  }
  if (kind == "ServiceAccount") {
    auto slash = key.find('/');
    return "ksa." + key.substr(0, slash) + "." + key.substr(slash + 1);
  }
  return key;
}

std::optional<Item> workloadEndpointItem(const Value& wep) {
  const std::string ns = wep.getString("metadata.namespace");
  const std::string name = wep.getString("metadata.name");
  if (ns.empty() || name.empty()) {
    return std::nullopt;
  }
  Item it;
  it.id = itemId("WorkloadEndpoint", ns + "/" + name);
  it.labels = labelsAt(wep, "metadata.labels");
  // The CNI plugin sets these; a hand-made endpoint still gets its namespace.
  it.labels.emplace(std::string(kNamespaceLabel), ns);
  it.parents = stringsAt(wep, "spec.profiles");
  it.nets = stringsAt(wep, "spec.ipNetworks");
  it.ports = portsAt(wep);
  it.node = wep.getString("spec.node");
  it.interfaceName = wep.getString("spec.interfaceName");
  return it;
}

std::optional<Item> hostEndpointItem(const Value& hep) {
  const std::string name = hep.getString("metadata.name");
  if (name.empty()) {
    return std::nullopt;
  }
  Item it;
  it.id = itemId("HostEndpoint", name);
  it.labels = labelsAt(hep, "metadata.labels");
  it.parents = stringsAt(hep, "spec.profiles");
  for (const std::string& ip : stringsAt(hep, "spec.expectedIPs")) {
    it.nets.push_back(hostNet(ip));
  }
  it.ports = portsAt(hep);
  it.node = hep.getString("spec.node");
  it.interfaceName = hep.getString("spec.interfaceName");
  return it;
}

std::optional<Item> networkSetItem(const Value& set) {
  const std::string kind = set.getString("kind");
  const std::string name = set.getString("metadata.name");
  const std::string ns = set.getString("metadata.namespace");
  if (name.empty() || (kind == "NetworkSet" && ns.empty())) {
    return std::nullopt;
  }
  Item it;
  it.id = kind == "NetworkSet" ? itemId(kind, ns + "/" + name) : itemId(kind, name);
  it.labels = labelsAt(set, "metadata.labels");
  if (kind == "NetworkSet") {
    it.labels[std::string(kNamespaceLabel)] = ns;
    it.parents.push_back("kns." + ns); // namespaceSelector rules see its namespace's labels
  }
  it.nets = stringsAt(set, "spec.nets");
  return it;
}

std::optional<Profile> namespaceProfile(const Value& ns) {
  const std::string name = ns.getString("metadata.name");
  if (name.empty()) {
    return std::nullopt;
  }
  Profile p = prefixedProfile(profileId("Namespace", name), labelsAt(ns, "metadata.labels"),
                              kNamespaceLabelPrefix, name);
  p.ingress = allowAll();
  p.egress = allowAll();
  return p;
}

std::optional<Profile> serviceAccountProfile(const Value& sa) {
  const std::string ns = sa.getString("metadata.namespace");
  const std::string name = sa.getString("metadata.name");
  if (ns.empty() || name.empty()) {
    return std::nullopt;
  }
  return prefixedProfile(profileId("ServiceAccount", ns + "/" + name),
                         labelsAt(sa, "metadata.labels"), kServiceAccountLabelPrefix, name);
}

std::optional<Profile> profileFromObject(const Value& profile) {
  const std::string name = profile.getString("metadata.name");
  if (name.empty()) {
    return std::nullopt;
  }
  Profile p;
  p.id = name;
  p.labels = labelsAt(profile, "spec.labelsToApply");
  const Value* in = profile.path("spec.ingress");
  const Value* eg = profile.path("spec.egress");
  p.ingress = in && in->isArray() ? *in : Value::array();
  p.egress = eg && eg->isArray() ? *eg : Value::array();
  return p;
}

} // namespace caracal::felix::calc
