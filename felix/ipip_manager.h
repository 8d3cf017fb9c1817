#pragma once
// IPIP dataplane: the tunl0 device, kernel or user space.
//
// Kernel mode (the `ipip` module is present): tunl0 is the kernel's fallback device, created with
// RTM_NEWLINK kind "ipip" when the namespace lacks it; ensure() sets its MTU, brings it up and
// makes the tunnel address its only address. Remote blocks are then simply routed into it
// (`<block> via <node IP> dev tunl0 onlink`) and the kernel encapsulates.
//
// User-space mode (no module, as on this project's build machine): ipip::UserspaceTunnel creates
// a TUN device named tunl0 and forwards; ensure() (re)starts it when its parameters change and
// hands it the peer table (destination -> node IP, the same destinations the routes send into
// tunl0). The same routes apply in both modes.
//
// IPIP not wanted (std::nullopt): kernel mode removes the address and sets tunl0 down (the
// fallback device cannot be deleted); user-space mode stops the tunnel and removes its device.
// Destroying the manager leaves the device in place (a restarting agent does not drop routes).
//
// The manager works in the network namespace of the thread that constructs it and must be used
// from threads in that same namespace.

#include "felix/route_calc.h"
#include "ipip/userspace_tunnel.h"
#include "netlink/netlink.h"

#include <memory>
#include <optional>
#include <utility>
#include <vector>

struct nlmsghdr;

namespace caracal::felix {

// RTM_NEWLINK (NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK) creating an `ipip` link named `name`,
// written at `mem` (at least 256 bytes, 4-byte aligned).
nlmsghdr* buildIpipLinkRequest(void* mem, std::string_view name, uint32_t seq);

// The user-space tunnel's peer table: every peer, then a (<source>/32, <source>) entry for each
// accepted source that is not already some peer's node IP.
std::vector<std::pair<IpNet, IpAddr>> ipipPeerTable(const std::vector<IpipPeer>& peers,
                                                    const std::vector<IpAddr>& sources);

class IpipManager {
public:
  enum class Mode { Kernel, Userspace };
  // Kernel when the calling thread's namespace can create ipip links.
  static Mode detectMode();

  static Result<std::unique_ptr<IpipManager>> create(Mode mode);
  ~IpipManager();

  // Returns tunl0's ifindex (0 when IPIP is not wanted).
  // `sources`: underlay addresses IPIP packets are accepted from (user-space mode); each one
  // that is not already the node IP of a peer is given to the tunnel as a peer for its own /32,
  // which the tunnel counts as a known source (no route sends traffic for it into tunl0).
  Result<int> ensure(const std::optional<IpipDeviceConfig>& want,
                     const std::vector<IpipPeer>& peers, const std::vector<IpAddr>& sources = {});
  Mode mode() const { return mode_; }
  // The user-space tunnel's counters (zeros in kernel mode).
  ipip::TunnelStats tunnelStats() const;

private:
  IpipManager(Mode mode, std::unique_ptr<netlink::Socket> sock);
  Result<int> ensureKernel(const std::optional<IpipDeviceConfig>& want);
  Result<int> ensureUserspace(const std::optional<IpipDeviceConfig>& want,
                              const std::vector<IpipPeer>& peers,
                              const std::vector<IpAddr>& sources);

  Mode mode_;
  std::unique_ptr<netlink::Socket> sock_;
  std::unique_ptr<ipip::UserspaceTunnel> tunnel_;
  std::optional<IpipDeviceConfig> running_; // parameters the user-space tunnel was started with
};

} // namespace caracal::felix
