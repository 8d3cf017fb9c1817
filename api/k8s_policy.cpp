#include "api/k8s_policy.h"

#include "api/formats.h"
#include "api/netaddr.h"
#include "api/selector.h"
#include "common/strings.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>

namespace caracal::api {

namespace {

constexpr const char* kOrchestratorClause = "projectcalico.org/orchestrator == 'k8s'";
// Limits of the Calico NetworkPolicy schema (api/kinds_calico.cpp, kinds_common.cpp).
constexpr size_t kMaxPortsPerRule = 50;
constexpr size_t kMaxRulesPerDirection = 1024;
constexpr size_t kMaxPolicySelectorLength = 1024;
constexpr size_t kMaxNameLength = 253;

std::string child(const std::string& path, std::string_view key) {
  return path + "." + std::string(key);
}

std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string quoted(std::string_view s) { return jsonQuote(s); }

// A present, non-null member.
const Value* member(const Value& obj, std::string_view key) {
  const Value* v = obj.find(key);
  return v && !v->isNull() ? v : nullptr;
}

// Calico selector strings have no escapes: quote with ' unless the value holds one.
std::string quoteSelectorValue(const std::string& v) {
  char q = v.find('\'') == std::string::npos ? '\'' : '"';
  return q + v + q;
}

// ---- label selectors ---------------------------------------------------------------------------

// Everything convertK8sNetworkPolicy needs to trust k8sSelectorToCalico's output: the shape of a
// metav1.LabelSelector, label keys and values in Kubernetes' syntax (which never needs quoting),
// known operators. Appends "<path>: <why>" lines to `out`.
void checkLabelSelector(const Value& sel, const std::string& path, std::vector<std::string>& out) {
  if (!sel.isObject()) {
    out.push_back(path + ": must be a label selector object, got " + sel.typeName());
    return;
  }
  for (const auto& kv : sel.asObject()) {
    if (kv.first != "matchLabels" && kv.first != "matchExpressions") {
      out.push_back(path + ": unknown field " + quoted(kv.first));
    }
  }
  if (const Value* ml = member(sel, "matchLabels")) {
    std::string mpath = child(path, "matchLabels");
    if (!ml->isObject()) {
      out.push_back(mpath + ": must be a map of label keys to values");
    } else {
      for (const auto& [key, value] : ml->asObject()) {
        std::string kpath = child(mpath, key);
        if (std::string err = checkQualifiedName(key); !err.empty()) {
          out.push_back(kpath + ": invalid label key " + quoted(key) + ": " + err);
        }
        if (!value.isString()) {
          out.push_back(kpath + ": label value must be a string");
        } else if (std::string err = checkLabelValue(value.asString()); !err.empty()) {
          out.push_back(kpath + ": invalid label value " + quoted(value.asString()) + ": " + err);
        }
      }
    }
  }
  const Value* exprs = member(sel, "matchExpressions");
  if (!exprs) {
    return;
  }
  std::string epath = child(path, "matchExpressions");
  if (!exprs->isArray()) {
    out.push_back(epath + ": must be a list");
    return;
  }
  for (size_t i = 0; i < exprs->size(); ++i) {
    const Value& e = exprs->asArray()[i];
    std::string ipath = index(epath, i);
    if (!e.isObject()) {
      out.push_back(ipath + ": must be an object");
      continue;
    }
    const Value* key = member(e, "key");
    if (!key || !key->isString()) {
      out.push_back(child(ipath, "key") + ": required string");
    } else if (std::string err = checkQualifiedName(key->asString()); !err.empty()) {
      out.push_back(child(ipath, "key") + ": invalid label key " + quoted(key->asString()) + ": " +
                    err);
    }
    std::string op = e.getString("operator");
    bool setOp = op == "In" || op == "NotIn";
    bool known = setOp || op == "Exists" || op == "DoesNotExist";
    if (!known) {
      out.push_back(child(ipath, "operator") + ": unknown operator " + quoted(op) +
                    " (allowed: In, NotIn, Exists, DoesNotExist)");
    }
    const Value* values = member(e, "values");
    if (values && !values->isArray()) {
      out.push_back(child(ipath, "values") + ": must be a list");
      continue;
    }
    size_t n = values ? values->size() : 0;
    if (setOp && n == 0) {
      out.push_back(child(ipath, "values") + ": must be non-empty when operator is " + op);
    }
    if (known && !setOp && n > 0) {
      out.push_back(child(ipath, "values") + ": must be empty when operator is " + op);
    }
    for (size_t j = 0; j < n; ++j) {
      const Value& v = values->asArray()[j];
      std::string vpath = index(child(ipath, "values"), j);
      if (!v.isString()) {
        out.push_back(vpath + ": must be a string");
      } else if (std::string err = checkLabelValue(v.asString()); !err.empty()) {
        out.push_back(vpath + ": invalid label value " + quoted(v.asString()) + ": " + err);
      }
    }
  }
}

// ---- ports --------------------------------------------------------------------------------------

struct PortEntry {
  std::string name; // a named port; else the numeric range below
  int64_t min = 0;
  int64_t max = 0;
};

Value portValue(const PortEntry& p) {
  if (!p.name.empty()) {
    return Value(p.name);
  }
  if (p.min == p.max) {
    return Value(p.min);
  }
  return Value(std::to_string(p.min) + ":" + std::to_string(p.max));
}

// Calico's port simplification: named ports first (in order), then the numeric ports sorted and
// merged into the fewest ranges. A list with at most one entry, or covering at most one port
// number, is left in its order.
std::vector<Value> simplifyPorts(const std::vector<PortEntry>& in) {
  int64_t numericCount = 0;
  std::vector<PortEntry> numeric;
  std::vector<Value> out;
  for (const auto& p : in) {
    if (p.name.empty()) {
      numericCount += p.max - p.min + 1;
      numeric.push_back(p);
    }
  }
  if (in.size() <= 1 || numericCount <= 1) {
    for (const auto& p : in) {
      out.push_back(portValue(p));
    }
    return out;
  }
  for (const auto& p : in) {
    if (!p.name.empty()) {
      out.push_back(portValue(p));
    }
  }
  std::sort(numeric.begin(), numeric.end(), [](const PortEntry& a, const PortEntry& b) {
    return a.min != b.min ? a.min < b.min : a.max < b.max;
  });
  PortEntry cur = numeric.front();
  for (size_t i = 1; i < numeric.size(); ++i) {
    if (numeric[i].min <= cur.max + 1) {
      cur.max = std::max(cur.max, numeric[i].max);
    } else {
      out.push_back(portValue(cur));
      cur = numeric[i];
    }
  }
  out.push_back(portValue(cur));
  return out;
}

bool allDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// One k8s NetworkPolicyPort. Returns the protocol and the ports (nullopt: every port of the
// protocol), or appends problems and returns nullopt.
struct ConvertedPort {
  std::string protocol;
  std::optional<PortEntry> port;
};

std::optional<ConvertedPort> convertPort(const Value& p, const std::string& path,
                                         std::vector<std::string>& problems) {
  size_t before = problems.size();
  if (!p.isObject() && !p.isNull()) {
    problems.push_back(path + ": must be an object, got " + p.typeName());
    return std::nullopt;
  }
  ConvertedPort out;
  out.protocol = "TCP"; // NetworkPolicyPort's default
  if (const Value* proto = member(p, "protocol")) {
    std::string s = proto->isString() ? proto->asString() : toJson(*proto);
    if (s != "TCP" && s != "UDP" && s != "SCTP") {
      problems.push_back(child(path, "protocol") + ": unsupported protocol " + quoted(s) +
                         " (allowed: TCP, UDP, SCTP)");
    }
    out.protocol = s;
  }
  const Value* port = member(p, "port");
  const Value* end = member(p, "endPort");
  if (!port) {
    if (end) {
      problems.push_back(child(path, "endPort") + ": may not be set without port");
    }
    return problems.size() == before ? std::optional(out) : std::nullopt;
  }
  PortEntry e;
  bool numeric = false;
  if (port->isInt()) {
    e.min = e.max = port->asInt();
    numeric = true;
  } else if (port->isString() && allDigits(port->asString())) {
    // An IntOrString holding digits: Calico reads it as the number.
    const std::string& s = port->asString();
    e.min = e.max = s.size() > 18 ? INT64_MAX : std::stoll(s);
    numeric = true;
  } else if (port->isString()) {
    e.name = port->asString();
    if (std::string err = checkPortName(e.name); !err.empty()) {
      problems.push_back(path + ": invalid port name " + quoted(e.name) + ": " + err);
    }
  } else {
    problems.push_back(child(path, "port") + ": must be a number or a port name, got " +
                       port->typeName());
  }
  if (numeric && (e.min < 1 || e.min > 65535)) {
    problems.push_back(path + ": port " + std::to_string(e.min) + " is out of range");
  }
  if (end) {
    if (!end->isInt()) {
      problems.push_back(child(path, "endPort") + ": must be a number, got " + end->typeName());
    } else if (!numeric) {
      problems.push_back(child(path, "endPort") + ": may not be set with a named port");
    } else if (end->asInt() < 1 || end->asInt() > 65535) {
      problems.push_back(child(path, "endPort") + ": endPort " + std::to_string(end->asInt()) +
                         " is out of range");
    } else if (end->asInt() < e.min) {
      problems.push_back(child(path, "endPort") + ": endPort " + std::to_string(end->asInt()) +
                         " is less than port " + std::to_string(e.min));
    } else {
      e.max = end->asInt();
    }
  }
  out.port = e;
  return problems.size() == before ? std::optional(out) : std::nullopt;
}

// ---- peers --------------------------------------------------------------------------------------

// The Calico entity-rule fields of one k8s peer.
struct PeerFields {
  std::string selector;
  std::string namespaceSelector;
  std::vector<std::string> nets;
  std::vector<std::string> notNets;
};

std::optional<PeerFields> convertPeer(const Value& peer, const std::string& path,
                                      std::vector<std::string>& problems) {
  size_t before = problems.size();
  if (!peer.isObject()) {
    problems.push_back(path + ": must be an object, got " + peer.typeName());
    return std::nullopt;
  }
  const Value* block = member(peer, "ipBlock");
  const Value* pods = member(peer, "podSelector");
  const Value* nss = member(peer, "namespaceSelector");
  if (!block && !pods && !nss) {
    problems.push_back(path +
                       ": must specify at least one of podSelector, namespaceSelector or ipBlock");
    return std::nullopt;
  }
  if (block && (pods || nss)) {
    problems.push_back(child(path, "ipBlock") +
                       ": may not be combined with podSelector or namespaceSelector");
    return std::nullopt;
  }
  PeerFields out;
  if (block) {
    std::string bpath = child(path, "ipBlock");
    if (!block->isObject()) {
      problems.push_back(bpath + ": must be an object");
      return std::nullopt;
    }
    std::string cidrText = block->getString("cidr");
    auto cidr = parseCidr(cidrText);
    if (!cidr) {
      problems.push_back(child(bpath, "cidr") + ": invalid CIDR " + quoted(cidrText));
      return std::nullopt;
    }
    out.nets.push_back(cidr->masked().str());
    if (const Value* except = member(*block, "except")) {
      if (!except->isArray()) {
        problems.push_back(child(bpath, "except") + ": must be a list");
        return std::nullopt;
      }
      std::set<std::string> seen;
      for (size_t i = 0; i < except->size(); ++i) {
        std::string epath = index(child(bpath, "except"), i);
        const std::string& text = except->asArray()[i].asString();
        auto ex = parseCidr(text);
        if (!ex) {
          problems.push_back(epath + ": invalid CIDR " + quoted(text));
          continue;
        }
        if (ex->addr.family != cidr->addr.family) {
          problems.push_back(epath + ": " + quoted(text) + " is not in the family of cidr " +
                             quoted(cidrText));
          continue;
        }
        std::string masked = ex->masked().str();
        if (seen.insert(masked).second) {
          out.notNets.push_back(masked);
        }
      }
    }
    return problems.size() == before ? std::optional(out) : std::nullopt;
  }
  if (pods) {
    checkLabelSelector(*pods, child(path, "podSelector"), problems);
  }
  if (nss) {
    checkLabelSelector(*nss, child(path, "namespaceSelector"), problems);
  }
  if (problems.size() != before) {
    return std::nullopt;
  }
  out.selector = k8sSelectorToCalico(pods ? *pods : Value(), true);
  out.namespaceSelector = nss ? k8sSelectorToCalico(*nss, false) : "";
  for (const std::string* s : {&out.selector, &out.namespaceSelector}) {
    if (!s->empty()) {
      if (Status st = validateSelector(*s); !st.isOk()) {
        problems.push_back(path + ": cannot express as a Calico selector: " + st.message());
        return std::nullopt;
      }
    }
  }
  return out;
}

Value stringArray(const std::vector<std::string>& v) {
  Value out = Value::array();
  for (const auto& s : v) {
    out.push(Value(s));
  }
  return out;
}

// ---- rules --------------------------------------------------------------------------------------

// One k8s ingress/egress rule as Calico rules: for each protocol (sorted) for each peer, one Allow
// rule. Returns nullopt (and appends problems) when any part of the rule cannot be converted.
std::optional<std::vector<Value>> convertRule(const Value& rule, const std::string& path,
                                              bool ingress, std::vector<std::string>& problems) {
  size_t before = problems.size();
  if (!rule.isObject() && !rule.isNull()) {
    problems.push_back(path + ": must be an object, got " + rule.typeName());
    return std::nullopt;
  }
  const char* peersKey = ingress ? "from" : "to";
  std::vector<std::optional<PeerFields>> peers;
  if (const Value* list = member(rule, peersKey)) {
    if (!list->isArray()) {
      problems.push_back(child(path, peersKey) + ": must be a list");
    } else {
      for (size_t i = 0; i < list->size(); ++i) {
        peers.push_back(convertPeer(list->asArray()[i], index(child(path, peersKey), i), problems));
      }
    }
  }
  // Protocol => ports; nullopt means every port. "" (no protocol) only when the rule has no ports.
  std::map<std::string, std::optional<std::vector<PortEntry>>> byProtocol;
  const Value* portList = member(rule, "ports");
  if (portList && !portList->isArray()) {
    problems.push_back(child(path, "ports") + ": must be a list");
  } else if (portList) {
    for (size_t i = 0; i < portList->size(); ++i) {
      auto p = convertPort(portList->asArray()[i], index(child(path, "ports"), i), problems);
      if (!p) {
        continue;
      }
      auto it = byProtocol.find(p->protocol);
      if (!p->port) {
        byProtocol[p->protocol] = std::nullopt; // every port wins over a list
      } else if (it == byProtocol.end()) {
        byProtocol[p->protocol] = std::vector<PortEntry>{*p->port};
      } else if (it->second) {
        it->second->push_back(*p->port);
      }
    }
  }
  if (problems.size() != before) {
    return std::nullopt;
  }
  if (byProtocol.empty()) {
    byProtocol[""] = std::nullopt;
  }
  if (peers.empty()) {
    peers.push_back(std::nullopt); // any peer
  }

  std::vector<Value> out;
  for (const auto& [protocol, ports] : byProtocol) {
    // Chunks of at most kMaxPortsPerRule ports; one chunk without ports for "every port".
    std::vector<std::vector<Value>> chunks;
    if (!ports) {
      chunks.emplace_back();
    } else {
      std::vector<Value> all = simplifyPorts(*ports);
      for (size_t i = 0; i < all.size(); i += kMaxPortsPerRule) {
        size_t end = std::min(all.size(), i + kMaxPortsPerRule);
        chunks.emplace_back(all.begin() + i, all.begin() + end);
      }
    }
    for (const auto& chunk : chunks) {
      for (const auto& peer : peers) {
        Value peerSide = Value::object();
        if (peer) {
          if (!peer->nets.empty()) {
            peerSide.set("nets", stringArray(peer->nets));
          }
          if (!peer->selector.empty()) {
            peerSide.set("selector", Value(peer->selector));
          }
          if (!peer->namespaceSelector.empty()) {
            peerSide.set("namespaceSelector", Value(peer->namespaceSelector));
          }
          if (!peer->notNets.empty()) {
            peerSide.set("notNets", stringArray(peer->notNets));
          }
        }
        Value r = Value::object();
        r.set("action", Value("Allow"));
        if (!protocol.empty()) {
          r.set("protocol", Value(protocol));
        }
        Value dest = ingress ? Value::object() : peerSide;
        if (!chunk.empty()) {
          dest.set("ports", Value(Value::Array(chunk)));
        }
        if (ingress && peerSide.size() > 0) {
          r.set("source", std::move(peerSide));
        }
        if (dest.size() > 0) {
          r.set("destination", std::move(dest));
        }
        out.push_back(std::move(r));
      }
    }
  }
  return out;
}

// Converts spec.ingress or spec.egress. Returns the Calico rules and the number of k8s rules.
std::vector<Value> convertDirection(const Value& spec, bool ingress, size_t& k8sRuleCount,
                                    std::vector<std::string>& problems) {
  const char* key = ingress ? "ingress" : "egress";
  std::string path = std::string("spec.") + key;
  std::vector<Value> out;
  k8sRuleCount = 0;
  const Value* rules = member(spec, key);
  if (!rules) {
    return out;
  }
  if (!rules->isArray()) {
    problems.push_back(path + ": must be a list, got " + rules->typeName());
    return out;
  }
  k8sRuleCount = rules->size();
  for (size_t i = 0; i < rules->size(); ++i) {
    std::string rpath = index(path, i);
    auto converted = convertRule(rules->asArray()[i], rpath, ingress, problems);
    if (!converted) {
      continue;
    }
    if (out.size() + converted->size() > kMaxRulesPerDirection) {
      problems.push_back(rpath + ": its " + std::to_string(converted->size()) +
                         " Calico rules would exceed the limit of " +
                         std::to_string(kMaxRulesPerDirection) + " " + key + " rules");
      continue;
    }
    for (auto& r : *converted) {
      out.push_back(std::move(r));
    }
  }
  return out;
}

Status invalid(std::string field, std::string message) {
  return Status::invalidField(std::move(field), std::move(message));
}

} // namespace

std::string k8sSelectorToCalico(const Value& labelSelector, bool orchestratorClause) {
  std::vector<std::string> terms;
  if (orchestratorClause) {
    terms.push_back(kOrchestratorClause);
  }
  if (!labelSelector.isObject()) {
    return join(terms, " && ");
  }
  const Value* ml = member(labelSelector, "matchLabels");
  const Value* exprs = member(labelSelector, "matchExpressions");
  bool noLabels = !ml || !ml->isObject() || ml->asObject().empty();
  bool noExprs = !exprs || !exprs->isArray() || exprs->size() == 0;
  if (!orchestratorClause && noLabels && noExprs) {
    return "all()";
  }
  if (!noLabels) {
    std::vector<std::pair<std::string, std::string>> labels;
    for (const auto& [k, v] : ml->asObject()) {
      labels.emplace_back(k, v.asString());
    }
    std::sort(labels.begin(), labels.end());
    for (const auto& [k, v] : labels) {
      terms.push_back(k + " == " + quoteSelectorValue(v));
    }
  }
  if (!noExprs) {
    for (const auto& e : exprs->asArray()) {
      std::string key = e.getString("key");
      std::string op = e.getString("operator");
      if (op == "In" || op == "NotIn") {
        std::vector<std::string> values;
        if (const Value* vs = member(e, "values"); vs && vs->isArray()) {
          for (const auto& v : vs->asArray()) {
            values.push_back(quoteSelectorValue(v.asString()));
          }
        }
        std::string set = values.empty() ? "{}" : "{ " + join(values, ", ") + " }";
        terms.push_back(key + (op == "In" ? " in " : " not in ") + set);
      } else if (op == "Exists") {
        terms.push_back("has(" + key + ")");
      } else if (op == "DoesNotExist") {
        terms.push_back("! has(" + key + ")");
      }
    }
  }
  return join(terms, " && ");
}

Result<K8sPolicyConversion> convertK8sNetworkPolicy(const Value& knp) {
  if (!knp.isObject()) {
    return invalid("", std::string("a NetworkPolicy must be an object, got ") + knp.typeName());
  }
  std::string apiVersion = knp.getString("apiVersion", "networking.k8s.io/v1");
  std::string kind = knp.getString("kind", "NetworkPolicy");
  if (apiVersion != "networking.k8s.io/v1" || kind != "NetworkPolicy") {
    return invalid("kind",
                   "expected a networking.k8s.io/v1 NetworkPolicy, got " + apiVersion + " " + kind);
  }
  std::string name = knp.getString("metadata.name");
  std::string ns = knp.getString("metadata.namespace");
  if (name.empty()) {
    return invalid("metadata.name", "required value");
  }
  if (ns.empty()) {
    return invalid("metadata.namespace", "required value");
  }
  if (std::string err = checkDns1123Subdomain(name); !err.empty()) {
    return invalid("metadata.name", "invalid value " + quoted(name) + ": " + err);
  }
  if (std::string err = checkDns1123Label(ns); !err.empty()) {
    return invalid("metadata.namespace", "invalid value " + quoted(ns) + ": " + err);
  }
  std::string policyName = kConvertedPolicyPrefix + name;
  if (policyName.size() > kMaxNameLength) {
    return invalid("metadata.name", "too long: " + quoted(policyName) + " would exceed " +
                                        std::to_string(kMaxNameLength) + " characters");
  }

  Value spec = Value::object();
  if (const Value* s = member(knp, "spec")) {
    if (!s->isObject()) {
      return invalid("spec", std::string("must be an object, got ") + s->typeName());
    }
    spec = *s;
  }

  // The policy's own selector: without it we cannot tell which pods the policy isolates.
  std::vector<std::string> selectorProblems;
  const Value* podSelector = member(spec, "podSelector");
  if (podSelector) {
    checkLabelSelector(*podSelector, "spec.podSelector", selectorProblems);
  }
  std::string selector;
  if (selectorProblems.empty()) {
    selector = k8sSelectorToCalico(podSelector ? *podSelector : Value(), true);
    if (Status st = validateSelector(selector); !st.isOk()) {
      selectorProblems.push_back("spec.podSelector: cannot express as a Calico selector: " +
                                 st.message());
    } else if (selector.size() > kMaxPolicySelectorLength) {
      selectorProblems.push_back("spec.podSelector: the Calico selector would exceed " +
                                 std::to_string(kMaxPolicySelectorLength) + " characters");
    }
  }
  if (!selectorProblems.empty()) {
    std::vector<FieldCause> causes;
    for (const auto& p : selectorProblems) {
      size_t colon = p.find(": ");
      causes.push_back({p.substr(0, colon), p.substr(colon + 2)});
    }
    return Status::invalid(std::move(causes));
  }

  K8sPolicyConversion result;
  size_t k8sIngress = 0;
  size_t k8sEgress = 0;
  std::vector<Value> ingress = convertDirection(spec, true, k8sIngress, result.problems);
  std::vector<Value> egress = convertDirection(spec, false, k8sEgress, result.problems);

  // Types: as listed (Ingress before Egress); when none is listed, Kubernetes' default: Ingress,
  // plus Egress when the policy has egress rules.
  bool typeIngress = false;
  bool typeEgress = false;
  bool anyListed = false;
  if (const Value* types = member(spec, "policyTypes")) {
    if (!types->isArray()) {
      result.problems.push_back("spec.policyTypes: must be a list (ignored)");
    } else {
      for (size_t i = 0; i < types->size(); ++i) {
        const Value& t = types->asArray()[i];
        if (t.isString() && t.asString() == "Ingress") {
          typeIngress = anyListed = true;
        } else if (t.isString() && t.asString() == "Egress") {
          typeEgress = anyListed = true;
        } else {
          result.problems.push_back(index("spec.policyTypes", i) + ": unknown policy type " +
                                    (t.isString() ? quoted(t.asString()) : toJson(t)) +
                                    " (ignored)");
        }
      }
    }
  }
  if (!anyListed) {
    typeIngress = true;
    typeEgress = k8sEgress > 0;
  }
  if (!typeEgress && !egress.empty()) {
    result.problems.push_back("spec.egress: has no effect: policyTypes does not include Egress");
  }
  if (!typeIngress && !ingress.empty()) {
    result.problems.push_back("spec.ingress: has no effect: policyTypes does not include Ingress");
  }

  Value meta = Value::object();
  meta.set("name", Value(policyName));
  meta.set("namespace", Value(ns));
  Value annotations = Value::object();
  annotations.set(kSourceNameAnnotation, Value(name));
  if (const Value* uid = knp.path("metadata.uid");
      uid && uid->isString() && !uid->asString().empty()) {
    annotations.set(kSourceUidAnnotation, *uid);
  }
  if (const Value* rv = knp.path("metadata.resourceVersion");
      rv && rv->isString() && !rv->asString().empty()) {
    annotations.set(kSourceResourceVersionAnnotation, *rv);
  }
  meta.set("annotations", std::move(annotations));

  Value types = Value::array();
  if (typeIngress) {
    types.push(Value("Ingress"));
  }
  if (typeEgress) {
    types.push(Value("Egress"));
  }
  Value outSpec = Value::object();
  outSpec.set("tier", Value("default"));
  outSpec.set("order", Value(kConvertedPolicyOrder));
  outSpec.set("selector", Value(selector));
  outSpec.set("types", std::move(types));
  if (!ingress.empty()) {
    outSpec.set("ingress", Value(std::move(ingress)));
  }
  if (!egress.empty()) {
    outSpec.set("egress", Value(std::move(egress)));
  }

  Value policy = Value::object();
  policy.set("apiVersion", Value("projectcalico.org/v3"));
  policy.set("kind", Value("NetworkPolicy"));
  policy.set("metadata", std::move(meta));
  policy.set("spec", std::move(outSpec));
  result.policy = std::move(policy);
  return result;
}

} // namespace caracal::api
