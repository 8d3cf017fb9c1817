#include "policy/ipt_render.h"

#include "common/strings.h"

#include <cstdio>

namespace caracal::policy {

namespace {

std::string hexMark(uint32_t v) { return hexValue(v); }

std::string markMatch(uint32_t value, uint32_t mask) {
  return "-m mark --mark " + hexMark(value) + "/" + hexMark(mask);
}

// iptables knows "ipv6-icmp" only in ip6tables, and UDP-Lite only by number.
std::string protoName(int p, int ipVersion) {
  if ((p == kProtoIcmpv6 && ipVersion != 6) || p == kProtoUdpLite) {
    return std::to_string(p);
  }
  return protocolName(p);
}

// Splits ranges into multiport lists of at most kMultiportMaxPorts slots (a range takes two).
std::vector<std::string> multiportChunks(const std::vector<PortRange>& ranges) {
  std::vector<std::string> chunks;
  std::vector<std::string> cur;
  size_t slots = 0;
  for (const auto& r : ranges) {
    size_t need = r.first == r.last ? 1 : 2;
    if (slots + need > kMultiportMaxPorts) {
      chunks.push_back(join(cur, ","));
      cur.clear();
      slots = 0;
    }
    cur.push_back(r.first == r.last ? std::to_string(r.first)
                                    : std::to_string(r.first) + ":" + std::to_string(r.last));
    slots += need;
  }
  if (!cur.empty()) {
    chunks.push_back(join(cur, ","));
  }
  return chunks;
}

// The matches of one side except positive ports (returned as chunks, "" = no port match).
std::string sideMatches(const EntityMatch& m, bool src, std::vector<std::string>& portChunks) {
  const char* dir = src ? "src" : "dst";
  const char* ports = src ? "--sports" : "--dports";
  std::vector<std::string> parts;
  auto setMatch = [&](const std::optional<SetRef>& s, bool negate) {
    if (s) {
      parts.push_back(std::string("-m set ") + (negate ? "! " : "") + "--match-set " + s->name +
                      " " + dir);
    }
  };
  setMatch(m.selector, false);
  setMatch(m.notSelector, true);
  setMatch(m.nets, false);
  setMatch(m.notNets, true);
  for (const auto& chunk : multiportChunks(m.notPorts)) {
    parts.push_back(std::string("-m multiport ! ") + ports + " " + chunk);
  }
  std::string pair = std::string(dir) + "," + dir;
  if (m.namedPort) {
    parts.push_back("-m set --match-set " + m.namedPort->name + " " + pair);
  }
  for (const auto& s : m.notNamedPorts) {
    parts.push_back("-m set ! --match-set " + s.name + " " + pair);
  }
  portChunks.clear();
  for (const auto& chunk : multiportChunks(m.ports)) {
    portChunks.push_back(std::string("-m multiport ") + ports + " " + chunk);
  }
  if (portChunks.empty()) {
    portChunks.push_back("");
  }
  return join(parts, " ");
}

// "-m multiport --dports x" -> "-m multiport ! --dports x".
std::string negatePorts(const std::string& match) {
  std::string out = match;
  size_t pos = out.find("--");
  out.insert(pos, "! ");
  return out;
}

} // namespace

std::string iptPolicyChainName(std::string_view id, Direction d, bool profile) {
  return chainName(std::string("cali-") + policyChainPrefix(d, profile), id, kIptMaxChainName);
}

std::string iptEndpointChainName(std::string_view interfaceName, Direction d, bool host) {
  return chainName(std::string("cali-") + endpointChainPrefix(d, host), interfaceName,
                   kIptMaxChainName);
}

std::vector<std::string> renderIptRule(const CompiledRule& r, int ipVersion) {
  std::vector<std::string> out;
  if (r.ipVersion != 0 && r.ipVersion != ipVersion) {
    return out;
  }
  std::vector<std::string> head;
  if (!r.origin.empty()) {
    head.push_back("-m comment --comment " + jsonQuote(r.origin));
  }
  if (r.protocol) {
    head.push_back("-p " + protoName(*r.protocol, ipVersion));
  }
  if (r.notProtocol) {
    head.push_back("! -p " + protoName(*r.notProtocol, ipVersion));
  }
  std::vector<std::string> srcChunks;
  std::vector<std::string> dstChunks;
  std::string src = sideMatches(r.source, true, srcChunks);
  std::string dst = sideMatches(r.destination, false, dstChunks);
  std::vector<std::string> tail;
  bool v6 = ipVersion == 6;
  auto icmp = [&](int type, const std::optional<int>& code, bool negate) {
    std::string t = std::to_string(type) + (code ? "/" + std::to_string(*code) : "");
    tail.push_back(std::string(v6 ? "-m icmp6 " : "-m icmp ") + (negate ? "! " : "") +
                   (v6 ? "--icmpv6-type " : "--icmp-type ") + t);
  };
  if (r.icmpType) {
    icmp(*r.icmpType, r.icmpCode, false);
  }
  if (r.notIcmpType) {
    icmp(*r.notIcmpType, r.notIcmpCode, true);
  }
  std::string target;
  uint32_t mark = 0;
  switch (r.action) {
  case Action::Allow:
    mark = kMarkAccept;
    break;
  case Action::Pass:
    mark = kMarkPass;
    break;
  case Action::Deny:
    target = "-j DROP";
    break;
  case Action::Log:
    target = "-j LOG --log-prefix " + jsonQuote(kLogPrefix) + " --log-level 5";
    break;
  }
  if (mark != 0) {
    target = "-j MARK --set-xmark " + hexMark(mark) + "/" + hexMark(mark);
  }
  bool disjoint = r.action == Action::Log;
  for (size_t i = 0; i < srcChunks.size(); ++i) {
    for (size_t j = 0; j < dstChunks.size(); ++j) {
      std::vector<std::string> parts = head;
      for (auto s : {&src, &srcChunks[i]}) {
        if (!s->empty()) {
          parts.push_back(*s);
        }
      }
      if (disjoint) {
        for (size_t k = 0; k < i; ++k) {
          parts.push_back(negatePorts(srcChunks[k]));
        }
      }
      for (auto s : {&dst, &dstChunks[j]}) {
        if (!s->empty()) {
          parts.push_back(*s);
        }
      }
      if (disjoint) {
        for (size_t k = 0; k < j; ++k) {
          parts.push_back(negatePorts(dstChunks[k]));
        }
      }
      parts.insert(parts.end(), tail.begin(), tail.end());
      parts.push_back(target);
      out.push_back(join(parts, " "));
      if (mark != 0) {
        out.push_back(markMatch(mark, mark) + " -j RETURN");
      }
    }
  }
  return out;
}

IptChain renderIptPolicyChain(const PolicyChain& chain, int ipVersion) {
  IptChain out;
  out.name = iptPolicyChainName(chain.id, chain.direction, chain.profile);
  for (const auto& r : chain.rules) {
    auto rules = renderIptRule(r, ipVersion);
    out.rules.insert(out.rules.end(), rules.begin(), rules.end());
  }
  return out;
}

std::string iptEndpointChainName(const EndpointChainSpec& spec) {
  return chainName(std::string("cali-") + endpointChainPrefix(spec), spec.interfaceName,
                   kIptMaxChainName);
}

IptChain renderIptEndpointChain(const EndpointChainSpec& spec, int ipVersion) {
  IptChain out;
  out.name = iptEndpointChainName(spec);
  const std::string accepted = markMatch(kMarkAccept, kMarkAccept) + " -j RETURN";
  const std::string passClear = markMatch(0, kMarkPass);
  if (!spec.host) {
    out.rules.push_back("-m conntrack --ctstate INVALID -j DROP"); // as in the nft chain
  }
  if (spec.host && spec.hook != HostHook::Forward) {
    for (const FailsafePort& p : spec.failsafe) {
      if (p.net && p.net->addr.family != ipVersion) {
        continue;
      }
      const std::string proto = protocolName(p.protocol);
      const std::string net = p.net ? (spec.direction == Direction::Ingress ? "-s " : "-d ") +
                                          p.net->masked().str() + " "
                                    : "";
      out.rules.push_back(net + "-p " + proto + " -m " + proto + " --dport " +
                          std::to_string(p.port) + " -m comment --comment \"failsafe\" -j ACCEPT");
    }
  }
  out.rules.push_back("-j MARK --set-xmark 0x0/" + hexMark(kMarkAccept | kMarkPass));
  bool firstTier = true;
  for (const auto& tier : spec.tiers) {
    if (tier.policyIds.empty()) {
      continue;
    }
    if (!firstTier) {
      out.rules.push_back("-j MARK --set-xmark 0x0/" + hexMark(kMarkPass));
    }
    firstTier = false;
    bool firstPolicy = true;
    for (const auto& id : tier.policyIds) {
      std::string jump = "-j " + iptPolicyChainName(id, spec.direction);
      out.rules.push_back(firstPolicy ? jump : passClear + " " + jump);
      out.rules.push_back(accepted);
      firstPolicy = false;
    }
    if (tier.defaultAction == TierDefault::Deny && !spec.early()) {
      out.rules.push_back("-m comment --comment " +
                          jsonQuote("end of tier " + tier.name + ": Deny") + " " + passClear +
                          " -j DROP");
    }
  }
  if (spec.early()) {
    // What no policy decided goes on to the ordinary chains of the filter table.
    return out;
  }
  for (const auto& id : spec.profileIds) {
    out.rules.push_back("-j " + iptPolicyChainName(id, spec.direction, true));
    out.rules.push_back(accepted);
  }
  out.rules.push_back("-m comment --comment \"no policy or profile allowed\" -j DROP");
  return out;
}

std::string renderIptRestore(const std::vector<IptChain>& chains, std::string_view table) {
  std::string out = "*" + std::string(table) + "\n";
  for (const auto& c : chains) {
    out += ":" + c.name + " - [0:0]\n";
  }
  for (const auto& c : chains) {
    for (const auto& r : c.rules) {
      out += "-A " + c.name + " " + r + "\n";
    }
  }
  out += "COMMIT\n";
  return out;
}

std::string renderIpsetRestore(const std::vector<SetDecl>& sets, int ipVersion) {
  std::string out;
  const char* fam = ipVersion == 6 ? "inet6" : "inet";
  for (const auto& s : sets) {
    if (s.ref.ipVersion != ipVersion) {
      continue;
    }
    const char* type = s.ref.kind == SetKind::AddrPort ? "hash:ip,port" : "hash:net";
    out += "create " + s.ref.name + " " + type + " family " + fam + "\n";
    for (const auto& n : s.nets) {
      out += "add " + s.ref.name + " " + n.masked().str() + "\n";
    }
  }
  return out;
}

} // namespace caracal::policy
