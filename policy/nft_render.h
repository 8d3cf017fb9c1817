#pragma once
// nftables text for compiled policy, in the syntax `nft -f` reads (for golden tests, debugging
// and `caracal-node --dump`); the netlink writer produces the same rules as expressions.
//
// Everything lives in one `table inet caracal` (dataplane-nftables.md). Chain names (chains.h):
//   pi-<policy id> / po-<policy id>       policy, ingress / egress      e.g. pi-np/prod/api
//   pri-<profile> / pro-<profile>          profile, ingress / egress     e.g. pri-kns.prod
//   tw-<interface> / fw-<interface>        endpoint, to / from it        e.g. tw-cali1a2b3c4d5e6
//   fh-<interface> / th-<interface>        host endpoint, ingress / egress  e.g. fh-eth0
// hashed (prefix + "_" + base64url(SHA-256(id))) when longer than kNftMaxChainName or when the
// id has characters an nft identifier cannot hold.
//
// One CompiledRule is one nft rule, its matches in a fixed order:
//   meta nfproto (only when no address match implies it), meta l4proto [!=], source address sets,
//   th sport [!=] { ranges }, named source ports, the same for the destination, icmp type/code,
//   then the verdict and `comment "<origin>"`:
//     Allow  meta mark set meta mark | 0x00010000 return
//     Pass   meta mark set meta mark | 0x00020000 return
//     Deny   drop
//     Log    log prefix "calico-packet: "            (and evaluation goes on)
// Sets are referenced by name: `ip saddr @sel4-…`, `ip6 daddr != @net6-…`,
// `ip daddr . meta l4proto . th dport @np4-…` (named ports).

#include "policy/chains.h"
#include "policy/rules.h"

#include <string>
#include <vector>

namespace caracal::policy {

inline constexpr size_t kNftMaxChainName = 255; // NFT_NAME_MAXLEN without the NUL
inline constexpr std::string_view kNftTable = "caracal";

std::string nftPolicyChainName(std::string_view id, Direction d, bool profile = false);
std::string nftEndpointChainName(std::string_view interfaceName, Direction d, bool host = false);
std::string nftEndpointChainName(const EndpointChainSpec& spec);
// A failsafe port as a rule of a host endpoint chain: "tcp dport 22 accept".
std::string renderNftFailsafeRule(const FailsafePort& p, Direction d);

// One rule, no indentation, no newline.
std::string renderNftRule(const CompiledRule& rule);

// "chain <name> {\n  comment \"caracal:<hash>\"\n  <rule>\n  …}\n": the block goes inside a
// `table inet caracal { … }`. <hash> is 16 characters of base64url(SHA-256) over the rules, so a
// resync can compare chains by their headers.
std::string renderNftPolicyChain(const PolicyChain& chain);
std::string renderNftEndpointChain(const EndpointChainSpec& spec);

// "set <name> { type …; [flags interval;] [elements = { … };] }" (one line). Net sets carry their
// elements; selector and named-port sets are filled by the set writer.
std::string renderNftSetDeclaration(const SetDecl& set);

// A whole `nft -f` file: "table inet caracal {" + sets + chain blocks (re-indented) + "}".
std::string renderNftTable(const std::vector<SetDecl>& sets,
                           const std::vector<std::string>& chainBlocks);

} // namespace caracal::policy
