#include "policy/nft_table.h"

#include "api/netaddr.h"
#include "common/strings.h"
#include "netlink/nft_batch.h"
#include "policy/nft_render.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <net/if.h>
#include <set>

namespace caracal::policy {

namespace {

const std::string kTable(kNftTable);
constexpr uint16_t kVxlanPort = 4789;
constexpr int kProtoIpip = 4;

// The writer's verdict maps.
constexpr std::string_view kMaps[] = {
    kNftFromEndpointMap,    kNftToEndpointMap,        kNftFromHostEndpointMap,
    kNftToHostEndpointMap,  kNftFromHostForwardMap,   kNftToHostForwardMap,
    kNftFromHostPreDnatMap, kNftFromHostUntrackedMap, kNftToHostUntrackedMap};
// The base chains, in the order they are created.
constexpr std::string_view kBaseChains[] = {kNftForwardChain,          kNftInputChain,
                                            kNftOutputChain,           kNftRawPreroutingChain,
                                            kNftManglePreroutingChain, kNftRawOutputChain};
// Our mark bits (calico-reference.md §4), cleared before the first of our chains sees a packet.
constexpr uint32_t kOurMarks = kMarkAccept | kMarkPass | kMarkDrop | kMarkScratch0 | kMarkScratch1;

// nft datatype ids (nftables' enum datatypes), stored as the set key type; nft prints elements
// and set declarations from them.
constexpr uint32_t kTypeIpv4 = 7;
constexpr uint32_t kTypeIpv6 = 8;
constexpr uint32_t kTypeInetProto = 12;
constexpr uint32_t kTypeInetService = 13;
constexpr uint32_t kTypeIcmpType = 14;
constexpr uint32_t kTypeIcmp6Type = 29;
constexpr uint32_t kTypeIcmpCode = 32;
constexpr uint32_t kTypeIcmpv6Code = 33;
constexpr uint32_t kTypeIfname = 41;
constexpr uint32_t kTypeBits = 6; // concatenated types: (a << 6) | b
constexpr uint32_t kByteorderHost = 1;
constexpr uint32_t kByteorderBig = 2;
constexpr uint32_t kIfnameLen = 16;
constexpr uint32_t kCtStateInvalid = 1;
constexpr uint32_t kCtStateEstablished = 2;
constexpr uint32_t kCtStateRelated = 4;
constexpr size_t kElementsPerMessage = 1000;

using netlink::NftAckMode;
using netlink::NftBatch;
using netlink::NftElem;
using ChainPtr = netlink::NftChainPtr;
using ExprIterPtr = netlink::NftExprIterPtr;
using RulePtr = netlink::NftRulePtr;
using SetPtr = netlink::NftSetPtr;
using UdataPtr = netlink::NftUdataPtr;

using Bytes = std::string; // raw key bytes

Bytes u32Bytes(uint32_t v) { // host order (meta mark, ct state)
  Bytes b(4, '\0');
  std::memcpy(b.data(), &v, 4);
  return b;
}

Bytes be16(uint16_t v) {
  Bytes b(2, '\0');
  b[0] = static_cast<char>(v >> 8);
  b[1] = static_cast<char>(v & 0xff);
  return b;
}

// ---- the desired state, flattened --------------------------------------------------------------

// One group of kernel elements that is added or removed together: an address, an address-port
// tuple, an interval (start and, unless it reaches the last address, end), a map element.
struct ElemGroup {
  Bytes key;
  Bytes keyEnd;      // intervals: the end element's key (last + 1); empty when open-ended
  std::string chain; // maps: jump target
};

std::string groupId(const ElemGroup& g) { return g.key + '\x01' + g.keyEnd + '\x01' + g.chain; }

using U128 = unsigned __int128;

struct SetState {
  SetKind kind = SetKind::Addr;
  int ipVersion = 4;
  bool autoMerge = false;
  bool isMap = false;
  std::map<std::string, ElemGroup> elems; // by groupId
  // Interval sets: the blocks [first, last] the elements were made from (elems holds them
  // merged), so that removing one block can be computed. Empty for sets read from the kernel.
  std::set<std::pair<U128, U128>> blocks;
};

enum class ChainKind { Policy, Endpoint, Base, Unknown };

struct ChainState {
  ChainKind kind = ChainKind::Unknown;
  std::string hash; // content hash; "" = content differs from anything desired
  std::vector<std::string> jumps;
  std::string mapName; // endpoint chains: the map and key that jump here
  std::string iface;
};

using SetStatePtr = std::shared_ptr<SetState>;
using SetStates = std::map<std::string, SetStatePtr>;
// The set a rule refers to, by name (nullptr: not desired).
using SetLookup = std::function<const SetState*(const std::string&)>;

const SetState* findSet(const SetStates& sets, const std::string& name) {
  auto it = sets.find(name);
  return it == sets.end() ? nullptr : it->second.get();
}

std::string keyTypeDesc(const SetState& s) {
  return std::string(setKindName(s.kind)) + "/v" + std::to_string(s.ipVersion) +
         (s.isMap ? "/map" : "");
}

} // namespace

struct NftPolicyTable::Record {
  bool tableExists = false;
  SetStates sets; // named sets and the two maps
  std::map<std::string, ChainState> chains;
  std::map<std::string, int> jumpsTo; // chain name -> jumps to it from chains in `chains`
  // Policy chains whose rules' handles are known (read once, kept while the chain is only
  // changed rule by rule): chain name -> handles in rule order.
  std::map<std::string, std::vector<uint64_t>> ruleHandles;
};

namespace {

using Record = NftPolicyTable::Record;

uint32_t addrKeyType(int v) { return v == 6 ? kTypeIpv6 : kTypeIpv4; }
uint32_t addrLen(int v) { return v == 6 ? 16 : 4; }

uint32_t setKeyType(const SetState& s) {
  if (s.isMap) {
    return kTypeIfname;
  }
  if (s.kind == SetKind::AddrPort) {
    return (((addrKeyType(s.ipVersion) << kTypeBits) | kTypeInetProto) << kTypeBits) |
           kTypeInetService;
  }
  return addrKeyType(s.ipVersion);
}

uint32_t setKeyLen(const SetState& s) {
  if (s.isMap) {
    return kIfnameLen;
  }
  return s.kind == SetKind::AddrPort ? addrLen(s.ipVersion) + 8 : addrLen(s.ipVersion);
}

uint32_t setFlags(const SetState& s) {
  if (s.isMap) {
    return NFT_SET_MAP;
  }
  return s.kind == SetKind::Interval ? NFT_SET_INTERVAL : 0;
}

Bytes addrBytes(const api::IpAddr& a) {
  return Bytes(reinterpret_cast<const char*>(a.bytes.data()), a.family == 6 ? 16 : 4);
}

U128 bytesValue(const Bytes& b) {
  U128 v = 0;
  for (char c : b) {
    v = (v << 8) | static_cast<uint8_t>(c);
  }
  return v;
}

Bytes valueBytes(U128 v, size_t n) {
  Bytes b(n, '\0');
  for (size_t i = n; i-- > 0;) {
    b[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return b;
}

// Merged ranges [first, last] of the blocks (overlapping and adjacent ones joined, like nft's
// auto-merge) as interval groups.
std::vector<ElemGroup> intervalGroups(std::vector<std::pair<U128, U128>> ranges, size_t bytes) {
  const U128 maxValue = bytes == 16 ? ~U128{0} : (U128{1} << (bytes * 8)) - 1;
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<U128, U128>> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() &&
        (merged.back().second == maxValue || r.first <= merged.back().second + 1)) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  std::vector<ElemGroup> out;
  for (const auto& [first, last] : merged) {
    ElemGroup g;
    g.key = valueBytes(first, bytes);
    if (last != maxValue) {
      g.keyEnd = valueBytes(last + 1, bytes);
    }
    out.push_back(std::move(g));
  }
  return out;
}

Result<int> parseProtocol(const std::string& text) {
  static const std::map<std::string, int> kNames = {
      {"tcp", kProtoTcp}, {"udp", kProtoUdp}, {"sctp", kProtoSctp}, {"udplite", kProtoUdpLite}};
  auto it = kNames.find(toLower(text));
  if (it != kNames.end()) {
    return it->second;
  }
  if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit) && text.size() <= 3) {
    int p = std::stoi(text);
    if (p <= 255) {
      return p;
    }
  }
  return Status(Code::Invalid, "unknown protocol \"" + text + "\"");
}

// One element of a set: a block of an interval set, or the kernel element of any other.
struct ParsedElem {
  std::pair<U128, U128> block;
  ElemGroup group;
};

// `text` as an element of `s` (its kind and family); `where` names it in errors.
Result<ParsedElem> parseElement(const SetState& s, const std::string& text,
                                const std::string& where) {
  const std::string ew = where + " \"" + text + "\"";
  std::string addrText = text;
  int proto = 0;
  int port = -1;
  if (s.kind == SetKind::AddrPort) {
    auto comma = text.find(',');
    auto colon = text.find(':', comma == std::string::npos ? 0 : comma);
    if (comma == std::string::npos || colon == std::string::npos) {
      return Status(Code::Invalid, ew + ": expected \"<ip>,<protocol>:<port>\"");
    }
    addrText = text.substr(0, comma);
    auto p = parseProtocol(text.substr(comma + 1, colon - comma - 1));
    if (!p) {
      return Status(Code::Invalid, ew + ": " + p.error().message());
    }
    proto = *p;
    std::string portText = text.substr(colon + 1);
    if (portText.empty() || portText.size() > 5 ||
        !std::all_of(portText.begin(), portText.end(), ::isdigit) || std::stoi(portText) > 65535) {
      return Status(Code::Invalid, ew + ": bad port");
    }
    port = std::stoi(portText);
  }
  auto net = api::parseCidrOrIp(addrText);
  if (!net || net->addr.family != s.ipVersion) {
    return Status(Code::Invalid, ew + ": not an IPv" + std::to_string(s.ipVersion) + " address");
  }
  if (s.kind != SetKind::Interval && net->prefix != net->addr.bits()) {
    return Status(Code::Invalid,
                  ew + ": a " + setKindName(s.kind) + " set holds single addresses, not blocks");
  }
  ParsedElem out;
  if (s.kind == SetKind::Interval) {
    const int bits = net->addr.bits();
    const U128 all = bits == 128 ? ~U128{0} : (U128{1} << bits) - 1;
    const U128 host = net->prefix == 0 ? all : (U128{1} << (bits - net->prefix)) - 1;
    U128 first = bytesValue(addrBytes(net->addr)) & ~host & all;
    out.block = {first, first | host};
    return out;
  }
  out.group.key = addrBytes(net->addr);
  if (s.kind == SetKind::AddrPort) {
    out.group.key += Bytes{static_cast<char>(proto), 0, 0, 0};
    out.group.key += be16(static_cast<uint16_t>(port)) + Bytes(2, '\0');
  }
  return out;
}

// The kernel elements of an interval set: its blocks, merged.
std::map<std::string, ElemGroup> intervalElems(const SetState& s) {
  std::map<std::string, ElemGroup> out;
  std::vector<std::pair<U128, U128>> ranges(s.blocks.begin(), s.blocks.end());
  for (auto& g : intervalGroups(std::move(ranges), addrLen(s.ipVersion))) {
    std::string id = groupId(g);
    out.emplace(std::move(id), std::move(g));
  }
  return out;
}

Result<SetState> setStateFromSpec(const NftSetSpec& spec) {
  SetState s;
  s.kind = spec.kind;
  s.ipVersion = spec.ipVersion;
  s.autoMerge = spec.autoMerge && spec.kind == SetKind::Interval;
  const std::string where = "set " + spec.name;
  if (spec.ipVersion != 4 && spec.ipVersion != 6) {
    return Status(Code::Invalid, where + ": ipVersion must be 4 or 6");
  }
  for (size_t i = 0; i < spec.elements.size(); ++i) {
    ASSIGN_OR_RETURN(ParsedElem e, parseElement(s, spec.elements[i],
                                                where + ": elements[" + std::to_string(i) + "]"));
    if (s.kind == SetKind::Interval) {
      s.blocks.insert(e.block);
    } else {
      std::string id = groupId(e.group);
      s.elems[id] = std::move(e.group);
    }
  }
  if (s.kind == SetKind::Interval) {
    s.elems = intervalElems(s);
  }
  return s;
}

// Set names the caller may use: not the maps', not anonymous ones'.
Status checkSetName(const std::string& name) {
  if (name.empty() || name.size() > 255 || startsWith(name, "__") ||
      std::find(std::begin(kMaps), std::end(kMaps), name) != std::end(kMaps)) {
    return Status(Code::Invalid, "set \"" + name + "\": name not allowed");
  }
  return {};
}

// The content hash nft_render.h writes into the chain comment.
std::string commentHash(const std::string& block) {
  const std::string marker = "comment \"caracal:";
  auto pos = block.find(marker);
  return pos == std::string::npos ? "" : block.substr(pos + marker.size(), 16);
}

struct PlannedChain {
  std::string name;
  ChainState state;
  const PolicyChain* policy = nullptr;
  const EndpointChainSpec* endpoint = nullptr;
  ForwardDefault forwardDefault = ForwardDefault::Accept; // the forward base chain
};

// The one an endpoint chain's element lives in.
std::string mapFor(const EndpointChainSpec& ep) {
  const bool out = ep.direction == Direction::Egress;
  if (!ep.host) {
    return std::string(out ? kNftFromEndpointMap : kNftToEndpointMap);
  }
  switch (ep.hook) {
  case HostHook::Forward:
    return std::string(out ? kNftToHostForwardMap : kNftFromHostForwardMap);
  case HostHook::PreDnat:
    return std::string(kNftFromHostPreDnatMap); // ingress only (checked by the caller)
  case HostHook::Untracked:
    return std::string(out ? kNftToHostUntrackedMap : kNftFromHostUntrackedMap);
  case HostHook::Local:
    break;
  }
  return std::string(out ? kNftToHostEndpointMap : kNftFromHostEndpointMap);
}

Status checkEndpointSpec(const EndpointChainSpec& ep, const std::string& where) {
  if (ep.interfaceName.empty() || ep.interfaceName.size() >= kIfnameLen) {
    return Status(Code::Invalid, where + ": interfaceName must have 1 to 15 characters");
  }
  if (ep.host && ep.hook == HostHook::PreDnat && ep.direction != Direction::Ingress) {
    return Status(Code::Invalid, where + ": a preDNAT chain filters ingress only");
  }
  return {};
}

// The base chains and their hooks (type filter, policy accept; priority filter (0), raw (-300)
// or mangle (-150)).
const netlink::NftBaseChain* baseHook(std::string_view chain) {
  static const netlink::NftBaseChain kForward{"filter", NF_INET_FORWARD, 0, NF_ACCEPT};
  static const netlink::NftBaseChain kInput{"filter", NF_INET_LOCAL_IN, 0, NF_ACCEPT};
  static const netlink::NftBaseChain kOutput{"filter", NF_INET_LOCAL_OUT, 0, NF_ACCEPT};
  static const netlink::NftBaseChain kRawPre{"filter", NF_INET_PRE_ROUTING, -300, NF_ACCEPT};
  static const netlink::NftBaseChain kManglePre{"filter", NF_INET_PRE_ROUTING, -150, NF_ACCEPT};
  static const netlink::NftBaseChain kRawOut{"filter", NF_INET_LOCAL_OUT, -300, NF_ACCEPT};
  if (chain == kNftForwardChain) {
    return &kForward;
  }
  if (chain == kNftInputChain) {
    return &kInput;
  }
  if (chain == kNftRawPreroutingChain) {
    return &kRawPre;
  }
  if (chain == kNftManglePreroutingChain) {
    return &kManglePre;
  }
  if (chain == kNftRawOutputChain) {
    return &kRawOut;
  }
  return chain == kNftOutputChain ? &kOutput : nullptr;
}

std::vector<std::string> baseRuleLines(std::string_view chain, ForwardDefault d);

struct Plan {
  SetStates sets; // includes the maps
  std::map<std::string, PlannedChain> chains;
  std::vector<std::string> policyOrder; // policy chain names in desired order
  std::vector<std::string> endpointOrder;
};

std::string baseHash(std::string_view chain, ForwardDefault d) {
  std::string body;
  for (const auto& r : baseRuleLines(chain, d)) {
    body += r + "\n";
  }
  return sha256Base64Url(body).substr(0, 16);
}

bool sameSpec(const NftSetSpec& a, const NftSetSpec& b) {
  return a.kind == b.kind && a.ipVersion == b.ipVersion && a.autoMerge == b.autoMerge &&
         a.elements == b.elements;
}

bool sameChain(const PolicyChain& a, const PolicyChain& b) {
  return a.id == b.id && a.direction == b.direction && a.profile == b.profile && a.rules == b.rules;
}

// Everything the chain's rules and name come from (host, hook and failsafe ports included).
bool sameChain(const EndpointChainSpec& a, const EndpointChainSpec& b) { return a == b; }

} // namespace

// What the last plan derived from its input, by name: parsed set contents and chain hashes. It
// only depends on the input, so apply() reuses it for unchanged sets and chains (their text is
// not rendered and hashed again, their elements not parsed and diffed again).
struct NftPolicyTable::PlanCache {
  std::map<std::string, std::pair<NftSetSpec, SetStatePtr>> sets;
  std::map<std::string, std::pair<PolicyChain, std::string>> policies;
  std::map<std::string, std::pair<EndpointChainSpec, std::string>> endpoints;
};

namespace {

using PlanCache = NftPolicyTable::PlanCache;

// Entries of `old` that still apply are moved to `fresh`.
Result<Plan> makePlan(const NftDesired& d, PlanCache& old, PlanCache& fresh) {
  Plan plan;
  for (const auto& spec : d.sets) {
    RETURN_IF_ERROR(checkSetName(spec.name));
    SetStatePtr st;
    auto cached = old.sets.find(spec.name);
    if (cached != old.sets.end() && sameSpec(cached->second.first, spec)) {
      st = cached->second.second;
      fresh.sets[spec.name] = std::move(cached->second);
      old.sets.erase(cached);
    } else {
      ASSIGN_OR_RETURN(SetState parsed, setStateFromSpec(spec));
      st = std::make_shared<SetState>(std::move(parsed));
      fresh.sets[spec.name] = {spec, st};
    }
    if (!plan.sets.emplace(spec.name, std::move(st)).second) {
      return Status(Code::Invalid, "set " + spec.name + ": listed twice");
    }
  }
  std::map<std::string, SetState> maps;
  for (std::string_view m : kMaps) {
    maps[std::string(m)].isMap = true;
  }
  for (const auto& pc : d.policyChains) {
    PlannedChain c;
    c.name = nftPolicyChainName(pc.id, pc.direction, pc.profile);
    c.state.kind = ChainKind::Policy;
    auto cached = old.policies.find(c.name);
    if (cached != old.policies.end() && sameChain(cached->second.first, pc)) {
      c.state.hash = cached->second.second;
      fresh.policies[c.name] = std::move(cached->second);
      old.policies.erase(cached);
    } else {
      c.state.hash = commentHash(renderNftPolicyChain(pc));
      fresh.policies[c.name] = {pc, c.state.hash};
    }
    c.policy = &pc;
    plan.policyOrder.push_back(c.name);
    std::string name = c.name;
    if (!plan.chains.emplace(name, std::move(c)).second) {
      return Status(Code::Invalid, "chain " + name + " (policy " + pc.id + "): listed twice");
    }
  }
  for (const auto& ep : d.endpointChains) {
    PlannedChain c;
    c.name = nftEndpointChainName(ep);
    const std::string where = "endpoint chain " + c.name;
    RETURN_IF_ERROR(checkEndpointSpec(ep, where));
    c.state.kind = ChainKind::Endpoint;
    auto cached = old.endpoints.find(c.name);
    if (cached != old.endpoints.end() && sameChain(cached->second.first, ep)) {
      c.state.hash = cached->second.second;
      fresh.endpoints[c.name] = std::move(cached->second);
      old.endpoints.erase(cached);
    } else {
      c.state.hash = commentHash(renderNftEndpointChain(ep));
      fresh.endpoints[c.name] = {ep, c.state.hash};
    }
    c.state.iface = ep.interfaceName;
    c.state.mapName = mapFor(ep);
    for (const auto& tier : ep.tiers) {
      for (const auto& id : tier.policyIds) {
        c.state.jumps.push_back(nftPolicyChainName(id, ep.direction));
      }
    }
    for (const auto& id : ep.profileIds) {
      c.state.jumps.push_back(nftPolicyChainName(id, ep.direction, true));
    }
    for (const auto& j : c.state.jumps) {
      auto it = plan.chains.find(j);
      if (it == plan.chains.end() || it->second.state.kind != ChainKind::Policy) {
        return Status(Code::Invalid, where + ": jumps to chain " + j +
                                         ", which is not among the desired policy chains");
      }
    }
    ElemGroup g;
    g.key = ep.interfaceName + Bytes(kIfnameLen - ep.interfaceName.size(), '\0');
    g.chain = c.name;
    auto& map = maps[c.state.mapName];
    for (const auto& [id, other] : map.elems) {
      if (other.key == g.key) {
        return Status(Code::Invalid, where + ": interface listed twice for " + c.state.mapName);
      }
    }
    map.elems[groupId(g)] = g;
    c.endpoint = &ep;
    plan.endpointOrder.push_back(c.name);
    std::string name = c.name;
    if (!plan.chains.emplace(name, std::move(c)).second) {
      return Status(Code::Invalid, where + ": listed twice");
    }
  }
  for (auto& [name, m] : maps) {
    plan.sets[name] = std::make_shared<SetState>(std::move(m));
  }
  for (std::string_view chain : kBaseChains) {
    PlannedChain base;
    base.name = std::string(chain);
    base.state.kind = ChainKind::Base;
    base.state.hash = baseHash(chain, d.forwardDefault);
    base.forwardDefault = d.forwardDefault;
    if (!plan.chains.emplace(base.name, std::move(base)).second) {
      return Status(Code::Invalid,
                    "chain " + std::string(chain) + ": a policy or endpoint chain has that name");
    }
  }
  return plan;
}

// ---- expressions -------------------------------------------------------------------------------

// An anonymous constant set a rule needs ({ 80, 443 }, { 3 . 4 }); sent right before the rule.
struct AnonSet {
  uint32_t id = 0;
  uint32_t keyType = 0;
  uint32_t keyLen = 0;
  uint32_t flags = 0;
  std::vector<ElemGroup> elems;
};

class RuleBuilder {
public:
  RuleBuilder(const std::string& chain, uint32_t* idCounter, const SetLookup* sets,
              const std::map<std::string, uint32_t>* newSetIds)
      : rule_(nftnl_rule_alloc()), idCounter_(idCounter), sets_(sets), newSetIds_(newSetIds) {
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_TABLE, kTable.c_str());
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_CHAIN, chain.c_str());
    nftnl_rule_set_u32(rule_.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
  }

  void meta(uint32_t key, uint32_t dreg) {
    nftnl_expr* e = nftnl_expr_alloc("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
    add(e);
  }
  void metaSet(uint32_t key, uint32_t sreg) {
    nftnl_expr* e = nftnl_expr_alloc("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
    add(e);
  }
  void ct(uint32_t key, uint32_t dreg) {
    nftnl_expr* e = nftnl_expr_alloc("ct");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
    add(e);
  }
  void cmp(uint32_t op, const Bytes& data, uint32_t sreg = NFT_REG_1) {
    nftnl_expr* e = nftnl_expr_alloc("cmp");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data.data(), static_cast<uint32_t>(data.size()));
    add(e);
  }
  void range(uint32_t op, const Bytes& from, const Bytes& to) {
    nftnl_expr* e = nftnl_expr_alloc("range");
    nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, op);
    nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, from.data(), static_cast<uint32_t>(from.size()));
    nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, to.data(), static_cast<uint32_t>(to.size()));
    add(e);
  }
  void payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg = NFT_REG_1) {
    nftnl_expr* e = nftnl_expr_alloc("payload");
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
    add(e);
  }
  // reg1 = reg1 & mask (as long as the mask).
  void bitwiseBytes(const Bytes& mask) {
    nftnl_expr* e = nftnl_expr_alloc("bitwise");
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, static_cast<uint32_t>(mask.size()));
    Bytes zero(mask.size(), '\0');
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask.data(), static_cast<uint32_t>(mask.size()));
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero.data(), static_cast<uint32_t>(zero.size()));
    add(e);
  }
  // reg1 = (reg1 & mask) ^ xor, 4 bytes.
  void bitwise(uint32_t mask, uint32_t x) {
    nftnl_expr* e = nftnl_expr_alloc("bitwise");
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
    Bytes m = u32Bytes(mask);
    Bytes xo = u32Bytes(x);
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, m.data(), 4);
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xo.data(), 4);
    add(e);
  }
  void lookup(const std::string& set, uint32_t setId, bool invert, bool verdictMap = false) {
    nftnl_expr* e = nftnl_expr_alloc("lookup");
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
    if (setId != 0) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, setId);
    }
    if (verdictMap) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
    }
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, invert ? NFT_LOOKUP_F_INV : 0);
    add(e);
  }
  void verdict(int v, const std::string& chain = "") {
    nftnl_expr* e = nftnl_expr_alloc("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(v));
    if (!chain.empty()) {
      nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain.c_str());
    }
    add(e);
  }
  void log(const std::string& prefix) {
    nftnl_expr* e = nftnl_expr_alloc("log");
    nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix.c_str());
    add(e);
  }
  void comment(const std::string& text) {
    if (text.empty()) {
      return;
    }
    UdataPtr u(nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 16));
    nftnl_udata_put_strz(u.get(), NFTNL_UDATA_RULE_COMMENT, text.c_str());
    nftnl_rule_set_data(rule_.get(), NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u.get()),
                        nftnl_udata_buf_len(u.get()));
  }

  void notrack() { add(nftnl_expr_alloc("notrack")); }
  // meta mark & bit == want
  void markTest(uint32_t bit, uint32_t want) {
    meta(NFT_META_MARK, NFT_REG_1);
    bitwise(bit, 0);
    cmp(NFT_CMP_EQ, u32Bytes(want));
  }
  // meta mark set (meta mark & mask) ^ x
  void markSet(uint32_t mask, uint32_t x) {
    meta(NFT_META_MARK, NFT_REG_1);
    bitwise(mask, x);
    metaSet(NFT_META_MARK, NFT_REG_1);
  }

  // A named set the rule looks up: it must be desired with that kind and family.
  Status namedLookup(const SetRef& ref, bool invert, const std::string& field) {
    const SetState* have = (*sets_)(ref.name);
    if (have == nullptr || have->isMap) {
      return Status(Code::Invalid, field + ": set " + ref.name + " is not among the desired sets");
    }
    if (have->kind != ref.kind || have->ipVersion != ref.ipVersion) {
      SetState want;
      want.kind = ref.kind;
      want.ipVersion = ref.ipVersion;
      return Status(Code::Invalid, field + ": set " + ref.name + " is desired as " +
                                       keyTypeDesc(*have) + ", the rule needs " +
                                       keyTypeDesc(want));
    }
    auto id = newSetIds_->find(ref.name);
    lookup(ref.name, id == newSetIds_->end() ? 0 : id->second, invert);
    return {};
  }

  uint32_t anonSet(uint32_t keyType, uint32_t keyLen, uint32_t flags,
                   std::vector<ElemGroup> elems) {
    AnonSet s;
    s.id = ++*idCounter_;
    s.keyType = keyType;
    s.keyLen = keyLen;
    s.flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | flags;
    s.elems = std::move(elems);
    anon_.push_back(std::move(s));
    return anon_.back().id;
  }

  nftnl_rule* rule() { return rule_.get(); }
  std::vector<AnonSet>& anon() { return anon_; }

private:
  void add(nftnl_expr* e) { nftnl_rule_add_expr(rule_.get(), e); }

  RulePtr rule_;
  uint32_t* idCounter_;
  const SetLookup* sets_;
  const std::map<std::string, uint32_t>* newSetIds_;
  std::vector<AnonSet> anon_;
};

class RuleTranslator {
public:
  RuleTranslator(RuleBuilder& b, const CompiledRule& r, const std::string& where)
      : b_(b), r_(r), where_(where) {}

  Status run() {
    bool addr = r_.source.hasAddressMatch() || r_.destination.hasAddressMatch();
    if (r_.ipVersion != 0 && r_.ipVersion != 4 && r_.ipVersion != 6) {
      return invalid("ipVersion", "must be 0, 4 or 6");
    }
    if (r_.ipVersion != 0 && !addr) {
      nfproto(r_.ipVersion);
    }
    if (r_.protocol) {
      RETURN_IF_ERROR(protoCheck(*r_.protocol, "protocol"));
      b_.meta(NFT_META_L4PROTO, NFT_REG_1);
      b_.cmp(NFT_CMP_EQ, Bytes(1, static_cast<char>(*r_.protocol)));
    }
    if (r_.notProtocol) {
      RETURN_IF_ERROR(protoCheck(*r_.notProtocol, "notProtocol"));
      b_.meta(NFT_META_L4PROTO, NFT_REG_1);
      b_.cmp(NFT_CMP_NEQ, Bytes(1, static_cast<char>(*r_.notProtocol)));
    }
    RETURN_IF_ERROR(side(r_.source, true));
    RETURN_IF_ERROR(side(r_.destination, false));
    RETURN_IF_ERROR(icmp());
    switch (r_.action) {
    case Action::Allow:
      b_.markSet(~kMarkAccept, kMarkAccept);
      b_.verdict(NFT_RETURN);
      break;
    case Action::Pass:
      b_.markSet(~kMarkPass, kMarkPass);
      b_.verdict(NFT_RETURN);
      break;
    case Action::Deny:
      b_.verdict(NF_DROP);
      break;
    case Action::Log:
      b_.log(std::string(kLogPrefix));
      break;
    }
    b_.comment(r_.origin);
    return {};
  }

private:
  Status invalid(const std::string& field, const std::string& msg) const {
    return Status(Code::Invalid, where_ + "." + field + ": " + msg);
  }

  Status protoCheck(int p, const std::string& field) const {
    if (p < 0 || p > 255) {
      return invalid(field, std::to_string(p) + " is not a protocol number");
    }
    return {};
  }

  void nfproto(int v) {
    b_.meta(NFT_META_NFPROTO, NFT_REG_1);
    b_.cmp(NFT_CMP_EQ, Bytes(1, static_cast<char>(v == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4)));
    nfprotoDone_ = v;
  }

  // nft checks the family once, before the rule's first address load (inet tables).
  Status family(int v, const std::string& field) {
    if (v != 4 && v != 6) {
      return invalid(field, "set family must be 4 or 6");
    }
    if (nfprotoDone_ == 0) {
      nfproto(v);
    } else if (nfprotoDone_ != v) {
      return invalid(field, "mixes IPv4 and IPv6 matches in one rule");
    }
    return {};
  }

  uint32_t addrOffset(int v, bool src) const {
    if (v == 6) {
      return src ? 8 : 24;
    }
    return src ? 12 : 16;
  }

  Status addrLookup(const std::optional<SetRef>& s, bool src, bool invert,
                    const std::string& field) {
    if (!s) {
      return {};
    }
    RETURN_IF_ERROR(family(s->ipVersion, field));
    b_.payload(NFT_PAYLOAD_NETWORK_HEADER, addrOffset(s->ipVersion, src), addrLen(s->ipVersion));
    return b_.namedLookup(*s, invert, where_ + "." + field);
  }

  // A register for the concatenation field starting `words` 32-bit words in, numbered as nft
  // does (the 16-byte register when aligned to one).
  static uint32_t concatReg(uint32_t words) {
    return words % 4 == 0 ? NFT_REG_1 + words / 4 : NFT_REG32_00 + words;
  }

  Status ports(const std::vector<PortRange>& rs, bool src, bool negate, const std::string& field) {
    if (rs.empty()) {
      return {};
    }
    for (const auto& r : rs) {
      if (r.first > r.last) {
        return invalid(field, "range " + std::to_string(r.first) + "-" + std::to_string(r.last) +
                                  " is reversed");
      }
    }
    b_.payload(NFT_PAYLOAD_TRANSPORT_HEADER, src ? 0 : 2, 2);
    if (rs.size() == 1 && rs[0].first == rs[0].last) {
      b_.cmp(negate ? NFT_CMP_NEQ : NFT_CMP_EQ, be16(rs[0].first));
    } else if (rs.size() == 1) {
      if (negate) {
        b_.range(NFT_RANGE_NEQ, be16(rs[0].first), be16(rs[0].last));
      } else {
        b_.cmp(NFT_CMP_GTE, be16(rs[0].first));
        b_.cmp(NFT_CMP_LTE, be16(rs[0].last));
      }
    } else {
      std::vector<std::pair<U128, U128>> ranges;
      for (const auto& r : rs) {
        ranges.push_back({r.first, r.last});
      }
      uint32_t id = b_.anonSet(kTypeInetService, 2, NFT_SET_INTERVAL, intervalGroups(ranges, 2));
      b_.lookup("__set%d", id, negate);
    }
    return {};
  }

  Status namedPort(const SetRef& s, bool src, bool invert, const std::string& field) {
    if (s.kind != SetKind::AddrPort) {
      return invalid(field, "set " + s.name + " is not an address-port set");
    }
    RETURN_IF_ERROR(family(s.ipVersion, field));
    uint32_t alen = addrLen(s.ipVersion);
    b_.payload(NFT_PAYLOAD_NETWORK_HEADER, addrOffset(s.ipVersion, src), alen);
    b_.meta(NFT_META_L4PROTO, concatReg(alen / 4));
    b_.payload(NFT_PAYLOAD_TRANSPORT_HEADER, src ? 0 : 2, 2, concatReg(alen / 4 + 1));
    return b_.namedLookup(s, invert, where_ + "." + field);
  }

  Status side(const EntityMatch& m, bool src) {
    const std::string p = src ? "source." : "destination.";
    RETURN_IF_ERROR(addrLookup(m.selector, src, false, p + "selector"));
    RETURN_IF_ERROR(addrLookup(m.notSelector, src, true, p + "notSelector"));
    RETURN_IF_ERROR(addrLookup(m.nets, src, false, p + "nets"));
    RETURN_IF_ERROR(addrLookup(m.notNets, src, true, p + "notNets"));
    RETURN_IF_ERROR(ports(m.ports, src, false, p + "ports"));
    RETURN_IF_ERROR(ports(m.notPorts, src, true, p + "notPorts"));
    if (m.namedPort) {
      RETURN_IF_ERROR(namedPort(*m.namedPort, src, false, p + "namedPort"));
    }
    for (size_t i = 0; i < m.notNamedPorts.size(); ++i) {
      RETURN_IF_ERROR(
          namedPort(m.notNamedPorts[i], src, true, p + "notNamedPorts[" + std::to_string(i) + "]"));
    }
    return {};
  }

  Status icmp() {
    bool v6 = r_.protocol.value_or(0) == kProtoIcmpv6;
    bool any = r_.icmpType || r_.icmpCode || r_.notIcmpType || r_.notIcmpCode;
    if (!any) {
      return {};
    }
    if (r_.protocol.value_or(0) != kProtoIcmp && !v6) {
      return invalid("icmp", "ICMP matches need protocol ICMP or ICMPv6");
    }
    auto byte = [&](std::optional<int> v, const char* field) -> Status {
      if (v && (*v < 0 || *v > 255)) {
        return invalid(field, std::to_string(*v) + " is out of range");
      }
      return {};
    };
    RETURN_IF_ERROR(byte(r_.icmpType, "icmp.type"));
    RETURN_IF_ERROR(byte(r_.icmpCode, "icmp.code"));
    RETURN_IF_ERROR(byte(r_.notIcmpType, "notICMP.type"));
    RETURN_IF_ERROR(byte(r_.notIcmpCode, "notICMP.code"));
    if ((r_.icmpCode && !r_.icmpType) || (r_.notIcmpCode && !r_.notIcmpType)) {
      return invalid("icmp", "a code needs a type");
    }
    if (r_.icmpType) {
      if (r_.icmpCode) {
        b_.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2);
        b_.cmp(NFT_CMP_EQ, Bytes{static_cast<char>(*r_.icmpType), static_cast<char>(*r_.icmpCode)});
      } else {
        b_.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
        b_.cmp(NFT_CMP_EQ, Bytes(1, static_cast<char>(*r_.icmpType)));
      }
    }
    if (r_.notIcmpType) {
      if (r_.notIcmpCode) {
        b_.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
        b_.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 1, 1, concatReg(1));
        uint32_t keyType = v6 ? (kTypeIcmp6Type << kTypeBits) | kTypeIcmpv6Code
                              : (kTypeIcmpType << kTypeBits) | kTypeIcmpCode;
        ElemGroup g;
        g.key = Bytes{static_cast<char>(*r_.notIcmpType), 0, 0, 0,
                      static_cast<char>(*r_.notIcmpCode), 0, 0, 0};
        uint32_t id = b_.anonSet(keyType, 8, 0, {g});
        b_.lookup("__set%d", id, true);
      } else {
        b_.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
        b_.cmp(NFT_CMP_NEQ, Bytes(1, static_cast<char>(*r_.notIcmpType)));
      }
    }
    return {};
  }

  RuleBuilder& b_;
  const CompiledRule& r_;
  std::string where_;
  int nfprotoDone_ = 0;
};

// The rules of a planned chain, in order.
class ChainRules {
public:
  ChainRules(const std::string& chain, uint32_t* idCounter, const SetLookup* sets,
             const std::map<std::string, uint32_t>* newSetIds)
      : chain_(chain), idCounter_(idCounter), sets_(sets), newSetIds_(newSetIds) {}

  Result<std::vector<std::unique_ptr<RuleBuilder>>> build(const PlannedChain& c) {
    out_.clear();
    if (c.policy != nullptr) {
      for (size_t i = 0; i < c.policy->rules.size(); ++i) {
        const CompiledRule& r = c.policy->rules[i];
        std::string where = "chain " + chain_ + " rule " + std::to_string(i) +
                            (r.origin.empty() ? "" : " (" + r.origin + ")");
        RuleBuilder& b = next();
        RETURN_IF_ERROR(RuleTranslator(b, r, where).run());
      }
    } else if (c.endpoint != nullptr) {
      endpointRules(*c.endpoint);
    } else {
      baseRules(c.name, c.forwardDefault);
    }
    return std::move(out_);
  }

private:
  RuleBuilder& next() {
    out_.push_back(std::make_unique<RuleBuilder>(chain_, idCounter_, sets_, newSetIds_));
    return *out_.back();
  }

  void accepted() {
    RuleBuilder& b = next();
    b.markTest(kMarkAccept, kMarkAccept);
    b.verdict(NFT_RETURN);
  }

  // The same rules as renderNftEndpointChain().
  void endpointRules(const EndpointChainSpec& spec) {
    if (!spec.host) {
      ctState(kCtStateInvalid, NF_DROP);
    }
    if (spec.host && spec.hook != HostHook::Forward) {
      for (const FailsafePort& p : spec.failsafe) { // renderNftFailsafeRule()
        RuleBuilder& b = next();
        if (p.net) { // ip saddr|daddr <net>: nfproto, the address, masked unless a host
          const api::IpNet n = p.net->masked();
          const int v = n.addr.family;
          const bool src = spec.direction == Direction::Ingress;
          b.meta(NFT_META_NFPROTO, NFT_REG_1);
          b.cmp(NFT_CMP_EQ, Bytes(1, static_cast<char>(v == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4)));
          b.payload(NFT_PAYLOAD_NETWORK_HEADER, v == 6 ? (src ? 8 : 24) : (src ? 12 : 16),
                    addrLen(v));
          if (n.prefix < n.addr.bits()) {
            Bytes mask(addrLen(v), '\0');
            for (int bit = 0; bit < n.prefix; ++bit) {
              mask[static_cast<size_t>(bit / 8)] |= static_cast<char>(0x80 >> (bit % 8));
            }
            b.bitwiseBytes(mask);
          }
          b.cmp(NFT_CMP_EQ, addrBytes(n.addr));
        }
        b.meta(NFT_META_L4PROTO, NFT_REG_1);
        b.cmp(NFT_CMP_EQ, Bytes(1, static_cast<char>(p.protocol)));
        b.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
        b.cmp(NFT_CMP_EQ, be16(p.port));
        b.verdict(NF_ACCEPT);
      }
    }
    next().markSet(~(kMarkAccept | kMarkPass), 0);
    bool firstTier = true;
    for (const auto& tier : spec.tiers) {
      if (tier.policyIds.empty()) {
        continue;
      }
      if (!firstTier) {
        next().markSet(~kMarkPass, 0);
      }
      firstTier = false;
      bool firstPolicy = true;
      for (const auto& id : tier.policyIds) {
        RuleBuilder& b = next();
        if (!firstPolicy) {
          b.markTest(kMarkPass, 0);
        }
        b.verdict(NFT_JUMP, nftPolicyChainName(id, spec.direction));
        accepted();
        firstPolicy = false;
      }
      if (tier.defaultAction == TierDefault::Deny && !spec.early()) {
        RuleBuilder& b = next();
        b.markTest(kMarkPass, 0);
        b.verdict(NF_DROP);
        b.comment("end of tier " + tier.name + ": Deny");
      }
    }
    if (spec.early()) {
      return;
    }
    for (const auto& id : spec.profileIds) {
      next().verdict(NFT_JUMP, nftPolicyChainName(id, spec.direction, true));
      accepted();
    }
    RuleBuilder& b = next();
    b.verdict(NF_DROP);
    b.comment("no policy or profile allowed");
  }

  void ctState(uint32_t bits, int verdict) {
    RuleBuilder& b = next();
    b.ct(NFT_CT_STATE, NFT_REG_1);
    b.bitwise(bits, 0);
    b.cmp(NFT_CMP_NEQ, u32Bytes(0));
    b.verdict(verdict);
  }

  void vmap(uint32_t metaKey, std::string_view map) {
    RuleBuilder& b = next();
    b.meta(metaKey, NFT_REG_1);
    auto id = newSetIds_->find(std::string(map));
    b.lookup(std::string(map), id == newSetIds_->end() ? 0 : id->second, false, true);
  }

  // The tunnels between nodes pass before host endpoint policy.
  void tunnels() {
    RuleBuilder& vxlan = next();
    vxlan.meta(NFT_META_L4PROTO, NFT_REG_1);
    vxlan.cmp(NFT_CMP_EQ, Bytes(1, static_cast<char>(kProtoUdp)));
    vxlan.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
    vxlan.cmp(NFT_CMP_EQ, be16(kVxlanPort));
    vxlan.verdict(NF_ACCEPT);
    RuleBuilder& ipip = next();
    ipip.meta(NFT_META_L4PROTO, NFT_REG_1);
    ipip.cmp(NFT_CMP_EQ, Bytes(1, static_cast<char>(kProtoIpip)));
    ipip.verdict(NF_ACCEPT);
  }

  // meta mark & 0x00010000 == 0x00010000 accept
  void acceptedEarlier() {
    RuleBuilder& b = next();
    b.markTest(kMarkAccept, kMarkAccept);
    b.verdict(NF_ACCEPT);
  }

  // The same rules as baseRuleLines().
  void baseRules(const std::string& chain, ForwardDefault d) {
    if (chain == kNftRawPreroutingChain || chain == kNftRawOutputChain) {
      next().markSet(~kOurMarks, 0);
      tunnels();
      const bool in = chain == kNftRawPreroutingChain;
      vmap(in ? NFT_META_IIFNAME : NFT_META_OIFNAME,
           in ? kNftFromHostUntrackedMap : kNftToHostUntrackedMap);
      RuleBuilder& b = next();
      b.markTest(kMarkAccept, kMarkAccept);
      b.notrack();
      return;
    }
    ctState(kCtStateEstablished | kCtStateRelated, NF_ACCEPT);
    if (chain == kNftInputChain || chain == kNftOutputChain || chain == kNftManglePreroutingChain) {
      tunnels();
      acceptedEarlier();
      if (chain == kNftInputChain) {
        vmap(NFT_META_IIFNAME, kNftFromHostEndpointMap);
      } else if (chain == kNftOutputChain) {
        vmap(NFT_META_OIFNAME, kNftToHostEndpointMap);
      } else {
        vmap(NFT_META_IIFNAME, kNftFromHostPreDnatMap);
      }
      return;
    }
    {
      RuleBuilder& b = next(); // not when preDNAT or untracked policy allowed it
      b.markTest(kMarkAccept, 0);
      b.meta(NFT_META_IIFNAME, NFT_REG_1);
      auto id = newSetIds_->find(std::string(kNftFromHostForwardMap));
      b.lookup(std::string(kNftFromHostForwardMap), id == newSetIds_->end() ? 0 : id->second, false,
               true);
    }
    vmap(NFT_META_IIFNAME, kNftFromEndpointMap);
    vmap(NFT_META_OIFNAME, kNftToEndpointMap);
    vmap(NFT_META_OIFNAME, kNftToHostForwardMap);
    acceptedEarlier();
    RuleBuilder& last = next();
    last.verdict(d == ForwardDefault::Accept ? NF_ACCEPT : NF_DROP);
    last.comment("no endpoint chain decided");
  }

  std::string chain_;
  uint32_t* idCounter_;
  const SetLookup* sets_;
  const std::map<std::string, uint32_t>* newSetIds_;
  std::vector<std::unique_ptr<RuleBuilder>> out_;
};

// A rule's expressions and comment as text, for comparing what the kernel holds with what we would
// write. Anonymous set names are the kernel's choice and are left out.
std::string ruleFingerprint(nftnl_rule* r) {
  std::string out;
  ExprIterPtr it(nftnl_expr_iter_create(r));
  char buf[1024];
  for (nftnl_expr* e = nftnl_expr_iter_next(it.get()); e != nullptr;
       e = nftnl_expr_iter_next(it.get())) {
    buf[0] = '\0';
    nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
    std::string s = std::string(nftnl_expr_get_str(e, NFTNL_EXPR_NAME)) + " " + buf;
    for (size_t p = s.find("__set"); p != std::string::npos; p = s.find("__set", p + 5)) {
      size_t q = p + 5;
      while (q < s.size() &&
             (std::isdigit(static_cast<unsigned char>(s[q])) || s[q] == '%' || s[q] == 'd')) {
        ++q;
      }
      s.erase(p + 5, q - p - 5);
    }
    out += s + ";";
  }
  uint32_t len = 0;
  if (nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) {
    const void* d = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
    out += "|" + std::string(static_cast<const char*>(d), len);
  }
  return out;
}

} // namespace

// The socket behind NftPolicyTable (declared in nft_table.h).
class NftSocket : public netlink::NftSocket {};

namespace {

// ---- message builders --------------------------------------------------------------------------

void tableMsg(NftBatch& b, uint16_t type, uint16_t flags, const char* verb) {
  netlink::nftTableMsg(b, NFPROTO_INET, kTable, type, flags, verb);
}

SetPtr setObject(const std::string& name) {
  return netlink::nftSetObject(NFPROTO_INET, kTable, name);
}

void newSetMsg(NftBatch& b, const std::string& name, const SetState& st, uint32_t id) {
  SetPtr s = setObject(name);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, setFlags(st));
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, setKeyType(st));
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, setKeyLen(st));
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, id);
  if (st.isMap) {
    nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
    netlink::nftSetSetUdata(s.get(), kByteorderHost, false);
  } else {
    netlink::nftSetSetUdata(s.get(), kByteorderBig, st.autoMerge);
  }
  nlmsghdr* nlh = b.add(NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE, "add set " + name);
  nftnl_set_nlmsg_build_payload(nlh, s.get());
}

void anonSetMsgs(NftBatch& b, const AnonSet& a) {
  SetPtr s = setObject("__set%d");
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, a.flags);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, a.keyType);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, a.keyLen);
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, a.id);
  netlink::nftSetSetUdata(s.get(), (a.flags & NFT_SET_INTERVAL) != 0 ? kByteorderBig : 0, false);
  nlmsghdr* nlh = b.add(NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE, "add anonymous set");
  nftnl_set_nlmsg_build_payload(nlh, s.get());
  SetPtr e = setObject("__set%d");
  nftnl_set_set_u32(e.get(), NFTNL_SET_ID, a.id);
  for (const auto& g : a.elems) {
    netlink::nftAddElem(e.get(), g.key.data(), g.key.size());
    if ((a.flags & NFT_SET_INTERVAL) != 0 && !g.keyEnd.empty()) {
      netlink::nftAddIntervalEnd(e.get(), g.keyEnd.data(), g.keyEnd.size());
    }
  }
  nlmsghdr* enlh = b.add(NFT_MSG_NEWSETELEM, NFPROTO_INET, NLM_F_CREATE,
                         "add anonymous set elements", 512 + a.elems.size() * 96);
  nftnl_set_elems_nlmsg_build_payload(enlh, e.get());
}

// Element messages for `groups` of set `name` (add or delete), chunked.
size_t elemMsgs(NftBatch& b, const std::string& name, const SetState& st, uint32_t setId, bool add,
                const std::vector<const ElemGroup*>& groups) {
  size_t kernelElems = 0;
  for (size_t start = 0; start < groups.size(); start += kElementsPerMessage) {
    size_t end = std::min(groups.size(), start + kElementsPerMessage);
    SetPtr s = setObject(name);
    if (setId != 0) {
      nftnl_set_set_u32(s.get(), NFTNL_SET_ID, setId);
    }
    for (size_t i = start; i < end; ++i) {
      const ElemGroup& g = *groups[i];
      nftnl_set_elem* e = netlink::nftAddElem(s.get(), g.key.data(), g.key.size());
      if (st.isMap) {
        nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, static_cast<uint32_t>(NFT_JUMP));
        nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, g.chain.c_str());
      }
      if (st.kind == SetKind::Interval && !st.isMap && g.keyEnd.empty() && add) {
        netlink::nftMarkIntervalOpen(e); // open-ended range
      }
      ++kernelElems;
      if (!g.keyEnd.empty()) {
        netlink::nftAddIntervalEnd(s.get(), g.keyEnd.data(), g.keyEnd.size());
        ++kernelElems;
      }
    }
    nlmsghdr* nlh = b.add(
        add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, NFPROTO_INET, add ? NLM_F_CREATE : 0,
        std::string(add ? "add" : "delete") + " elements of " + name, 512 + (end - start) * 160);
    nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
  }
  (void)kernelElems;
  return groups.size();
}

void delSetMsg(NftBatch& b, const std::string& name) {
  SetPtr s = setObject(name);
  nlmsghdr* nlh = b.add(NFT_MSG_DELSET, NFPROTO_INET, 0, "delete set " + name);
  nftnl_set_nlmsg_build_payload(nlh, s.get());
}

ChainPtr chainObject(const std::string& name) {
  return netlink::nftChainObject(NFPROTO_INET, kTable, name);
}

void newChainMsg(NftBatch& b, const std::string& name, const ChainState& st) {
  ChainPtr c = chainObject(name);
  if (st.kind == ChainKind::Base) {
    netlink::nftSetBaseChain(c.get(), *baseHook(name));
  }
  std::string comment = netlink::nftCommentUdata(NFTNL_UDATA_CHAIN_COMMENT, "caracal:" + st.hash);
  nftnl_chain_set_data(c.get(), NFTNL_CHAIN_USERDATA, comment.data(),
                       static_cast<uint32_t>(comment.size()));
  nlmsghdr* nlh = b.add(NFT_MSG_NEWCHAIN, NFPROTO_INET, NLM_F_CREATE, "add chain " + name);
  nftnl_chain_nlmsg_build_payload(nlh, c.get());
}

void delChainMsg(NftBatch& b, const std::string& name) {
  ChainPtr c = chainObject(name);
  nlmsghdr* nlh = b.add(NFT_MSG_DELCHAIN, NFPROTO_INET, 0, "delete chain " + name);
  nftnl_chain_nlmsg_build_payload(nlh, c.get());
}

void flushChainMsg(NftBatch& b, const std::string& name) {
  RulePtr r = netlink::nftRuleObject(NFPROTO_INET, kTable, name);
  nlmsghdr* nlh = b.add(NFT_MSG_DELRULE, NFPROTO_INET, 0, "flush chain " + name);
  nftnl_rule_nlmsg_build_payload(nlh, r.get());
}

void ruleMsgs(NftBatch& b, const std::string& chain,
              std::vector<std::unique_ptr<RuleBuilder>>& rules) {
  for (size_t i = 0; i < rules.size(); ++i) {
    for (const auto& a : rules[i]->anon()) {
      anonSetMsgs(b, a);
    }
    nlmsghdr* nlh = b.add(NFT_MSG_NEWRULE, NFPROTO_INET, NLM_F_CREATE | NLM_F_APPEND,
                          "add rule " + std::to_string(i) + " to chain " + chain, 8192);
    nftnl_rule_nlmsg_build_payload(nlh, rules[i]->rule());
  }
}

// Rule `rule` of `chain` in place of the rule with `handle` (which keeps its handle).
void replaceRuleMsgs(NftBatch& b, const std::string& chain, size_t index, RuleBuilder& rule,
                     uint64_t handle) {
  for (const auto& a : rule.anon()) {
    anonSetMsgs(b, a);
  }
  nftnl_rule_set_u64(rule.rule(), NFTNL_RULE_HANDLE, handle);
  nlmsghdr* nlh = b.add(NFT_MSG_NEWRULE, NFPROTO_INET, NLM_F_REPLACE,
                        "replace rule " + std::to_string(index) + " of chain " + chain, 8192);
  nftnl_rule_nlmsg_build_payload(nlh, rule.rule());
}

// The handles and fingerprints of `chain`'s rules, in order, read from the kernel.
Status readChainRules(NftSocket& sock, const std::string& chain, std::vector<uint64_t>& handles,
                      std::vector<std::string>& prints) {
  int err = sock.request(
      NFT_MSG_GETRULE, NFPROTO_INET, NLM_F_DUMP,
      [&](nlmsghdr* nlh) {
        nftnl_rule_nlmsg_build_payload(nlh,
                                       netlink::nftRuleObject(NFPROTO_INET, kTable, chain).get());
      },
      [&](const nlmsghdr* m) {
        RulePtr r(nftnl_rule_alloc());
        if (nftnl_rule_nlmsg_parse(m, r.get()) != 0 ||
            chain != nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN)) {
          return;
        }
        handles.push_back(nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE));
        prints.push_back(ruleFingerprint(r.get()));
      });
  if (err != 0) {
    return Status(Code::Internal,
                  "reading the rules of chain " + chain + ": " + std::strerror(err));
  }
  return {};
}

std::vector<std::string> baseRuleLines(std::string_view chain, ForwardDefault d) {
  const std::string established = "ct state established,related accept";
  const std::string accepted =
      "meta mark & " + hexValue(kMarkAccept, 8) + " == " + hexValue(kMarkAccept, 8);
  auto vmap = [](const char* key, std::string_view map) {
    return std::string(key) + " vmap @" + std::string(map);
  };
  // The tunnels between nodes (VXLAN, IP-in-IP) pass before host endpoint policy: the traffic
  // they carry meets the workloads' chains once decapsulated.
  const std::string vxlan = "udp dport 4789 accept";
  const std::string ipip = "meta l4proto ipencap accept";
  if (chain == kNftInputChain) {
    return {established, vxlan, ipip, accepted + " accept",
            vmap("iifname", kNftFromHostEndpointMap)};
  }
  if (chain == kNftOutputChain) {
    return {established, vxlan, ipip, accepted + " accept", vmap("oifname", kNftToHostEndpointMap)};
  }
  if (chain == kNftManglePreroutingChain) {
    return {established, vxlan, ipip, accepted + " accept",
            vmap("iifname", kNftFromHostPreDnatMap)};
  }
  if (chain == kNftRawPreroutingChain || chain == kNftRawOutputChain) {
    const bool in = chain == kNftRawPreroutingChain;
    return {"meta mark set meta mark & " + hexValue(~kOurMarks, 8), vxlan, ipip,
            in ? vmap("iifname", kNftFromHostUntrackedMap)
               : vmap("oifname", kNftToHostUntrackedMap),
            accepted + " notrack"};
  }
  if (chain != kNftForwardChain) {
    return {};
  }
  return {
      established,
      "meta mark & " + hexValue(kMarkAccept, 8) + " == 0x00000000 " +
          vmap("iifname", kNftFromHostForwardMap),
      vmap("iifname", kNftFromEndpointMap),
      vmap("oifname", kNftToEndpointMap),
      vmap("oifname", kNftToHostForwardMap),
      accepted + " accept",
      std::string(d == ForwardDefault::Accept ? "accept" : "drop") +
          " comment \"no endpoint chain decided\"",
  };
}

} // namespace

NftSetSpec nftSetSpec(const SetDecl& decl) {
  NftSetSpec s;
  s.name = decl.ref.name;
  s.kind = decl.ref.kind;
  s.ipVersion = decl.ref.ipVersion;
  s.autoMerge = decl.ref.kind == SetKind::Interval && !decl.nets.empty();
  for (const auto& n : decl.nets) {
    s.elements.push_back(n.masked().str());
  }
  return s;
}

std::vector<std::string> nftForwardRules(ForwardDefault d) {
  return baseRuleLines(kNftForwardChain, d);
}

std::vector<std::string> nftBaseChainRules(std::string_view chain) {
  return chain == kNftForwardChain ? std::vector<std::string>{}
                                   : baseRuleLines(chain, ForwardDefault::Accept);
}

// ---- NftPolicyTable ----------------------------------------------------------------------------

NftPolicyTable::NftPolicyTable(std::unique_ptr<NftSocket> sock) : sock_(std::move(sock)) {}
NftPolicyTable::~NftPolicyTable() = default;

Result<std::unique_ptr<NftPolicyTable>> NftPolicyTable::open(const std::string& netnsPath) {
  auto sock = std::make_unique<NftSocket>();
  RETURN_IF_ERROR(sock->open(netnsPath));
  return std::unique_ptr<NftPolicyTable>(new NftPolicyTable(std::move(sock)));
}

Status NftPolicyTable::apply(const NftDesired& desired) {
  return write(desired, needResync_ || record_ == nullptr);
}

Status NftPolicyTable::resync(const NftDesired& desired) { return write(desired, true); }

Status NftPolicyTable::createIfMissing() {
  int err = netlink::nftGetTable(*sock_, NFPROTO_INET, kTable);
  if (err == 0) {
    return {};
  }
  if (err != ENOENT) {
    return Status(Code::Internal, "reading table inet " + kTable + ": " + std::strerror(err));
  }
  return write(NftDesired{}, true);
}

Status NftPolicyTable::remove() {
  NftBatch b(sock_->nextSeq(8), NftAckMode::LastRequest);
  netlink::nftDeleteTableMsgs(b, NFPROTO_INET, kTable);
  b.finish();
  Status st = sock_->send(b);
  record_.reset();
  needResync_ = true;
  return st.isOk() ? st : st.withContext("removing table inet " + kTable);
}

namespace {

// Reads table inet caracal into a Record. `rebuild` is set when something cannot be repaired by
// element and chain updates (a set of another type, a foreign base chain): the table is then
// re-created.
Status readRecord(NftSocket& sock, const Plan& plan, Record& rec, bool& rebuild) {
  rec = Record{};
  rebuild = false;
  auto fail = [](const std::string& what, int err) {
    return Status(Code::Internal,
                  "reading table inet " + kTable + " " + what + ": " + std::strerror(err));
  };
  int err = netlink::nftGetTable(sock, NFPROTO_INET, kTable);
  if (err == ENOENT) {
    return {};
  }
  if (err != 0) {
    return fail("", err);
  }
  rec.tableExists = true;

  // Chains.
  struct Seen {
    bool base = false;
    bool baseOk = false;
  };
  std::map<std::string, Seen> chains;
  err = sock.request(
      NFT_MSG_GETCHAIN, NFPROTO_INET, NLM_F_DUMP,
      [](nlmsghdr* nlh) { nftnl_chain_nlmsg_build_payload(nlh, chainObject("").get()); },
      [&](const nlmsghdr* m) {
        ChainPtr c(nftnl_chain_alloc());
        if (nftnl_chain_nlmsg_parse(m, c.get()) != 0 ||
            kTable != nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE)) {
          return;
        }
        Seen s;
        s.base = nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM);
        const char* name = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME);
        const netlink::NftBaseChain* hook = baseHook(name);
        s.baseOk = hook != nullptr && netlink::nftIsBaseChain(c.get(), *hook);
        chains[name] = s;
      });
  if (err != 0) {
    return fail("chains", err);
  }

  // Rules, grouped by chain.
  std::map<std::string, std::vector<std::string>> rules;
  std::map<std::string, std::vector<std::string>> jumps;
  err = sock.request(
      NFT_MSG_GETRULE, NFPROTO_INET, NLM_F_DUMP,
      [](nlmsghdr* nlh) {
        nftnl_rule_nlmsg_build_payload(nlh, netlink::nftRuleObject(NFPROTO_INET, kTable, "").get());
      },
      [&](const nlmsghdr* m) {
        RulePtr r(nftnl_rule_alloc());
        if (nftnl_rule_nlmsg_parse(m, r.get()) != 0 ||
            kTable != nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE)) {
          return;
        }
        std::string chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
        rules[chain].push_back(ruleFingerprint(r.get()));
        ExprIterPtr it(nftnl_expr_iter_create(r.get()));
        for (nftnl_expr* e = nftnl_expr_iter_next(it.get()); e != nullptr;
             e = nftnl_expr_iter_next(it.get())) {
          if (std::strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "immediate") == 0 &&
              nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN)) {
            jumps[chain].push_back(nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN));
          }
        }
      });
  if (err != 0) {
    return fail("rules", err);
  }

  // Sets (named only).
  struct SetHead {
    uint32_t flags = 0, keyType = 0, keyLen = 0;
  };
  std::map<std::string, SetHead> sets;
  err = sock.request(
      NFT_MSG_GETSET, NFPROTO_INET, NLM_F_DUMP,
      [](nlmsghdr* nlh) { nftnl_set_nlmsg_build_payload(nlh, setObject("").get()); },
      [&](const nlmsghdr* m) {
        SetPtr s(nftnl_set_alloc());
        if (nftnl_set_nlmsg_parse(m, s.get()) != 0 ||
            kTable != nftnl_set_get_str(s.get(), NFTNL_SET_TABLE)) {
          return;
        }
        SetHead h;
        h.flags = nftnl_set_is_set(s.get(), NFTNL_SET_FLAGS)
                      ? nftnl_set_get_u32(s.get(), NFTNL_SET_FLAGS)
                      : 0;
        if ((h.flags & NFT_SET_ANONYMOUS) != 0) {
          return;
        }
        h.keyType = nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_TYPE);
        h.keyLen = nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_LEN);
        sets[nftnl_set_get_str(s.get(), NFTNL_SET_NAME)] = h;
      });
  if (err != 0) {
    return fail("sets", err);
  }

  for (const auto& [name, head] : sets) {
    SetState st;
    auto want = plan.sets.find(name);
    if (want != plan.sets.end()) {
      const SetState& w = *want->second;
      uint32_t keepFlags = NFT_SET_MAP | NFT_SET_INTERVAL;
      if ((head.flags & keepFlags) != setFlags(w) || head.keyType != setKeyType(w) ||
          head.keyLen != setKeyLen(w)) {
        rebuild = true;
        return {};
      }
      st.kind = w.kind;
      st.ipVersion = w.ipVersion;
      st.autoMerge = w.autoMerge;
      st.isMap = w.isMap;
    } else {
      st.isMap = (head.flags & NFT_SET_MAP) != 0;
      st.kind = (head.flags & NFT_SET_INTERVAL) != 0 ? SetKind::Interval : SetKind::Addr;
    }
    std::vector<NftElem> raw;
    err = netlink::nftDumpElems(sock, NFPROTO_INET, kTable, name, raw);
    for (auto& r : raw) {
      if (r.hasVerdict && r.verdict != NFT_JUMP) {
        r.chain = "\x01verdict"; // never desired: removed by the diff
      }
    }
    if (err != 0) {
      return fail("elements of " + name, err);
    }
    if (st.kind == SetKind::Interval && !st.isMap) {
      std::sort(raw.begin(), raw.end(), [](const NftElem& a, const NftElem& b) {
        return a.key != b.key ? a.key < b.key : a.intervalEnd > b.intervalEnd;
      });
      std::optional<Bytes> open;
      for (const auto& r : raw) {
        if (!r.intervalEnd) {
          if (open) {
            // Two starts in a row: keep both as open groups; the diff removes what is unwanted.
            ElemGroup g;
            g.key = *open;
            st.elems[groupId(g)] = g;
          }
          open = r.key;
        } else if (open) {
          ElemGroup g;
          g.key = *open;
          g.keyEnd = r.key;
          st.elems[groupId(g)] = g;
          open.reset();
        }
      }
      if (open) {
        ElemGroup g;
        g.key = *open;
        st.elems[groupId(g)] = g;
      }
    } else {
      for (const auto& r : raw) {
        ElemGroup g;
        g.key = r.key;
        g.chain = r.chain;
        st.elems[groupId(g)] = g;
      }
    }
    rec.sets[name] = std::make_shared<SetState>(std::move(st));
  }

  // Chains: compare each desired chain's rules with the kernel's.
  uint32_t scratchIds = 0;
  std::map<std::string, uint32_t> noIds;
  for (const auto& [name, seen] : chains) {
    ChainState cs;
    auto want = plan.chains.find(name);
    cs.jumps = jumps[name];
    if (want == plan.chains.end()) {
      cs.kind = ChainKind::Unknown;
      if (seen.base) {
        rebuild = true; // a base chain we do not own: start over
        return {};
      }
      rec.chains[name] = std::move(cs);
      continue;
    }
    const PlannedChain& pc = want->second;
    if (seen.base != (pc.state.kind == ChainKind::Base) || (seen.base && !seen.baseOk)) {
      rebuild = true;
      return {};
    }
    cs.kind = pc.state.kind;
    cs.mapName = pc.state.mapName;
    cs.iface = pc.state.iface;
    const SetLookup lookup = [&](const std::string& n) { return findSet(plan.sets, n); };
    ChainRules builder(name, &scratchIds, &lookup, &noIds);
    auto built = builder.build(pc);
    if (!built) {
      return built.error();
    }
    std::vector<std::string> wantPrints;
    for (auto& rb : *built) {
      wantPrints.push_back(ruleFingerprint(rb->rule()));
    }
    cs.hash = wantPrints == rules[name] ? pc.state.hash : "";
    rec.chains[name] = std::move(cs);
  }
  return {};
}

} // namespace

Status NftPolicyTable::sendBatch(netlink::NftBatch& b, const BatchCounts& counts) {
  stats_.lastBatchMessages = b.requests();
  stats_.lastElementsAdded = counts.elementsAdded;
  stats_.lastElementsRemoved = counts.elementsRemoved;
  stats_.lastChainsWritten = counts.chainsWritten;
  stats_.lastChainsDeleted = counts.chainsDeleted;
  stats_.lastRulesWritten = counts.rulesWritten;
  if (b.requests() == 0) {
    return {};
  }
  b.finish();
  Status st = sock_->send(b);
  ++stats_.batches;
  stats_.messages += b.requests();
  if (!st.isOk()) {
    needResync_ = true;
    return st.withContext("writing table inet " + kTable);
  }
  return {};
}

Status NftPolicyTable::write(const NftDesired& desired, bool readBack) {
  auto t0 = std::chrono::steady_clock::now();
  auto fresh = std::make_unique<PlanCache>();
  if (cache_ == nullptr) {
    cache_ = std::make_unique<PlanCache>();
  }
  auto planned = makePlan(desired, *cache_, *fresh);
  cache_ = std::move(fresh); // a memo of the input only: valid whatever happens next
  if (!planned) {
    return planned.error();
  }
  Plan& plan = *planned;

  Record cur;
  bool rebuild = false;
  if (readBack || record_ == nullptr) {
    RETURN_IF_ERROR(readRecord(*sock_, plan, cur, rebuild));
    ++stats_.resyncs;
  } else {
    cur = *record_;
  }

  NftBatch b(sock_->nextSeq(1u << 20), NftAckMode::LastRequest);
  if (rebuild) {
    netlink::nftDeleteTableMsgs(b, NFPROTO_INET, kTable);
    cur = Record{};
  }
  if (!cur.tableExists) {
    tableMsg(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add");
  }
  size_t elemsAdded = 0;
  size_t elemsRemoved = 0;
  size_t chainsWritten = 0;
  size_t chainsDeleted = 0;
  size_t rulesWritten = 0;

  // 1. Sets: new ones, then element removals and additions (maps later, around the chains).
  std::map<std::string, uint32_t> newSetIds;
  for (const auto& [name, want] : plan.sets) {
    auto it = cur.sets.find(name);
    if (it != cur.sets.end() &&
        (setFlags(*it->second) != setFlags(*want) || setKeyType(*it->second) != setKeyType(*want) ||
         setKeyLen(*it->second) != setKeyLen(*want) || it->second->autoMerge != want->autoMerge)) {
      return Status(Code::Invalid, "set " + name + ": desired as " + keyTypeDesc(*want) +
                                       " but written as " + keyTypeDesc(*it->second) +
                                       " (a set keeps its type; use a new name)");
    }
    if (it == cur.sets.end()) {
      uint32_t id = ++anonSetCounter_;
      newSetIds[name] = id;
      newSetMsg(b, name, *want, id);
    }
  }
  auto diffElems = [&](const std::string& name, bool adds, const std::set<std::string>& force) {
    const SetState& want = *plan.sets.at(name);
    auto it = cur.sets.find(name);
    if (it != cur.sets.end() && it->second == plan.sets.at(name) && force.empty()) {
      return; // the very contents written last time
    }
    std::vector<const ElemGroup*> groups;
    if (adds) {
      for (const auto& [id, g] : want.elems) {
        if (it == cur.sets.end() || !it->second->elems.count(id) || force.count(id)) {
          groups.push_back(&g);
        }
      }
    } else if (it != cur.sets.end()) {
      for (const auto& [id, g] : it->second->elems) {
        if (!want.elems.count(id) || force.count(id)) {
          groups.push_back(&g);
        }
      }
    }
    if (groups.empty()) {
      return;
    }
    auto sid = newSetIds.find(name);
    size_t n = elemMsgs(b, name, want, sid == newSetIds.end() ? 0 : sid->second, adds, groups);
    (adds ? elemsAdded : elemsRemoved) += n;
  };
  for (const auto& [name, want] : plan.sets) {
    if (!want->isMap) {
      diffElems(name, false, {});
      diffElems(name, true, {});
    }
  }

  // 2. What happens to each chain.
  enum class Op { Keep, Create, Recreate, Refill };
  std::map<std::string, Op> ops;
  std::set<std::string> referenced;
  for (const auto& [name, cs] : cur.chains) {
    for (const auto& j : cs.jumps) {
      referenced.insert(j);
    }
  }
  std::map<std::string, std::set<std::string>> forcedMapElems;
  for (const auto& [name, pc] : plan.chains) {
    auto it = cur.chains.find(name);
    Op op = Op::Keep;
    if (it == cur.chains.end()) {
      op = Op::Create;
    } else if (it->second.hash != pc.state.hash) {
      if (pc.state.kind == ChainKind::Base || referenced.count(name)) {
        op = Op::Refill;
      } else {
        op = Op::Recreate;
      }
    }
    ops[name] = op;
    if (op == Op::Recreate && pc.state.kind == ChainKind::Endpoint) {
      const SetState& map = *plan.sets.at(pc.state.mapName);
      for (const auto& [id, g] : map.elems) {
        if (g.chain == name) {
          auto cm = cur.sets.find(pc.state.mapName);
          if (cm != cur.sets.end() && cm->second->elems.count(id)) {
            forcedMapElems[pc.state.mapName].insert(id);
          }
        }
      }
    }
  }

  // Build every rule to write before anything else can fail.
  const SetLookup lookup = [&](const std::string& n) { return findSet(plan.sets, n); };
  std::map<std::string, std::vector<std::unique_ptr<RuleBuilder>>> built;
  for (const auto& [name, op] : ops) {
    if (op == Op::Keep) {
      continue;
    }
    ChainRules cr(name, &anonSetCounter_, &lookup, &newSetIds);
    auto rules = cr.build(plan.chains.at(name));
    if (!rules) {
      return rules.error();
    }
    built[name] = std::move(*rules);
  }

  // 3. Map element removals (removed endpoints, re-created endpoint chains).
  for (std::string_view m : kMaps) {
    diffElems(std::string(m), false, forcedMapElems[std::string(m)]);
  }
  // 4. Chains to create (policy chains first: endpoint chains jump to them), re-create.
  auto chainHeads = [&](ChainKind kind) {
    for (const auto& [name, op] : ops) {
      const ChainState& st = plan.chains.at(name).state;
      if (st.kind != kind) {
        continue;
      }
      if (op == Op::Recreate) {
        delChainMsg(b, name);
      }
      if (op == Op::Create || op == Op::Recreate) {
        newChainMsg(b, name, st);
      }
    }
  };
  chainHeads(ChainKind::Policy);
  chainHeads(ChainKind::Endpoint);
  // 5. Rules: policy chains, endpoint chains, then the base chain (it needs the maps).
  for (ChainKind kind : {ChainKind::Policy, ChainKind::Endpoint, ChainKind::Base}) {
    if (kind == ChainKind::Base) {
      chainHeads(ChainKind::Base);
    }
    for (auto& [name, rules] : built) {
      if (plan.chains.at(name).state.kind != kind) {
        continue;
      }
      if (ops[name] == Op::Refill) {
        flushChainMsg(b, name);
      }
      ruleMsgs(b, name, rules);
      rulesWritten += rules.size();
      ++chainsWritten;
    }
  }
  // 6. Map element additions.
  for (std::string_view m : kMaps) {
    diffElems(std::string(m), true, forcedMapElems[std::string(m)]);
  }
  // 7. Removed chains: chains of unknown content are flushed first (they may jump to each
  // other), then endpoint chains are deleted before the policy chains they jump to.
  std::vector<std::string> gone[4];
  for (const auto& [name, cs] : cur.chains) {
    if (!plan.chains.count(name)) {
      gone[static_cast<int>(cs.kind)].push_back(name);
    }
  }
  for (const auto& name : gone[static_cast<int>(ChainKind::Unknown)]) {
    flushChainMsg(b, name);
  }
  for (ChainKind kind : {ChainKind::Unknown, ChainKind::Endpoint, ChainKind::Policy}) {
    for (const auto& name : gone[static_cast<int>(kind)]) {
      delChainMsg(b, name);
      ++chainsDeleted;
    }
  }
  // 8. Removed sets (nothing refers to them any more).
  for (const auto& [name, st] : cur.sets) {
    if (!plan.sets.count(name)) {
      delSetMsg(b, name);
    }
  }

  RETURN_IF_ERROR(
      sendBatch(b, {elemsAdded, elemsRemoved, chainsWritten, chainsDeleted, rulesWritten}));
  auto rec = std::make_unique<Record>();
  rec->tableExists = true;
  rec->sets = std::move(plan.sets);
  for (auto& [name, pc] : plan.chains) {
    for (const auto& j : pc.state.jumps) {
      rec->jumpsTo[j]++;
    }
    rec->chains[name] = std::move(pc.state);
  }
  for (auto& [name, handles] : cur.ruleHandles) {
    auto op = ops.find(name);
    if (op != ops.end() && op->second == Op::Keep) {
      rec->ruleHandles[name] = std::move(handles);
    }
  }
  record_ = std::move(rec);
  needResync_ = false;
  stats_.lastApplyMicros = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  return {};
}

// ---- update: one change, in proportion to its size
// -----------------------------------------------

namespace {

// A set the change touches.
struct SetWork {
  const SetState* old = nullptr; // as recorded (nullptr: a new set)
  SetStatePtr next;              // the whole new state, when the change replaces it
  // Element changes of a recorded Addr/AddrPort set, made in place once the batch is acked.
  std::map<std::string, ElemGroup> adds;
  std::map<std::string, ElemGroup> removes;
  bool deleted = false;
};

// The kernel elements to delete and add to turn `old` (may be null) into `next`.
void diffSet(const SetState* old, const SetState& next, std::vector<const ElemGroup*>& removes,
             std::vector<const ElemGroup*>& adds) {
  if (old != nullptr) {
    for (const auto& [id, g] : old->elems) {
      if (!next.elems.count(id)) {
        removes.push_back(&g);
      }
    }
  }
  for (const auto& [id, g] : next.elems) {
    if (old == nullptr || !old->elems.count(id)) {
      adds.push_back(&g);
    }
  }
}

// A copy of `p` when anyone else holds it, so that it can be changed in place.
SetState& ownSet(SetStatePtr& p) {
  if (p.use_count() > 1) {
    p = std::make_shared<SetState>(*p);
  }
  return *p;
}

Bytes ifaceKey(const std::string& iface) { return iface + Bytes(kIfnameLen - iface.size(), '\0'); }

} // namespace

Status NftPolicyTable::update(const NftChanges& ch) {
  auto t0 = std::chrono::steady_clock::now();
  if (needsFullWrite()) {
    return Status(Code::Unavailable,
                  "table inet " + kTable +
                      ": nothing is recorded of the kernel's state (no write yet, or the last one "
                      "failed); the whole state must be written");
  }
  Record& rec = *record_;
  if (cache_ == nullptr) {
    cache_ = std::make_unique<PlanCache>();
  }
  auto recorded = [&](const std::string& name) -> const SetState* {
    auto it = rec.sets.find(name);
    return it == rec.sets.end() ? nullptr : it->second.get();
  };

  // 1. Sets: everything validated and computed before anything is sent or recorded.
  std::map<std::string, SetWork> sets;
  for (const NftSetSpec& spec : ch.sets) {
    RETURN_IF_ERROR(checkSetName(spec.name));
    if (sets.count(spec.name)) {
      return Status(Code::Invalid, "set " + spec.name + ": listed twice");
    }
    ASSIGN_OR_RETURN(SetState parsed, setStateFromSpec(spec));
    SetWork& w = sets[spec.name];
    w.old = recorded(spec.name);
    if (w.old != nullptr &&
        (setFlags(*w.old) != setFlags(parsed) || setKeyType(*w.old) != setKeyType(parsed) ||
         setKeyLen(*w.old) != setKeyLen(parsed) || w.old->autoMerge != parsed.autoMerge)) {
      return Status(Code::Invalid, "set " + spec.name + ": desired as " + keyTypeDesc(parsed) +
                                       " but written as " + keyTypeDesc(*w.old) +
                                       " (a set keeps its type; use a new name)");
    }
    w.next = std::make_shared<SetState>(std::move(parsed));
  }
  for (const NftSetChange& c : ch.elements) {
    auto wit = sets.find(c.name);
    const SetState* base = wit != sets.end() ? wit->second.next.get() : recorded(c.name);
    if (base == nullptr || base->isMap) {
      return Status(Code::Invalid, "set " + c.name + ": elements changed, but no such set");
    }
    SetWork& w = sets[c.name];
    w.old = recorded(c.name);
    const std::string where = "set " + c.name + ": ";
    if (base->kind == SetKind::Interval) {
      SetState next;
      next.kind = base->kind;
      next.ipVersion = base->ipVersion;
      next.autoMerge = base->autoMerge;
      next.blocks = base->blocks;
      for (size_t i = 0; i < c.remove.size(); ++i) {
        ASSIGN_OR_RETURN(ParsedElem e, parseElement(next, c.remove[i],
                                                    where + "remove[" + std::to_string(i) + "]"));
        next.blocks.erase(e.block);
      }
      for (size_t i = 0; i < c.add.size(); ++i) {
        ASSIGN_OR_RETURN(ParsedElem e,
                         parseElement(next, c.add[i], where + "add[" + std::to_string(i) + "]"));
        next.blocks.insert(e.block);
      }
      next.elems = intervalElems(next);
      w.next = std::make_shared<SetState>(std::move(next));
      continue;
    }
    for (size_t i = 0; i < c.remove.size(); ++i) {
      ASSIGN_OR_RETURN(ParsedElem e, parseElement(*base, c.remove[i],
                                                  where + "remove[" + std::to_string(i) + "]"));
      std::string id = groupId(e.group);
      if (w.next) {
        w.next->elems.erase(id);
      } else if (w.adds.erase(id) == 0 && base->elems.count(id)) {
        w.removes[id] = std::move(e.group);
      }
    }
    for (size_t i = 0; i < c.add.size(); ++i) {
      ASSIGN_OR_RETURN(ParsedElem e,
                       parseElement(*base, c.add[i], where + "add[" + std::to_string(i) + "]"));
      std::string id = groupId(e.group);
      if (w.next) {
        w.next->elems[id] = std::move(e.group);
      } else if (w.removes.erase(id) == 0 && !base->elems.count(id)) {
        w.adds[id] = std::move(e.group);
      }
    }
  }
  for (const std::string& name : ch.setsDeleted) {
    if (sets.count(name)) {
      return Status(Code::Invalid, "set " + name + ": both changed and deleted");
    }
    const SetState* old = recorded(name);
    if (old != nullptr && old->isMap) {
      return Status(Code::Invalid, "set " + name + ": the writer's own map cannot be deleted");
    }
    if (old != nullptr) {
      SetWork& w = sets[name];
      w.old = old;
      w.deleted = true;
    }
  }
  std::map<std::string, uint32_t> newSetIds;
  for (const auto& [name, w] : sets) {
    if (w.old == nullptr && w.next) {
      newSetIds[name] = ++anonSetCounter_;
    }
  }
  const SetLookup lookup = [&](const std::string& name) -> const SetState* {
    auto it = sets.find(name);
    if (it != sets.end()) {
      if (it->second.deleted) {
        return nullptr;
      }
      if (it->second.next) {
        return it->second.next.get();
      }
    }
    return recorded(name);
  };

  // 2. Chains.
  enum class Op { Keep, Create, Recreate, Refill };
  struct ChainWork {
    PlannedChain planned;
    Op op = Op::Keep;
  };
  std::map<std::string, ChainWork> chains;
  std::map<std::string, int> jumpDelta; // change of Record::jumpsTo
  auto opFor = [&](const std::string& name, const std::string& hash, bool refillable) {
    auto it = rec.chains.find(name);
    if (it == rec.chains.end()) {
      return Op::Create;
    }
    if (it->second.hash == hash) {
      return Op::Keep;
    }
    auto j = rec.jumpsTo.find(name);
    return refillable || (j != rec.jumpsTo.end() && j->second > 0) ? Op::Refill : Op::Recreate;
  };
  auto checkKind = [&](const std::string& name, ChainKind kind, const std::string& what) {
    auto it = rec.chains.find(name);
    if (it != rec.chains.end() && it->second.kind != kind) {
      return Status(Code::Invalid, what + ": a chain of another kind has that name");
    }
    return Status();
  };
  for (const PolicyChain& pc : ch.policyChains) {
    ChainWork w;
    w.planned.name = nftPolicyChainName(pc.id, pc.direction, pc.profile);
    const std::string what = "chain " + w.planned.name + " (policy " + pc.id + ")";
    RETURN_IF_ERROR(checkKind(w.planned.name, ChainKind::Policy, what));
    w.planned.state.kind = ChainKind::Policy;
    auto cached = cache_->policies.find(w.planned.name);
    w.planned.state.hash = cached != cache_->policies.end() && sameChain(cached->second.first, pc)
                               ? cached->second.second
                               : commentHash(renderNftPolicyChain(pc));
    w.planned.policy = &pc;
    w.op = opFor(w.planned.name, w.planned.state.hash, false);
    std::string name = w.planned.name;
    if (!chains.emplace(name, std::move(w)).second) {
      return Status(Code::Invalid, what + ": listed twice");
    }
  }
  for (const EndpointChainSpec& ep : ch.endpointChains) {
    ChainWork w;
    w.planned.name = nftEndpointChainName(ep);
    const std::string what = "endpoint chain " + w.planned.name;
    RETURN_IF_ERROR(checkEndpointSpec(ep, what));
    RETURN_IF_ERROR(checkKind(w.planned.name, ChainKind::Endpoint, what));
    ChainState& st = w.planned.state;
    st.kind = ChainKind::Endpoint;
    auto cached = cache_->endpoints.find(w.planned.name);
    st.hash = cached != cache_->endpoints.end() && sameChain(cached->second.first, ep)
                  ? cached->second.second
                  : commentHash(renderNftEndpointChain(ep));
    st.iface = ep.interfaceName;
    st.mapName = mapFor(ep);
    for (const auto& tier : ep.tiers) {
      for (const auto& id : tier.policyIds) {
        st.jumps.push_back(nftPolicyChainName(id, ep.direction));
      }
    }
    for (const auto& id : ep.profileIds) {
      st.jumps.push_back(nftPolicyChainName(id, ep.direction, true));
    }
    w.planned.endpoint = &ep;
    w.op = opFor(w.planned.name, st.hash, false);
    std::string name = w.planned.name;
    if (!chains.emplace(name, std::move(w)).second) {
      return Status(Code::Invalid, what + ": listed twice");
    }
  }
  if (ch.forwardDefault) {
    ChainWork w;
    w.planned.name = std::string(kNftForwardChain);
    w.planned.state.kind = ChainKind::Base;
    w.planned.state.hash = baseHash(kNftForwardChain, *ch.forwardDefault);
    w.planned.forwardDefault = *ch.forwardDefault;
    w.op = opFor(w.planned.name, w.planned.state.hash, true);
    if (chains.count(w.planned.name)) {
      return Status(Code::Invalid, "chain forward: a policy or endpoint chain has that name");
    }
    chains.emplace(w.planned.name, std::move(w));
  }
  std::vector<std::string> deletedChains[4];
  std::set<std::string> deleting;
  for (const std::string& name : ch.chainsDeleted) {
    auto it = rec.chains.find(name);
    if (it == rec.chains.end() || !deleting.insert(name).second) {
      continue;
    }
    if (chains.count(name)) {
      return Status(Code::Invalid, "chain " + name + ": both written and deleted");
    }
    if (it->second.kind == ChainKind::Base) {
      return Status(Code::Invalid, "chain " + name + ": the base chain cannot be deleted");
    }
    deletedChains[static_cast<int>(it->second.kind)].push_back(name);
    for (const auto& j : it->second.jumps) {
      jumpDelta[j]--;
    }
  }
  for (const auto& [name, w] : chains) {
    if (w.op == Op::Keep || w.planned.state.kind != ChainKind::Endpoint) {
      continue;
    }
    if (auto it = rec.chains.find(name); it != rec.chains.end()) {
      for (const auto& j : it->second.jumps) {
        jumpDelta[j]--;
      }
    }
    for (const auto& j : w.planned.state.jumps) {
      jumpDelta[j]++;
      auto target = chains.find(j);
      auto kept = rec.chains.find(j);
      bool ok = target != chains.end()
                    ? target->second.planned.state.kind == ChainKind::Policy
                    : kept != rec.chains.end() && kept->second.kind == ChainKind::Policy &&
                          !deleting.count(j);
      if (!ok) {
        return Status(Code::Invalid, "endpoint chain " + name + ": jumps to chain " + j +
                                         ", which is not among the desired policy chains");
      }
    }
  }
  auto jumpsAfter = [&](const std::string& name) {
    auto it = rec.jumpsTo.find(name);
    auto d = jumpDelta.find(name);
    return (it == rec.jumpsTo.end() ? 0 : it->second) + (d == jumpDelta.end() ? 0 : d->second);
  };
  for (const auto& name : deletedChains[static_cast<int>(ChainKind::Policy)]) {
    if (jumpsAfter(name) > 0) {
      return Status(Code::Invalid, "chain " + name + ": deleted while " +
                                       std::to_string(jumpsAfter(name)) +
                                       " endpoint chain(s) still jump to it");
    }
  }

  // 3. Every rule to write, built before anything is sent.
  std::map<std::string, std::vector<std::unique_ptr<RuleBuilder>>> built;
  for (const auto& [name, w] : chains) {
    if (w.op == Op::Keep) {
      continue;
    }
    ChainRules cr(name, &anonSetCounter_, &lookup, &newSetIds);
    ASSIGN_OR_RETURN(built[name], cr.build(w.planned));
  }
  // A policy chain with as many rules as before, of which few changed, gets only those rules,
  // each in place of its predecessor (NLM_F_REPLACE by handle): the kernel's cost of a change
  // then follows the rules changed, not the size of the chain. The handles are read once per
  // chain (one chain's rules, checked against what the writer wrote) and stay valid: a replaced
  // rule keeps its handle.
  std::map<std::string, std::vector<size_t>> replaced; // chain -> indexes of the changed rules
  for (const auto& [name, w] : chains) {
    auto old = cache_->policies.find(name);
    if (w.op != Op::Refill || w.planned.policy == nullptr || old == cache_->policies.end() ||
        old->second.first.rules.size() != w.planned.policy->rules.size()) {
      continue;
    }
    const std::vector<CompiledRule>& before = old->second.first.rules;
    const std::vector<CompiledRule>& after = w.planned.policy->rules;
    std::vector<size_t> changed;
    for (size_t i = 0; i < after.size(); ++i) {
      if (!(before[i] == after[i])) {
        changed.push_back(i);
      }
    }
    if (changed.empty() || changed.size() * 2 > after.size()) {
      continue; // refilling costs no more
    }
    auto known = rec.ruleHandles.find(name);
    if (known == rec.ruleHandles.end()) {
      std::vector<uint64_t> handles;
      std::vector<std::string> prints;
      RETURN_IF_ERROR(readChainRules(*sock_, name, handles, prints));
      PlannedChain was = w.planned;
      was.policy = &old->second.first;
      uint32_t scratch = 0;
      ChainRules oldRules(name, &scratch, &lookup, &newSetIds);
      auto wrote = oldRules.build(was);
      std::vector<std::string> want;
      if (wrote) {
        for (auto& rb : *wrote) {
          want.push_back(ruleFingerprint(rb->rule()));
        }
      }
      if (!wrote || want != prints) {
        continue; // not what was written (changed by others): refill, resync repairs the rest
      }
      known = rec.ruleHandles.emplace(name, std::move(handles)).first;
    }
    if (known->second.size() != after.size()) {
      rec.ruleHandles.erase(known);
      continue;
    }
    replaced[name] = std::move(changed);
  }

  // 4. One batch, in the order write() uses.
  NftBatch b(sock_->nextSeq(1u << 20), NftAckMode::LastRequest);
  size_t elemsAdded = 0;
  size_t elemsRemoved = 0;
  std::map<std::string, std::vector<const ElemGroup*>> setAdds;
  for (auto& [name, w] : sets) {
    if (w.deleted) {
      continue;
    }
    std::vector<const ElemGroup*> removes;
    std::vector<const ElemGroup*>& adds = setAdds[name];
    if (w.next) {
      diffSet(w.old, *w.next, removes, adds);
    } else {
      for (const auto& [id, g] : w.removes) {
        removes.push_back(&g);
      }
      for (const auto& [id, g] : w.adds) {
        adds.push_back(&g);
      }
    }
    const SetState& st = w.next ? *w.next : *w.old;
    auto sid = newSetIds.find(name);
    if (sid != newSetIds.end()) {
      newSetMsg(b, name, st, sid->second);
    }
    if (!removes.empty()) {
      elemsRemoved += elemMsgs(b, name, st, 0, false, removes);
    }
  }
  for (const auto& [name, adds] : setAdds) {
    if (!adds.empty()) {
      auto sid = newSetIds.find(name);
      elemsAdded +=
          elemMsgs(b, name, *lookup(name), sid == newSetIds.end() ? 0 : sid->second, true, adds);
    }
  }
  // Map elements: those of deleted and re-created endpoint chains go first, those of created and
  // re-created ones come back after their rules.
  std::map<std::string, std::vector<ElemGroup>> mapRemoves, mapAdds;
  for (const auto& name : deletedChains[static_cast<int>(ChainKind::Endpoint)]) {
    const ChainState& cs = rec.chains.at(name);
    mapRemoves[cs.mapName].push_back(ElemGroup{ifaceKey(cs.iface), "", name});
  }
  for (const auto& [name, w] : chains) {
    const ChainState& st = w.planned.state;
    if (st.kind != ChainKind::Endpoint || w.op == Op::Keep) {
      continue;
    }
    ElemGroup g{ifaceKey(st.iface), "", name};
    if (w.op == Op::Recreate) {
      mapRemoves[st.mapName].push_back(g);
    }
    mapAdds[st.mapName].push_back(std::move(g));
  }
  auto mapMsgs = [&](std::map<std::string, std::vector<ElemGroup>>& m, bool add) {
    for (auto& [map, groups] : m) {
      std::vector<const ElemGroup*> ptrs;
      for (const auto& g : groups) {
        ptrs.push_back(&g);
      }
      elemMsgs(b, map, *rec.sets.at(map), 0, add, ptrs);
    }
  };
  mapMsgs(mapRemoves, false);
  for (ChainKind kind : {ChainKind::Policy, ChainKind::Endpoint}) {
    for (const auto& [name, w] : chains) {
      if (w.planned.state.kind != kind) {
        continue;
      }
      if (w.op == Op::Recreate) {
        delChainMsg(b, name);
      }
      if (w.op == Op::Create || w.op == Op::Recreate) {
        newChainMsg(b, name, w.planned.state);
      }
    }
  }
  size_t rulesWritten = 0;
  for (ChainKind kind : {ChainKind::Policy, ChainKind::Endpoint, ChainKind::Base}) {
    for (auto& [name, rules] : built) {
      const ChainWork& w = chains.at(name);
      if (w.planned.state.kind != kind) {
        continue;
      }
      if (auto r = replaced.find(name); r != replaced.end()) {
        const std::vector<uint64_t>& handles = rec.ruleHandles.at(name);
        for (size_t i : r->second) {
          replaceRuleMsgs(b, name, i, *rules[i], handles[i]);
        }
        rulesWritten += r->second.size();
        continue;
      }
      if (w.op == Op::Refill) {
        flushChainMsg(b, name);
      }
      ruleMsgs(b, name, rules);
      rulesWritten += rules.size();
    }
  }
  mapMsgs(mapAdds, true);
  size_t chainsDeleted = 0;
  for (ChainKind kind : {ChainKind::Unknown, ChainKind::Endpoint, ChainKind::Policy}) {
    for (const auto& name : deletedChains[static_cast<int>(kind)]) {
      delChainMsg(b, name);
      ++chainsDeleted;
    }
  }
  for (const auto& [name, w] : sets) {
    if (w.deleted) {
      delSetMsg(b, name);
    }
  }

  RETURN_IF_ERROR(
      sendBatch(b, {elemsAdded, elemsRemoved, built.size(), chainsDeleted, rulesWritten}));

  // 5. The record and the memo follow what the kernel now holds.
  for (auto& [name, w] : sets) {
    cache_->sets.erase(name);
    if (w.deleted) {
      rec.sets.erase(name);
    } else if (w.next) {
      rec.sets[name] = std::move(w.next);
    } else {
      SetState& st = ownSet(rec.sets.at(name));
      for (const auto& [id, g] : w.removes) {
        st.elems.erase(id);
      }
      for (auto& [id, g] : w.adds) {
        st.elems[id] = std::move(g);
      }
    }
  }
  for (auto* m : {&mapRemoves, &mapAdds}) {
    for (auto& [map, groups] : *m) {
      SetState& st = ownSet(rec.sets.at(map));
      for (auto& g : groups) {
        if (m == &mapRemoves) {
          st.elems.erase(groupId(g));
        } else {
          std::string id = groupId(g);
          st.elems[id] = std::move(g);
        }
      }
    }
  }
  for (auto& deleted : deletedChains) {
    for (const auto& name : deleted) {
      rec.chains.erase(name);
      rec.ruleHandles.erase(name);
      cache_->policies.erase(name);
      cache_->endpoints.erase(name);
    }
  }
  for (auto& [name, w] : chains) {
    if (w.planned.policy != nullptr) {
      cache_->policies[name] = {*w.planned.policy, w.planned.state.hash};
    } else if (w.planned.endpoint != nullptr) {
      cache_->endpoints[name] = {*w.planned.endpoint, w.planned.state.hash};
    }
    if (w.op != Op::Keep) {
      rec.chains[name] = std::move(w.planned.state);
      if (!replaced.count(name)) {
        rec.ruleHandles.erase(name); // written anew: new handles
      }
    }
  }
  for (const auto& [name, d] : jumpDelta) {
    int& n = rec.jumpsTo[name];
    n += d;
    if (n <= 0) {
      rec.jumpsTo.erase(name);
    }
  }
  stats_.lastApplyMicros = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  return {};
}

} // namespace caracal::policy
