// The registry: naming and lookup, printed columns, OpenAPI schemas, options of normalize().
#include "api/model_test_util.h"
#include "api/registry.h"
#include "common/strings.h"

#include <algorithm>
#include <gtest/gtest.h>
#include <iterator>
#include <set>

namespace caracal::api {
namespace {

using testutil::hasCause;
using testutil::isOk;
using testutil::normalizeYaml;
using testutil::yaml;

std::vector<std::string> headers(const KindInfo& k, bool wide) {
  std::vector<std::string> out;
  for (const auto& c : k.columns) {
    if (wide || c.priority == 0) {
      out.push_back(c.name);
    }
  }
  return out;
}

std::vector<std::string> cells(const KindInfo& k, const Value& obj, bool wide) {
  std::vector<std::string> out;
  for (const auto& c : k.columns) {
    if (wide || c.priority == 0) {
      out.push_back(c.cell(obj));
    }
  }
  return out;
}

using V = std::vector<std::string>;

TEST(Registry, EveryKindIsServedOnceInOrder) {
  const auto& kinds = allKinds();
  ASSERT_EQ(kinds.size(), 27u);
  EXPECT_EQ(kinds[0]->kind, "Namespace");
  EXPECT_EQ(kinds[0]->group, "");
  EXPECT_EQ(kinds[4]->group, "networking.k8s.io");
  std::set<std::string> seen;
  bool calicoStarted = false;
  for (const auto* k : kinds) {
    EXPECT_TRUE(seen.insert(k->group + "/" + k->plural).second) << k->plural;
    if (k->group == "projectcalico.org") {
      calicoStarted = true;
      EXPECT_EQ(k->categories, V({"calico"})) << k->kind;
      EXPECT_EQ(k->apiVersion(), "projectcalico.org/v3");
    } else {
      EXPECT_FALSE(calicoStarted) << "core kinds come first: " << k->kind;
      EXPECT_EQ(k->version, "v1");
    }
    EXPECT_FALSE(k->columns.empty()) << k->kind;
    EXPECT_EQ(k->singular, toLower(k->kind)) << k->kind;
  }
  for (const char* kind : {"IPPool",
                           "IPReservation",
                           "BGPConfiguration",
                           "BGPPeer",
                           "BGPFilter",
                           "Node",
                           "FelixConfiguration",
                           "ClusterInformation",
                           "Tier",
                           "GlobalNetworkPolicy",
                           "NetworkPolicy",
                           "GlobalNetworkSet",
                           "NetworkSet",
                           "HostEndpoint",
                           "WorkloadEndpoint",
                           "Profile",
                           "IPAMBlock",
                           "BlockAffinity",
                           "IPAMHandle",
                           "IPAMConfiguration"}) {
    EXPECT_NE(findByKind("projectcalico.org/v3", kind), nullptr) << kind;
  }
}

TEST(Registry, LookupByResourceAndKind) {
  const KindInfo* p = findByResource("projectcalico.org", "v3", "ippools");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->kind, "IPPool");
  EXPECT_FALSE(p->namespaced);
  EXPECT_EQ(findByResource("", "v1", "pods")->kind, "Pod");
  EXPECT_EQ(findByResource("", "v1", "nodes")->group, "");
  EXPECT_EQ(findByResource("projectcalico.org", "v3", "nodes")->group, "projectcalico.org");
  EXPECT_EQ(findByResource("networking.k8s.io", "v1", "networkpolicies")->kind, "NetworkPolicy");
  EXPECT_EQ(findByResource("projectcalico.org", "v1", "ippools"), nullptr);
  EXPECT_EQ(findByKind("v1", "Namespace")->plural, "namespaces");
  EXPECT_EQ(findByKind("projectcalico.org/v3", "ippool"), nullptr); // kinds are case-sensitive
  EXPECT_EQ(findByKind("v1", "IPPool"), nullptr);
}

TEST(Registry, LookupByAnyName) {
  struct Case {
    const char* name;
    const char* kind;
    const char* group;
  };
  const Case cases[] = {
      {"IPPool", "IPPool", "projectcalico.org"},
      {"ippools", "IPPool", "projectcalico.org"},
      {"ipp", "IPPool", "projectcalico.org"},
      {"POOL", "IPPool", "projectcalico.org"},
      {"pools", "IPPool", "projectcalico.org"},
      {"bgpp", "BGPPeer", "projectcalico.org"},
      {"bgpconfig", "BGPConfiguration", "projectcalico.org"},
      {"felixconfig", "FelixConfiguration", "projectcalico.org"},
      {"gnp", "GlobalNetworkPolicy", "projectcalico.org"},
      {"np", "NetworkPolicy", "projectcalico.org"},
      {"policy", "NetworkPolicy", "projectcalico.org"},
      {"networkpolicies", "NetworkPolicy", "projectcalico.org"},
      {"hep", "HostEndpoint", "projectcalico.org"},
      {"wep", "WorkloadEndpoint", "projectcalico.org"},
      {"gns", "GlobalNetworkSet", "projectcalico.org"},
      {"netset", "NetworkSet", "projectcalico.org"},
      {"node", "Node", "projectcalico.org"},
      {"nodes", "Node", "projectcalico.org"},
      {"no", "Node", "projectcalico.org"},
      {"nodes.projectcalico.org", "Node", "projectcalico.org"},
      {"nodes.v1", "Node", ""},
      {"ippools.p", "IPPool", "projectcalico.org"},
      {"ippools.v3.projectcalico.org", "IPPool", "projectcalico.org"},
      {"netpol", "NetworkPolicy", "networking.k8s.io"},
      {"networkpolicy.networking.k8s.io", "NetworkPolicy", "networking.k8s.io"},
      {"ns", "Namespace", ""},
      {"namespaces", "Namespace", ""},
      {"po", "Pod", ""},
      {"sa", "ServiceAccount", ""},
      {"ipamblocks", "IPAMBlock", "projectcalico.org"},
      {"ipamconfig", "IPAMConfiguration", "projectcalico.org"},
      {"tier", "Tier", "projectcalico.org"},
      {"  Profiles ", "Profile", "projectcalico.org"},
  };
  for (const auto& c : cases) {
    const KindInfo* k = findByName(c.name);
    ASSERT_NE(k, nullptr) << c.name;
    EXPECT_EQ(k->kind, c.kind) << c.name;
    EXPECT_EQ(k->group, c.group) << c.name;
  }
  EXPECT_EQ(findByName("nosuchthing"), nullptr);
  EXPECT_EQ(findByName(""), nullptr);
  EXPECT_EQ(findByName("ippools.networking.k8s.io"), nullptr);
  EXPECT_EQ(findByName("pods."), nullptr);
}

TEST(Registry, ShortNamesForKubectl) {
  EXPECT_EQ(findByKind("networking.k8s.io/v1", "NetworkPolicy")->shortNames, V({"netpol"}));
  EXPECT_EQ(findByKind("v1", "Namespace")->shortNames, V({"ns"}));
  EXPECT_EQ(findByKind("v1", "Node")->shortNames, V({"no"}));
  EXPECT_EQ(findByKind("projectcalico.org/v3", "GlobalNetworkPolicy")->shortNames, V({"gnp"}));
  // Calico's Node takes "no" only as a caracalctl alias, never as a kubectl short name.
  const KindInfo* calicoNode = findByKind("projectcalico.org/v3", "Node");
  for (const auto& s : calicoNode->shortNames) {
    EXPECT_NE(s, "no");
  }
}

TEST(Columns, IPPoolPsAndWide) {
  const KindInfo& k = *findByName("ippool");
  EXPECT_EQ(headers(k, false), V({"NAME", "CIDR", "SELECTOR"}));
  EXPECT_EQ(headers(k, true), V({"NAME", "CIDR", "NAT", "IPIPMODE", "VXLANMODE", "DISABLED",
                                 "DISABLEBGPEXPORT", "SELECTOR", "ASSIGNMENTMODE"}));
  Value obj;
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: "
                                 "{name: default-ipv4-ippool}\nspec: {cidr: 192.168.0.0/16, "
                                 "ipipMode: CrossSubnet, natOutgoing: true}",
                                 &obj)));
  EXPECT_EQ(cells(k, obj, false), V({"default-ipv4-ippool", "192.168.0.0/16", "all()"}));
  EXPECT_EQ(cells(k, obj, true), V({"default-ipv4-ippool", "192.168.0.0/16", "true", "CrossSubnet",
                                    "Never", "false", "false", "all()", "Automatic"}));
}

TEST(Columns, CalicoctlLayouts) {
  struct Case {
    const char* kind;
    V ps;
    V wide;
  };
  const Case cases[] = {
      {"BGPPeer", {"NAME", "PEERIP", "NODE", "ASN"}, {"NAME", "PEERIP", "NODE", "ASN"}},
      {"BGPConfiguration",
       {"NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"},
       {"NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"}},
      {"Node", {"NAME"}, {"NAME", "ASN", "IPV4", "IPV6"}},
      {"GlobalNetworkPolicy", {"NAME", "TIER"}, {"NAME", "TIER", "ORDER", "SELECTOR"}},
      {"NetworkPolicy", {"NAME", "TIER"}, {"NAME", "TIER", "ORDER", "SELECTOR"}},
      {"WorkloadEndpoint",
       {"WORKLOAD", "NODE", "NETWORKS", "INTERFACE"},
       {"NAME", "WORKLOAD", "NODE", "NETWORKS", "INTERFACE", "PROFILES", "NATS"}},
      {"HostEndpoint", {"NAME", "NODE"}, {"NAME", "NODE", "INTERFACE", "IPS", "PROFILES"}},
      {"GlobalNetworkSet", {"NAME"}, {"NAME", "NETS"}},
      {"NetworkSet", {"NAME"}, {"NAME", "NETS"}},
      {"Profile", {"NAME"}, {"NAME", "LABELS"}},
      {"Tier", {"NAME", "ORDER"}, {"NAME", "ORDER"}},
  };
  for (const auto& c : cases) {
    const KindInfo* k = findByKind("projectcalico.org/v3", c.kind);
    ASSERT_NE(k, nullptr) << c.kind;
    EXPECT_EQ(headers(*k, false), c.ps) << c.kind;
    EXPECT_EQ(headers(*k, true), c.wide) << c.kind;
  }
}

TEST(Columns, CellsRenderLikeCalicoctl) {
  Value peer = yaml("metadata: {name: tor}\nspec: {peerIP: 10.0.0.1, asNumber: 64600}");
  Value rr = yaml("metadata: {name: to-rr}\nspec: {nodeSelector: all(), peerSelector: x}");
  const KindInfo& bgpp = *findByName("bgppeer");
  EXPECT_EQ(cells(bgpp, peer, false), V({"tor", "10.0.0.1", "(global)", "64600"}));
  EXPECT_EQ(cells(bgpp, rr, false), V({"to-rr", "", "all()", ""}));

  const KindInfo& node = *findByKind("projectcalico.org/v3", "Node");
  Value n1 = yaml("metadata: {name: rr1}\nspec: {bgp: {ipv4Address: 10.0.0.11/24}}");
  Value n2 = yaml("metadata: {name: n2}\nspec: {bgp: {asNumber: 64513, ipv6Address: "
                  "'fd00::2/64'}}");
  EXPECT_EQ(cells(node, n1, true), V({"rr1", "(64512)", "10.0.0.11/24", ""}));
  EXPECT_EQ(cells(node, n2, true), V({"n2", "64513", "", "fd00::2/64"}));

  const KindInfo& gnp = *findByName("gnp");
  Value pol = yaml("metadata: {name: allow-dns}\nspec: {tier: default, order: 100, selector: "
                   "all()}");
  EXPECT_EQ(cells(gnp, pol, true), V({"allow-dns", "default", "100", "all()"}));
  Value pol2 = yaml("metadata: {name: p}\nspec: {order: 12.5}");
  EXPECT_EQ(cells(gnp, pol2, true), V({"p", "default", "12.5", ""}));

  const KindInfo& wep = *findByName("wep");
  Value w = yaml("metadata: {name: n1-k8s-web-eth0}\nspec: {pod: web, node: n1, ipNetworks: "
                 "[192.168.7.5/32, 'fd00::5/128'], interfaceName: cali0, profiles: [kns.prod, "
                 "ksa.prod.default], ipNATs: [{internalIP: 192.168.7.5, externalIP: 1.2.3.4}]}");
  EXPECT_EQ(cells(wep, w, false), V({"web", "n1", "192.168.7.5/32,fd00::5/128", "cali0"}));
  EXPECT_EQ(cells(wep, w, true), V({"n1-k8s-web-eth0", "web", "n1", "192.168.7.5/32,fd00::5/128",
                                    "cali0", "kns.prod,ksa.prod.default", "192.168.7.5->1.2.3.4"}));

  const KindInfo& bgpc = *findByName("bgpconfig");
  Value c = yaml("metadata: {name: default}\nspec: {logSeverityScreen: Info}");
  EXPECT_EQ(cells(bgpc, c, false), V({"default", "Info", "-", "-"}));

  const KindInfo& prof = *findByName("profile");
  Value p = yaml("metadata: {name: kns.prod}\nspec: {labelsToApply: {b: '2', a: '1'}}");
  EXPECT_EQ(cells(prof, p, true), V({"kns.prod", "a=1,b=2"}));
}

TEST(Columns, CoreKinds) {
  const KindInfo& ns = *findByName("ns");
  EXPECT_EQ(headers(ns, true), V({"NAME", "STATUS"}));
  Value n;
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}", &n)));
  EXPECT_EQ(cells(ns, n, false), V({"prod", "Active"}));

  const KindInfo& pod = *findByName("pod");
  EXPECT_EQ(headers(pod, false), V({"NAME", "STATUS"}));
  EXPECT_EQ(headers(pod, true), V({"NAME", "STATUS", "IP", "NODE"}));
  Value po = yaml("metadata: {name: web}\nspec: {nodeName: n1}\nstatus: {phase: Running, podIP: "
                  "192.168.7.5}");
  EXPECT_EQ(cells(pod, po, true), V({"web", "Running", "192.168.7.5", "n1"}));

  const KindInfo& node = *findByKind("v1", "Node");
  Value ready = yaml("metadata: {name: n1}\nstatus: {conditions: [{type: MemoryPressure, status: "
                     "'False'}, {type: Ready, status: 'True'}], addresses: [{type: InternalIP, "
                     "address: 10.0.0.21}]}");
  Value cordoned = yaml("metadata: {name: n2}\nspec: {unschedulable: true}\nstatus: "
                        "{conditions: [{type: Ready, status: 'False'}]}");
  Value fresh = yaml("metadata: {name: n3}");
  EXPECT_EQ(cells(node, ready, true), V({"n1", "Ready", "10.0.0.21"}));
  EXPECT_EQ(cells(node, cordoned, false), V({"n2", "NotReady,SchedulingDisabled"}));
  EXPECT_EQ(cells(node, fresh, true), V({"n3", "Unknown", "<none>"}));

  const KindInfo& np = *findByName("netpol");
  EXPECT_EQ(headers(np, false), V({"NAME", "POD-SELECTOR"}));
  Value a = yaml("metadata: {name: a}\nspec: {podSelector: {matchLabels: {tier: fe, app: web}, "
                 "matchExpressions: [{key: env, operator: In, values: [prod, dev]}, {key: "
                 "canary, operator: DoesNotExist}]}}");
  Value all = yaml("metadata: {name: b}\nspec: {podSelector: {}}");
  EXPECT_EQ(cells(np, a, false), V({"a", "app=web,!canary,env in (dev,prod),tier=fe"}));
  EXPECT_EQ(cells(np, all, false), V({"b", "<none>"}));

  const KindInfo& sa = *findByName("serviceaccounts");
  Value s = yaml("metadata: {name: web}\nsecrets: [{name: a}, {name: b}]");
  EXPECT_EQ(cells(sa, s, false), V({"web", "2"}));
}

TEST(Columns, NoAgeColumn) {
  for (const auto* k : allKinds()) {
    for (const auto& c : k->columns) {
      EXPECT_NE(c.name, "AGE") << k->kind;
      EXPECT_TRUE(c.priority == 0 || c.priority == 1) << k->kind << " " << c.name;
      EXPECT_TRUE(static_cast<bool>(c.cell)) << k->kind << " " << c.name;
    }
  }
}

TEST(OpenApi, EveryKindHasAUsableSchema) {
  for (const auto* k : allKinds()) {
    Value s = openapiSchema(*k);
    EXPECT_EQ(s.getString("type"), "object") << k->kind;
    const Value* gvk = s.find("x-kubernetes-group-version-kind");
    ASSERT_TRUE(gvk && gvk->isArray() && gvk->size() == 1) << k->kind;
    EXPECT_EQ(gvk->asArray()[0].getString("group"), k->group);
    EXPECT_EQ(gvk->asArray()[0].getString("version"), k->version);
    EXPECT_EQ(gvk->asArray()[0].getString("kind"), k->kind);
    EXPECT_TRUE(s.path("properties.apiVersion")) << k->kind;
    EXPECT_TRUE(s.path("properties.kind")) << k->kind;
    const Value* meta = s.path("properties.metadata");
    ASSERT_TRUE(meta) << k->kind;
    EXPECT_TRUE(meta->path("properties.name")) << k->kind;
    EXPECT_EQ(meta->path("properties.labels.additionalProperties.type")->asString(), "string");
    // Every schema serialises to JSON and back unchanged.
    auto back = parseJson(toJson(s));
    ASSERT_TRUE(back) << k->kind;
    EXPECT_EQ(*back, s) << k->kind;
  }
}

TEST(OpenApi, IPPoolDetails) {
  Value s = openapiSchema(*findByName("ippool"));
  const Value* spec = s.path("properties.spec");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->path("required")->asArray()[0].asString(), "cidr");
  EXPECT_EQ(spec->path("properties.cidr.format")->asString(), "cidr");
  const Value* ipip = spec->path("properties.ipipMode");
  ASSERT_TRUE(ipip);
  EXPECT_EQ(ipip->path("enum")->size(), 3u);
  EXPECT_EQ(ipip->getString("default"), "Never");
  EXPECT_EQ(spec->path("properties.allowedUses.items.enum")->size(), 3u);
  std::vector<std::string> req;
  for (const auto& r : s.path("required")->asArray()) {
    req.push_back(r.asString());
  }
  EXPECT_NE(std::find(req.begin(), req.end(), "metadata"), req.end());
  EXPECT_NE(std::find(req.begin(), req.end(), "spec"), req.end());
}

TEST(OpenApi, IntOrStringAndPreservedSubtrees) {
  Value np = openapiSchema(*findByName("gnp"));
  const Value* ports =
      np.path("properties.spec.properties.ingress.items.properties.destination.properties.ports");
  ASSERT_TRUE(ports);
  EXPECT_TRUE(ports->path("items.x-kubernetes-int-or-string")->asBool());
  Value pod = openapiSchema(*findByName("pod"));
  EXPECT_TRUE(pod.path("properties.spec.x-kubernetes-preserve-unknown-fields")->asBool());
  EXPECT_TRUE(pod.path("properties.spec.properties.nodeName"));
  Value felix = openapiSchema(*findByName("felixconfig"));
  EXPECT_EQ(felix.path("properties.spec.properties.logSeverityScreen.pattern")->asString(),
            "^(?i)(Trace|Debug|Info|Warning|Error|Fatal)?$");
}

TEST(Normalize, DropModeReportsDroppedFields) {
  Value obj = yaml("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p, color: "
                   "red}\nspec: {cidr: 10.0.0.0/16, blocksize: 24}");
  std::vector<std::string> dropped;
  NormalizeOptions o;
  o.unknownFields = UnknownFields::Drop;
  o.droppedFields = &dropped;
  ASSERT_TRUE(isOk(normalize(*findByName("ippool"), obj, o)));
  EXPECT_EQ(dropped, V({"metadata.color", "spec.blocksize"}));
  EXPECT_FALSE(obj.path("spec.blocksize"));
  EXPECT_EQ(obj.path("spec.blockSize")->asInt(), 26);
}

TEST(Normalize, WithoutDefaults) {
  Value obj = yaml("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\n"
                   "spec: {cidr: 10.0.0.0/16}");
  NormalizeOptions o;
  o.applyDefaults = false;
  ASSERT_TRUE(isOk(normalize(*findByName("ippool"), obj, o)));
  EXPECT_FALSE(obj.path("spec.blockSize"));
  EXPECT_FALSE(obj.path("spec.ipipMode"));
}

TEST(Normalize, RejectsNonObjects) {
  Value list = yaml("[1, 2]");
  Status st = normalize(*findByName("ippool"), list);
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_TRUE(hasCause(st, "", "must be a mapping, got a list"));
  KindInfo unknown;
  unknown.group = "example.com";
  unknown.version = "v1";
  unknown.kind = "Widget";
  Value obj = yaml("metadata: {name: w}");
  EXPECT_EQ(normalize(unknown, obj).code(), Code::BadRequest);
}

TEST(Normalize, CopiedKindInfoStillWorks) {
  KindInfo copy = *findByName("ippool");
  Value obj = yaml("metadata: {name: p}\nspec: {cidr: 10.0.0.0/16}");
  EXPECT_TRUE(isOk(normalize(copy, obj)));
}

TEST(Normalize, IsIdempotentForEveryKind) {
  const char* minimal[] = {
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: n}\nspec: {containers: [{name: "
      "c, ports: [{containerPort: 80}]}]}",
      "apiVersion: v1\nkind: Node\nmetadata: {name: a}",
      "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, namespace: n}",
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: n}",
      "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: "
      "10.0.0.0/16}",
      "apiVersion: projectcalico.org/v3\nkind: IPReservation\nmetadata: {name: a}",
      "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}",
      "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: a}\nspec: {peerIP: "
      "10.0.0.1, asNumber: '1.1'}",
      "apiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {name: a}",
      "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: a}",
      "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}",
      "apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata: {name: default}",
      "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a}",
      "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\nspec: "
      "{ingress: [{action: Allow, protocol: tcp, destination: {ports: ['80']}}]}",
      "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: a, namespace: n}",
      "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: a}",
      "apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: a, namespace: n}",
      "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: a}\nspec: {node: n, "
      "interfaceName: eth0}",
      "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {name: a, namespace: "
      "n}\nspec: {interfaceName: cali0}",
      "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: a}",
      "apiVersion: projectcalico.org/v3\nkind: IPAMBlock\nmetadata: {name: a}\nspec: {cidr: "
      "10.0.0.0/26}",
      "apiVersion: projectcalico.org/v3\nkind: BlockAffinity\nmetadata: {name: a}\nspec: {state: "
      "pending, node: n, cidr: 10.0.0.0/26}",
      "apiVersion: projectcalico.org/v3\nkind: IPAMHandle\nmetadata: {name: a}\nspec: {handleID: "
      "a, block: {}}",
      "apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata: {name: default}",
      "apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: n}",
      "apiVersion: v1\nkind: Event\nmetadata: {name: a.1, namespace: n}\ninvolvedObject: {}",
  };
  ASSERT_EQ(std::size(minimal), allKinds().size());
  std::set<std::string> covered;
  for (const char* text : minimal) {
    Value once;
    ASSERT_TRUE(isOk(normalizeYaml(text, &once))) << text;
    covered.insert(once.getString("apiVersion") + "/" + once.getString("kind"));
    const KindInfo* k = findByKind(once.getString("apiVersion"), once.getString("kind"));
    Value twice = once;
    ASSERT_TRUE(isOk(normalize(*k, twice))) << text;
    EXPECT_EQ(twice, once) << text;
    EXPECT_EQ(toJson(twice), toJson(once)) << text; // same member order too
    EXPECT_TRUE(isOk(validateUpdate(*k, once, twice))) << text;
  }
  EXPECT_EQ(covered.size(), allKinds().size());
}

// Every top-level spec/status field of every kind, given a value of the wrong JSON type, yields a
// FieldValueTypeInvalid cause at its path (and nothing crashes on the way).
TEST(Normalize, WrongShapesAreReportedForEveryField) {
  const char* minimalNames[] = {"ns",
                                "po",
                                "nodes.v1",
                                "sa",
                                "netpol",
                                "ipp",
                                "ipreservation",
                                "bgpconfig",
                                "bgpp",
                                "bgpfilter",
                                "no",
                                "felixconfig",
                                "clusterinfo",
                                "tier",
                                "gnp",
                                "np",
                                "gns",
                                "netset",
                                "hep",
                                "wep",
                                "profile",
                                "ipamblock",
                                "blockaffinity",
                                "ipamhandle",
                                "ipamconfig"};
  size_t probes = 0;
  for (const char* n : minimalNames) {
    const KindInfo* k = findByName(n);
    ASSERT_NE(k, nullptr) << n;
    Value schema = openapiSchema(*k);
    for (const char* part : {"spec", "status"}) {
      const Value* props = schema.path(std::string("properties.") + part + ".properties");
      if (!props) {
        continue;
      }
      for (const auto& p : props->asObject()) {
        std::string type = p.second.getString("type");
        Value wrong;
        if (type == "array" || type == "object") {
          wrong = Value("not-a-" + type);
        } else if (type.empty() && !p.second.has("x-kubernetes-int-or-string")) {
          continue; // preserved sub-tree: anything goes
        } else {
          wrong = Value(Value::Array{Value(1)});
        }
        Value obj = yaml("metadata: {name: x, namespace: n}");
        if (!k->namespaced) {
          obj["metadata"].erase("namespace");
        }
        obj[part].set(p.first, wrong);
        Status st = normalize(*k, obj);
        std::string path = std::string(part) + "." + p.first;
        EXPECT_TRUE(hasCause(st, path, "must be", "FieldValueTypeInvalid")) << k->kind;
        ++probes;
      }
    }
    // Whole sections of the wrong type.
    for (const char* part : {"metadata", "spec", "status"}) {
      if (!schema.path(std::string("properties.") + part)) {
        continue;
      }
      Value obj = yaml("metadata: {name: x}");
      obj.set(part, Value(Value::Array{Value("x")}));
      EXPECT_TRUE(hasCause(normalize(*k, obj), part, "got a list", "FieldValueTypeInvalid"))
          << k->kind << " " << part;
    }
  }
  EXPECT_GT(probes, 300u);
}

} // namespace
} // namespace caracal::api
