#pragma once
// natOutgoing: traffic from an IPPool with natOutgoing to a destination outside every IPPool is
// masqueraded, as Calico's cali-nat-outgoing chain does.
//
// Owns the nftables tables `ip caracal-nat` (and `ip6 caracal-nat`), written with libnftnl in
// one netlink batch: a postrouting nat chain (priority srcnat) with
//   ip saddr @masq-pools ip daddr != @all-pools masquerade
// where both sets are interval sets of CIDRs. apply() replaces the set contents in one transaction
// (only when they changed); nothing outside these tables is ever touched.

#include "api/netaddr.h"
#include "common/result.h"

#include <compare>
#include <cstdint>
#include <memory>
#include <vector>

namespace caracal::felix {

class NatOutgoing {
public:
  virtual ~NatOutgoing() = default;
  // `masqPools`: pools with natOutgoing; `allPools`: every pool (enabled or not).
  virtual Status apply(const std::vector<api::IpNet>& masqPools,
                       const std::vector<api::IpNet>& allPools) = 0;
  // Deletes the tables (ok when absent).
  virtual Status remove() = 0;
};

// nftables (libnftnl) in the calling thread's network namespace: the netlink socket is opened
// here, so later calls act on that namespace from any thread. Not thread-safe (one agent loop).
//
// Tables exist as follows after apply(): `ip caracal-nat` always; `ip6 caracal-nat` while
// `masqPools` holds an IPv6 pool (it is deleted otherwise). Each apply() reads the tables back and
// writes only the difference, in one batch: nothing when the kernel already matches; a flush and
// re-add of a set's elements when only the pools changed; the whole table (deleted and re-created
// in the same transaction) when anything else differs (missing or extra chain, set or rule,
// changed hook or priority). The rule is recognised by its comment "caracal:nat-outgoing".
Result<std::unique_ptr<NatOutgoing>> makeNftNatOutgoing();

// One element of an nftables interval set as the kernel stores it: the range [a, b] is the element
// `a` followed by `b + 1` flagged NFT_SET_ELEM_INTERVAL_END (omitted when b is the family's last
// address).
struct IntervalSetElement {
  std::vector<uint8_t> key; // network order, 4 or 16 bytes
  bool intervalEnd = false;
  auto operator<=>(const IntervalSetElement&) const = default;
};
// The elements for the `family` (4 or 6) CIDRs in `nets` (others skipped): host bits cleared,
// overlapping blocks merged (adjacent ones stay separate, so `nft list` shows the pools as
// configured), in address order with each range's end right after its start (the order the
// kernel accepts for adjacent ranges, whose end and start share a key).
std::vector<IntervalSetElement> intervalSetElements(const std::vector<api::IpNet>& nets,
                                                    int family);
// Records the last apply, for unit tests.
class FakeNatOutgoing : public NatOutgoing {
public:
  Status apply(const std::vector<api::IpNet>& masq, const std::vector<api::IpNet>& all) override {
    masq_ = masq;
    all_ = all;
    ++applies_;
    return {};
  }
  Status remove() override {
    masq_.clear();
    all_.clear();
    return {};
  }
  std::vector<api::IpNet> masq_, all_;
  int applies_ = 0;
};

} // namespace caracal::felix
