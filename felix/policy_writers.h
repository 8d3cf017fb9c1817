#pragma once
// The kernel writers behind PolicyWriter: nftables (`table inet caracal`, libnftnl batches) and
// iptables (ipset + iptables-restore, IPv4 and IPv6).

#include "felix/policy_manager.h"
#include "policy/nft_table.h"

#include <memory>
#include <string>

namespace caracal::felix {

// The nftables writer in the calling thread's network namespace.
Result<std::unique_ptr<PolicyWriter>> makeNftablesPolicyWriter();
// The iptables writer (both families).
std::unique_ptr<PolicyWriter> makeIptablesPolicyWriter();

// The renderer-neutral state as the nftables writer takes it.
policy::NftDesired toNftDesired(const policy::Dataplane& d);

} // namespace caracal::felix
