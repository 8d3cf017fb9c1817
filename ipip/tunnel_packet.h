#pragma once
// The pure parts of the userspace IPIP datapath: the peer table (longest prefix match from an inner
// destination to a remote node's underlay address) and the checks applied to packets in both
// directions. No syscalls; unit-tested without privileges.
//
// Addresses are IPv4 in host byte order (uint32_t) inside this file; the conversion from
// api::IpAddr happens once, when a table is built.

#include "api/netaddr.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace caracal::ipip {

// Host-order IPv4 of an api::IpAddr (which must be family 4).
uint32_t ipv4HostOrder(const api::IpAddr& a);
api::IpAddr ipv4FromHostOrder(uint32_t a);

// An immutable block -> node table. Lookup cost is one hash probe per distinct prefix length
// present (in practice one: every block of a pool has the same size), longest first.
class PeerTable {
public:
  PeerTable() = default;
  // IPv6 entries are ignored (IPIP carries IPv4 only). When two entries share a block, the last
  // one wins.
  explicit PeerTable(const std::vector<std::pair<api::IpNet, api::IpAddr>>& peers);

  // The underlay address of the node owning `innerDst`, or nullopt.
  std::optional<uint32_t> lookup(uint32_t innerDst) const;
  // True when `underlaySrc` is the underlay address of some peer.
  bool isKnownPeer(uint32_t underlaySrc) const { return nodes_.count(underlaySrc) != 0; }
  size_t size() const { return size_; }

private:
  struct Level {
    int prefix = 0;
    uint32_t mask = 0;
    std::unordered_map<uint32_t, uint32_t> blocks; // masked block -> node
  };
  std::vector<Level> levels_; // longest prefix first
  std::unordered_set<uint32_t> nodes_;
  size_t size_ = 0;
};

// What to do with one packet read from the TUN device.
enum class OutboundVerdict { Send, NotIpv4, Malformed };
struct OutboundPacket {
  OutboundVerdict verdict = OutboundVerdict::Malformed;
  uint32_t innerDst = 0; // host order, valid when verdict == Send
};
OutboundPacket classifyOutbound(std::span<const uint8_t> pkt);

// What to do with one datagram from the raw IPPROTO_IPIP socket (which includes the outer header).
enum class InboundVerdict { Deliver, UnknownSource, Malformed };
struct InboundPacket {
  InboundVerdict verdict = InboundVerdict::Malformed;
  uint32_t outerSrc = 0;          // host order, when the outer header parsed
  std::span<const uint8_t> inner; // the inner IPv4 packet (trimmed to its total length)
};
// Checks the outer header (IPv4, protocol 4, sane IHL), the outer source against `peers`, and the
// inner header (IPv4, IHL >= 5, header checksum, total length within the datagram).
InboundPacket classifyInbound(std::span<const uint8_t> datagram, const PeerTable& peers);

// The Internet checksum of an IPv4 header (`hdr` as on the wire, checksum field included: a valid
// header sums to 0).
uint16_t ipv4HeaderChecksum(std::span<const uint8_t> hdr);

// Builds an IPv4 header + payload (protocol `proto`, TTL 64, DF clear, checksum filled in), for
// tests and probes.
std::vector<uint8_t> buildIpv4Packet(uint32_t src, uint32_t dst, uint8_t proto,
                                     std::span<const uint8_t> payload);

// ---- TUN offloads (IFF_VNET_HDR)
//
// With IFF_VNET_HDR every packet read from or written to the TUN device is preceded by a
// virtio-net header. With TSO enabled (TUNSETOFFLOAD) the kernel hands over TCP "super-packets"
// of up to 64 KiB whose checksum is left partial; the tunnel cuts them into MTU-sized inner
// packets itself (segmentOutbound). In the other direction, consecutive in-order TCP segments of a
// flow received in one batch are merged back into one super-packet per TUN write
// (InboundCoalescer), which the kernel accepts as a GSO packet, as from a virtual machine.

inline constexpr size_t kVnetHeaderSize = 10; // struct virtio_net_hdr
inline constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVnetGsoNone = 0;
inline constexpr uint8_t kVnetGsoTcpv4 = 1;
inline constexpr uint8_t kVnetGsoEcn = 0x80;

// The virtio-net header, host order (little endian on the wire, as TUN uses on x86 and ARM).
struct VnetHeader {
  uint8_t flags = 0;
  uint8_t gsoType = kVnetGsoNone;
  uint16_t hdrLen = 0;
  uint16_t gsoSize = 0;
  uint16_t csumStart = 0;
  uint16_t csumOffset = 0;
  bool operator==(const VnetHeader&) const = default;
};
VnetHeader parseVnetHeader(std::span<const uint8_t, kVnetHeaderSize> bytes);
void writeVnetHeader(const VnetHeader& h, std::span<uint8_t, kVnetHeaderSize> out);

// One's-complement sum (RFC 1071) of `data` added to `sum`, folded to 16 bits, host order, not
// complemented. `data` must start at an even offset of the checksummed range.
uint16_t checksumAdd(std::span<const uint8_t> data, uint16_t sum = 0);
// The TCP/UDP pseudo-header sum (not complemented) for an IPv4 packet.
uint16_t pseudoHeaderSum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4Length);
// True when the TCP checksum of the IPv4 packet `pkt` (header of `ihl` bytes) is valid.
bool tcpChecksumValid(std::span<const uint8_t> pkt, size_t ihl);

// The largest IP header + TCP header of a segment.
inline constexpr size_t kMaxSegmentHeaders = 60 + 60;
// Super-packets needing more segments than this are refused (gso_size below ~64 bytes).
inline constexpr size_t kMaxSegments = 1024;

// How to send a packet read from the TUN device (the bytes after its virtio-net header).
struct OutboundPlan {
  bool ok = false;
  bool gso = false;     // false: send `pkt` as it is (a partial checksum has been completed)
  size_t segments = 1;  // when gso: the segments to send, built by buildSegmentHeader()
  size_t headerLen = 0; // when gso: IP + TCP header
  size_t mss = 0;       // when gso: payload per segment (the last may be shorter)
};
// Validates the header against the packet; completes a partial checksum in place
// (VIRTIO_NET_HDR_F_NEEDS_CSUM); for a TCPv4 GSO packet returns the segment count and sizes.
// Only TCPv4 GSO is accepted (the device offers TSO4 only).
OutboundPlan planOutbound(const VnetHeader& vh, std::span<uint8_t> pkt);
// Writes the IP + TCP header of segment `index` (of plan.segments) into `hdrOut`, with length,
// IP ID, sequence number, flags and both checksums of that segment, and returns the header length;
// the segment's payload is `segmentPayload(pkt, plan, index)`.
size_t buildSegmentHeader(std::span<const uint8_t> pkt, const OutboundPlan& plan, size_t index,
                          std::span<uint8_t, kMaxSegmentHeaders> hdrOut);
std::span<const uint8_t> segmentPayload(std::span<const uint8_t> pkt, const OutboundPlan& plan,
                                        size_t index);

// Groups the inner packets of one received batch into TUN writes. add() every packet in arrival
// order (their memory must stay valid until the writes are done), then issue writes() in order:
// packets of one flow keep their order. A group of several segments is a TCPv4 GSO packet whose
// header (`header`) is the first segment's with the total length, IP checksum and PSH flag fixed,
// and the TCP checksum field holding the pseudo-header sum (VIRTIO_NET_HDR_F_NEEDS_CSUM); every
// segment's own TCP checksum was verified before it joined a group, since the kernel trusts a
// partial checksum. Anything else (non-TCP, SYN/FIN/RST/URG/CWR/ECE, out of order, IP options or
// fragments, a bad checksum, a lone segment) is written as it came, with an empty virtio-net
// header, and the kernel checks it as usual.
class InboundCoalescer {
public:
  struct Write {
    VnetHeader vnet;
    // For a merged group: the rewritten IP + TCP header, followed by the payload of every segment.
    // For a single packet: empty, and `payloads` holds the whole packet.
    std::array<uint8_t, kMaxSegmentHeaders> header{};
    size_t headerLen = 0;
    std::vector<std::span<const uint8_t>> payloads;
    size_t segments = 1;
    size_t innerBytes = 0; // sum of the original inner packets' lengths
  };

  // Segments merged into one write at most (the IP total length caps a group at 64 KiB anyway).
  static constexpr size_t kMaxGroup = 64;

  void clear();
  void add(std::span<const uint8_t> pkt);
  // Finishes the open groups and returns every write of the batch, in order; valid until the next
  // clear() or add().
  std::span<const Write> writes();

private:
  struct Open {
    size_t write = 0; // index into writes_
    std::span<const uint8_t> first; // the first segment: its headers are the reference
    uint32_t nextSeq = 0;
    size_t mss = 0;
    size_t totalLen = 0; // IP total length of the merged packet so far
    bool psh = false;
  };
  Write& newWrite();
  void finish(const Open& g);
  void closeFlow(std::span<const uint8_t> pkt);
  std::vector<Write> writes_; // [0, used_) are live; the rest keep their capacity for reuse
  size_t used_ = 0;
  std::vector<Open> open_;
};

} // namespace caracal::ipip
