// The projectcalico.org/v3 kinds: valid objects, defaults, and the rules Calico enforces.
#include "api/model_test_util.h"
#include "api/registry.h"

#include <gtest/gtest.h>

namespace caracal::api {
namespace {

using testutil::hasCause;
using testutil::isOk;
using testutil::normalizeYaml;
using testutil::yaml;

constexpr const char* kHeader = "apiVersion: projectcalico.org/v3\n";

Status check(const std::string& body, Value* out = nullptr) {
  return normalizeYaml(kHeader + body, out);
}

// ---- IPPool ------------------------------------------------------------------------------------

TEST(IPPool, DefaultsFilled) {
  Value out;
  ASSERT_TRUE(isOk(check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.244.0.0/16}", &out)));
  EXPECT_EQ(out.path("spec.blockSize")->asInt(), 26);
  EXPECT_EQ(out.getString("spec.ipipMode"), "Never");
  EXPECT_EQ(out.getString("spec.vxlanMode"), "Never");
  EXPECT_EQ(out.getString("spec.nodeSelector"), "all()");
  EXPECT_EQ(out.getString("spec.assignmentMode"), "Automatic");
  ASSERT_EQ(out.path("spec.allowedUses")->size(), 2u);
  EXPECT_EQ(out.path("spec.allowedUses")->asArray()[0].asString(), "Workload");
  EXPECT_EQ(out.path("spec.allowedUses")->asArray()[1].asString(), "Tunnel");
  EXPECT_FALSE(out.path("spec.natOutgoing")); // no invented defaults
  EXPECT_EQ(out.getString("apiVersion"), "projectcalico.org/v3");
}

TEST(IPPool, Ipv6DefaultsAndCanonicalCidr) {
  Value out;
  ASSERT_TRUE(
      isOk(check("kind: IPPool\nmetadata: {name: p6}\nspec: {cidr: 'FD00:10:244:0::/48'}", &out)));
  EXPECT_EQ(out.path("spec.blockSize")->asInt(), 122);
  EXPECT_EQ(out.getString("spec.cidr"), "fd00:10:244::/48");
}

TEST(IPPool, EmptyAllowedUsesAndZeroBlockSizeMeanDefault) {
  Value out;
  ASSERT_TRUE(isOk(check("kind: IPPool\nmetadata: {name: p}\n"
                         "spec: {cidr: 10.0.0.0/16, allowedUses: [], blockSize: 0}",
                         &out)));
  EXPECT_EQ(out.path("spec.allowedUses")->size(), 2u);
  EXPECT_EQ(out.path("spec.blockSize")->asInt(), 26);
}

TEST(IPPool, BadEnumListsAllowed) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, "
                    "ipipMode: sometimes}");
  EXPECT_TRUE(hasCause(st, "spec.ipipMode",
                       "unknown value \"sometimes\" (allowed: Always, CrossSubnet, Never)",
                       "FieldValueNotSupported"));
}

TEST(IPPool, UnknownFieldSuggestsSpelling) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, blocksize: 24}");
  EXPECT_TRUE(hasCause(st, "spec", "unknown field \"blocksize\" (did you mean \"blockSize\"?)"));
  ASSERT_FALSE(st.causes().empty());
  EXPECT_TRUE(isUnknownFieldCause(st.causes()[0]));
  EXPECT_EQ(st.message(), "spec: unknown field \"blocksize\" (did you mean \"blockSize\"?)");
}

TEST(IPPool, WrongTypeNamesValue) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, blockSize: big}");
  EXPECT_TRUE(hasCause(st, "spec.blockSize", "must be an integer, got string \"big\"",
                       "FieldValueTypeInvalid"));
}

TEST(IPPool, InvalidCidr) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.300/16}");
  EXPECT_TRUE(hasCause(st, "spec.cidr", "invalid CIDR \"10.0.0.300/16\""));
  st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.1}");
  EXPECT_TRUE(hasCause(st, "spec.cidr", "invalid CIDR \"10.0.0.1\""));
}

TEST(IPPool, CidrMustBeStrictlyMasked) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.1/16}");
  EXPECT_TRUE(hasCause(st, "spec.cidr", "not strictly masked (did you mean \"10.0.0.0/16\"?)"));
}

TEST(IPPool, MissingCidr) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {natOutgoing: true}");
  EXPECT_TRUE(hasCause(st, "spec.cidr", "required value", "FieldValueRequired"));
  st = check("kind: IPPool\nmetadata: {name: p}");
  EXPECT_TRUE(hasCause(st, "spec.cidr", "required value"));
}

TEST(IPPool, BlockSizeRangePerFamily) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, blockSize: 19}");
  EXPECT_TRUE(hasCause(st, "spec.blockSize", "between 20 and 32 for an IPv4 pool, got 19"));
  st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 'fd00::/48', blockSize: 64}");
  EXPECT_TRUE(hasCause(st, "spec.blockSize", "between 116 and 128 for an IPv6 pool, got 64"));
  EXPECT_TRUE(
      isOk(check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 'fd00::/48', blockSize: 116}")));
}

TEST(IPPool, PrefixMustNotBeLongerThanBlock) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/28}");
  EXPECT_TRUE(hasCause(st, "spec.cidr", "smaller than one block (/26)"));
  // Calico only checks enabled pools.
  EXPECT_TRUE(
      isOk(check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/28, disabled: true}")));
}

TEST(IPPool, IpipOnlyForIpv4AndNotWithVxlan) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 'fd00::/48', ipipMode: "
                    "Always}");
  EXPECT_TRUE(hasCause(st, "spec.ipipMode", "IPIP is not supported for an IPv6 pool"));
  st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, ipipMode: "
             "CrossSubnet, vxlanMode: Always}");
  EXPECT_TRUE(hasCause(st, "spec.ipipMode", "cannot both be enabled", "FieldValueForbidden"));
  EXPECT_TRUE(isOk(check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 'fd00::/48', "
                         "vxlanMode: Always}")));
}

TEST(IPPool, LinkLocalRejected) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 169.254.0.0/20}");
  EXPECT_TRUE(hasCause(st, "spec.cidr", "link-local range 169.254.0.0/16"));
  st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 'fe80::/64'}");
  EXPECT_TRUE(hasCause(st, "spec.cidr", "link-local range fe80::/10"));
}

TEST(IPPool, AllowedUsesRules) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, allowedUses: "
                    "[Workload, Gateway]}");
  EXPECT_TRUE(hasCause(st, "spec.allowedUses[1]", "unknown value \"Gateway\""));
  st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, allowedUses: "
             "[LoadBalancer, Workload]}");
  EXPECT_TRUE(hasCause(st, "spec.allowedUses", "LoadBalancer cannot be combined"));
  st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, allowedUses: "
             "[LoadBalancer], vxlanMode: Always, nodeSelector: \"role == 'lb'\"}");
  EXPECT_TRUE(hasCause(st, "spec.vxlanMode", "must be Never for a LoadBalancer pool"));
  EXPECT_TRUE(hasCause(st, "spec.nodeSelector", "must be all() for a LoadBalancer pool"));
  EXPECT_TRUE(isOk(check("kind: IPPool\nmetadata: {name: lb}\nspec: {cidr: 10.9.0.0/16, "
                         "allowedUses: [LoadBalancer]}")));
  st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, allowedUses: "
             "[Workload, Workload]}");
  EXPECT_TRUE(
      hasCause(st, "spec.allowedUses[1]", "duplicate value \"Workload\"", "FieldValueDuplicate"));
}

TEST(IPPool, SelectorErrorsComeFromTheParser) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, nodeSelector: "
                    "\"zone == west\"}");
  EXPECT_TRUE(hasCause(st, "spec.nodeSelector", "column "));
}

TEST(IPPool, V1FieldsForbidden) {
  Status st = check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, "
                    "nat-outgoing: true, ipip: {enabled: true}}");
  EXPECT_TRUE(hasCause(st, "spec.nat-outgoing", "APIv1", "FieldValueForbidden"));
  EXPECT_TRUE(hasCause(st, "spec.ipip", "APIv1", "FieldValueForbidden"));
}

TEST(IPPool, WrongKindOrVersion) {
  Value obj = yaml("apiVersion: projectcalico.org/v2\nkind: IPPool\nmetadata: {name: p}\n"
                   "spec: {cidr: 10.0.0.0/16}");
  Status st = normalize(*findByName("ippool"), obj);
  EXPECT_TRUE(hasCause(st, "apiVersion", "must be \"projectcalico.org/v3\""));
  Value obj2 = yaml("kind: BGPPeer\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16}");
  st = normalize(*findByName("ippool"), obj2);
  EXPECT_TRUE(hasCause(st, "kind", "must be \"IPPool\""));
}

TEST(IPPool, FillsTypeMetaWhenMissing) {
  Value obj = yaml("metadata: {name: p}\nspec: {cidr: 10.0.0.0/16}");
  ASSERT_TRUE(isOk(normalize(*findByName("ippool"), obj)));
  EXPECT_EQ(obj.getString("apiVersion"), "projectcalico.org/v3");
  EXPECT_EQ(obj.getString("kind"), "IPPool");
  EXPECT_EQ(obj.asObject()[0].first, "apiVersion");
  EXPECT_EQ(obj.asObject()[1].first, "kind");
}

TEST(IPPool, OverlapsNameTheOtherPool) {
  const KindInfo& k = *findByName("IPPool");
  Value a =
      yaml(std::string(kHeader) + "kind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.0.0.0/16}");
  Value b =
      yaml(std::string(kHeader) + "kind: IPPool\nmetadata: {name: b}\nspec: {cidr: 10.0.128.0/17}");
  Value c =
      yaml(std::string(kHeader) + "kind: IPPool\nmetadata: {name: c}\nspec: {cidr: 10.1.0.0/16}");
  Value off = yaml(std::string(kHeader) +
                   "kind: IPPool\nmetadata: {name: off}\nspec: {cidr: 10.0.0.0/8, disabled: true}");
  Value v6 =
      yaml(std::string(kHeader) + "kind: IPPool\nmetadata: {name: six}\nspec: {cidr: 'fd00::/48'}");
  Value v6b = yaml(std::string(kHeader) +
                   "kind: IPPool\nmetadata: {name: six-b}\nspec: {cidr: 'fd00::/64'}");
  Status st = validateAgainst(k, b, {a, c});
  EXPECT_TRUE(hasCause(st, "spec.cidr", "overlaps IPPool \"a\" (10.0.0.0/16)"));
  EXPECT_TRUE(isOk(validateAgainst(k, c, {a, b, v6})));
  EXPECT_TRUE(isOk(validateAgainst(k, a, {off})));    // disabled pools do not count
  EXPECT_TRUE(isOk(validateAgainst(k, off, {a, b}))); // nor does a disabled pool
  EXPECT_TRUE(isOk(validateAgainst(k, a, {a})));      // itself (same name)
  st = validateAgainst(k, v6b, {a, v6});
  EXPECT_TRUE(hasCause(st, "spec.cidr", "overlaps IPPool \"six\""));
}

TEST(IPPool, CidrAndBlockSizeImmutable) {
  const KindInfo& k = *findByName("ipp");
  Value a;
  Value b;
  ASSERT_TRUE(isOk(check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16}", &a)));
  ASSERT_TRUE(isOk(check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.1.0.0/16, "
                         "blockSize: 24, natOutgoing: true}",
                         &b)));
  Status st = validateUpdate(k, a, b);
  EXPECT_TRUE(hasCause(st, "spec.cidr", "field is immutable"));
  EXPECT_TRUE(hasCause(st, "spec.blockSize", "field is immutable (was 26, now 24)"));
  EXPECT_EQ(st.causes().size(), 2u);
  Value c;
  ASSERT_TRUE(isOk(check("kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, "
                         "natOutgoing: true, ipipMode: Always}",
                         &c)));
  EXPECT_TRUE(isOk(validateUpdate(k, a, c)));
  Value renamed = c;
  renamed["metadata"].set("name", "q");
  EXPECT_TRUE(hasCause(validateUpdate(k, a, renamed), "metadata.name", "field is immutable"));
}

// ---- IPReservation -----------------------------------------------------------------------------

TEST(IPReservation, AcceptsCidrsAndAddresses) {
  EXPECT_TRUE(isOk(check("kind: IPReservation\nmetadata: {name: r}\nspec: {reservedCIDRs: "
                         "[10.0.0.0/24, 10.0.1.7, 'fd00::5']}")));
  Status st = check("kind: IPReservation\nmetadata: {name: r}\nspec: {reservedCIDRs: [bogus]}");
  EXPECT_TRUE(hasCause(st, "spec.reservedCIDRs[0]", "invalid CIDR \"bogus\""));
}

// ---- BGPConfiguration --------------------------------------------------------------------------

TEST(BGPConfiguration, OnlyStoredDefaultsFilled) {
  Value out;
  ASSERT_TRUE(isOk(check("kind: BGPConfiguration\nmetadata: {name: default}", &out)));
  EXPECT_EQ(out.getString("spec.logSeverityScreen"), "Info");
  EXPECT_EQ(out.getString("spec.serviceLoadBalancerAggregation"), "Enabled");
  EXPECT_FALSE(out.path("spec.nodeToNodeMeshEnabled"));
  EXPECT_FALSE(out.path("spec.asNumber"));
  EXPECT_FALSE(out.path("spec.listenPort"));
}

TEST(BGPConfiguration, DottedAsNumberStoredAsInteger) {
  Value out;
  ASSERT_TRUE(isOk(check("kind: BGPConfiguration\nmetadata: {name: default}\n"
                         "spec: {asNumber: '1.10', logSeverityScreen: debug}",
                         &out)));
  EXPECT_EQ(out.path("spec.asNumber")->asInt(), 65546);
  EXPECT_EQ(out.getString("spec.logSeverityScreen"), "debug"); // any case accepted, kept
}

TEST(BGPConfiguration, Rules) {
  Status st = check("kind: BGPConfiguration\nmetadata: {name: default}\nspec:\n"
                    "  nodeToNodeMeshEnabled: false\n"
                    "  nodeMeshMaxRestartTime: 2m\n"
                    "  asNumber: AS1\n"
                    "  listenPort: 0\n"
                    "  serviceClusterIPs: [{cidr: 10.96.0.1/12}]\n"
                    "  communities: [{name: c1, value: '70000:1'}]\n"
                    "  prefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [c1, nope]}]\n"
                    "  logSeverityScreen: Verbose\n");
  EXPECT_TRUE(hasCause(st, "spec.nodeMeshMaxRestartTime", "nodeToNodeMeshEnabled is false",
                       "FieldValueForbidden"));
  EXPECT_TRUE(hasCause(st, "spec.asNumber", "invalid AS number \"AS1\""));
  EXPECT_TRUE(hasCause(st, "spec.listenPort", "between 1 and 65535, got 0"));
  EXPECT_TRUE(hasCause(st, "spec.serviceClusterIPs[0].cidr", "host bits are set"));
  EXPECT_TRUE(hasCause(st, "spec.communities[0].value", "16-bit"));
  EXPECT_TRUE(
      hasCause(st, "spec.prefixAdvertisements[0].communities[1]", "invalid community \"nope\""));
  EXPECT_TRUE(hasCause(st, "spec.logSeverityScreen", "unknown value \"Verbose\""));
}

TEST(BGPConfiguration, UnusedCommunitiesRejected) {
  Status st = check("kind: BGPConfiguration\nmetadata: {name: default}\nspec: {communities: "
                    "[{name: c1, value: '64512:1'}]}");
  EXPECT_TRUE(hasCause(st, "spec.communities", "no prefixAdvertisements use them"));
}

// ---- BGPPeer -----------------------------------------------------------------------------------

TEST(BGPPeer, ValidPeers) {
  EXPECT_TRUE(isOk(check("kind: BGPPeer\nmetadata: {name: tor}\nspec: {peerIP: 10.0.0.1, "
                         "asNumber: 64600}")));
  EXPECT_TRUE(isOk(check("kind: BGPPeer\nmetadata: {name: to-rr}\nspec: {nodeSelector: all(), "
                         "peerSelector: \"route-reflector == 'true'\"}")));
  EXPECT_TRUE(isOk(check("kind: BGPPeer\nmetadata: {name: p}\nspec: {node: n1, peerIP: "
                         "'[fd00::1]:1179', asNumber: '64600', keepaliveTime: 10s, "
                         "nextHopMode: Self, password: {secretKeyRef: {name: s, key: k}}}")));
}

TEST(BGPPeer, ExclusiveFields) {
  Status st = check("kind: BGPPeer\nmetadata: {name: p}\nspec: {node: n1, nodeSelector: all(), "
                    "peerIP: 10.0.0.1, peerSelector: all(), asNumber: 64600}");
  EXPECT_TRUE(
      hasCause(st, "spec.node", "node and nodeSelector cannot both be set", "FieldValueForbidden"));
  EXPECT_TRUE(hasCause(st, "spec.peerIP", "peerIP and peerSelector cannot both be set"));
  EXPECT_TRUE(hasCause(st, "spec.asNumber", "must be empty when peerSelector is set"));
}

TEST(BGPPeer, NeedsAPeer) {
  Status st = check("kind: BGPPeer\nmetadata: {name: p}\nspec: {asNumber: 64600}");
  EXPECT_TRUE(hasCause(st, "spec.peerIP", "one of peerIP, peerSelector or localWorkloadSelector"));
}

TEST(BGPPeer, AddressAndOtherRules) {
  Status st = check("kind: BGPPeer\nmetadata: {name: p}\nspec: {peerIP: '10.0.0.1:0', "
                    "reachableBy: 'fd00::1', keepOriginalNextHop: true, nextHopMode: Keep, "
                    "sourceAddress: Auto, maxRestartTime: forever}");
  EXPECT_TRUE(hasCause(st, "spec.peerIP", "invalid peer address \"10.0.0.1:0\""));
  EXPECT_TRUE(hasCause(st, "spec.keepOriginalNextHop", "nextHopMode"));
  EXPECT_TRUE(hasCause(st, "spec.sourceAddress", "allowed: UseNodeIP, None"));
  EXPECT_TRUE(hasCause(st, "spec.maxRestartTime", "invalid duration \"forever\""));
  st = check("kind: BGPPeer\nmetadata: {name: p}\nspec: {peerIP: '10.0.0.1:179', "
             "reachableBy: 'fd00::1', asNumber: 1}");
  EXPECT_TRUE(hasCause(st, "spec.reachableBy", "same IP family"));
  st = check("kind: BGPPeer\nmetadata: {name: p}\nspec: {peerSelector: all(), reachableBy: "
             "10.0.0.254}");
  EXPECT_TRUE(hasCause(st, "spec.reachableBy", "must be empty when peerIP is empty"));
}

// ---- BGPFilter ---------------------------------------------------------------------------------

TEST(BGPFilter, RulesValidated) {
  EXPECT_TRUE(isOk(check("kind: BGPFilter\nmetadata: {name: f}\nspec:\n"
                         "  exportV4: [{action: Accept, matchOperator: In, cidr: 10.0.0.0/8, "
                         "prefixLength: {min: 16, max: 24}}]\n"
                         "  importV6: [{action: Reject, interface: 'eth*'}]\n")));
  Status st = check("kind: BGPFilter\nmetadata: {name: f}\nspec:\n"
                    "  exportV4: [{action: Reject, cidr: 'fd00::/64', operations: "
                    "[{setPriority: {value: 5}}]}, {action: Accept, matchOperator: In}]\n"
                    "  importV4: [{matchOperator: Equal, cidr: 10.0.0.0/8}]\n");
  EXPECT_TRUE(hasCause(st, "spec.exportV4[0].cidr", "invalid IPv4 CIDR"));
  EXPECT_TRUE(hasCause(st, "spec.exportV4[0].operations", "only allowed with action Accept"));
  EXPECT_TRUE(hasCause(st, "spec.exportV4[1].cidr", "must both be set"));
  EXPECT_TRUE(hasCause(st, "spec.importV4[0].action", "required value"));
}

// ---- Node --------------------------------------------------------------------------------------

TEST(CalicoNode, AddressesKeepTheirPrefix) {
  Value out;
  ASSERT_TRUE(isOk(check("kind: Node\nmetadata: {name: rr1, labels: {route-reflector: 'true'}}\n"
                         "spec: {bgp: {ipv4Address: 10.0.0.11/24, ipv4IPIPTunnelAddr: "
                         "192.168.7.0, routeReflectorClusterID: 244.0.0.1, asNumber: 64513}, "
                         "vxlanTunnelMACAddr: '66:00:00:00:00:01', orchRefs: [{nodeName: rr1, "
                         "orchestrator: k8s}]}",
                         &out)));
  EXPECT_EQ(out.getString("spec.bgp.ipv4Address"), "10.0.0.11/24");
}

TEST(CalicoNode, BadFields) {
  Status st = check("kind: Node\nmetadata: {name: n}\nspec: {bgp: {ipv4Address: 'fd00::1/64', "
                    "routeReflectorClusterID: 244.0.0, ipv4IPIPTunnelAddr: 'fd00::1'}, "
                    "vxlanTunnelMACAddr: zz}");
  EXPECT_TRUE(hasCause(st, "spec.bgp.ipv4Address", "invalid IPv4 CIDR"));
  EXPECT_TRUE(hasCause(st, "spec.bgp.routeReflectorClusterID", "invalid IPv4 address"));
  EXPECT_TRUE(hasCause(st, "spec.bgp.ipv4IPIPTunnelAddr", "invalid IPv4 address"));
  EXPECT_TRUE(hasCause(st, "spec.vxlanTunnelMACAddr", "invalid MAC address"));
  st = check("kind: Node\nmetadata: {name: n}\nspec: {bgp: {}}");
  EXPECT_TRUE(hasCause(st, "spec.bgp", "must not be empty"));
}

// ---- FelixConfiguration ------------------------------------------------------------------------

TEST(FelixConfiguration, CommonFieldsAndDefaults) {
  Value out;
  ASSERT_TRUE(isOk(check("kind: FelixConfiguration\nmetadata: {name: default}\nspec:\n"
                         "  ipipEnabled: true\n  ipipMTU: 1440\n  vxlanPort: 4789\n"
                         "  vxlanVNI: 4096\n  iptablesBackend: nft\n  chainInsertMode: Append\n"
                         "  defaultEndpointToHostAction: Accept\n"
                         "  iptablesMarkMask: 0xffff0000\n  interfacePrefix: cali\n"
                         "  failsafeInboundHostPorts: [{protocol: TCP, port: 22}, {protocol: "
                         "udp, port: 68, net: 10.0.0.0/8}]\n"
                         "  natOutgoingAddress: 10.0.0.5\n  logSeverityScreen: Info\n"
                         "  logPrefix: calico-packet\n  healthPort: 9099\n"
                         "  routeRefreshInterval: 90s\n  bpfEnabled: false\n"
                         "  wireguardEnabled: true\n  routeTableRanges: [{min: 1, max: 250}]\n"
                         "  kubeNodePortRanges: ['30000:32767']\n"
                         "  allowIPIPPacketsFromWorkloads: false\n",
                         &out)));
  EXPECT_EQ(out.getString("spec.nftablesMode"), "Auto");
  EXPECT_EQ(out.path("spec.iptablesMarkMask")->asInt(), 0xffff0000LL);
}

TEST(FelixConfiguration, BadValues) {
  Status st =
      check("kind: FelixConfiguration\nmetadata: {name: default}\nspec:\n"
            "  nftablesMode: Maybe\n  natOutgoingAddress: 'fd00::1'\n"
            "  routeRefreshInterval: 90\n  ipipMtu: 1400\n"
            "  routeTableRange: {min: 0, max: 300}\n  routeTableRanges: [{min: 5, max: 2}]\n"
            "  kubeNodePortRanges: [http]\n  failsafeInboundHostPorts: [{protocol: ICMP, "
            "port: 1}]\n  nodeSelector: all()\n");
  EXPECT_TRUE(hasCause(st, "spec.nftablesMode", "allowed: Disabled, Enabled, Auto"));
  EXPECT_TRUE(hasCause(st, "spec.natOutgoingAddress", "invalid IPv4 address"));
  EXPECT_TRUE(hasCause(st, "spec.routeRefreshInterval", "must be a string, got integer 90"));
  EXPECT_TRUE(hasCause(st, "spec", "unknown field \"ipipMtu\" (did you mean \"ipipMTU\"?)"));
  EXPECT_TRUE(hasCause(st, "spec.routeTableRange", "within 1..250"));
  EXPECT_TRUE(hasCause(st, "spec.routeTableRanges[0]", "min must not be greater than max"));
  EXPECT_TRUE(hasCause(st, "spec.routeTableRange", "cannot be set together with routeTableRanges"));
  EXPECT_TRUE(hasCause(st, "spec.kubeNodePortRanges[0]", "not a named port"));
  EXPECT_TRUE(hasCause(st, "spec.failsafeInboundHostPorts[0].protocol", "unknown value"));
  EXPECT_TRUE(hasCause(st, "spec.nodeSelector", "must not be set on the \"default\""));
  EXPECT_TRUE(isOk(check("kind: FelixConfiguration\nmetadata: {name: gpu-nodes}\nspec: "
                         "{nodeSelector: \"gpu == 'true'\"}")));
}

// ---- Tier --------------------------------------------------------------------------------------

TEST(Tier, DefaultsAndBuiltIns) {
  Value out;
  ASSERT_TRUE(isOk(check("kind: Tier\nmetadata: {name: security}\nspec: {order: 100}", &out)));
  EXPECT_EQ(out.getString("spec.defaultAction"), "Deny");
  EXPECT_TRUE(isOk(check("kind: Tier\nmetadata: {name: default}\nspec: {order: 1000000}")));
  Status st = check("kind: Tier\nmetadata: {name: default}\nspec: {order: 5}");
  EXPECT_TRUE(hasCause(st, "spec.order", "tier must have order 1000000"));
  st = check("kind: Tier\nmetadata: {name: kube-admin}\nspec: {order: 1000}");
  EXPECT_TRUE(hasCause(st, "spec.defaultAction", "must have defaultAction Pass"));
  EXPECT_TRUE(isOk(check("kind: Tier\nmetadata: {name: kube-baseline}\nspec: {order: 10000000, "
                         "defaultAction: Pass}")));
}

TEST(Tier, NamesAreLabels) {
  Status st = check("kind: Tier\nmetadata: {name: my.tier}\nspec: {order: 1}");
  EXPECT_TRUE(hasCause(st, "metadata.name", "invalid value \"my.tier\""));
  st = check("kind: Tier\nmetadata: {name: t}\nspec: {defaultAction: Allow}");
  EXPECT_TRUE(hasCause(st, "spec.defaultAction", "allowed: Deny, Pass"));
}

// ---- policy ------------------------------------------------------------------------------------

TEST(Policy, ReferenceGlobalPolicy) {
  Value out;
  ASSERT_TRUE(isOk(check(R"(kind: GlobalNetworkPolicy
metadata: {name: allow-dns}
spec:
  order: 100
  selector: all()
  types: [Egress]
  egress:
  - action: Allow
    protocol: UDP
    destination:
      selector: k8s-app == 'kube-dns'
      namespaceSelector: projectcalico.org/name == 'kube-system'
      ports: [53]
  - {action: Pass}
)",
                         &out)));
  EXPECT_EQ(out.getString("spec.tier"), "default");
  EXPECT_EQ(out.path("spec.types")->size(), 1u);
}

TEST(Policy, ReferenceNetworkPolicyAndPortCanonicalForm) {
  Value out;
  ASSERT_TRUE(isOk(check(R"(kind: NetworkPolicy
metadata: {name: api, namespace: prod}
spec:
  selector: app == 'api'
  ingress:
  - action: Allow
    protocol: tcp
    source: {selector: role == 'fe'}
    destination: {ports: [8080, "9000:9010", http, "443"]}
  - {action: Deny, source: {nets: [10.0.0.0/8], notNets: [10.1.0.0/16]}}
)",
                         &out)));
  const Value& ports = *out.path("spec.ingress")->asArray()[0].path("destination.ports");
  EXPECT_EQ(ports.asArray()[0].asInt(), 8080);
  EXPECT_EQ(ports.asArray()[1].asString(), "9000:9010");
  EXPECT_EQ(ports.asArray()[2].asString(), "http");
  EXPECT_EQ(ports.asArray()[3].asInt(), 443); // numeric strings stored as numbers
  EXPECT_EQ(out.path("spec.ingress")->asArray()[0].getString("protocol"), "TCP");
  ASSERT_EQ(out.path("spec.types")->size(), 1u);
  EXPECT_EQ(out.path("spec.types")->asArray()[0].asString(), "Ingress");
}

TEST(Policy, TypesDefaultFromRules) {
  auto types = [](const std::string& rules) {
    Value out;
    Status st =
        check("kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {" + rules + "}", &out);
    EXPECT_TRUE(st.isOk()) << st.str();
    std::vector<std::string> t;
    for (const auto& x : out.path("spec.types")->asArray()) {
      t.push_back(x.asString());
    }
    return t;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(types("selector: all()"), V({"Ingress"}));
  EXPECT_EQ(types("ingress: [{action: Allow}]"), V({"Ingress"}));
  EXPECT_EQ(types("egress: [{action: Allow}]"), V({"Egress"}));
  EXPECT_EQ(types("ingress: [{action: Allow}], egress: [{action: Allow}]"),
            V({"Ingress", "Egress"}));
  EXPECT_EQ(types("types: [Egress], ingress: [{action: Allow}]"), V({"Egress"}));
}

TEST(Policy, TierPrefixedNamesAccepted) {
  EXPECT_TRUE(isOk(check("kind: NetworkPolicy\nmetadata: {name: security.api, namespace: prod}\n"
                         "spec: {tier: security, selector: all()}")));
  EXPECT_TRUE(isOk(check("kind: NetworkPolicy\nmetadata: {name: api, namespace: prod}\n"
                         "spec: {tier: security}")));
  EXPECT_TRUE(isOk(check("kind: NetworkPolicy\nmetadata: {name: knp.default.allow-web, "
                         "namespace: prod}\nspec: {}")));
  Status st = check("kind: NetworkPolicy\nmetadata: {name: a.b.c, namespace: prod}\nspec: {}");
  EXPECT_TRUE(hasCause(st, "metadata.name", "invalid value \"a.b.c\""));
  st = check("kind: GlobalNetworkPolicy\nmetadata: {name: Allow_All}\nspec: {}");
  EXPECT_TRUE(hasCause(st, "metadata.name", "invalid value \"Allow_All\""));
}

TEST(Policy, NamespaceRules) {
  Status st = check("kind: NetworkPolicy\nmetadata: {name: api}\nspec: {}");
  EXPECT_TRUE(hasCause(st, "metadata.namespace", "required value", "FieldValueRequired"));
  st = check("kind: GlobalNetworkPolicy\nmetadata: {name: api, namespace: prod}\nspec: {}");
  EXPECT_TRUE(hasCause(st, "metadata.namespace", "cluster-scoped", "FieldValueForbidden"));
  EXPECT_TRUE(isOk(check("kind: GlobalNetworkPolicy\nmetadata: {name: api, namespace: ''}\n"
                         "spec: {}")));
}

TEST(Policy, PortsNeedAPortProtocol) {
  Status st = check(R"(kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  ingress:
  - {action: Allow, destination: {ports: [80]}}
  - {action: Allow, protocol: ICMP, source: {notPorts: [1]}}
  - {action: Allow, protocol: 6, destination: {ports: [80]}}
  - {action: Allow, protocol: SCTP, destination: {ports: [80]}}
)");
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].destination.ports",
                       "rules that specify ports must set protocol to TCP, UDP or SCTP"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[1].source.notPorts", "must set protocol"));
  EXPECT_EQ(st.causes().size(), 2u) << st.message();
}

TEST(Policy, RuleFieldErrors) {
  Status st = check(R"(kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  selector: global()
  ingress:
  - {action: Accept}
  - {action: Allow, protocol: GRE}
  - {action: Allow, protocol: 256}
  - {action: Allow, protocol: 0}
  - {action: Allow, protocol: TCP, icmp: {type: 8}}
  - {action: Allow, protocol: ICMP, icmp: {code: 0}, ipVersion: 6}
  - {action: Allow, ipVersion: 5}
  - {action: Allow, protocol: TCP, destination: {ports: [0, "90:80", "Bad_Name", 70000]}}
  - {action: Allow, source: {nets: [10.0.0.0/8, 'fd00::/64']}}
  - {action: Allow, ipVersion: 6, source: {nets: [10.0.0.0/8]}}
  - {action: Allow, source: {nets: [10.0.0.1/8, 10.0.0.300/8, 10.0.0.1]}}
  - {action: Allow, source: {selector: app == web}}
  - action: Allow
    source: {selector: global()}
    destination: {namespaceSelector: global() && a == 'b'}
)");
  EXPECT_TRUE(hasCause(st, "spec.selector", "global() can only be used"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].action",
                       "unknown value \"Accept\" (allowed: Allow, Deny, Log, Pass)"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[1].protocol", "unknown protocol \"GRE\""));
  EXPECT_TRUE(hasCause(st, "spec.ingress[2].protocol", "between 1 and 255"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[3].protocol", "between 1 and 255"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[4].icmp", "must set protocol to ICMP or ICMPv6"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[5].icmp.code", "needs an ICMP type"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[5].ipVersion", "must be 4 with protocol ICMP"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[6].ipVersion", "unknown value 5 (allowed: 4, 6)"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[7].destination.ports[0]", "between 1 and 65535"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[7].destination.ports[1]", "start after its end"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[7].destination.ports[2]", "invalid port \"Bad_Name\""));
  EXPECT_TRUE(hasCause(st, "spec.ingress[7].destination.ports[3]", "between 1 and 65535"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[8].source.nets", "cannot mix IPv4 and IPv6"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[9].source.nets", "does not match ipVersion 6"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[10].source.nets[0]",
                       "host bits are set (did you mean \"10.0.0.0/8\"?)"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[10].source.nets[1]", "invalid CIDR \"10.0.0.300/8\""));
  EXPECT_TRUE(hasCause(st, "spec.ingress[10].source.nets[2]", "invalid CIDR \"10.0.0.1\""));
  EXPECT_TRUE(hasCause(st, "spec.ingress[11].source.selector", "column "));
  EXPECT_TRUE(hasCause(st, "spec.ingress[12].source.selector", "global() can only be used"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[12].destination.namespaceSelector", "cannot be combined"));
}

TEST(Policy, SelectorErrorIsThePathValueAndParserMessage) {
  Status st = check("kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  ingress:\n"
                    "  - {action: Allow, source: {selector: \"app == 'web' &&\"}}\n");
  ASSERT_EQ(st.causes().size(), 1u) << st.message();
  EXPECT_EQ(st.causes()[0].field, "spec.ingress[0].source.selector");
  EXPECT_EQ(st.causes()[0].message.rfind("invalid selector \"app == 'web' &&\": column 16: ", 0),
            0u)
      << st.causes()[0].message;
}

TEST(Policy, GlobalOnlyFlags) {
  Status st = check("kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {preDNAT: true, "
                    "doNotTrack: true, types: [Ingress, Egress], egress: [{action: Allow}]}");
  EXPECT_TRUE(hasCause(st, "spec.preDNAT", "cannot both be true", "FieldValueForbidden"));
  EXPECT_TRUE(hasCause(st, "spec.egress", "preDNAT policy cannot have egress rules"));
  EXPECT_TRUE(hasCause(st, "spec.types", "cannot have the Egress type"));
  EXPECT_TRUE(hasCause(st, "spec.applyOnForward", "must be true"));
  EXPECT_TRUE(isOk(check("kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {preDNAT: true, "
                         "applyOnForward: true, ingress: [{action: Deny}]}")));
  st = check("kind: NetworkPolicy\nmetadata: {name: p, namespace: n}\nspec: {doNotTrack: true}");
  EXPECT_TRUE(hasCause(st, "spec", "unknown field \"doNotTrack\""));
}

TEST(Policy, DuplicateTypesAndServices) {
  Status st = check(R"(kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  types: [Ingress, Ingress]
  ingress:
  - {action: Allow, destination: {services: {name: web, namespace: prod}}}
  - {action: Allow, source: {services: {name: web}}}
  - {action: Allow, protocol: TCP, source: {services: {name: web, namespace: x}, selector: all()}}
  egress:
  - {action: Allow, source: {services: {name: web, namespace: prod}}}
  - action: Allow
    protocol: TCP
    destination: {services: {name: web, namespace: prod}, ports: [80]}
  - {action: Allow, http: {methods: [GET]}}
)");
  EXPECT_TRUE(hasCause(st, "spec.types[1]", "duplicate value \"Ingress\"", "FieldValueDuplicate"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].destination.services", "ingress rule destination"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[1].source.services.namespace",
                       "required in a GlobalNetworkPolicy"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[2].source.selector", "cannot be combined with services"));
  EXPECT_TRUE(hasCause(st, "spec.egress[0].source.services", "egress rule source"));
  EXPECT_TRUE(hasCause(st, "spec.egress[1].destination.ports", "destination services"));
  EXPECT_TRUE(hasCause(st, "spec.egress[2].http", "not allowed in an egress rule"));
}

TEST(Policy, HttpMatch) {
  Status st = check(R"(kind: NetworkPolicy
metadata: {name: p, namespace: n}
spec:
  ingress:
  - {action: Deny, http: {methods: [GET, GET], paths: [{exact: /a, prefix: /b}, {prefix: nope}]}}
  - {action: Allow, protocol: UDP, http: {paths: [{exact: /ok}]}}
)");
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].http", "only valid for Allow rules"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].http.methods[1]", "duplicate value"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].http.paths[0]", "exactly one of exact or prefix"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].http.paths[1].prefix", "must start with '/'"));
  EXPECT_TRUE(hasCause(st, "spec.ingress[1].protocol", "http must set protocol to TCP"));
}

TEST(Policy, LabelsAndAnnotations) {
  Status st = check("kind: GlobalNetworkPolicy\nmetadata:\n  name: p\n  labels: {'bad key': x, "
                    "ok: 'bad value!'}\n  annotations: {'bad key': v}\nspec: {}");
  EXPECT_TRUE(hasCause(st, "metadata.labels", "invalid label key \"bad key\""));
  EXPECT_TRUE(hasCause(st, "metadata.labels[ok]", "invalid label value \"bad value!\""));
  EXPECT_TRUE(hasCause(st, "metadata.annotations", "invalid annotation key \"bad key\""));
  Value big = yaml(std::string(kHeader) + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\n"
                                          "spec: {}");
  big["metadata"]["annotations"].set("big", std::string(300 * 1024, 'x'));
  st = normalize(*findByName("gnp"), big);
  EXPECT_TRUE(
      hasCause(st, "metadata.annotations", "more than the limit of 262144", "FieldValueTooLong"));
}

// ---- network sets, endpoints, profiles ---------------------------------------------------------

TEST(NetworkSets, NetsAndReservedLabel) {
  EXPECT_TRUE(isOk(check("kind: GlobalNetworkSet\nmetadata: {name: g, labels: {role: x}}\n"
                         "spec: {nets: [198.51.100.0/24, 10.1.2.3, 'fd00::/64']}")));
  Status st = check("kind: NetworkSet\nmetadata: {name: s, namespace: prod, labels: "
                    "{projectcalico.org/namespace: prod}}\nspec: {nets: [not-a-net]}");
  EXPECT_TRUE(hasCause(st, "spec.nets[0]", "invalid CIDR \"not-a-net\""));
  EXPECT_TRUE(hasCause(st, "metadata.labels", "projectcalico.org/namespace is reserved"));
  st = check("kind: NetworkSet\nmetadata: {name: s}\nspec: {}");
  EXPECT_TRUE(hasCause(st, "metadata.namespace", "required value"));
}

TEST(HostEndpoint, Rules) {
  EXPECT_TRUE(isOk(check("kind: HostEndpoint\nmetadata: {name: h}\nspec: {node: n1, "
                         "interfaceName: '*', expectedIPs: [10.0.0.5], profiles: [kns.prod], "
                         "ports: [{name: ssh, protocol: TCP, port: 22}]}")));
  Status st = check("kind: HostEndpoint\nmetadata: {name: h}\nspec: {ports: [{name: x, "
                    "protocol: ICMP, port: 1}, {protocol: TCP, port: 70000}]}");
  EXPECT_TRUE(hasCause(st, "spec.node", "required value"));
  EXPECT_TRUE(hasCause(st, "spec.interfaceName", "interfaceName or expectedIPs"));
  EXPECT_TRUE(hasCause(st, "spec.ports[0].protocol", "a protocol with ports"));
  EXPECT_TRUE(hasCause(st, "spec.ports[1].name", "required value"));
  EXPECT_TRUE(hasCause(st, "spec.ports[1].port", "between 1 and 65535, got 70000"));
}

TEST(WorkloadEndpoint, Rules) {
  EXPECT_TRUE(isOk(check(R"(kind: WorkloadEndpoint
metadata: {name: n1-k8s-web--1-eth0, namespace: prod, labels: {app: web}}
spec:
  orchestrator: k8s
  node: n1
  pod: web-1
  endpoint: eth0
  containerID: 0123abcd
  ipNetworks: [192.168.7.5/32]
  profiles: [kns.prod, ksa.prod.default]
  interfaceName: cali1234567890a
  mac: 'ee:ee:ee:ee:ee:ee'
  serviceAccountName: default
  ports: [{name: http, protocol: TCP, port: 8080}]
)")));
  Status st = check(R"(kind: WorkloadEndpoint
metadata: {name: w, namespace: prod}
spec:
  ipNetworks: [192.168.7.0/24]
  ipNATs: [{internalIP: 192.168.8.1, externalIP: 1.2.3.4}]
  ports: [{protocol: TCP, port: 80}]
  containerID: '-bad'
)");
  EXPECT_TRUE(hasCause(st, "spec.interfaceName", "required value"));
  EXPECT_TRUE(hasCause(st, "spec.ipNetworks[0]", "single address"));
  EXPECT_TRUE(hasCause(st, "spec.ipNATs[0].internalIP", "one of the endpoint's ipNetworks"));
  EXPECT_TRUE(hasCause(st, "spec.ports[0].name", "required when no hostPort"));
  EXPECT_TRUE(hasCause(st, "spec.containerID", "invalid container ID"));
}

TEST(Profile, RulesAndLabels) {
  EXPECT_TRUE(isOk(check("kind: Profile\nmetadata: {name: kns.prod}\nspec: {ingress: [{action: "
                         "Allow}], egress: [{action: Allow}], labelsToApply: "
                         "{pcns.projectcalico.org/name: prod}}")));
  Status st = check("kind: Profile\nmetadata: {name: p}\nspec: {ingress: [{action: Allow, "
                    "destination: {ports: [80]}}], labelsToApply: {'a b': c}}");
  EXPECT_TRUE(hasCause(st, "spec.ingress[0].destination.ports", "must set protocol"));
  EXPECT_TRUE(hasCause(st, "spec.labelsToApply", "invalid label key \"a b\""));
}

// ---- IPAM --------------------------------------------------------------------------------------

TEST(Ipam, BlockAffinityHandleConfig) {
  EXPECT_TRUE(isOk(check(R"(kind: IPAMBlock
metadata: {name: 10-244-1-0-26}
spec:
  cidr: 10.244.1.0/26
  affinity: host:n1
  allocations: [0, null, 1]
  unallocated: [1, 3]
  attributes:
  - {handle_id: k8s-pod-network.abc, secondary: {node: n1, pod: web, namespace: prod}}
  - {handle_id: ipip-tunnel-addr-n1}
  sequenceNumber: 7
  strictAffinity: false
)")));
  Status st = check("kind: IPAMBlock\nmetadata: {name: b}\nspec: {cidr: 10.244.1.0/26, "
                    "affinity: node1, allocations: [5, -1], attributes: []}");
  EXPECT_TRUE(hasCause(st, "spec.affinity", "host:<node>"));
  EXPECT_TRUE(hasCause(st, "spec.allocations[1]", "must be at least 0"));
  EXPECT_TRUE(hasCause(st, "spec.allocations[0]", "only 0 exist"));

  EXPECT_TRUE(isOk(check("kind: BlockAffinity\nmetadata: {name: n1-10-244-1-0-26}\nspec: "
                         "{state: confirmed, node: n1, cidr: 10.244.1.0/26, deleted: 'false'}")));
  st = check("kind: BlockAffinity\nmetadata: {name: a}\nspec: {state: gone, node: n1, cidr: "
             "10.244.1.0/26, deleted: 3}");
  EXPECT_TRUE(hasCause(st, "spec.state", "allowed: confirmed, pending, pendingDeletion"));
  EXPECT_TRUE(hasCause(st, "spec.deleted", "boolean or \"true\"/\"false\""));

  EXPECT_TRUE(isOk(check("kind: IPAMHandle\nmetadata: {name: k8s-pod-network.abc}\nspec: "
                         "{handleID: k8s-pod-network.abc, block: {10.244.1.0/26: 1}}")));
  const std::string cid(64, 'e'); // container IDs are 64 hex digits
  EXPECT_TRUE(
      isOk(check("kind: IPAMHandle\nmetadata: {name: k8s-pod-network." + cid +
                 "}\nspec: {handleID: k8s-pod-network." + cid + ", block: {10.244.1.0/26: 1}}")));
  st = check("kind: IPAMHandle\nmetadata: {name: h}\nspec: {block: {nope: 1}}");
  EXPECT_TRUE(hasCause(st, "spec.handleID", "required value"));
  EXPECT_TRUE(hasCause(st, "spec.block[nope]", "invalid block CIDR"));

  Value out;
  ASSERT_TRUE(isOk(check("kind: IPAMConfiguration\nmetadata: {name: default}\nspec: "
                         "{maxBlocksPerHost: 4}",
                         &out)));
  EXPECT_FALSE(out.path("spec.strictAffinity")->asBool());
  EXPECT_TRUE(out.path("spec.autoAllocateBlocks")->asBool());
  st = check("kind: IPAMConfiguration\nmetadata: {name: default}\nspec: {maxBlocksPerHost: -1}");
  EXPECT_TRUE(hasCause(st, "spec.maxBlocksPerHost", "between 0 and 2147483647"));
}

TEST(ClusterInformation, Fields) {
  EXPECT_TRUE(isOk(check("kind: ClusterInformation\nmetadata: {name: default}\nspec: "
                         "{clusterGUID: abc, clusterType: 'k8s,bgp', calicoVersion: v3.30.0, "
                         "datastoreReady: true}")));
  Status st = check("kind: ClusterInformation\nmetadata: {name: default}\nspec: "
                    "{datastoreReady: 'yes'}");
  EXPECT_TRUE(hasCause(st, "spec.datastoreReady", "must be a boolean"));
}

TEST(Metadata, ServerOwnedFieldsKept) {
  Value out;
  ASSERT_TRUE(isOk(check(R"(kind: IPPool
metadata:
  name: p
  uid: 7f1c0c4e-1111-2222-3333-444455556666
  resourceVersion: "42"
  generation: 3
  creationTimestamp: "2024-05-01T10:00:00Z"
  finalizers: [example.com/keep]
  ownerReferences: [{apiVersion: v1, kind: Namespace, name: prod, uid: x}]
  managedFields: [{manager: kubectl, operation: Apply, fieldsV1: {'f:spec': {}}}]
spec: {cidr: 10.0.0.0/16}
)",
                         &out)));
  EXPECT_EQ(out.getString("metadata.resourceVersion"), "42");
  EXPECT_EQ(out.path("metadata.managedFields")->size(), 1u);
  Status st = check("kind: IPPool\nmetadata: {name: p, creationTimestamp: yesterday, generation: "
                    "-1, uid: 5}\nspec: {cidr: 10.0.0.0/16}");
  EXPECT_TRUE(hasCause(st, "metadata.creationTimestamp", "invalid timestamp"));
  EXPECT_TRUE(hasCause(st, "metadata.generation", "must be at least 0"));
  EXPECT_TRUE(hasCause(st, "metadata.uid", "must be a string"));
  st = check("kind: IPPool\nmetadata: {creationTimestamp: null}\nspec: {cidr: 10.0.0.0/16}");
  EXPECT_TRUE(hasCause(st, "metadata.name", "required value"));
  st = check("kind: IPPool\nmetadata: {name: Bad_Name}\nspec: {cidr: 10.0.0.0/16}");
  EXPECT_TRUE(hasCause(st, "metadata.name", "RFC 1123 subdomain"));
}

} // namespace
} // namespace caracal::api
