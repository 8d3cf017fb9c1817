#pragma once
// iptables-restore text for compiled policy: the same semantics as nft_render.h for hosts that
// keep the iptables dataplane (FelixConfiguration nftablesMode Disabled). One family per render:
// the text is fed to iptables-restore (4) or ip6tables-restore (6); rules of the other family are
// left out.
//
// Chain names, as Calico's: cali-pi-/cali-po- + policy id, cali-pri-/cali-pro- + profile,
// cali-tw-/cali-fw- + interface; when longer than 28 characters (the xtables limit) the id is
// replaced by "_" + base64url(SHA-256(id)) and the name cut to 28.
//
// A CompiledRule becomes one iptables rule (two for Allow/Pass: set the mark, then
// `-m mark --mark <bit>/<bit> -j RETURN`, as iptables has one target per rule):
//   -m comment --comment "<origin>" -p <proto> | ! -p <proto>
//   -m set [!] --match-set <set> src|dst          selectors and nets (ipset hash:net)
//   -m multiport [!] --sports|--dports a,b:c       at most 15 ports per match (a range counts 2)
//   -m set [!] --match-set <set> src,src|dst,dst   named ports (ipset hash:ip,port)
//   -m icmp [!] --icmp-type t[/c]   (-m icmp6 --icmpv6-type for IPv6)
//   -j MARK --set-xmark 0x10000/0x10000 | 0x20000/0x20000 | -j DROP |
//   -j LOG --log-prefix "calico-packet: " --log-level 5
// More than 15 positive ports are split into several rules (one per chunk); negated ports just
// repeat the multiport match. For Log rules the chunks are made disjoint (each negates the
// earlier ones) so a packet is logged once.

#include "policy/chains.h"
#include "policy/rules.h"

#include <string>
#include <vector>

namespace caracal::policy {

inline constexpr size_t kIptMaxChainName = 28;
inline constexpr size_t kMultiportMaxPorts = 15;

std::string iptPolicyChainName(std::string_view id, Direction d, bool profile = false);
std::string iptEndpointChainName(std::string_view interfaceName, Direction d, bool host = false);
// The chain of `spec` (any hook: cali-fhfw-, cali-fhpre-, cali-fhun-/cali-thun-…).
std::string iptEndpointChainName(const EndpointChainSpec& spec);

struct IptChain {
  std::string name;
  std::vector<std::string> rules; // the arguments after "-A <name> "
};

// The rules of `rule` for family `ipVersion` (none when the rule is of the other family).
std::vector<std::string> renderIptRule(const CompiledRule& rule, int ipVersion);
IptChain renderIptPolicyChain(const PolicyChain& chain, int ipVersion);
// Workload and Local/Forward host endpoint chains: as nft_render.h's (clear the marks, tiers
// with their end-of-tier drop, profiles, final drop). PreDnat and Untracked chains (spec.early(),
// written to the mangle and raw tables) only decide: failsafe ACCEPTs first, clear the accept and
// pass bits, each tier's policy jumps with `-m mark --mark 0x10000/0x10000 -j RETURN` after each,
// and nothing after the last tier (no tier-end DROP, no profiles, no final DROP): the caller
// goes on to the ordinary policy unless the accept bit is set.
// `ipVersion`: the family of the table it is written to (failsafe ports limited to a block of
// the other family are left out).
IptChain renderIptEndpointChain(const EndpointChainSpec& spec, int ipVersion = 4);

// "*<table>\n:<chain> - [0:0]\n…-A <chain> <rule>\n…COMMIT\n".
std::string renderIptRestore(const std::vector<IptChain>& chains,
                             std::string_view table = "filter");

// `ipset restore` input creating the sets of family `ipVersion` (net sets with their members):
// "create <name> hash:net family inet\nadd <name> 10.0.0.0/8\n".
std::string renderIpsetRestore(const std::vector<SetDecl>& sets, int ipVersion);

} // namespace caracal::policy
