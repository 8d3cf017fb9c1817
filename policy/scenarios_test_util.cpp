#include "policy/scenarios_test_util.h"

#include "policy/ipt_render.h"
#include "policy/nft_render.h"

namespace caracal::policy::testing {

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> kScenarios = {
      {"allow_tcp_ports",
       "np/prod/api",
       "prod",
       R"j({"ingress": [
        {"action": "Allow", "protocol": "TCP", "source": {"selector": "role == 'fe'"},
         "destination": {"ports": [8080, "9000:9010", 8081]}}]})j",
       {},
       false},
      {"deny_nets_notnets",
       "np/prod/block",
       "prod",
       R"j({"ingress": [
        {"action": "Deny", "source": {"nets": ["10.0.0.0/8"], "notNets": ["10.1.0.0/16"]}}]})j",
       {},
       false},
      {"egress_v6_nets",
       "gnp/dns6",
       "",
       R"j({"egress": [
        {"action": "Allow", "protocol": "UDP",
         "destination": {"nets": ["fd00::/64", "fd01::1"], "ports": [53]}}]})j",
       {},
       false},
      {"log_rules",
       "gnp/log",
       "",
       R"j({"ingress": [
        {"action": "Log"},
        {"action": "Log", "protocol": "TCP", "destination": {"ports": [80, "http", "metrics"]}}]})j",
       {},
       false},
      {"pass_egress",
       "gnp/pass",
       "",
       R"j({"egress": [
        {"action": "Pass", "destination": {"selector": "k8s-app == 'kube-dns'",
         "namespaceSelector": "projectcalico.org/name == 'kube-system'"}},
        {"action": "Pass"}]})j",
       {},
       false},
      {"named_ports",
       "np/prod/web",
       "prod",
       R"j({"ingress": [
        {"action": "Allow", "protocol": "TCP",
         "destination": {"selector": "app == 'web'", "ports": ["http", "https", 8443]}}]})j",
       {},
       false},
      {"not_ports",
       "np/prod/notports",
       "prod",
       R"j({"egress": [
        {"action": "Allow", "protocol": "UDP",
         "destination": {"notPorts": [53, "1000:2000", "dns"]}}]})j",
       {},
       false},
      {"not_selector",
       "np/prod/notsel",
       "prod",
       R"j({"ingress": [
        {"action": "Deny", "source": {"notSelector": "trusted == 'true'"}}]})j",
       {},
       false},
      {"namespace_selector",
       "np/prod/nssel",
       "prod",
       R"j({"ingress": [
        {"action": "Allow", "source": {"namespaceSelector": "team == 'a'",
                                       "selector": "role == 'fe'"}},
        {"action": "Allow", "source": {"namespaceSelector": "all()"}},
        {"action": "Deny", "source": {"namespaceSelector": "global()"}}]})j",
       {},
       false},
      {"service_accounts",
       "np/prod/sa",
       "prod",
       R"j({"ingress": [
        {"action": "Allow", "source": {"serviceAccounts": {"names": ["api", "web"],
                                                           "selector": "tier == 'x'"}}}],
        "egress": [
        {"action": "Allow", "destination": {"serviceAccounts": {"names": ["db"]}}}]})j",
       {},
       false},
      {"icmp",
       "gnp/icmp",
       "",
       R"j({"ingress": [
        {"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8, "code": 0}},
        {"action": "Allow", "protocol": "ICMPv6", "icmp": {"type": 128}},
        {"action": "Deny", "protocol": "ICMP", "notICMP": {"type": 3, "code": 4}},
        {"action": "Deny", "protocol": "ICMPv6", "notICMP": {"type": 135},
         "source": {"selector": "app == 'x'"}}]})j",
       {},
       false},
      {"sctp",
       "gnp/sctp",
       "",
       R"j({"ingress": [
        {"action": "Allow", "protocol": "SCTP",
         "source": {"ports": [5000]}, "destination": {"ports": [2905, "3000:3100"]}}]})j",
       {},
       false},
      {"ip_version",
       "gnp/ipver",
       "",
       R"j({"egress": [
        {"action": "Allow", "ipVersion": 6},
        {"action": "Deny", "ipVersion": 4, "destination": {"selector": "app == 'db'"}},
        {"action": "Allow", "destination": {"selector": "app == 'db'"}}]})j",
       {},
       false},
      {"protocols",
       "gnp/protocols",
       "",
       R"j({"ingress": [
        {"action": "Deny", "notProtocol": "UDP"},
        {"action": "Allow", "protocol": 47},
        {"action": "Allow", "protocol": "UDPLite"},
        {"action": "Allow", "protocol": "TCP", "notProtocol": "TCP"},
        {"action": "Allow", "protocol": "TCP", "notProtocol": "UDP"}]})j",
       {},
       false},
      {"many_ports",
       "gnp/many",
       "",
       R"j({"ingress": [
        {"action": "Allow", "protocol": "TCP", "destination": {"ports":
          [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, "100:200", 301, 303]}},
        {"action": "Log", "protocol": "TCP", "destination": {"ports":
          [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, "100:200", 301, 303]}},
        {"action": "Deny", "protocol": "UDP", "destination": {"notPorts":
          [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, "100:200", 301, 303]}}]})j",
       {},
       false},
      {"source_ports",
       "np/prod/sport",
       "prod",
       R"j({"egress": [
        {"action": "Allow", "protocol": "UDP",
         "source": {"ports": [53, "dns"], "notPorts": [5353]}}]})j",
       {},
       false},
      {"interval_selector",
       "gnp/netset",
       "",
       R"j({"egress": [
        {"action": "Deny", "destination": {"selector": "role == 'blocked'"}}]})j",
       {"role == \"blocked\""},
       false},
      {"long_policy_id",
       "np/a-rather-long-namespace-name/and-an-even-longer-policy-name-0123456789",
       "a-rather-long-namespace-name",
       R"j({"ingress": [{"action": "Allow"}]})j",
       {},
       false},
      {"endpoint_chains", "", "", "{}", {}, true},
  };
  return kScenarios;
}

EndpointScenario endpointScenario() {
  std::vector<TierPolicies> tiers = {
      {"kube-admin", {"kanp.adminnetworkpolicy.first"}, TierDefault::Pass},
      {"security", {}, TierDefault::Deny}, // no policy applies: skipped
      {"default", {"np/prod/api", "gnp/allow-dns"}, TierDefault::Deny},
  };
  std::vector<std::string> profiles = {"kns.prod", "ksa.prod.default"};
  EndpointScenario e;
  for (Direction d : {Direction::Ingress, Direction::Egress}) {
    for (const auto& t : tiers) {
      for (const auto& id : t.policyIds) {
        e.policyChains.push_back({id, d, false, {}});
      }
    }
    for (const auto& p : profiles) {
      e.policyChains.push_back({p, d, true, {}});
    }
  }
  for (Direction d : {Direction::Ingress, Direction::Egress}) {
    e.endpointChains.push_back({"cali1a2b3c4d5e6", d, tiers, profiles});
  }
  // An endpoint with neither policies nor profiles drops everything.
  e.endpointChains.push_back({"calibare0000001", Direction::Ingress, {}, {}});
  const std::vector<TierPolicies> dns = {{"default", {"gnp/allow-dns"}, TierDefault::Deny}};
  auto host = [&](Direction d, HostHook hook) {
    EndpointChainSpec spec{"eth0", d, dns, {}};
    spec.host = true;
    spec.hook = hook;
    if (hook != HostHook::Forward) {
      spec.failsafe =
          d == Direction::Ingress ? defaultFailsafeInbound() : defaultFailsafeOutbound();
    }
    return spec;
  };
  // A host endpoint: failsafe ports first (some only from or to a block), then its policies like
  // a workload's.
  e.endpointChains.push_back(host(Direction::Ingress, HostHook::Local));
  e.endpointChains.back().failsafe.push_back({kProtoTcp, 2222, api::parseCidr("10.0.0.0/8")});
  e.endpointChains.back().failsafe.push_back({kProtoTcp, 2223, api::parseCidr("fd00::/64")});
  e.endpointChains.push_back(host(Direction::Egress, HostHook::Local));
  e.endpointChains.back().failsafe.push_back({kProtoUdp, 53, api::parseCidrOrIp("10.96.0.10")});
  // Its chain for forwarded traffic (applyOnForward policies): no failsafe ports.
  e.endpointChains.push_back(host(Direction::Ingress, HostHook::Forward));
  // Its chains before DNAT and before connection tracking: failsafe ports, then its policies;
  // no tier end, no profiles, no final drop.
  e.endpointChains.push_back(host(Direction::Ingress, HostHook::PreDnat));
  e.endpointChains.push_back(host(Direction::Egress, HostHook::Untracked));
  return e;
}

namespace {

Result<Rendered> renderEndpoints() {
  EndpointScenario e = endpointScenario();
  Rendered out;
  std::vector<std::string> blocks;
  std::vector<IptChain> ipt4;
  std::vector<IptChain> ipt6;
  for (const PolicyChain& c : e.policyChains) {
    blocks.push_back(renderNftPolicyChain(c));
    ipt4.push_back(renderIptPolicyChain(c, 4));
    ipt6.push_back(renderIptPolicyChain(c, 6));
  }
  for (const EndpointChainSpec& spec : e.endpointChains) {
    blocks.push_back(renderNftEndpointChain(spec));
    ipt4.push_back(renderIptEndpointChain(spec, 4));
    ipt6.push_back(renderIptEndpointChain(spec, 6));
  }
  out.nft = renderNftTable({}, blocks);
  out.ipt4 = renderIptRestore(ipt4);
  out.ipt6 = renderIptRestore(ipt6);
  return out;
}

} // namespace

Result<Rendered> render(const Scenario& s) {
  if (s.endpoints) {
    return renderEndpoints();
  }
  ASSIGN_OR_RETURN(Value spec, parseJson(s.spec));
  HashSetNamer namer;
  for (const auto& sel : s.intervalSelectors) {
    namer.markIntervalSelector(sel);
  }
  ASSIGN_OR_RETURN(CompiledPolicy compiled, compilePolicy(spec, s.ns, namer));
  std::vector<PolicyChain> chains;
  if (spec.has("ingress")) {
    chains.push_back({s.id, Direction::Ingress, false, compiled.ingress});
  }
  if (spec.has("egress")) {
    chains.push_back({s.id, Direction::Egress, false, compiled.egress});
  }
  Rendered out;
  std::vector<std::string> blocks;
  std::vector<IptChain> ipt4;
  std::vector<IptChain> ipt6;
  for (const auto& c : chains) {
    blocks.push_back(renderNftPolicyChain(c));
    ipt4.push_back(renderIptPolicyChain(c, 4));
    ipt6.push_back(renderIptPolicyChain(c, 6));
  }
  out.nft = renderNftTable(namer.sets(), blocks);
  out.ipt4 = renderIptRestore(ipt4);
  out.ipt6 = renderIptRestore(ipt6);
  out.ipset4 = renderIpsetRestore(namer.sets(), 4);
  out.ipset6 = renderIpsetRestore(namer.sets(), 6);
  return out;
}

} // namespace caracal::policy::testing
