// The Kubernetes kinds caracal serves itself in standalone mode: v1 Namespace, Pod, Node,
// ServiceAccount, Secret, Event, and networking.k8s.io/v1 NetworkPolicy. Only what caracal reads is
// modelled strictly; the rest of a Pod or Node is kept as it came ("preserve unknown fields") so
// that real manifests round-trip.
#include "api/formats.h"
#include "api/kinds_internal.h"
#include "api/netaddr.h"
#include "common/base64.h"
#include "common/strings.h"

#include <algorithm>
#include <cctype>

namespace caracal::api::detail {

using namespace schema;

namespace {

KindInfo k8sInfo(std::string group, std::string kind, std::string plural, std::string singular,
                 bool namespaced, std::vector<std::string> shortNames) {
  KindInfo i;
  i.group = std::move(group);
  i.version = "v1";
  i.kind = std::move(kind);
  i.plural = std::move(plural);
  i.singular = std::move(singular);
  i.namespaced = namespaced;
  i.shortNames = std::move(shortNames);
  return i;
}

N protocolTUS() { return str().enums({"TCP", "UDP", "SCTP"}).def("TCP"); }

// kubectl's rendering of a label selector: "app=api,tier in (be,fe)", "<none>" when empty.
std::string formatLabelSelector(const Value* sel) {
  if (!sel || !sel->isObject()) {
    return "<none>";
  }
  std::vector<std::pair<std::string, std::string>> reqs; // key, text
  if (const Value* ml = sel->find("matchLabels"); ml && ml->isObject()) {
    for (const auto& kv : ml->asObject()) {
      reqs.emplace_back(kv.first, kv.first + "=" + kv.second.asString());
    }
  }
  if (const Value* me = sel->find("matchExpressions"); me && me->isArray()) {
    for (const auto& e : me->asArray()) {
      std::string k = e.getString("key");
      std::string op = e.getString("operator");
      std::vector<std::string> vals;
      if (const Value* vs = e.find("values"); vs && vs->isArray()) {
        for (const auto& v : vs->asArray()) {
          vals.push_back(v.asString());
        }
      }
      std::sort(vals.begin(), vals.end());
      std::string text;
      if (op == "In") {
        text = k + " in (" + join(vals, ",") + ")";
      } else if (op == "NotIn") {
        text = k + " notin (" + join(vals, ",") + ")";
      } else if (op == "Exists") {
        text = k;
      } else if (op == "DoesNotExist") {
        text = "!" + k;
      } else {
        continue;
      }
      reqs.emplace_back(k, text);
    }
  }
  if (reqs.empty()) {
    return "<none>";
  }
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> parts;
  for (const auto& r : reqs) {
    parts.push_back(r.second);
  }
  return join(parts, ",");
}

// ---- Namespace ---------------------------------------------------------------------------------

KindDef namespaceKind() {
  KindDef d;
  d.info = k8sInfo("", "Namespace", "namespaces", "namespace", false, {"ns"});
  d.info.columns = {nameColumn(), pathColumn("STATUS", 0, "status.phase", "Active")};
  N spec = object({F("finalizers", array(str()).unique())});
  N status = object({
                        F("phase", str().enums({"Active", "Terminating"}).def("Active")),
                        F("conditions", array(object({}).preserveUnknown())),
                    })
                 .def(Value::object());
  Check nameLabel = [](Value& obj, const std::string&, Ctx&) {
    std::string name = obj.getString("metadata.name");
    if (name.empty() || !checkDns1123Label(name).empty()) {
      return;
    }
    const Value* labels = obj.path("metadata.labels");
    if (labels && !labels->isObject()) {
      return; // already reported as a type error
    }
    // Kubernetes keeps this label equal to the name, whatever the client sent.
    obj["metadata"]["labels"].set("kubernetes.io/metadata.name", name);
  };
  d.schema =
      objectSchema(NameRule::Label, false, {F("spec", spec), F("status", status)}, {nameLabel})
          .ptr();
  return d;
}

// ---- Pod ---------------------------------------------------------------------------------------

KindDef podKind() {
  KindDef d;
  d.info = k8sInfo("", "Pod", "pods", "pod", true, {"po"});
  d.info.columns = {
      nameColumn(),
      pathColumn("STATUS", 0, "status.phase", "Pending"),
      pathColumn("IP", 1, "status.podIP"),
      pathColumn("NODE", 1, "spec.nodeName"),
  };
  N containerPort = object({
      F("name", portName()),
      F("containerPort", integer().range(1, 65535)).required(),
      F("protocol", protocolTUS()),
      F("hostPort", integer().range(0, 65535)).zeroIsUnset(),
      F("hostIP", ipAddress()),
  });
  N container = object({
                           F("name", labelName()).required(),
                           F("ports", array(containerPort)),
                       })
                    .preserveUnknown()
                    .check([](Value& c, const std::string& path, Ctx& ctx) {
                      const Value* ports = c.find("ports");
                      if (!ports || !ports->isArray()) {
                        return;
                      }
                      std::vector<std::string> names;
                      for (size_t i = 0; i < ports->size(); ++i) {
                        std::string n = ports->asArray()[i].getString("name");
                        if (n.empty()) {
                          continue;
                        }
                        if (std::find(names.begin(), names.end(), n) != names.end()) {
                          ctx.add(child(index(child(path, "ports"), i), "name"),
                                  "duplicate port name " + quoted(n), kDuplicate);
                        }
                        names.push_back(n);
                      }
                    });
  N podIp = object({F("ip", ipAddress()).required()});
  N spec = object({
                      F("nodeName", resourceName()).immutableOnceSet(),
                      F("serviceAccountName", resourceName()).immutableOnceSet(),
                      F("serviceAccount", resourceName()),
                      F("hostNetwork", boolean()),
                      F("containers", array(container)),
                      F("initContainers", array(container)),
                  })
               .preserveUnknown();
  N status =
      object({
                 F("phase", str().enums({"Pending", "Running", "Succeeded", "Failed", "Unknown"})),
                 F("podIP", ipAddress()),
                 F("podIPs", array(podIp)),
                 F("hostIP", ipAddress()),
                 F("hostIPs", array(podIp)),
             })
          .preserveUnknown();
  d.schema = objectSchema(NameRule::Subdomain, true, {F("spec", spec), F("status", status)}).ptr();
  return d;
}

// ---- Node --------------------------------------------------------------------------------------

KindDef nodeKind() {
  KindDef d;
  d.info = k8sInfo("", "Node", "nodes", "node", false, {"no"});
  d.info.columns = {
      nameColumn(),
      column("STATUS", 0,
             [](const Value& o) {
               std::string status = "Unknown";
               const Value* conds = o.path("status.conditions");
               if (conds && conds->isArray()) {
                 for (const auto& c : conds->asArray()) {
                   if (c.getString("type") == "Ready") {
                     std::string s = c.getString("status");
                     status = s == "True" ? "Ready" : s == "False" ? "NotReady" : "Unknown";
                   }
                 }
               }
               const Value* unsched = o.path("spec.unschedulable");
               if (unsched && unsched->isBool() && unsched->asBool()) {
                 status += ",SchedulingDisabled";
               }
               return status;
             }),
      column("INTERNAL-IP", 1,
             [](const Value& o) {
               const Value* addrs = o.path("status.addresses");
               if (addrs && addrs->isArray()) {
                 for (const auto& a : addrs->asArray()) {
                   if (a.getString("type") == "InternalIP") {
                     return a.getString("address");
                   }
                 }
               }
               return std::string("<none>");
             }),
  };
  CidrOpts podCidr;
  podCidr.allowBareIp = false;
  podCidr.allowHostBits = true;
  N taint = object({
      F("key", str()).required(),
      F("value", str()),
      F("effect", str().enums({"NoSchedule", "PreferNoSchedule", "NoExecute"})).required(),
      F("timeAdded", timestamp()),
  });
  N spec = object({
                      F("podCIDR", cidr(podCidr)).immutableOnceSet(),
                      F("podCIDRs", array(cidr(podCidr)).maxItems(2).unique()).immutableOnceSet(),
                      F("providerID", str()).immutableOnceSet(),
                      F("unschedulable", boolean()),
                      F("taints", array(taint)),
                  })
               .preserveUnknown()
               .check([](Value& s, const std::string& path, Ctx& ctx) {
                 const Value* list = s.find("podCIDRs");
                 if (list && list->isArray()) {
                   bool v4 = false;
                   bool v6 = false;
                   for (size_t i = 0; i < list->size(); ++i) {
                     auto n = parseCidr(list->asArray()[i].asString());
                     if (!n) {
                       continue;
                     }
                     bool& seen = n->addr.family == 4 ? v4 : v6;
                     if (seen) {
                       ctx.add(index(child(path, "podCIDRs"), i),
                               "at most one CIDR per IP family is allowed");
                     }
                     seen = true;
                   }
                   if (s.has("podCIDR") && list->size() > 0 &&
                       list->asArray()[0] != *s.find("podCIDR")) {
                     ctx.add(child(path, "podCIDR"), "must equal the first entry of podCIDRs");
                   }
                 }
               });
  N address = object({
      F("type", str().enums({"Hostname", "ExternalIP", "InternalIP", "ExternalDNS", "InternalDNS"}))
          .required(),
      F("address", str()).required(),
  });
  N condition = object({
                           F("type", str()).required(),
                           F("status", str().enums({"True", "False", "Unknown"})).required(),
                       })
                    .preserveUnknown();
  N status = object({
                        F("addresses", array(address)),
                        F("conditions", array(condition)),
                    })
                 .preserveUnknown();
  d.schema = objectSchema(NameRule::Subdomain, false, {F("spec", spec), F("status", status)}).ptr();
  return d;
}

// ---- ServiceAccount ----------------------------------------------------------------------------

KindDef serviceAccountKind() {
  KindDef d;
  d.info = k8sInfo("", "ServiceAccount", "serviceaccounts", "serviceaccount", true, {"sa"});
  d.info.columns = {
      nameColumn(),
      column(
          "SECRETS", 0,
          [](const Value& o) {
            const Value* s = o.find("secrets");
            return std::to_string(s && s->isArray() ? s->size() : 0);
          },
          "integer"),
  };
  N objectRef = object({
      F("apiVersion", str()),
      F("kind", str()),
      F("name", str()),
      F("namespace", str()),
      F("uid", str()),
      F("resourceVersion", str()),
      F("fieldPath", str()),
  });
  d.schema = objectSchema(NameRule::Subdomain, true,
                          {
                              F("secrets", array(objectRef)),
                              F("imagePullSecrets", array(object({F("name", str())}))),
                              F("automountServiceAccountToken", boolean()),
                          })
                 .ptr();
  return d;
}

// ---- Secret ------------------------------------------------------------------------------------

// Kubernetes secret keys: non-empty, at most 253 characters of [-._a-zA-Z0-9].
std::string checkSecretKey(const std::string& k) {
  if (k.empty() || k.size() > 253) {
    return "must be 1 to 253 characters";
  }
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return "must consist of alphanumeric characters, '-', '_' or '.'";
    }
  }
  return "";
}

KindDef secretKind() {
  KindDef d;
  d.info = k8sInfo("", "Secret", "secrets", "secret", true, {});
  d.info.columns = {
      nameColumn(),
      pathColumn("TYPE", 0, "type", "Opaque"),
      column(
          "DATA", 0,
          [](const Value& o) {
            const Value* data = o.find("data");
            return std::to_string(data && data->isObject() ? data->size() : 0);
          },
          "integer"),
  };
  auto keysValid = [](bool base64) {
    return [base64](Value& v, const std::string& path, Ctx& ctx) {
      for (const auto& m : v.asObject()) {
        std::string err = checkSecretKey(m.first);
        if (!err.empty()) {
          ctx.add(path, "invalid key " + quoted(m.first) + ": " + err);
        }
        if (base64 && m.second.isString() &&
            !base64Decode(m.second.asString(), Base64Mode::Strict)) {
          ctx.add(key(path, m.first), "value of key " + quoted(m.first) +
                                          " is not valid base64 (use stringData for plain text)");
        }
      }
    };
  };
  d.schema = objectSchema(NameRule::Subdomain, true,
                          {
                              F("type", str().def("Opaque")),
                              F("data", mapOf(str()).check(keysValid(true))),
                              F("stringData", mapOf(str()).check(keysValid(false))),
                              F("immutable", boolean()),
                          })
                 .ptr();
  d.update = [](const Value& oldObj, const Value& newObj, Ctx& ctx) {
    const Value* imm = oldObj.find("immutable");
    if (!imm || !imm->isBool() || !imm->asBool()) {
      return;
    }
    for (const char* f : {"data", "stringData", "type", "immutable"}) {
      const Value* a = oldObj.find(f);
      const Value* b = newObj.find(f);
      if ((a == nullptr) != (b == nullptr) || (a && *a != *b)) {
        ctx.add(f, "field is immutable when `immutable` is set", kForbidden);
      }
    }
  };
  return d;
}

// ---- Event -------------------------------------------------------------------------------------

// core/v1 Event, as controllers report what happened to an object (kubectl describe / get events).
// The fields are Kubernetes' own; every one is optional except involvedObject.
KindDef eventKind() {
  KindDef d;
  d.info = k8sInfo("", "Event", "events", "event", true, {"ev"});
  d.info.columns = {
      nameColumn(),
      pathColumn("LAST SEEN", 0, "lastTimestamp", "<unknown>"),
      pathColumn("TYPE", 0, "type"),
      pathColumn("REASON", 0, "reason"),
      column("OBJECT", 0,
             [](const Value& o) {
               return toLower(o.getString("involvedObject.kind")) + "/" +
                      o.getString("involvedObject.name");
             }),
      pathColumn("MESSAGE", 0, "message"),
      pathColumn("SOURCE", 1, "source.component"),
      pathColumn("COUNT", 1, "count", "", "integer"),
  };
  N objectRef = object({
      F("apiVersion", str()),
      F("kind", str()),
      F("name", str()),
      F("namespace", str()),
      F("uid", str()),
      F("resourceVersion", str()),
      F("fieldPath", str()),
  });
  N series = object({
      F("count", integer().range(0, 2147483647)),
      F("lastObservedTime", timestamp()),
  });
  d.schema = objectSchema(NameRule::Subdomain, true,
                          {
                              F("involvedObject", objectRef).required(),
                              F("reason", str()),
                              F("message", str()),
                              F("source", object({F("component", str()), F("host", str())})),
                              F("firstTimestamp", timestamp()),
                              F("lastTimestamp", timestamp()),
                              F("count", integer().range(0, 2147483647)),
                              F("type", str().enums({"Normal", "Warning"})),
                              F("eventTime", timestamp()),
                              F("series", series),
                              F("action", str()),
                              F("related", objectRef),
                              F("reportingComponent", str()),
                              F("reportingInstance", str()),
                          })
                 .ptr();
  return d;
}

// ---- networking.k8s.io/v1 NetworkPolicy --------------------------------------------------------

KindDef k8sNetworkPolicyKind() {
  KindDef d;
  d.info = k8sInfo("networking.k8s.io", "NetworkPolicy", "networkpolicies", "networkpolicy", true,
                   {"netpol"});
  d.info.columns = {
      nameColumn(),
      column("POD-SELECTOR", 0,
             [](const Value& o) { return formatLabelSelector(o.path("spec.podSelector")); }),
  };
  N portValue = intOrString().check([](Value& v, const std::string& path, Ctx& ctx) {
    if (v.isInt()) {
      if (v.asInt() < 1 || v.asInt() > 65535) {
        ctx.add(path,
                "invalid port " + std::to_string(v.asInt()) + ": must be between 1 and 65535");
      }
      return;
    }
    std::string err = checkPortName(v.asString());
    if (!err.empty()) {
      ctx.add(path, "invalid port " + quoted(v.asString()) + ": " + err);
    }
  });
  N npPort =
      object({
                 F("protocol", protocolTUS()),
                 F("port", portValue),
                 F("endPort", integer().range(1, 65535)),
             })
          .check([](Value& p, const std::string& path, Ctx& ctx) {
            const Value* end = p.find("endPort");
            if (!end || !end->isInt()) {
              return;
            }
            const Value* port = p.find("port");
            if (!port) {
              ctx.add(child(path, "endPort"), "may not be set without port", kForbidden);
            } else if (!port->isInt()) {
              ctx.add(child(path, "endPort"), "may not be set with a named port", kForbidden);
            } else if (end->asInt() < port->asInt()) {
              ctx.add(child(path, "endPort"), "must be greater than or equal to port");
            }
          });
  CidrOpts blockOpts;
  blockOpts.allowBareIp = false;
  blockOpts.allowHostBits = true;
  N ipBlock =
      object({
                 F("cidr", cidr(blockOpts)).required(),
                 F("except", array(cidr(blockOpts))),
             })
          .check([](Value& b, const std::string& path, Ctx& ctx) {
            auto outer = parseCidr(b.getString("cidr"));
            const Value* ex = b.find("except");
            if (!outer || !ex || !ex->isArray()) {
              return;
            }
            for (size_t i = 0; i < ex->size(); ++i) {
              auto inner = parseCidr(ex->asArray()[i].asString());
              if (!inner) {
                continue;
              }
              if (!outer->masked().contains(inner->masked()) || inner->prefix <= outer->prefix) {
                ctx.add(index(child(path, "except"), i), quoted(ex->asArray()[i].asString()) +
                                                             " must be a strict subset of " +
                                                             quoted(b.getString("cidr")));
              }
            }
          });
  N peer = object({
                      F("podSelector", k8sLabelSelector()),
                      F("namespaceSelector", k8sLabelSelector()),
                      F("ipBlock", ipBlock),
                  })
               .check([](Value& p, const std::string& path, Ctx& ctx) {
                 bool block = p.has("ipBlock");
                 bool sel = p.has("podSelector") || p.has("namespaceSelector");
                 if (!block && !sel) {
                   ctx.add(path,
                           "must specify at least one of podSelector, namespaceSelector or "
                           "ipBlock",
                           kRequired);
                 } else if (block && sel) {
                   ctx.add(child(path, "ipBlock"),
                           "may not be combined with podSelector or namespaceSelector", kForbidden);
                 }
               });
  N ingress = object({F("ports", array(npPort)), F("from", array(peer))});
  N egress = object({F("ports", array(npPort)), F("to", array(peer))});
  N spec =
      object({
                 F("podSelector", k8sLabelSelector().def(Value::object())),
                 F("policyTypes", array(str().enums({"Ingress", "Egress"})).unique().maxItems(2)),
                 F("ingress", array(ingress)),
                 F("egress", array(egress)),
             })
          .def(Value::object())
          .check([](Value& s, const std::string&, Ctx& ctx) {
            const Value* types = s.find("policyTypes");
            if ((types && types->isArray() && types->size() > 0) || !ctx.applyDefaults()) {
              return;
            }
            // Kubernetes' default: Ingress always, Egress when egress rules exist.
            Value out = Value::array();
            out.push(Value("Ingress"));
            const Value* eg = s.find("egress");
            if (eg && eg->isArray() && eg->size() > 0) {
              out.push(Value("Egress"));
            }
            s.set("policyTypes", std::move(out));
          });
  d.schema = objectSchema(NameRule::Subdomain, true, {F("spec", spec)}).ptr();
  return d;
}

} // namespace

std::vector<KindDef> coreKinds() {
  std::vector<KindDef> out;
  out.push_back(namespaceKind());
  out.push_back(podKind());
  out.push_back(nodeKind());
  out.push_back(serviceAccountKind());
  out.push_back(k8sNetworkPolicyKind());
  out.push_back(secretKind());
  out.push_back(eventKind());
  return out;
}

} // namespace caracal::api::detail
