// Kubernetes NetworkPolicy -> Calico NetworkPolicy conversion (api/k8s_policy.h).
//
// The table below gives a k8s spec and the expected Calico spec fields; every converted policy is
// also run through the registry's normalize() for projectcalico.org/v3 NetworkPolicy, and, when
// the k8s input is itself valid, converting its stored (normalized) form must give the same policy.
#include "api/k8s_policy.h"
#include "api/model_test_util.h"
#include "api/registry.h"
#include "api/selector.h"

#include <fstream>
#include <gtest/gtest.h>
#include <sstream>

namespace caracal::api {
namespace {

using testutil::yaml;

constexpr const char* kOrch = "projectcalico.org/orchestrator == 'k8s'";

Value knpWithSpec(std::string_view specYaml) {
  Value obj = Value::object();
  obj.set("apiVersion", Value("networking.k8s.io/v1"));
  obj.set("kind", Value("NetworkPolicy"));
  obj.set("metadata", yaml("{name: np, namespace: prod}"));
  obj.set("spec", yaml(specYaml));
  return obj;
}

const KindInfo& calicoPolicyKind() {
  const KindInfo* info = findByKind("projectcalico.org/v3", "NetworkPolicy");
  EXPECT_NE(info, nullptr);
  return *info;
}

const KindInfo& k8sPolicyKind() {
  const KindInfo* info = findByKind("networking.k8s.io/v1", "NetworkPolicy");
  EXPECT_NE(info, nullptr);
  return *info;
}

// The registry accepts the converted policy as a Calico NetworkPolicy.
::testing::AssertionResult validates(const Value& policy) {
  Value copy = policy;
  Status st = normalize(calicoPolicyKind(), copy);
  if (st.isOk()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << st.message() << "\n" << toYaml(policy);
}

struct Case {
  std::string name;
  std::string spec;     // the k8s NetworkPolicy spec (YAML)
  std::string expected; // YAML mapping of Calico spec fields; a null value means "absent"
  // Expected problems in order; each actual line must start with the expected text.
  std::vector<std::string> problems = {};
};

// Expected-YAML helpers: a selector is written as "S" or "S && ..." and expanded here.
std::string expand(std::string text) {
  for (size_t at = text.find("\"S"); at != std::string::npos; at = text.find("\"S", at + 1)) {
    text.replace(at + 1, 1, kOrch);
  }
  return text;
}

std::vector<Case> cases() {
  return {
      // ---- the policy's own selector ----
      {"EmptySpec", "{}", "{selector: \"S\", types: [Ingress], ingress: ~, egress: ~}"},
      {"EmptyPodSelector", "{podSelector: {}}", "{selector: \"S\", types: [Ingress]}"},
      {"MatchLabelsSorted", "{podSelector: {matchLabels: {z: '1', app: api, b: x}}}",
       "{selector: \"S && app == 'api' && b == 'x' && z == '1'\"}"},
      {"MatchExpressions",
       R"({podSelector: {matchExpressions: [
            {key: tier, operator: In, values: [a, b]},
            {key: tier2, operator: NotIn, values: [c]},
            {key: env, operator: Exists},
            {key: canary, operator: DoesNotExist}]}})",
       "{selector: \"S && tier in { 'a', 'b' } && tier2 not in { 'c' } && has(env) && "
       "! has(canary)\"}"},
      {"LabelsThenExpressions",
       R"({podSelector: {matchLabels: {app: web},
            matchExpressions: [{key: example.com/role, operator: Exists}]}})",
       "{selector: \"S && app == 'web' && has(example.com/role)\"}"},
      // ---- types and empty vs missing lists ----
      {"IngressAllowAll", "{ingress: [{}]}", "{types: [Ingress], ingress: [{action: Allow}]}"},
      {"IngressEmptyListDeniesAll", "{policyTypes: [Ingress], ingress: []}",
       "{types: [Ingress], ingress: ~, egress: ~}"},
      {"IngressMissingDeniesAll", "{podSelector: {matchLabels: {app: a}}, policyTypes: [Ingress]}",
       "{types: [Ingress], ingress: ~}"},
      {"NullRuleAllowsAll", "{ingress: [~]}", "{ingress: [{action: Allow}]}"},
      {"EgressOnly", "{policyTypes: [Egress], egress: [{}]}",
       "{types: [Egress], ingress: ~, egress: [{action: Allow}]}"},
      {"DefaultTypesWithEgressRules", "{egress: [{}]}",
       "{types: [Ingress, Egress], ingress: ~, egress: [{action: Allow}]}"},
      {"DefaultTypesWithEmptyEgress", "{egress: []}", "{types: [Ingress], egress: ~}"},
      {"DefaultTypesBothRules", "{ingress: [{}], egress: [{}]}",
       "{types: [Ingress, Egress], ingress: [{action: Allow}], egress: [{action: Allow}]}"},
      {"BothTypesDenyAll", "{policyTypes: [Egress, Ingress]}",
       "{types: [Ingress, Egress], ingress: ~, egress: ~}"},
      {"EgressTypeEmptyEgressList", "{policyTypes: [Ingress, Egress], ingress: [{}], egress: []}",
       "{types: [Ingress, Egress], ingress: [{action: Allow}], egress: ~}"},
      {"DuplicateTypes", "{policyTypes: [Ingress, Ingress]}", "{types: [Ingress]}"},
      {"UnknownTypeIgnored",
       "{policyTypes: [Ingress, Sideways]}",
       "{types: [Ingress]}",
       {"spec.policyTypes[1]: unknown policy type \"Sideways\" (ignored)"}},
      {"EgressRulesWithoutEgressType",
       "{policyTypes: [Ingress], egress: [{}]}",
       "{types: [Ingress], egress: [{action: Allow}]}",
       {"spec.egress: has no effect: policyTypes does not include Egress"}},
      // ---- ports ----
      {"PortDefaultsToTcp", "{ingress: [{ports: [{port: 80}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]}"},
      {"Udp", "{ingress: [{ports: [{protocol: UDP, port: 53}]}]}",
       "{ingress: [{action: Allow, protocol: UDP, destination: {ports: [53]}}]}"},
      {"Sctp", "{ingress: [{ports: [{protocol: SCTP, port: 3868}]}]}",
       "{ingress: [{action: Allow, protocol: SCTP, destination: {ports: [3868]}}]}"},
      {"ProtocolsSorted",
       "{ingress: [{ports: [{protocol: UDP, port: 53}, {port: 80}, {protocol: SCTP, port: 9}]}]}",
       R"({ingress: [{action: Allow, protocol: SCTP, destination: {ports: [9]}},
                     {action: Allow, protocol: TCP, destination: {ports: [80]}},
                     {action: Allow, protocol: UDP, destination: {ports: [53]}}]})"},
      {"PortsMergedIntoRanges",
       "{ingress: [{ports: [{port: 82}, {port: 80}, {port: 81}, {port: 91}, {port: 100}, "
       "{port: 90}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: ['80:82', '90:91', "
       "100]}}]}"},
      {"DuplicatePortsMerged", "{ingress: [{ports: [{port: 80}, {port: 80}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]}"},
      {"EndPort", "{ingress: [{ports: [{port: 8000, endPort: 8080}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: ['8000:8080']}}]}"},
      {"EndPortEqualsPort", "{ingress: [{ports: [{port: 80, endPort: 80}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]}"},
      {"OverlappingRangesMerged",
       "{ingress: [{ports: [{port: 8050, endPort: 9000}, {port: 9001}, {port: 8000, endPort: "
       "8080}, {port: 7000}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [7000, '8000:9001']}}]}"},
      {"NamedPort", "{ingress: [{ports: [{port: http}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [http]}}]}"},
      {"NamedPortsFirstThenRanges",
       "{ingress: [{ports: [{port: 80}, {port: http}, {port: 81}, {port: metrics}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [http, metrics, "
       "'80:81']}}]}"},
      {"OneNumericPortKeepsOrder", "{ingress: [{ports: [{port: 80}, {port: http}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [80, http]}}]}"},
      {"NumericStringPort", "{ingress: [{ports: [{port: '8080'}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [8080]}}]}"},
      {"ProtocolWithoutPortAllowsAllPorts", "{ingress: [{ports: [{protocol: UDP}]}]}",
       "{ingress: [{action: Allow, protocol: UDP}]}"},
      {"EmptyPortEntryIsAllTcp", "{ingress: [{ports: [{}]}]}",
       "{ingress: [{action: Allow, protocol: TCP}]}"},
      {"AllPortsWinsOverList",
       "{ingress: [{ports: [{port: 80}, {protocol: TCP}, {protocol: UDP, port: 53}, {port: 81}]}]}",
       R"({ingress: [{action: Allow, protocol: TCP},
                     {action: Allow, protocol: UDP, destination: {ports: [53]}}]})"},
      // ---- peers ----
      {"PeerPodSelector", "{ingress: [{from: [{podSelector: {matchLabels: {role: fe}}}]}]}",
       "{ingress: [{action: Allow, source: {selector: \"S && role == 'fe'\"}}]}"},
      {"PeerEmptyPodSelector", "{ingress: [{from: [{podSelector: {}}]}]}",
       "{ingress: [{action: Allow, source: {selector: \"S\"}}]}"},
      {"PeerNamespaceSelector",
       "{ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}}}]}]}",
       "{ingress: [{action: Allow, source: {selector: \"S\", namespaceSelector: \"team == "
       "'a'\"}}]}"},
      {"PeerEmptyNamespaceSelectorIsAll", "{ingress: [{from: [{namespaceSelector: {}}]}]}",
       "{ingress: [{action: Allow, source: {selector: \"S\", namespaceSelector: all()}}]}"},
      {"PeerNamespaceExpressions",
       R"({ingress: [{from: [{namespaceSelector: {matchExpressions:
            [{key: kubernetes.io/metadata.name, operator: In, values: [a, b]}]}}]}]})",
       "{ingress: [{action: Allow, source: {selector: \"S\", namespaceSelector: "
       "\"kubernetes.io/metadata.name in { 'a', 'b' }\"}}]}"},
      {"PeerSelectorsAnded",
       R"({ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}},
                              podSelector: {matchLabels: {role: fe}}}]}]})",
       "{ingress: [{action: Allow, source: {selector: \"S && role == 'fe'\", namespaceSelector: "
       "\"team == 'a'\"}}]}"},
      {"PeersOred",
       R"({ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}}},
                             {podSelector: {matchLabels: {role: fe}}}]}]})",
       R"({ingress: [{action: Allow, source: {selector: "S", namespaceSelector: "team == 'a'"}},
                     {action: Allow, source: {selector: "S && role == 'fe'"}}]})"},
      {"IpBlock", "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}]}",
       "{ingress: [{action: Allow, source: {nets: [10.0.0.0/8]}}]}"},
      {"IpBlockExcept",
       "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.2.0.0/16]}}]}]}",
       "{ingress: [{action: Allow, source: {nets: [10.0.0.0/8], notNets: [10.1.0.0/16, "
       "10.2.0.0/16]}}]}"},
      {"IpBlockHostBitsMasked",
       "{ingress: [{from: [{ipBlock: {cidr: 10.1.2.3/8, except: [10.1.2.3/16, 10.1.9.9/16]}}]}]}",
       "{ingress: [{action: Allow, source: {nets: [10.0.0.0/8], notNets: [10.1.0.0/16]}}]}"},
      {"IpBlockV6",
       "{ingress: [{from: [{ipBlock: {cidr: '2001:DB8::/32', except: "
       "['2001:db8:1::/48']}}]}]}",
       "{ingress: [{action: Allow, source: {nets: ['2001:db8::/32'], notNets: "
       "['2001:db8:1::/48']}}]}"},
      {"EgressPeerAndPortsInDestination",
       R"({policyTypes: [Egress], egress: [{to: [{podSelector: {matchLabels: {app: db}}}],
                                           ports: [{port: 5432}]}]})",
       "{types: [Egress], egress: [{action: Allow, protocol: TCP, destination: {selector: \"S && "
       "app == 'db'\", ports: [5432]}}]}"},
      {"EgressIpBlockTimesProtocols",
       R"({policyTypes: [Egress], egress: [{
            to: [{ipBlock: {cidr: 0.0.0.0/0, except: [169.254.169.254/32]}}],
            ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}]})",
       R"({egress: [
            {action: Allow, protocol: TCP, destination: {nets: [0.0.0.0/0],
              notNets: [169.254.169.254/32], ports: [53]}},
            {action: Allow, protocol: UDP, destination: {nets: [0.0.0.0/0],
              notNets: [169.254.169.254/32], ports: [53]}}]})"},
      {"RulesKeepOrder",
       "{ingress: [{from: [{podSelector: {matchLabels: {a: '1'}}}]}, {ports: [{port: 80}]}]}",
       R"({ingress: [{action: Allow, source: {selector: "S && a == '1'"}},
                     {action: Allow, protocol: TCP, destination: {ports: [80]}}]})"},
      // The worked example of calico-reference.md section 3.
      {"WorkedExample",
       R"({podSelector: {matchLabels: {app: api}}, policyTypes: [Ingress],
           ingress: [{
             from: [{namespaceSelector: {matchLabels: {team: a}},
                     podSelector: {matchLabels: {role: fe}}},
                    {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}],
             ports: [{protocol: TCP, port: 80}, {protocol: TCP, port: 8000, endPort: 8080},
                     {protocol: UDP, port: dns}]}]})",
       R"({tier: default, order: 1000, selector: "S && app == 'api'", types: [Ingress],
           ingress: [
             {action: Allow, protocol: TCP,
              source: {selector: "S && role == 'fe'", namespaceSelector: "team == 'a'"},
              destination: {ports: [80, '8000:8080']}},
             {action: Allow, protocol: TCP,
              source: {nets: [10.0.0.0/8], notNets: [10.1.0.0/16]},
              destination: {ports: [80, '8000:8080']}},
             {action: Allow, protocol: UDP,
              source: {selector: "S && role == 'fe'", namespaceSelector: "team == 'a'"},
              destination: {ports: [dns]}},
             {action: Allow, protocol: UDP,
              source: {nets: [10.0.0.0/8], notNets: [10.1.0.0/16]},
              destination: {ports: [dns]}}],
           egress: ~})"},
      // ---- unconvertible rules: dropped and reported, the rest converts ----
      {"PortZeroDropsRule",
       "{ingress: [{ports: [{port: 80}]}, {ports: [{port: 0}, {port: 81}]}]}",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]}",
       {"spec.ingress[1].ports[0]: port 0 is out of range"}},
      {"PortTooLarge",
       "{ingress: [{ports: [{port: 70000}]}], egress: [{}]}",
       "{types: [Ingress, Egress], ingress: ~, egress: [{action: Allow}]}",
       {"spec.ingress[0].ports[0]: port 70000 is out of range"}},
      {"EndPortBelowPort",
       "{ingress: [{ports: [{port: 80, endPort: 79}]}]}",
       "{ingress: ~}",
       {"spec.ingress[0].ports[0].endPort: endPort 79 is less than port 80"}},
      {"EndPortWithNamedPort",
       "{ingress: [{ports: [{port: http, endPort: 90}]}]}",
       "{ingress: ~}",
       {"spec.ingress[0].ports[0].endPort: may not be set with a named port"}},
      {"EndPortWithoutPort",
       "{ingress: [{ports: [{endPort: 90}]}]}",
       "{ingress: ~}",
       {"spec.ingress[0].ports[0].endPort: may not be set without port"}},
      {"UnsupportedProtocol",
       "{ingress: [{ports: [{protocol: ICMP}]}, {}]}",
       "{ingress: [{action: Allow}]}",
       {"spec.ingress[0].ports[0].protocol: unsupported protocol \"ICMP\" (allowed: TCP, UDP, "
        "SCTP)"}},
      {"BadPortName",
       "{ingress: [{ports: [{port: Not_A_Name}]}]}",
       "{ingress: ~}",
       {"spec.ingress[0].ports[0]: invalid port name \"Not_A_Name\": "}},
      {"InvalidCidr",
       "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}",
       "{ingress: ~}",
       {"spec.ingress[0].from[0].ipBlock.cidr: invalid CIDR \"10.0.0.0/33\""}},
      {"BareIpIsNotACidr",
       "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.1}}]}]}",
       "{ingress: ~}",
       {"spec.ingress[0].from[0].ipBlock.cidr: invalid CIDR \"10.0.0.1\""}},
      {"ExceptOtherFamily",
       "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: ['fd00::/8']}}]}]}",
       "{ingress: ~}",
       {"spec.ingress[0].from[0].ipBlock.except[0]: \"fd00::/8\" is not in the family"}},
      {"IpBlockWithSelector",
       "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}",
       "{ingress: ~}",
       {"spec.ingress[0].from[0].ipBlock: may not be combined with podSelector or "
        "namespaceSelector"}},
      {"EmptyPeer",
       "{ingress: [{from: [{}]}]}",
       "{ingress: ~}",
       {"spec.ingress[0].from[0]: must specify at least one of podSelector, namespaceSelector or "
        "ipBlock"}},
      {"UnknownOperatorInPeer",
       R"({ingress: [{from: [{podSelector: {matchExpressions:
            [{key: app, operator: Matches, values: [x]}]}}]}, {ports: [{port: 22}]}]})",
       "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [22]}}]}",
       {"spec.ingress[0].from[0].podSelector.matchExpressions[0].operator: unknown operator "
        "\"Matches\""}},
      {"BadLabelValueInPeer",
       "{egress: [{to: [{namespaceSelector: {matchLabels: {team: \"it's\"}}}]}]}",
       "{types: [Ingress, Egress], egress: ~}",
       {"spec.egress[0].to[0].namespaceSelector.matchLabels.team: invalid label value "
        "\"it's\""}},
      {"EveryProblemOfARuleReported",
       "{ingress: [{ports: [{port: 0}, {protocol: ICMP, port: 80}]}], egress: [{ports: [{port: "
       "443}]}]}",
       "{types: [Ingress, Egress], ingress: ~, egress: [{action: Allow, protocol: TCP, "
       "destination: {ports: [443]}}]}",
       {"spec.ingress[0].ports[0]: port 0 is out of range",
        "spec.ingress[0].ports[1].protocol: unsupported protocol \"ICMP\""}},
      {"BadEgressRuleKeepsIngress",
       "{policyTypes: [Ingress, Egress], ingress: [{}], egress: [{to: [{ipBlock: {cidr: x}}]}, "
       "{}]}",
       "{types: [Ingress, Egress], ingress: [{action: Allow}], egress: [{action: Allow}]}",
       {"spec.egress[0].to[0].ipBlock.cidr: invalid CIDR \"x\""}},
  };
}

// Names the case in failure messages instead of dumping its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ConversionTable : public ::testing::TestWithParam<Case> {};

TEST_P(ConversionTable, Converts) {
  const Case& c = GetParam();
  Value knp = knpWithSpec(c.spec);
  Value original = knp;
  auto r = convertK8sNetworkPolicy(knp);
  ASSERT_TRUE(r.hasValue()) << r.error().str();
  EXPECT_EQ(knp, original) << "the input must not change";
  const Value& spec = *r->policy.find("spec");

  Value expected = yaml(expand(c.expected));
  ASSERT_TRUE(expected.isObject()) << c.expected;
  for (const auto& [key, want] : expected.asObject()) {
    const Value* got = spec.find(key);
    if (want.isNull()) {
      EXPECT_EQ(got, nullptr) << "spec." << key << " should be absent, got:\n"
                              << (got ? toYaml(*got) : "");
    } else {
      ASSERT_NE(got, nullptr) << "spec." << key << " missing in:\n" << toYaml(spec);
      EXPECT_EQ(*got, want) << "spec." << key << "\n got:\n"
                            << toYaml(*got) << " want:\n"
                            << toYaml(want);
    }
  }
  // Fields every converted policy has.
  EXPECT_EQ(spec.getString("tier"), "default");
  ASSERT_NE(spec.find("order"), nullptr);
  EXPECT_EQ(spec.find("order")->asDouble(), 1000.0);
  ASSERT_NE(spec.find("types"), nullptr);
  EXPECT_GE(spec.find("types")->size(), 1u);

  ASSERT_EQ(r->problems.size(), c.problems.size()) << [&] {
    std::string all;
    for (const auto& p : r->problems) {
      all += "\n  " + p;
    }
    return "problems:" + all;
  }();
  for (size_t i = 0; i < c.problems.size(); ++i) {
    EXPECT_EQ(r->problems[i].rfind(c.problems[i], 0), 0u)
        << "problem " << i << ": " << r->problems[i] << "\n want prefix: " << c.problems[i];
  }

  EXPECT_TRUE(validates(r->policy));

  // A valid k8s object converts the same in its stored form (defaults filled by the registry).
  Value stored = knp;
  if (normalize(k8sPolicyKind(), stored).isOk()) {
    auto again = convertK8sNetworkPolicy(stored);
    ASSERT_TRUE(again.hasValue());
    EXPECT_EQ(again->policy, r->policy) << toYaml(again->policy);
  }
}

INSTANTIATE_TEST_SUITE_P(K8sPolicy, ConversionTable, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(K8sPolicy, TableIsLarge) { EXPECT_GE(cases().size(), 40u); }

// ---- metadata and whole-object errors ----

TEST(K8sPolicy, Metadata) {
  Value knp = yaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-ingress
  namespace: prod
  uid: 3f1b6a52-1c1d-4c6e-9a8f-0d7c2b1e4a55
  resourceVersion: "4711"
  labels: {team: a}
  annotations: {note: x}
spec: {}
)");
  auto r = convertK8sNetworkPolicy(knp);
  ASSERT_TRUE(r.hasValue()) << r.error().str();
  const Value& p = r->policy;
  EXPECT_EQ(p.getString("apiVersion"), "projectcalico.org/v3");
  EXPECT_EQ(p.getString("kind"), "NetworkPolicy");
  EXPECT_EQ(p.getString("metadata.name"), "knp.default.api-ingress");
  EXPECT_EQ(p.getString("metadata.namespace"), "prod");
  EXPECT_EQ(*p.path("metadata.annotations"), yaml(R"({policy.caracal.io/source-name: api-ingress,
                     policy.caracal.io/source-uid: 3f1b6a52-1c1d-4c6e-9a8f-0d7c2b1e4a55,
                     policy.caracal.io/source-resource-version: "4711"})"));
  // Calico copies neither labels nor annotations; the object's own uid/resourceVersion stay unset.
  EXPECT_EQ(p.path("metadata.labels"), nullptr);
  EXPECT_EQ(p.path("metadata.uid"), nullptr);
  EXPECT_EQ(p.path("metadata.resourceVersion"), nullptr);
  EXPECT_TRUE(r->problems.empty());
  EXPECT_TRUE(validates(p));
}

TEST(K8sPolicy, AnnotationsWithoutUidOrVersion) {
  auto r = convertK8sNetworkPolicy(knpWithSpec("{}"));
  ASSERT_TRUE(r.hasValue());
  EXPECT_EQ(*r->policy.path("metadata.annotations"), yaml("{policy.caracal.io/source-name: np}"));
}

TEST(K8sPolicy, MissingSpecIsEmptySpec) {
  Value knp = knpWithSpec("{}");
  knp.erase("spec");
  auto r = convertK8sNetworkPolicy(knp);
  ASSERT_TRUE(r.hasValue());
  EXPECT_EQ(*r->policy.find("spec"),
            yaml(expand("{tier: default, order: 1000, selector: \"S\", types: [Ingress]}")));
  EXPECT_TRUE(validates(r->policy));
}

TEST(K8sPolicy, WholeObjectErrors) {
  Value noName = knpWithSpec("{}");
  noName["metadata"].erase("name");
  auto r = convertK8sNetworkPolicy(noName);
  ASSERT_FALSE(r.hasValue());
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_NE(r.error().message().find("metadata.name"), std::string::npos);

  Value noNs = knpWithSpec("{}");
  noNs["metadata"].erase("namespace");
  r = convertK8sNetworkPolicy(noNs);
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find("metadata.namespace"), std::string::npos);

  Value badName = knpWithSpec("{}");
  badName["metadata"].set("name", Value("Not_Valid"));
  EXPECT_EQ(convertK8sNetworkPolicy(badName).code(), Code::Invalid);

  Value longName = knpWithSpec("{}");
  longName["metadata"].set("name", Value(std::string(245, 'a')));
  r = convertK8sNetworkPolicy(longName);
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find("253"), std::string::npos);

  Value wrongKind = knpWithSpec("{}");
  wrongKind.set("apiVersion", Value("projectcalico.org/v3"));
  EXPECT_EQ(convertK8sNetworkPolicy(wrongKind).code(), Code::Invalid);

  EXPECT_EQ(convertK8sNetworkPolicy(Value("x")).code(), Code::Invalid);

  Value badSpec = knpWithSpec("{}");
  badSpec.set("spec", Value(3));
  EXPECT_EQ(convertK8sNetworkPolicy(badSpec).code(), Code::Invalid);
}

TEST(K8sPolicy, UnusablePodSelectorIsInvalid) {
  auto r = convertK8sNetworkPolicy(knpWithSpec(
      "{podSelector: {matchExpressions: [{key: app, operator: Near}]}, ingress: [{}]}"));
  ASSERT_FALSE(r.hasValue());
  ASSERT_EQ(r.error().causes().size(), 1u);
  EXPECT_EQ(r.error().causes()[0].field, "spec.podSelector.matchExpressions[0].operator");

  r = convertK8sNetworkPolicy(knpWithSpec("{podSelector: {matchLabels: {'bad key!': x}}}"));
  ASSERT_FALSE(r.hasValue());
  EXPECT_EQ(r.error().causes()[0].field, "spec.podSelector.matchLabels.bad key!");
}

// ---- limits of the Calico schema ----

TEST(K8sPolicy, MoreThanFiftyPortsSplitIntoRules) {
  std::string ports;
  for (int i = 0; i < 120; ++i) {
    ports += (i ? ", " : "") + std::string("{port: ") + std::to_string(1000 + 2 * i) + "}";
  }
  auto r = convertK8sNetworkPolicy(
      knpWithSpec("{ingress: [{from: [{podSelector: {}}, {ipBlock: {cidr: 10.0.0.0/8}}], ports: [" +
                  ports + "]}]}"));
  ASSERT_TRUE(r.hasValue());
  const Value* ingress = r->policy.path("spec.ingress");
  ASSERT_NE(ingress, nullptr);
  // 120 ports => chunks of 50, 50, 20; each chunk for each of the two peers.
  ASSERT_EQ(ingress->size(), 6u);
  std::vector<size_t> sizes;
  for (const auto& rule : ingress->asArray()) {
    sizes.push_back(rule.path("destination.ports")->size());
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{50, 50, 50, 50, 20, 20}));
  EXPECT_EQ(ingress->asArray()[0].path("destination.ports")->asArray()[0], Value(1000));
  EXPECT_EQ(ingress->asArray()[1].path("source.nets")->asArray()[0], Value("10.0.0.0/8"));
  EXPECT_EQ(ingress->asArray()[5].path("destination.ports")->asArray()[19], Value(1238));
  EXPECT_TRUE(r->problems.empty());
  EXPECT_TRUE(validates(r->policy));
}

TEST(K8sPolicy, RuleLimitDropsWholeK8sRules) {
  std::string peers;
  for (int i = 0; i < 1000; ++i) {
    peers += (i ? ", " : "") + std::string("{podSelector: {matchLabels: {n: '") +
             std::to_string(i) + "'}}}";
  }
  // Rule 0: 1000 Calico rules; rule 1: 2 protocols x 1000 peers would pass 1024; rule 2: one more.
  auto r = convertK8sNetworkPolicy(
      knpWithSpec("{ingress: [{from: [" + peers + "]}, {from: [" + peers +
                  "], ports: [{port: 1}, {protocol: UDP, port: 1}]}, {ports: [{port: 22}]}]}"));
  ASSERT_TRUE(r.hasValue());
  EXPECT_EQ(r->policy.path("spec.ingress")->size(), 1001u);
  ASSERT_EQ(r->problems.size(), 1u);
  EXPECT_EQ(r->problems[0].rfind("spec.ingress[1]: its 2000 Calico rules would exceed", 0), 0u)
      << r->problems[0];
  EXPECT_TRUE(validates(r->policy));
}

// ---- the selector translation on its own ----

TEST(K8sSelectorToCalico, Forms) {
  EXPECT_EQ(k8sSelectorToCalico(Value(), true), kOrch);
  EXPECT_EQ(k8sSelectorToCalico(Value(), false), "");
  EXPECT_EQ(k8sSelectorToCalico(yaml("{}"), true), kOrch);
  EXPECT_EQ(k8sSelectorToCalico(yaml("{}"), false), "all()");
  EXPECT_EQ(k8sSelectorToCalico(yaml("{matchLabels: {}, matchExpressions: []}"), false), "all()");
  EXPECT_EQ(k8sSelectorToCalico(yaml("{matchLabels: {b: '2', a: '1'}}"), false),
            "a == '1' && b == '2'");
  EXPECT_EQ(k8sSelectorToCalico(yaml("{matchLabels: {a: ''}}"), false), "a == ''");
  EXPECT_EQ(k8sSelectorToCalico(yaml("{matchExpressions: [{key: a, operator: In, values: [x]}, "
                                     "{key: b, operator: DoesNotExist}]}"),
                                true),
            std::string(kOrch) + " && a in { 'x' } && ! has(b)");
  // Not reachable from valid k8s objects, but still a parseable selector.
  EXPECT_EQ(k8sSelectorToCalico(yaml("{matchLabels: {a: \"it's\"}}"), false), "a == \"it's\"");
  EXPECT_EQ(k8sSelectorToCalico(yaml("{matchExpressions: [{key: a, operator: NotIn}]}"), false),
            "a not in {}");
  EXPECT_EQ(k8sSelectorToCalico(yaml("{matchExpressions: [{key: a, operator: Near}]}"), false), "");
}

TEST(K8sSelectorToCalico, OutputParsesAndMatchesLikeKubernetes) {
  std::string s = k8sSelectorToCalico(yaml(R"({matchLabels: {app: web}, matchExpressions: [
                {key: tier, operator: In, values: [fe, be]},
                {key: env, operator: NotIn, values: [dev]},
                {key: canary, operator: DoesNotExist}]})"),
                                      true);
  auto parsed = Selector::parse(s);
  ASSERT_TRUE(parsed.hasValue()) << parsed.error().str() << ": " << s;
  Labels base = {{"projectcalico.org/orchestrator", "k8s"}, {"app", "web"}, {"tier", "fe"}};
  EXPECT_TRUE(parsed->matches(base));
  Labels noOrch = base;
  noOrch.erase("projectcalico.org/orchestrator");
  EXPECT_FALSE(parsed->matches(noOrch));
  Labels dev = base;
  dev["env"] = "dev";
  EXPECT_FALSE(parsed->matches(dev));
  Labels canary = base;
  canary["canary"] = "";
  EXPECT_FALSE(parsed->matches(canary));
  Labels db = base;
  db["tier"] = "db";
  EXPECT_FALSE(parsed->matches(db));
}

// ---- the shipped example ----

TEST(K8sPolicy, ExampleManifest) {
  std::ifstream in(std::string(CARACAL_EXAMPLES_DIR) + "/20-k8s-networkpolicy.yaml");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  Value knp = yaml(ss.str());
  ASSERT_TRUE(normalize(k8sPolicyKind(), knp).isOk());
  auto r = convertK8sNetworkPolicy(knp);
  ASSERT_TRUE(r.hasValue());
  EXPECT_TRUE(r->problems.empty());
  EXPECT_EQ(r->policy.getString("metadata.name"), "knp.default.api-ingress");
  const Value* ingress = r->policy.path("spec.ingress");
  ASSERT_NE(ingress, nullptr);
  ASSERT_EQ(ingress->size(), 4u);
  EXPECT_EQ(ingress->asArray()[0].getString("source.namespaceSelector"), "team == 'a'");
  EXPECT_EQ(*ingress->asArray()[3].path("destination.ports"), yaml("[dns]"));
  EXPECT_TRUE(validates(r->policy));
}

} // namespace
} // namespace caracal::api
