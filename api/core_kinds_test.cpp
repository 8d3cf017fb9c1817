// The Kubernetes kinds: v1 Namespace, Pod, Node, ServiceAccount; networking.k8s.io/v1
// NetworkPolicy.
#include "api/model_test_util.h"
#include "api/registry.h"

#include <gtest/gtest.h>

namespace caracal::api {
namespace {

using testutil::hasCause;
using testutil::isOk;
using testutil::normalizeYaml;
using testutil::yaml;

TEST(Namespace, NameLabelAndPhase) {
  Value out;
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, "
                                 "labels: {team: a, kubernetes.io/metadata.name: wrong}}",
                                 &out)));
  EXPECT_EQ(out.getString("metadata.labels.team"), "a");
  EXPECT_EQ(out.path("metadata.labels")->find("kubernetes.io/metadata.name")->asString(), "prod");
  EXPECT_EQ(out.getString("status.phase"), "Active");
}

TEST(Namespace, NamesAreLabels) {
  Status st = normalizeYaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: prod.eu}");
  EXPECT_TRUE(hasCause(st, "metadata.name", "RFC 1123 label"));
  st = normalizeYaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: p}\nstatus: {phase: Gone}");
  EXPECT_TRUE(hasCause(st, "status.phase", "allowed: Active, Terminating"));
  st = normalizeYaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: p, namespace: x}");
  EXPECT_TRUE(hasCause(st, "metadata.namespace", "cluster-scoped"));
}

constexpr const char* kPod = R"(apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: prod
  labels: {app: web}
  annotations: {cni.projectcalico.org/podIP: 192.168.7.5/32}
spec:
  nodeName: n1
  serviceAccountName: web
  restartPolicy: Always
  terminationGracePeriodSeconds: 30
  securityContext: {runAsNonRoot: true}
  volumes:
  - name: cfg
    configMap: {name: web-config}
  containers:
  - name: web
    image: nginx:1.27
    args: ["-g", "daemon off;"]
    resources: {limits: {cpu: 500m, memory: 128Mi}}
    readinessProbe: {httpGet: {path: /healthz, port: http}}
    ports:
    - {name: http, containerPort: 8080}
    - {name: metrics, containerPort: 9090, protocol: TCP}
    volumeMounts: [{name: cfg, mountPath: /etc/web}]
status:
  phase: Running
  podIP: 192.168.7.5
  podIPs: [{ip: 192.168.7.5}]
  hostIP: 10.0.0.21
  conditions: [{type: Ready, status: "True"}]
  containerStatuses: [{name: web, ready: true, restartCount: 0}]
)";

TEST(Pod, RealManifestRoundTrips) {
  Value out;
  ASSERT_TRUE(isOk(normalizeYaml(kPod, &out)));
  // Unmodelled fields are kept as they came.
  EXPECT_EQ(out.getString("spec.restartPolicy"), "Always");
  EXPECT_EQ(out.path("spec.containers")->asArray()[0].getString("image"), "nginx:1.27");
  EXPECT_TRUE(out.path("status.containerStatuses"));
  // Container port protocol defaults to TCP, as in Kubernetes.
  const Value& port0 = out.path("spec.containers")->asArray()[0].find("ports")->asArray()[0];
  EXPECT_EQ(port0.getString("protocol"), "TCP");
  Value again = yaml(toYaml(out));
  ASSERT_TRUE(isOk(normalize(*findByName("po"), again)));
  EXPECT_EQ(again, out);
}

TEST(Pod, ModelledFieldsValidated) {
  Status st = normalizeYaml(R"(apiVersion: v1
kind: Pod
metadata: {name: p, namespace: prod}
spec:
  nodeName: Node_1
  containers:
  - name: c
    ports:
    - {name: http, containerPort: 0, protocol: ICMP}
    - {name: http, containerPort: 80}
  - image: x
status: {podIP: 10.0.0.300, phase: Dead}
)");
  EXPECT_TRUE(hasCause(st, "spec.nodeName", "invalid name \"Node_1\""));
  EXPECT_TRUE(hasCause(st, "spec.containers[0].ports[0].containerPort", "between 1 and 65535"));
  EXPECT_TRUE(hasCause(st, "spec.containers[0].ports[0].protocol", "allowed: TCP, UDP, SCTP"));
  EXPECT_TRUE(hasCause(st, "spec.containers[0].ports[1].name", "duplicate port name \"http\""));
  EXPECT_TRUE(hasCause(st, "spec.containers[1].name", "required value"));
  EXPECT_TRUE(hasCause(st, "status.podIP", "invalid IP address \"10.0.0.300\""));
  EXPECT_TRUE(hasCause(st, "status.phase", "unknown value \"Dead\""));
  st = normalizeYaml("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}");
  EXPECT_TRUE(hasCause(st, "metadata.namespace", "required value"));
}

TEST(Pod, NodeNameImmutableOnceSet) {
  const KindInfo& k = *findByName("pods");
  Value a;
  Value b;
  Value c;
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: "
                                 "n}\nspec: {containers: [{name: c}]}",
                                 &a)));
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: "
                                 "n}\nspec: {nodeName: n1, containers: [{name: c}]}",
                                 &b)));
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: "
                                 "n}\nspec: {nodeName: n2, containers: [{name: c}]}",
                                 &c)));
  EXPECT_TRUE(isOk(validateUpdate(k, a, b))); // binding sets it
  EXPECT_TRUE(hasCause(validateUpdate(k, b, c), "spec.nodeName", "field is immutable"));
  Value moved = b;
  moved["metadata"].set("namespace", "other");
  EXPECT_TRUE(hasCause(validateUpdate(k, b, moved), "metadata.namespace", "field is immutable"));
}

TEST(Node, AddressesStatusAndPodCidrs) {
  Value out;
  ASSERT_TRUE(isOk(normalizeYaml(R"(apiVersion: v1
kind: Node
metadata: {name: n1, labels: {kubernetes.io/hostname: n1}}
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs: [10.244.1.0/24, 'fd00:10:244:1::/64']
  providerID: kind://n1
status:
  addresses: [{type: InternalIP, address: 10.0.0.21}, {type: Hostname, address: n1}]
  conditions: [{type: Ready, status: "True", reason: KubeletReady}]
  nodeInfo: {kubeletVersion: v1.32.0}
)",
                                 &out)));
  const KindInfo& k = *findByName("no");
  EXPECT_EQ(k.group, "projectcalico.org"); // "no" is ambiguous: the Calico Node wins
  const KindInfo& core = *findByKind("v1", "Node");
  Status st = normalizeYaml(R"(apiVersion: v1
kind: Node
metadata: {name: n2}
spec: {podCIDR: 10.244.2.0/24, podCIDRs: [10.244.3.0/24, 10.244.4.0/24]}
status: {addresses: [{type: Private, address: x}]}
)");
  EXPECT_TRUE(hasCause(st, "spec.podCIDRs[1]", "one CIDR per IP family"));
  EXPECT_TRUE(hasCause(st, "spec.podCIDR", "must equal the first entry of podCIDRs"));
  EXPECT_TRUE(hasCause(st, "status.addresses[0].type", "unknown value \"Private\""));
  Value changed = out;
  changed["spec"].set("podCIDR", "10.244.9.0/24");
  EXPECT_TRUE(hasCause(validateUpdate(core, out, changed), "spec.podCIDR", "field is immutable"));
}

TEST(ServiceAccount, Fields) {
  EXPECT_TRUE(isOk(normalizeYaml("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, "
                                 "namespace: prod}\nsecrets: [{name: web-token}]\n"
                                 "automountServiceAccountToken: false")));
  Status st = normalizeYaml("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, "
                            "namespace: prod}\nspec: {}");
  EXPECT_TRUE(hasCause(st, "", "unknown field \"spec\""));
}

TEST(K8sNetworkPolicy, ReferenceExampleAndDefaults) {
  Value out;
  ASSERT_TRUE(isOk(normalizeYaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-api, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - {namespaceSelector: {matchLabels: {team: a}}, podSelector: {matchLabels: {role: fe}}}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    ports:
    - port: 80
    - {port: 8000, endPort: 8080}
    - {protocol: UDP, port: dns}
)",
                                 &out)));
  const Value& ports = *out.path("spec.ingress")->asArray()[0].find("ports");
  EXPECT_EQ(ports.asArray()[0].getString("protocol"), "TCP");
  EXPECT_EQ(ports.asArray()[1].getString("protocol"), "TCP");
  EXPECT_EQ(ports.asArray()[2].getString("protocol"), "UDP");
  ASSERT_EQ(out.path("spec.policyTypes")->size(), 1u);
  EXPECT_EQ(out.path("spec.policyTypes")->asArray()[0].asString(), "Ingress");
}

TEST(K8sNetworkPolicy, PolicyTypesDefaultIncludesEgressWhenPresent) {
  Value out;
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                                 "metadata: {name: p, namespace: n}\nspec: {egress: [{}]}",
                                 &out)));
  ASSERT_EQ(out.path("spec.policyTypes")->size(), 2u);
  EXPECT_EQ(out.path("spec.policyTypes")->asArray()[1].asString(), "Egress");
  EXPECT_TRUE(out.path("spec.podSelector")->isObject());
  Value minimal;
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                                 "metadata: {name: deny-all, namespace: n}",
                                 &minimal)));
  EXPECT_EQ(minimal.path("spec.policyTypes")->size(), 1u);
}

TEST(K8sNetworkPolicy, Errors) {
  Status st = normalizeYaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: n}
spec:
  podSelector:
    matchExpressions:
    - {key: tier, operator: In}
    - {key: env, operator: Exists, values: [prod]}
    - {key: x, operator: Maybe}
  policyTypes: [Ingress, Sideways]
  ingress:
  - from:
    - {}
    - {ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16, 10.0.0.0/8]}, podSelector: {}}
    ports:
    - {port: 90, endPort: 80}
    - {port: http, endPort: 81}
    - {port: 0, protocol: ICMP}
    - {endPort: 10}
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.300/8}}]
)");
  EXPECT_TRUE(hasCause(st, "spec.podSelector.matchExpressions[0].values",
                       "must be specified when operator is In or NotIn"));
  EXPECT_TRUE(hasCause(st, "spec.podSelector.matchExpressions[1].values", "may not be specified"));
  EXPECT_TRUE(hasCause(st, "spec.podSelector.matchExpressions[2].operator",
                       "allowed: In, NotIn, Exists, DoesNotExist"));
  EXPECT_TRUE(hasCause(st, "spec.policyTypes[1]", "unknown value \"Sideways\""));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].from[0]", "at least one of podSelector"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].from[1].ipBlock", "may not be combined"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].from[1].ipBlock.except[0]", "strict subset"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].from[1].ipBlock.except[1]", "strict subset"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].ports[0].endPort", "greater than or equal to port"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].ports[1].endPort", "named port"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].ports[2].port", "between 1 and 65535"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].ports[2].protocol", "allowed: TCP, UDP, SCTP"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].ports[3].endPort", "without port"));
  EXPECT_TRUE(hasCause(st, "spec.egress[0].to[0].ipBlock.cidr", "invalid CIDR"));
}

TEST(K8sNetworkPolicy, CalicoKindWinsTheShortName) {
  EXPECT_EQ(findByName("networkpolicy")->group, "projectcalico.org");
  EXPECT_EQ(findByName("netpol")->group, "networking.k8s.io");
  EXPECT_EQ(findByName("networkpolicies.networking.k8s.io")->group, "networking.k8s.io");
  EXPECT_EQ(findByName("networkpolicies.networking")->group, "networking.k8s.io");
  EXPECT_EQ(findByName("networkpolicies.projectcalico.org")->group, "projectcalico.org");
}

} // namespace
} // namespace caracal::api

namespace caracal::api {
namespace {

using testutil::hasCause;
using testutil::isOk;
using testutil::normalizeYaml;

TEST(Secret, DataIsBase64AndStringDataPlain) {
  Value out;
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: v1\nkind: Secret\nmetadata: {name: bgp-secrets, "
                                 "namespace: caracal-system}\ndata: {tor: czNjcjN0, empty: ''}\n"
                                 "stringData: {mesh: 'plain \"text\"'}\nimmutable: true",
                                 &out)));
  EXPECT_EQ(out.getString("type"), "Opaque");
  EXPECT_EQ(out.getString("data.tor"), "czNjcjN0");
  EXPECT_EQ(out.getString("stringData.mesh"), "plain \"text\"");
  const KindInfo* k = findByName("secrets");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->kind, "Secret");
  EXPECT_TRUE(k->namespaced);
  EXPECT_EQ(findByResource("", "v1", "secrets"), k);
  Value again = out; // normalising twice changes nothing
  ASSERT_TRUE(isOk(normalize(*k, again)));
  EXPECT_EQ(again, out);
}

TEST(Secret, InvalidBase64NamesTheKey) {
  Status st = normalizeYaml("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\n"
                            "data: {good: czNjcjN0, pw: 'not base64!', short: abc}");
  EXPECT_TRUE(hasCause(st, "data[pw]", "key \"pw\" is not valid base64")) << st.str();
  EXPECT_TRUE(hasCause(st, "data[short]", "key \"short\" is not valid base64")) << st.str();
  EXPECT_FALSE(hasCause(st, "data[good]", "base64")) << st.str();
  st = normalizeYaml("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\n"
                     "stringData: {'bad/key': x}");
  EXPECT_TRUE(hasCause(st, "stringData", "invalid key \"bad/key\"")) << st.str();
  st = normalizeYaml("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: b}");
  EXPECT_TRUE(hasCause(st, "metadata.namespace", "required value")) << st.str();
  st = normalizeYaml("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\n"
                     "immutable: maybe");
  EXPECT_FALSE(isOk(st));
}

TEST(Secret, ImmutableSecretsCannotChange) {
  const KindInfo& k = *findByName("secret");
  Value a;
  Value b;
  Value c;
  ASSERT_TRUE(isOk(normalizeYaml(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\ndata: {k: YQ==}", &a)));
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: "
                                 "n}\ndata: {k: Yg==}\nimmutable: true",
                                 &b)));
  ASSERT_TRUE(isOk(normalizeYaml("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: "
                                 "n}\ndata: {k: Yw==}\nimmutable: true",
                                 &c)));
  EXPECT_TRUE(isOk(validateUpdate(k, a, b))); // a mutable secret may change and become immutable
  EXPECT_TRUE(hasCause(validateUpdate(k, b, c), "data", "immutable"));
}

constexpr const char* kEvent = R"(apiVersion: v1
kind: Event
metadata:
  name: allow-web.17e4c3a2b1d0f000
  namespace: prod
involvedObject:
  kind: NetworkPolicy
  apiVersion: networking.k8s.io/v1
  name: allow-web
  namespace: prod
  uid: 5c1f2d1e-0000-4000-8000-000000000001
reason: RuleDropped
message: 'spec.ingress[1].ports[0]: port 0 is out of range'
type: Warning
count: 1
firstTimestamp: '2025-01-02T03:04:05Z'
lastTimestamp: '2025-01-02T03:04:05Z'
eventTime: '2025-01-02T03:04:05.123456Z'
source: {component: caracal-controller}
reportingComponent: caracal-controller
reportingInstance: ctrl-1
)";

TEST(Event, CoreV1EventRoundTrips) {
  Value out;
  ASSERT_TRUE(isOk(normalizeYaml(kEvent, &out)));
  EXPECT_EQ(out.getString("involvedObject.kind"), "NetworkPolicy");
  EXPECT_EQ(out.getString("involvedObject.uid"), "5c1f2d1e-0000-4000-8000-000000000001");
  EXPECT_EQ(out.getString("reason"), "RuleDropped");
  EXPECT_EQ(out.getString("type"), "Warning");
  EXPECT_EQ(out.path("count")->asInt(), 1);
  EXPECT_EQ(out.getString("source.component"), "caracal-controller");
  EXPECT_EQ(out.getString("reportingComponent"), "caracal-controller");
  const KindInfo* k = findByName("events");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->kind, "Event");
  EXPECT_TRUE(k->namespaced);
  EXPECT_EQ(findByName("ev"), k);
  EXPECT_EQ(findByResource("", "v1", "events"), k);
  EXPECT_EQ(findByKind("v1", "Event"), k);
  Value again = out;
  ASSERT_TRUE(isOk(normalize(*k, again)));
  EXPECT_EQ(again, out);
  // The printed row names the object as kubectl does: kind/name.
  bool sawObject = false;
  for (const auto& c : k->columns) {
    if (c.name == "OBJECT") {
      EXPECT_EQ(c.cell(out), "networkpolicy/allow-web");
      sawObject = true;
    }
  }
  EXPECT_TRUE(sawObject);
}

TEST(Event, FieldsAreChecked) {
  Status st = normalizeYaml("apiVersion: v1\nkind: Event\nmetadata: {name: e, namespace: n}\n"
                            "reason: X");
  EXPECT_TRUE(hasCause(st, "involvedObject", "required")) << st.str();
  st = normalizeYaml("apiVersion: v1\nkind: Event\nmetadata: {name: e}\ninvolvedObject: {}");
  EXPECT_TRUE(hasCause(st, "metadata.namespace", "required value")) << st.str();
  st = normalizeYaml("apiVersion: v1\nkind: Event\nmetadata: {name: e, namespace: n}\n"
                     "involvedObject: {}\ntype: Fatal");
  EXPECT_TRUE(hasCause(st, "type", "Normal, Warning")) << st.str();
  st = normalizeYaml("apiVersion: v1\nkind: Event\nmetadata: {name: e, namespace: n}\n"
                     "involvedObject: {}\ncount: -1");
  EXPECT_TRUE(hasCause(st, "count", "")) << st.str();
  st = normalizeYaml("apiVersion: v1\nkind: Event\nmetadata: {name: e, namespace: n}\n"
                     "involvedObject: {}\nlastTimestamp: yesterday");
  EXPECT_TRUE(hasCause(st, "lastTimestamp", "invalid timestamp")) << st.str();
  st = normalizeYaml("apiVersion: v1\nkind: Event\nmetadata: {name: e, namespace: n}\n"
                     "involvedObject: {kind: 7}");
  EXPECT_TRUE(hasCause(st, "involvedObject.kind", "")) << st.str();
}

} // namespace
} // namespace caracal::api
