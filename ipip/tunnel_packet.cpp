#include "ipip/tunnel_packet.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace caracal::ipip {

namespace {

constexpr uint8_t kProtoIpip = 4;
constexpr size_t kMinIpv4Header = 20;

uint32_t load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

void store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint32_t prefixMask(int prefix) {
  return prefix <= 0 ? 0 : (prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1));
}

// Header length in bytes when `pkt` starts with a plausible IPv4 header, else 0.
size_t ipv4HeaderLength(std::span<const uint8_t> pkt) {
  if (pkt.size() < kMinIpv4Header || (pkt[0] >> 4) != 4) {
    return 0;
  }
  size_t ihl = size_t{pkt[0] & 0x0fu} * 4;
  if (ihl < kMinIpv4Header || ihl > pkt.size()) {
    return 0;
  }
  return ihl;
}

} // namespace

uint32_t ipv4HostOrder(const api::IpAddr& a) { return load32(a.bytes.data()); }

api::IpAddr ipv4FromHostOrder(uint32_t a) {
  api::IpAddr out;
  out.family = 4;
  store32(out.bytes.data(), a);
  return out;
}

PeerTable::PeerTable(const std::vector<std::pair<api::IpNet, api::IpAddr>>& peers) {
  for (const auto& [net, node] : peers) {
    if (net.addr.family != 4 || node.family != 4 || net.prefix < 0 || net.prefix > 32) {
      continue;
    }
    auto it = std::find_if(levels_.begin(), levels_.end(),
                           [&](const Level& l) { return l.prefix == net.prefix; });
    if (it == levels_.end()) {
      levels_.push_back(Level{net.prefix, prefixMask(net.prefix), {}});
      it = levels_.end() - 1;
    }
    uint32_t nodeAddr = ipv4HostOrder(node);
    it->blocks[ipv4HostOrder(net.addr) & it->mask] = nodeAddr;
    nodes_.insert(nodeAddr);
  }
  std::sort(levels_.begin(), levels_.end(),
            [](const Level& a, const Level& b) { return a.prefix > b.prefix; });
  for (const auto& l : levels_) {
    size_ += l.blocks.size();
  }
}

std::optional<uint32_t> PeerTable::lookup(uint32_t innerDst) const {
  for (const auto& l : levels_) {
    auto it = l.blocks.find(innerDst & l.mask);
    if (it != l.blocks.end()) {
      return it->second;
    }
  }
  return std::nullopt;
}

OutboundPacket classifyOutbound(std::span<const uint8_t> pkt) {
  if (pkt.empty() || (pkt[0] >> 4) != 4) {
    return {OutboundVerdict::NotIpv4, 0};
  }
  size_t ihl = ipv4HeaderLength(pkt);
  if (ihl == 0 || load16(&pkt[2]) != pkt.size()) {
    return {OutboundVerdict::Malformed, 0};
  }
  return {OutboundVerdict::Send, load32(&pkt[16])};
}

InboundPacket classifyInbound(std::span<const uint8_t> datagram, const PeerTable& peers) {
  InboundPacket out;
  size_t outerLen = ipv4HeaderLength(datagram);
  if (outerLen == 0 || datagram[9] != kProtoIpip) {
    return out;
  }
  out.outerSrc = load32(&datagram[12]);
  if (!peers.isKnownPeer(out.outerSrc)) {
    out.verdict = InboundVerdict::UnknownSource;
    return out;
  }
  auto inner = datagram.subspan(outerLen);
  size_t innerHdr = ipv4HeaderLength(inner);
  if (innerHdr == 0) {
    return out;
  }
  size_t total = load16(&inner[2]);
  if (total < innerHdr || total > inner.size()) {
    return out;
  }
  if (ipv4HeaderChecksum(inner.first(innerHdr)) != 0) {
    return out;
  }
  out.inner = inner.first(total);
  out.verdict = InboundVerdict::Deliver;
  return out;
}

uint16_t ipv4HeaderChecksum(std::span<const uint8_t> hdr) {
  uint32_t sum = 0;
  size_t i = 0;
  for (; i + 1 < hdr.size(); i += 2) {
    sum += load16(&hdr[i]);
  }
  if (i < hdr.size()) {
    sum += uint32_t{hdr[i]} << 8;
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum);
}

std::vector<uint8_t> buildIpv4Packet(uint32_t src, uint32_t dst, uint8_t proto,
                                     std::span<const uint8_t> payload) {
  std::vector<uint8_t> pkt(kMinIpv4Header + payload.size());
  pkt[0] = 0x45;
  size_t total = pkt.size();
  pkt[2] = static_cast<uint8_t>(total >> 8);
  pkt[3] = static_cast<uint8_t>(total);
  pkt[8] = 64;
  pkt[9] = proto;
  store32(&pkt[12], src);
  store32(&pkt[16], dst);
  uint16_t csum = ipv4HeaderChecksum(std::span<const uint8_t>(pkt).first(kMinIpv4Header));
  pkt[10] = static_cast<uint8_t>(csum >> 8);
  pkt[11] = static_cast<uint8_t>(csum);
  if (!payload.empty()) {
    std::memcpy(pkt.data() + kMinIpv4Header, payload.data(), payload.size());
  }
  return pkt;
}

// ------------------------------------------------------------------------------------ offloads

namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kTcpCwr = 0x80;
constexpr size_t kTcpChecksumOffset = 16;

uint16_t loadLe16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

void storeLe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

uint16_t fold(uint64_t sum) {
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

size_t tcpHeaderLength(std::span<const uint8_t> pkt, size_t ihl) {
  if (pkt.size() < ihl + 20) {
    return 0;
  }
  size_t doff = static_cast<size_t>(pkt[ihl + 12] >> 4) * 4;
  return doff >= 20 && ihl + doff <= pkt.size() ? doff : 0;
}

// Same flow: addresses (IP bytes 12..19) and ports (first 4 bytes after a 20-byte IP header).
bool sameFlow(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return std::memcmp(&a[12], &b[12], 12) == 0;
}

} // namespace

VnetHeader parseVnetHeader(std::span<const uint8_t, kVnetHeaderSize> b) {
  VnetHeader h;
  h.flags = b[0];
  h.gsoType = b[1];
  h.hdrLen = loadLe16(&b[2]);
  h.gsoSize = loadLe16(&b[4]);
  h.csumStart = loadLe16(&b[6]);
  h.csumOffset = loadLe16(&b[8]);
  return h;
}

void writeVnetHeader(const VnetHeader& h, std::span<uint8_t, kVnetHeaderSize> out) {
  out[0] = h.flags;
  out[1] = h.gsoType;
  storeLe16(&out[2], h.hdrLen);
  storeLe16(&out[4], h.gsoSize);
  storeLe16(&out[6], h.csumStart);
  storeLe16(&out[8], h.csumOffset);
}

uint16_t checksumAdd(std::span<const uint8_t> data, uint16_t sum) {
  // Sums 32-bit words in memory order into 64 bits; the one's-complement sum is independent of
  // the byte order it is computed in, so one swap at the end turns it into network order.
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
  while (n >= 16) {
    uint64_t w0, w1;
    std::memcpy(&w0, p, 8);
    std::memcpy(&w1, p + 8, 8);
    acc += (w0 & 0xffffffffu) + (w0 >> 32) + (w1 & 0xffffffffu) + (w1 >> 32);
    p += 16;
    n -= 16;
  }
  while (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    // A trailing odd byte is the high byte of a network-order word.
    uint8_t pad[2] = {p[0], 0};
    uint16_t w;
    std::memcpy(&w, pad, 2);
    acc += w;
  }
  uint16_t folded = fold(acc);
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<uint16_t>((folded >> 8) | (folded << 8));
  }
  return fold(uint32_t{folded} + sum);
}

uint16_t pseudoHeaderSum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4Length) {
  return fold(uint64_t{src >> 16} + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto +
              l4Length);
}

bool tcpChecksumValid(std::span<const uint8_t> pkt, size_t ihl) {
  if (pkt.size() < ihl + 20 || pkt.size() - ihl > 0xffff) {
    return false;
  }
  auto l4 = pkt.subspan(ihl);
  uint16_t sum = pseudoHeaderSum(load32(&pkt[12]), load32(&pkt[16]), kProtoTcp,
                                 static_cast<uint16_t>(l4.size()));
  return checksumAdd(l4, sum) == 0xffff;
}

OutboundPlan planOutbound(const VnetHeader& vh, std::span<uint8_t> pkt) {
  OutboundPlan plan;
  size_t ihl = ipv4HeaderLength(pkt);
  if (ihl == 0) {
    return plan;
  }
  uint8_t gso = vh.gsoType & static_cast<uint8_t>(~kVnetGsoEcn);
  if (gso == kVnetGsoNone) {
    if ((vh.flags & kVnetNeedsCsum) != 0) {
      size_t start = vh.csumStart;
      size_t field = start + vh.csumOffset;
      if (start < ihl || (start % 2) != 0 || field + 2 > pkt.size()) {
        return plan;
      }
      // The field holds the pseudo-header sum, so the sum from `start` over it is the whole sum.
      // A computed 0 is sent as 0xffff (for UDP, 0 would mean "no checksum").
      auto csum = static_cast<uint16_t>(~checksumAdd(pkt.subspan(start)));
      store16(&pkt[field], csum == 0 ? 0xffff : csum);
    }
    plan.ok = true;
    return plan;
  }
  if (gso != kVnetGsoTcpv4 || pkt[9] != kProtoTcp || vh.gsoSize == 0) {
    return plan;
  }
  size_t doff = tcpHeaderLength(pkt, ihl);
  if (doff == 0) {
    return plan;
  }
  plan.headerLen = ihl + doff;
  plan.mss = vh.gsoSize;
  size_t payload = pkt.size() - plan.headerLen;
  plan.segments = payload == 0 ? 1 : (payload + plan.mss - 1) / plan.mss;
  if (plan.segments > kMaxSegments) {
    return plan;
  }
  plan.gso = true;
  plan.ok = true;
  return plan;
}

size_t buildSegmentHeader(std::span<const uint8_t> pkt, const OutboundPlan& plan, size_t index,
                          std::span<uint8_t, kMaxSegmentHeaders> hdr) {
  size_t ihl = size_t{pkt[0] & 0x0fu} * 4;
  size_t doff = plan.headerLen - ihl;
  auto payload = segmentPayload(pkt, plan, index);
  std::memcpy(hdr.data(), pkt.data(), plan.headerLen);

  store16(&hdr[2], static_cast<uint16_t>(plan.headerLen + payload.size()));
  store16(&hdr[4], static_cast<uint16_t>(load16(&pkt[4]) + index));
  store16(&hdr[10], 0);
  store16(&hdr[10], ipv4HeaderChecksum(hdr.first(ihl)));

  uint8_t* tcp = &hdr[ihl];
  store32(tcp + 4, load32(&pkt[ihl + 4]) + static_cast<uint32_t>(index * plan.mss));
  if (index + 1 != plan.segments) {
    tcp[13] = static_cast<uint8_t>(tcp[13] & ~(kTcpFin | kTcpPsh));
  }
  if (index != 0) {
    tcp[13] = static_cast<uint8_t>(tcp[13] & ~kTcpCwr);
  }
  store16(tcp + kTcpChecksumOffset, 0);
  uint16_t sum = pseudoHeaderSum(load32(&pkt[12]), load32(&pkt[16]), kProtoTcp,
                                 static_cast<uint16_t>(doff + payload.size()));
  sum = checksumAdd({tcp, doff}, sum);
  sum = checksumAdd(payload, sum);
  store16(tcp + kTcpChecksumOffset, static_cast<uint16_t>(~sum));
  return plan.headerLen;
}

std::span<const uint8_t> segmentPayload(std::span<const uint8_t> pkt, const OutboundPlan& plan,
                                        size_t index) {
  size_t off = plan.headerLen + index * plan.mss;
  if (off >= pkt.size()) {
    return {};
  }
  return pkt.subspan(off, std::min(plan.mss, pkt.size() - off));
}

// -------------------------------------------------------------------------------- coalescing

void InboundCoalescer::clear() {
  used_ = 0;
  open_.clear();
}

InboundCoalescer::Write& InboundCoalescer::newWrite() {
  if (used_ == writes_.size()) {
    writes_.emplace_back();
  }
  Write& w = writes_[used_++];
  w.vnet = VnetHeader{};
  w.headerLen = 0;
  w.payloads.clear();
  w.segments = 1;
  w.innerBytes = 0;
  return w;
}

void InboundCoalescer::closeFlow(std::span<const uint8_t> pkt) {
  // By addresses only: the packet may carry IP options or be a fragment without ports.
  size_t kept = 0;
  for (const Open& g : open_) {
    if (std::memcmp(&g.first[12], &pkt[12], 8) == 0) {
      finish(g);
    } else {
      open_[kept++] = g;
    }
  }
  open_.resize(kept);
}

void InboundCoalescer::add(std::span<const uint8_t> pkt) {
  // Candidates: plain IPv4 (no options, not a fragment) carrying a TCP segment with payload and
  // only ACK (and PSH, which ends a group), with a valid checksum.
  bool tcp = pkt.size() >= 20 && pkt[9] == kProtoTcp;
  size_t doff = tcp && pkt[0] == 0x45 ? tcpHeaderLength(pkt, 20) : 0;
  bool candidate = doff != 0 && pkt.size() > 20 + doff && (load16(&pkt[6]) & 0x3fff) == 0 &&
                   (pkt[33] & ~kTcpPsh) == kTcpAck && tcpChecksumValid(pkt, 20);
  if (!candidate) {
    if (tcp) {
      closeFlow(pkt); // keep the flow's order: what is open goes first
    }
    Write& w = newWrite();
    w.payloads.push_back(pkt);
    w.innerBytes = pkt.size();
    return;
  }
  size_t len = pkt.size() - 20 - doff;
  uint32_t seq = load32(&pkt[24]);
  bool psh = (pkt[33] & kTcpPsh) != 0;

  for (size_t i = 0; i < open_.size(); ++i) {
    Open& g = open_[i];
    if (!sameFlow(g.first, pkt)) {
      continue;
    }
    const auto& f = g.first;
    Write& w = writes_[g.write];
    bool fits = seq == g.nextSeq && len <= g.mss && g.totalLen + len <= 0xffff &&
                w.segments < kMaxGroup && pkt[1] == f[1] && pkt[8] == f[8] &&
                load16(&pkt[6]) == load16(&f[6]) && tcpHeaderLength(f, 20) == doff &&
                std::memcmp(&pkt[28], &f[28], 4) == 0 &&   // ack
                std::memcmp(&pkt[34], &f[34], 2) == 0 &&   // window
                std::memcmp(&pkt[40], &f[40], doff - 20) == 0; // options (timestamps)
    if (fits) {
      w.payloads.push_back(pkt.subspan(20 + doff));
      ++w.segments;
      w.innerBytes += pkt.size();
      g.nextSeq = seq + static_cast<uint32_t>(len);
      g.totalLen += len;
      g.psh = psh;
      if (psh || len < g.mss) {
        finish(g);
        open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(i));
      }
      return;
    }
    finish(g);
    open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(i));
    break;
  }

  Write& w = newWrite();
  w.payloads.push_back(pkt);
  w.innerBytes = pkt.size();
  if (!psh) {
    open_.push_back(Open{used_ - 1, pkt, seq + static_cast<uint32_t>(len), len, pkt.size(), false});
  }
}

void InboundCoalescer::finish(const Open& g) {
  Write& w = writes_[g.write];
  if (w.segments < 2) {
    return; // a lone segment goes as it came
  }
  const auto& f = g.first;
  size_t hdrLen = 20 + tcpHeaderLength(f, 20);
  std::memcpy(w.header.data(), f.data(), hdrLen);
  w.headerLen = hdrLen;
  w.payloads[0] = f.subspan(hdrLen);
  uint8_t* h = w.header.data();
  store16(&h[2], static_cast<uint16_t>(g.totalLen));
  store16(&h[10], 0);
  store16(&h[10], ipv4HeaderChecksum({h, 20}));
  if (g.psh) {
    h[33] = static_cast<uint8_t>(h[33] | kTcpPsh);
  }
  store16(&h[20 + kTcpChecksumOffset],
          pseudoHeaderSum(load32(&f[12]), load32(&f[16]), kProtoTcp,
                          static_cast<uint16_t>(g.totalLen - 20)));
  w.vnet.flags = kVnetNeedsCsum;
  w.vnet.gsoType = kVnetGsoTcpv4;
  w.vnet.hdrLen = static_cast<uint16_t>(hdrLen);
  w.vnet.gsoSize = static_cast<uint16_t>(g.mss);
  w.vnet.csumStart = 20;
  w.vnet.csumOffset = kTcpChecksumOffset;
}

std::span<const InboundCoalescer::Write> InboundCoalescer::writes() {
  for (const Open& g : open_) {
    finish(g);
  }
  open_.clear();
  return {writes_.data(), used_};
}

} // namespace caracal::ipip
