#pragma once
// IP-in-IP (IP protocol 4, RFC 2003) in user space, for kernels without the `ipip` module.
//
// A TUN device (default name "tunl0", like the kernel's fallback device) carries the inner packets:
// the kernel routes pod traffic for remote blocks into it (`<block> dev tunl0`), the tunnel reads
// each packet, looks up the remote node owning the inner destination (longest prefix match over
// the peers given to setPeers()) and sends it through a raw IPPROTO_IPIP socket to that node's
// underlay address, so the kernel adds the outer IPv4 header with protocol 4 — on the wire it is
// indistinguishable from kernel IPIP, and it interoperates with a kernel `tunl0` on the other side.
// Packets received on the raw socket are accepted only from known peers' underlay addresses (as
// Calico's "IPIP from all-hosts-net" rule), stripped of the outer header and written to the TUN.
//
// With `offloads` (the default) the device runs with IFF_VNET_HDR and TCP segmentation offload:
// the local stack hands the tunnel TCP super-packets of up to 64 KiB, which it cuts into
// MTU-sized inner packets (each a normal IPv4/TCP packet with its own checksums, so the wire is
// unchanged), and received in-order TCP segments of a flow are merged again into one write to the
// device. Per byte that is far fewer system calls and passes through the stack.
//
// The device is created persistent and reused when it already exists, so a restart of the agent
// does not remove its routes; stop() leaves the device in place unless `removeDevice` is set.

#include "api/netaddr.h"
#include "common/result.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace caracal::ipip {

struct TunnelOptions {
  std::string ifname = "tunl0";
  uint32_t mtu = 1480;                  // underlay MTU - 20
  api::IpAddr local;                    // this node's underlay address (outer source)
  std::optional<api::IpNet> tunnelAddr; // e.g. 10.244.1.0/32, set on the device when given
  // Packets the device queues for the outbound thread. A full TUN queue drops (it does not push
  // back), and the TUN default of 500 costs TCP retransmits at full speed. 0 = leave unchanged.
  uint32_t txQueueLen = 2000;
  // TSO/checksum offload on the device and merging of received TCP segments (see above). Off:
  // one inner packet per read and per write.
  bool offloads = true;
};

struct TunnelStats {
  uint64_t txPackets = 0, txBytes = 0, rxPackets = 0, rxBytes = 0;
  uint64_t dropNoPeer = 0;     // inner destination matched no peer
  uint64_t dropUnknownSrc = 0; // outer source not a known peer
  uint64_t dropMalformed = 0;
  uint64_t dropNotIpv4 = 0;  // non-IPv4 packet read from the device (IPIP carries IPv4 only)
  uint64_t txErrors = 0;     // sendto() on the raw socket failed (no route, buffer full, ...)
  uint64_t rxErrors = 0;     // write() to the device failed
  uint64_t txGsoPackets = 0; // super-packets read from the device and cut into segments
  uint64_t rxGsoWrites = 0;  // writes to the device that carried several merged segments
};

class UserspaceTunnel {
public:
  // Creates (or reuses) the TUN device in the calling thread's network namespace, sets MTU and
  // address, brings it up and starts two forwarding threads, one per direction. The raw socket
  // and the device stay in that namespace whichever thread later calls in.
  static Result<std::unique_ptr<UserspaceTunnel>> start(const TunnelOptions& opts);
  ~UserspaceTunnel(); // stops the threads

  // Inner destination block -> remote node underlay address. Replaces the whole table atomically;
  // safe to call from any thread while traffic flows.
  void setPeers(std::vector<std::pair<api::IpNet, api::IpAddr>> peers);
  TunnelStats stats() const;
  int ifindex() const;
  // Stops the threads and closes the descriptors. Idempotent: only the first call acts, so pass
  // removeDevice there (the destructor calls stop(false)).
  void stop(bool removeDevice = false);

private:
  UserspaceTunnel() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when the kernel can create `ipip` links: the module is already loaded or built in
// (/sys/module/ipip) and a probe link can be created and deleted in the calling thread's namespace.
// Any failure counts as "no". It never makes the kernel load the module (which would create tunl0
// in every namespace, the host's included): run `modprobe ipip` on a node to use kernel IPIP.
bool kernelIpipAvailable();

} // namespace caracal::ipip
