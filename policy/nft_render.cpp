#include "policy/nft_render.h"

#include "common/strings.h"

#include <cstdio>

namespace caracal::policy {

namespace {

std::string hex32(uint32_t v) { return hexValue(v, 8); }

std::string protoName(int p) { return protocolName(p); }

std::string portSet(const std::vector<PortRange>& ranges) {
  std::vector<std::string> parts;
  for (const auto& r : ranges) {
    parts.push_back(r.first == r.last ? std::to_string(r.first)
                                      : std::to_string(r.first) + "-" + std::to_string(r.last));
  }
  if (parts.size() == 1) {
    return parts[0];
  }
  return "{ " + join(parts, ", ") + " }";
}

const char* family(const SetRef& s) { return s.ipVersion == 6 ? "ip6" : "ip"; }

void renderSide(const EntityMatch& m, bool src, std::vector<std::string>& out) {
  const char* addr = src ? "saddr" : "daddr";
  const char* port = src ? "sport" : "dport";
  auto addrMatch = [&](const std::optional<SetRef>& s, bool negate) {
    if (s) {
      out.push_back(std::string(family(*s)) + " " + addr + (negate ? " != @" : " @") + s->name);
    }
  };
  addrMatch(m.selector, false);
  addrMatch(m.notSelector, true);
  addrMatch(m.nets, false);
  addrMatch(m.notNets, true);
  if (!m.ports.empty()) {
    out.push_back(std::string("th ") + port + " " + portSet(m.ports));
  }
  if (!m.notPorts.empty()) {
    out.push_back(std::string("th ") + port + " != " + portSet(m.notPorts));
  }
  auto namedPort = [&](const SetRef& s, bool negate) {
    out.push_back(std::string(family(s)) + " " + addr + " . meta l4proto . th " + port +
                  (negate ? " != @" : " @") + s.name);
  };
  if (m.namedPort) {
    namedPort(*m.namedPort, false);
  }
  for (const auto& s : m.notNamedPorts) {
    namedPort(s, true);
  }
}

std::string indentBlock(const std::string& text, const std::string& indent) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string::npos ? text.size() : nl;
    if (end > start) {
      out += indent;
    }
    out.append(text, start, end - start);
    out += '\n';
    start = end + 1;
  }
  return out;
}

std::string chainBlock(const std::string& name, const std::vector<std::string>& rules) {
  std::string body;
  for (const auto& r : rules) {
    body += r + "\n";
  }
  std::string out = "chain " + name + " {\n";
  out += "  comment \"caracal:" + sha256Base64Url(body).substr(0, 16) + "\"\n";
  out += indentBlock(body, "  ");
  out += "}\n";
  return out;
}

} // namespace

std::string nftPolicyChainName(std::string_view id, Direction d, bool profile) {
  return chainName(policyChainPrefix(d, profile), id, kNftMaxChainName);
}

std::string nftEndpointChainName(std::string_view interfaceName, Direction d, bool host) {
  return chainName(endpointChainPrefix(d, host), interfaceName, kNftMaxChainName);
}

std::string nftEndpointChainName(const EndpointChainSpec& spec) {
  return chainName(endpointChainPrefix(spec), spec.interfaceName, kNftMaxChainName);
}

std::string renderNftFailsafeRule(const FailsafePort& p, Direction d) {
  std::string net;
  if (p.net) {
    const api::IpNet n = p.net->masked();
    net = std::string(n.addr.family == 6 ? "ip6 " : "ip ") +
          (d == Direction::Ingress ? "saddr " : "daddr ") +
          (n.prefix == n.addr.bits() ? n.addr.str() : n.str()) + " ";
  }
  return net + protocolName(p.protocol) + " dport " + std::to_string(p.port) + " accept";
}

std::string renderNftRule(const CompiledRule& r) {
  std::vector<std::string> parts;
  bool addr = r.source.hasAddressMatch() || r.destination.hasAddressMatch();
  if (r.ipVersion != 0 && !addr) {
    parts.push_back(r.ipVersion == 4 ? "meta nfproto ipv4" : "meta nfproto ipv6");
  }
  if (r.protocol) {
    parts.push_back("meta l4proto " + protoName(*r.protocol));
  }
  if (r.notProtocol) {
    parts.push_back("meta l4proto != " + protoName(*r.notProtocol));
  }
  renderSide(r.source, true, parts);
  renderSide(r.destination, false, parts);
  const char* icmp = r.protocol.value_or(0) == kProtoIcmpv6 ? "icmpv6" : "icmp";
  if (r.icmpType) {
    parts.push_back(std::string(icmp) + " type " + std::to_string(*r.icmpType));
    if (r.icmpCode) {
      parts.push_back(std::string(icmp) + " code " + std::to_string(*r.icmpCode));
    }
  }
  if (r.notIcmpType) {
    if (r.notIcmpCode) {
      parts.push_back(std::string(icmp) + " type . " + icmp + " code != { " +
                      std::to_string(*r.notIcmpType) + " . " + std::to_string(*r.notIcmpCode) +
                      " }");
    } else {
      parts.push_back(std::string(icmp) + " type != " + std::to_string(*r.notIcmpType));
    }
  }
  switch (r.action) {
  case Action::Allow:
    parts.push_back("meta mark set meta mark | " + hex32(kMarkAccept) + " return");
    break;
  case Action::Pass:
    parts.push_back("meta mark set meta mark | " + hex32(kMarkPass) + " return");
    break;
  case Action::Deny:
    parts.push_back("drop");
    break;
  case Action::Log:
    parts.push_back("log prefix \"" + std::string(kLogPrefix) + "\"");
    break;
  }
  if (!r.origin.empty()) {
    parts.push_back("comment " + jsonQuote(r.origin));
  }
  return join(parts, " ");
}

std::string renderNftPolicyChain(const PolicyChain& chain) {
  std::vector<std::string> rules;
  for (const auto& r : chain.rules) {
    rules.push_back(renderNftRule(r));
  }
  return chainBlock(nftPolicyChainName(chain.id, chain.direction, chain.profile), rules);
}

std::string renderNftEndpointChain(const EndpointChainSpec& spec) {
  const std::string accepted =
      "meta mark & " + hex32(kMarkAccept) + " == " + hex32(kMarkAccept) + " return";
  const std::string passClear = "meta mark & " + hex32(kMarkPass) + " == 0";
  std::vector<std::string> rules;
  if (!spec.host) {
    // Only traffic of a workload: transit traffic a node merely routes may take another path
    // back (an outside router's choice), and conntrack then calls its packets invalid.
    rules.push_back("ct state invalid drop");
  }
  if (spec.host && spec.hook != HostHook::Forward) {
    for (const FailsafePort& p : spec.failsafe) {
      rules.push_back(renderNftFailsafeRule(p, spec.direction));
    }
  }
  rules.push_back("meta mark set meta mark & " + hex32(~(kMarkAccept | kMarkPass)));
  bool firstTier = true;
  for (const auto& tier : spec.tiers) {
    if (tier.policyIds.empty()) {
      continue;
    }
    if (!firstTier) {
      rules.push_back("meta mark set meta mark & " + hex32(~kMarkPass));
    }
    firstTier = false;
    bool firstPolicy = true;
    for (const auto& id : tier.policyIds) {
      std::string jump = "jump " + nftPolicyChainName(id, spec.direction);
      // The pass bit is clear before a tier's first policy.
      rules.push_back(firstPolicy ? jump : passClear + " " + jump);
      rules.push_back(accepted);
      firstPolicy = false;
    }
    if (tier.defaultAction == TierDefault::Deny && !spec.early()) {
      rules.push_back(passClear + " drop comment " +
                      jsonQuote("end of tier " + tier.name + ": Deny"));
    }
  }
  if (spec.early()) {
    // Decided by the ordinary policy later on.
    return chainBlock(nftEndpointChainName(spec), rules);
  }
  for (const auto& id : spec.profileIds) {
    rules.push_back("jump " + nftPolicyChainName(id, spec.direction, true));
    rules.push_back(accepted);
  }
  rules.push_back("drop comment \"no policy or profile allowed\"");
  return chainBlock(nftEndpointChainName(spec), rules);
}

std::string renderNftSetDeclaration(const SetDecl& set) {
  const SetRef& r = set.ref;
  std::string addrType = r.ipVersion == 6 ? "ipv6_addr" : "ipv4_addr";
  std::string out = "set " + r.name + " { type ";
  if (r.kind == SetKind::AddrPort) {
    out += addrType + " . inet_proto . inet_service; ";
  } else {
    out += addrType + "; ";
  }
  if (r.kind == SetKind::Interval) {
    out += "flags interval; ";
    if (!set.nets.empty()) {
      std::vector<std::string> elems;
      for (const auto& n : set.nets) {
        elems.push_back(n.masked().str());
      }
      out += "auto-merge; elements = { " + join(elems, ", ") + " }; ";
    }
  }
  out += "}";
  return out;
}

std::string renderNftTable(const std::vector<SetDecl>& sets,
                           const std::vector<std::string>& chainBlocks) {
  std::string out = "table inet " + std::string(kNftTable) + " {\n";
  for (const auto& s : sets) {
    out += "  " + renderNftSetDeclaration(s) + "\n";
  }
  for (const auto& c : chainBlocks) {
    out += indentBlock(c, "  ");
  }
  out += "}\n";
  return out;
}

} // namespace caracal::policy
