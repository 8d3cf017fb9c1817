#pragma once
// The iptables writer of the policy dataplane, for hosts without nftables: the chains of
// ipt_render.h in the filter, raw and mangle tables, the sets as ipsets, written with
// `ipset restore` and `iptables-restore --noflush` (one restore per apply, one `*table … COMMIT`
// section per table that changed).
//
// Layout (one family per writer; IPv4 uses iptables/ipset family inet, IPv6 ip6tables/inet6).
// Each built-in chain gets one jump to ours, inserted first, once.
// filter:
//   FORWARD -j cali-FORWARD; INPUT -j cali-INPUT; OUTPUT -j cali-OUTPUT
//   cali-FORWARD   ct RELATED,ESTABLISHED ACCEPT;
//                  accept bit clear: -j cali-from-hep-forward (fhfw-, skipped when preDNAT or
//                  untracked policy allowed the packet);
//                  -i cali+ -j cali-from-wl-dispatch; -o cali+ -j cali-to-wl-dispatch;
//                  -j cali-to-hep-forward (thfw-);
//                  -i cali+ ACCEPT; -o cali+ ACCEPT (both endpoint chains returned)
//   cali-INPUT     ct RELATED,ESTABLISHED ACCEPT; udp 4789, IPIP ACCEPT (tunnels);
//                  accept bit set ACCEPT (allowed by preDNAT or untracked policy);
//                  -j cali-from-host-endpoint (-i <if> -g cali-fh-<if>); accept bit set ACCEPT
//   cali-OUTPUT    the same with cali-to-host-endpoint (-o <if> -g cali-th-<if>)
//   cali-from-wl-dispatch  -i <if> -g cali-fw-<if> per local endpoint, then DROP (unknown)
//   cali-to-wl-dispatch    -o <if> -g cali-tw-<if>, then DROP
//   cali-from-hep-forward / cali-to-hep-forward  -i/-o <if> -g cali-fhfw-/cali-thfw-<if>
//   cali-fw-/tw-/fh-/th-/fhfw-/thfw-<if>, cali-pi-/po-/pri-/pro-<id>: ipt_render.h
// raw (untracked policy, before connection tracking):
//   PREROUTING -j cali-PREROUTING; OUTPUT -j cali-OUTPUT
//   cali-PREROUTING  clear our mark bits (0x1f0000); udp 4789, IPIP ACCEPT;
//                    -j cali-from-host-endpoint (-i <if> -g cali-fhun-<if>);
//                    accept bit set: CT --notrack, then ACCEPT
//   cali-OUTPUT      the same with cali-to-host-endpoint (-o <if> -g cali-thun-<if>)
// mangle (preDNAT policy, ingress only):
//   PREROUTING -j cali-PREROUTING
//   cali-PREROUTING  ct RELATED,ESTABLISHED ACCEPT; udp 4789, IPIP ACCEPT;
//                    accept bit set ACCEPT (untracked policy allowed it);
//                    -j cali-from-host-endpoint (-i <if> -g cali-fhpre-<if>); accept bit set ACCEPT
// The raw and mangle tables hold the policy chains their endpoint chains jump to (and only
// those); the filter table holds every policy chain except those only early chains use.
//
// apply() writes only what changed since the last apply: new or changed chains are declared
// (which flushes them under --noflush) and refilled, removed chains flushed and deleted, in one
// restore; set members are added and deleted with `ipset restore`, new sets created before the
// rules that use them, old sets destroyed after. Unchanged state runs no command at all. The first
// apply (and any apply after a failure) is a full sync: every cali- chain in the filter, raw and
// mangle tables that is not wanted is removed, wanted sets are created or flushed and refilled.

#include "common/result.h"
#include "policy/dataplane.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace caracal::policy {

class IptPolicyTable {
public:
  struct Options {
    int ipVersion = 4;
    // Prepended to every command, e.g. {"ip", "netns", "exec", "<ns>"}; empty: this namespace.
    std::vector<std::string> commandPrefix;
  };

  struct Stats {
    uint64_t applies = 0;
    uint64_t restores = 0;      // iptables-restore runs
    uint64_t ipsetRestores = 0; // ipset restore runs
    uint64_t chainsWritten = 0; // chains declared/refilled, summed over applies
    uint64_t fullSyncs = 0;
    std::string lastRestoreInput; // what the last iptables-restore got (tests, debugging)
    std::string lastIpsetInput;
  };

  explicit IptPolicyTable(Options options);

  // Code::Invalid (nothing written) for a preDNAT chain of egress.
  Status apply(const Dataplane& desired);
  // The next apply() is a full sync.
  void markForResync() { synced_ = false; }
  // Each of the filter, raw and mangle tables that has none of our chains (no cali-FORWARD,
  // cali-PREROUTING) gets the empty state (connection tracking then follows every connection from
  // its first packet); tables with our chains are left as they are.
  Status createIfMissing();
  const Stats& stats() const { return stats_; }

  // Chain name → rules (the text after "-A <chain> ").
  using Chains = std::map<std::string, std::vector<std::string>>;
  // The filter table's chains that `desired` maps to for this family.
  static Chains renderChains(const Dataplane& desired, int ipVersion);
  // Table ("filter", "raw", "mangle") → its chains.
  static std::map<std::string, Chains> renderTables(const Dataplane& desired, int ipVersion);

private:
  Result<std::string> run(const std::vector<std::string>& argv, const std::string& input);

  Options options_;
  bool synced_ = false;
  std::map<std::string, Chains> tables_;              // table -> chains, as last written
  std::map<std::string, std::set<std::string>> sets_; // name -> members, as last written
  Stats stats_;
};

} // namespace caracal::policy
