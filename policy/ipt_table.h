#pragma once
// The iptables writer of the policy dataplane, for hosts without nftables: the chains of
// ipt_render.h in the filter table, the sets as ipsets, written with `ipset restore` and
// `iptables-restore --noflush` (one atomic table commit per apply).
//
// Layout (one family per writer; IPv4 uses iptables/ipset family inet, IPv6 ip6tables/inet6):
//   FORWARD  -j cali-FORWARD (inserted first, once)
//   cali-FORWARD   ct RELATED,ESTABLISHED ACCEPT; ct INVALID DROP;
//                  -i cali+ -j cali-from-wl-dispatch; -o cali+ -j cali-to-wl-dispatch;
//                  -i cali+ ACCEPT; -o cali+ ACCEPT (both endpoint chains returned)
//   cali-from-wl-dispatch  -i <if> -g cali-fw-<if> per local endpoint, then DROP (unknown)
//   cali-to-wl-dispatch    -o <if> -g cali-tw-<if>, then DROP
//   cali-fw-/cali-tw-<if>, cali-pi-/po-/pri-/pro-<id>: ipt_render.h
//
// apply() writes only what changed since the last apply: new or changed chains are declared
// (which flushes them under --noflush) and refilled, removed chains flushed and deleted, in one
// restore; set members are added and deleted with `ipset restore`, new sets created before the
// rules that use them, old sets destroyed after. Unchanged state runs no command at all. The first
// apply (and any apply after a failure) is a full sync: every cali- chain in the kernel that is not
// wanted is removed, wanted sets are created or flushed and refilled.

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

  Status apply(const Dataplane& desired);
  // The next apply() is a full sync.
  void markForResync() { synced_ = false; }
  // When the filter table has none of our chains: writes the empty state (connection tracking
  // then follows every connection from its first packet). Our chains present: nothing.
  Status createIfMissing();
  const Stats& stats() const { return stats_; }

  // Chain name → rules (the text after "-A <chain> ") that `desired` maps to for this family.
  static std::map<std::string, std::vector<std::string>> renderChains(const Dataplane& desired,
                                                                      int ipVersion);

private:
  Result<std::string> run(const std::vector<std::string>& argv, const std::string& input);

  Options options_;
  bool synced_ = false;
  std::map<std::string, std::vector<std::string>> chains_; // as last written
  std::map<std::string, std::set<std::string>> sets_;      // name -> members, as last written
  Stats stats_;
};

} // namespace caracal::policy
