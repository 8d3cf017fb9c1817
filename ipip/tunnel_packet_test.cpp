#include "ipip/tunnel_packet.h"

#include <gtest/gtest.h>
#include <functional>
#include <random>

namespace caracal::ipip {
namespace {

uint32_t ip(const char* text) { return ipv4HostOrder(*api::parseIp(text)); }
api::IpNet net(const char* text) { return *api::parseCidr(text); }
api::IpAddr addr(const char* text) { return *api::parseIp(text); }

TEST(PeerTable, LongestPrefixWins) {
  PeerTable t({{net("10.244.0.0/16"), addr("10.0.0.1")},
               {net("10.244.1.0/26"), addr("10.0.0.2")},
               {net("10.244.1.0/28"), addr("10.0.0.3")}});
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.lookup(ip("10.244.1.5")), ip("10.0.0.3"));
  EXPECT_EQ(t.lookup(ip("10.244.1.17")), ip("10.0.0.2"));
  EXPECT_EQ(t.lookup(ip("10.244.1.64")), ip("10.0.0.1"));
  EXPECT_EQ(t.lookup(ip("10.244.200.1")), ip("10.0.0.1"));
  EXPECT_EQ(t.lookup(ip("10.245.0.1")), std::nullopt);
}

TEST(PeerTable, HostBitsInBlockAreIgnoredAndLastDuplicateWins) {
  PeerTable t({{net("10.244.1.7/26"), addr("10.0.0.1")}, {net("10.244.1.0/26"), addr("10.0.0.9")}});
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.lookup(ip("10.244.1.63")), ip("10.0.0.9"));
  EXPECT_EQ(t.lookup(ip("10.244.1.64")), std::nullopt);
}

TEST(PeerTable, DefaultRouteAndHostRoutes) {
  PeerTable t({{net("0.0.0.0/0"), addr("10.0.0.1")}, {net("10.244.1.1/32"), addr("10.0.0.2")}});
  EXPECT_EQ(t.lookup(ip("10.244.1.1")), ip("10.0.0.2"));
  EXPECT_EQ(t.lookup(ip("10.244.1.2")), ip("10.0.0.1"));
  EXPECT_EQ(t.lookup(ip("255.255.255.255")), ip("10.0.0.1"));
}

TEST(PeerTable, KnownPeersAndIpv6Ignored) {
  PeerTable t({{net("10.244.1.0/26"), addr("10.0.0.2")}, {net("fd00::/64"), addr("fd00::1")}});
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.isKnownPeer(ip("10.0.0.2")));
  EXPECT_FALSE(t.isKnownPeer(ip("10.0.0.3")));
  PeerTable empty;
  EXPECT_EQ(empty.lookup(ip("10.244.1.1")), std::nullopt);
  EXPECT_FALSE(empty.isKnownPeer(ip("10.0.0.2")));
}

TEST(Checksum, KnownHeader) {
  // The classic example header (RFC 1071 style walkthrough): checksum 0xb861.
  std::vector<uint8_t> hdr = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                              0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(ipv4HeaderChecksum(hdr), 0xb861);
  hdr[10] = 0xb8;
  hdr[11] = 0x61;
  EXPECT_EQ(ipv4HeaderChecksum(hdr), 0);
}

TEST(Outbound, ClassifiesByVersionAndLength) {
  std::vector<uint8_t> payload(8, 0xab);
  auto pkt = buildIpv4Packet(ip("10.244.1.1"), ip("10.244.2.1"), 17, payload);
  auto out = classifyOutbound(pkt);
  EXPECT_EQ(out.verdict, OutboundVerdict::Send);
  EXPECT_EQ(out.innerDst, ip("10.244.2.1"));

  std::vector<uint8_t> v6(40, 0);
  v6[0] = 0x60;
  EXPECT_EQ(classifyOutbound(v6).verdict, OutboundVerdict::NotIpv4);
  EXPECT_EQ(classifyOutbound({}).verdict, OutboundVerdict::NotIpv4);

  auto shortPkt = pkt;
  shortPkt.resize(19);
  EXPECT_EQ(classifyOutbound(shortPkt).verdict, OutboundVerdict::Malformed);
  auto badLen = pkt;
  badLen.push_back(0); // total length no longer matches what the device handed over
  EXPECT_EQ(classifyOutbound(badLen).verdict, OutboundVerdict::Malformed);
  auto badIhl = pkt;
  badIhl[0] = 0x44;
  EXPECT_EQ(classifyOutbound(badIhl).verdict, OutboundVerdict::Malformed);
}

class InboundTest : public ::testing::Test {
protected:
  PeerTable peers_{{{net("10.244.1.0/26"), addr("10.98.0.1")}}};
  std::vector<uint8_t> inner_ =
      buildIpv4Packet(ip("10.244.1.1"), ip("10.244.2.1"), 17, std::vector<uint8_t>(12, 0x5a));
  std::vector<uint8_t> outer(uint32_t src, const std::vector<uint8_t>& inner, uint8_t proto = 4) {
    return buildIpv4Packet(src, ip("10.98.0.2"), proto, inner);
  }
};

TEST_F(InboundTest, DeliversInnerPacketFromKnownPeer) {
  auto dgram = outer(ip("10.98.0.1"), inner_);
  auto in = classifyInbound(dgram, peers_);
  ASSERT_EQ(in.verdict, InboundVerdict::Deliver);
  EXPECT_EQ(in.outerSrc, ip("10.98.0.1"));
  EXPECT_EQ(std::vector<uint8_t>(in.inner.begin(), in.inner.end()), inner_);
}

TEST_F(InboundTest, OuterOptionsAreSkippedByIhl) {
  auto dgram = outer(ip("10.98.0.1"), inner_);
  // Insert 4 bytes of options (NOPs) and grow IHL; the outer checksum is not checked here (the
  // kernel did that before the raw socket saw the datagram).
  dgram.insert(dgram.begin() + 20, {1, 1, 1, 1});
  dgram[0] = 0x46;
  auto in = classifyInbound(dgram, peers_);
  ASSERT_EQ(in.verdict, InboundVerdict::Deliver);
  EXPECT_EQ(in.inner.size(), inner_.size());
}

TEST_F(InboundTest, TrailingBytesAreTrimmed) {
  auto dgram = outer(ip("10.98.0.1"), inner_);
  dgram.insert(dgram.end(), {0, 0, 0, 0});
  auto in = classifyInbound(dgram, peers_);
  ASSERT_EQ(in.verdict, InboundVerdict::Deliver);
  EXPECT_EQ(in.inner.size(), inner_.size());
}

TEST_F(InboundTest, UnknownSourceIsRejected) {
  auto in = classifyInbound(outer(ip("10.98.0.3"), inner_), peers_);
  EXPECT_EQ(in.verdict, InboundVerdict::UnknownSource);
  EXPECT_EQ(in.outerSrc, ip("10.98.0.3"));
}

TEST_F(InboundTest, MalformedInnerOrOuterIsRejected) {
  EXPECT_EQ(classifyInbound(outer(ip("10.98.0.1"), inner_, 17), peers_).verdict,
            InboundVerdict::Malformed);
  auto truncated = inner_;
  truncated.resize(inner_.size() - 1);
  EXPECT_EQ(classifyInbound(outer(ip("10.98.0.1"), truncated), peers_).verdict,
            InboundVerdict::Malformed);
  auto badSum = inner_;
  badSum[10] ^= 0xff;
  EXPECT_EQ(classifyInbound(outer(ip("10.98.0.1"), badSum), peers_).verdict,
            InboundVerdict::Malformed);
  auto v6 = inner_;
  v6[0] = 0x65;
  EXPECT_EQ(classifyInbound(outer(ip("10.98.0.1"), v6), peers_).verdict, InboundVerdict::Malformed);
  auto tinyTotal = inner_;
  tinyTotal[2] = 0;
  tinyTotal[3] = 10; // less than the header
  EXPECT_EQ(classifyInbound(outer(ip("10.98.0.1"), tinyTotal), peers_).verdict,
            InboundVerdict::Malformed);
  EXPECT_EQ(classifyInbound(std::vector<uint8_t>(10, 0x45), peers_).verdict,
            InboundVerdict::Malformed);
  EXPECT_EQ(classifyInbound(outer(ip("10.98.0.1"), {}), peers_).verdict, InboundVerdict::Malformed);
}

// ---------------------------------------------------------------------------------- offloads

// A straightforward RFC 1071 sum, independent of checksumAdd(): 16-bit words, end-around carry.
uint16_t referenceSum(const std::vector<uint8_t>& data) {
  uint32_t sum = 0;
  for (size_t i = 0; i < data.size(); i += 2) {
    sum += (uint32_t{data[i]} << 8) | (i + 1 < data.size() ? data[i + 1] : 0);
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

// Pseudo header + TCP/UDP segment of an IPv4 packet without options, summed by the reference.
uint16_t referenceL4Sum(const std::vector<uint8_t>& pkt) {
  std::vector<uint8_t> buf(pkt.begin() + 12, pkt.begin() + 20); // addresses
  size_t l4 = pkt.size() - 20;
  buf.insert(buf.end(), {0, pkt[9], static_cast<uint8_t>(l4 >> 8), static_cast<uint8_t>(l4)});
  buf.insert(buf.end(), pkt.begin() + 20, pkt.end());
  return referenceSum(buf);
}

uint16_t get16(const std::vector<uint8_t>& p, size_t off) {
  return static_cast<uint16_t>((p[off] << 8) | p[off + 1]);
}
uint32_t get32(const std::vector<uint8_t>& p, size_t off) {
  return (uint32_t{get16(p, off)} << 16) | get16(p, off + 2);
}
void put16(std::vector<uint8_t>& p, size_t off, uint16_t v) {
  p[off] = static_cast<uint8_t>(v >> 8);
  p[off + 1] = static_cast<uint8_t>(v);
}
void put32(std::vector<uint8_t>& p, size_t off, uint32_t v) {
  put16(p, off, static_cast<uint16_t>(v >> 16));
  put16(p, off + 2, static_cast<uint16_t>(v));
}

std::vector<uint8_t> randomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) {
    b = static_cast<uint8_t>(rng());
  }
  return out;
}

struct TcpSpec {
  uint32_t src = ip("10.244.1.1"), dst = ip("10.244.2.1");
  uint16_t sport = 40000, dport = 5201;
  uint32_t seq = 1000, ack = 7777;
  uint8_t flags = 0x10; // ACK
  uint16_t window = 512, ipId = 100;
  bool timestamps = true; // 12 bytes of options: NOP NOP TS
};

// An IPv4 (DF) + TCP packet with valid checksums.
std::vector<uint8_t> tcpPacket(const TcpSpec& t, const std::vector<uint8_t>& payload) {
  size_t doff = t.timestamps ? 32 : 20;
  std::vector<uint8_t> tcp(doff, 0);
  put16(tcp, 0, t.sport);
  put16(tcp, 2, t.dport);
  put32(tcp, 4, t.seq);
  put32(tcp, 8, t.ack);
  tcp[12] = static_cast<uint8_t>((doff / 4) << 4);
  tcp[13] = t.flags;
  put16(tcp, 14, t.window);
  if (t.timestamps) {
    tcp[20] = 1;
    tcp[21] = 1;
    tcp[22] = 8;
    tcp[23] = 10;
    put32(tcp, 24, 123456);
    put32(tcp, 28, 654321);
  }
  tcp.insert(tcp.end(), payload.begin(), payload.end());
  auto pkt = buildIpv4Packet(t.src, t.dst, 6, tcp);
  put16(pkt, 4, t.ipId);
  pkt[6] = 0x40; // DF
  put16(pkt, 10, 0);
  put16(pkt, 10, ipv4HeaderChecksum(std::span<const uint8_t>(pkt).first(20)));
  put16(pkt, 36, static_cast<uint16_t>(~referenceL4Sum(pkt)));
  return pkt;
}

TEST(Checksum, SumMatchesReferenceForAnyLengthAndSplit) {
  for (size_t len : {0u, 1u, 2u, 3u, 15u, 16u, 17u, 33u, 1480u, 1481u, 65535u}) {
    auto data = randomBytes(len, static_cast<unsigned>(len));
    EXPECT_EQ(checksumAdd(data), referenceSum(data)) << len;
    // Chaining over two pieces split at an even offset gives the same sum.
    size_t cut = (len / 3) & ~size_t{1};
    std::span<const uint8_t> all(data);
    EXPECT_EQ(checksumAdd(all.subspan(cut), checksumAdd(all.first(cut))), referenceSum(data))
        << len;
  }
  auto pkt = tcpPacket({}, randomBytes(100, 1));
  EXPECT_TRUE(tcpChecksumValid(pkt, 20));
  pkt[60] ^= 1;
  EXPECT_FALSE(tcpChecksumValid(pkt, 20));
}

TEST(Checksum, VnetHeaderIsLittleEndian) {
  VnetHeader h{kVnetNeedsCsum, kVnetGsoTcpv4, 52, 1448, 20, 16};
  std::array<uint8_t, kVnetHeaderSize> bytes{};
  writeVnetHeader(h, bytes);
  EXPECT_EQ(bytes, (std::array<uint8_t, kVnetHeaderSize>{1, 1, 52, 0, 0xa8, 0x05, 20, 0, 16, 0}));
  EXPECT_EQ(parseVnetHeader(bytes), h);
}

TEST(Outbound, PartialChecksumIsCompleted) {
  // UDP with the pseudo-header sum in the checksum field, as the device hands it over.
  std::vector<uint8_t> udp = {0x9c, 0x40, 0x00, 0x35, 0x00, 0x0d, 0, 0, 'h', 'e', 'l', 'l', 'o'};
  auto pkt = buildIpv4Packet(ip("10.244.1.1"), ip("10.244.2.1"), 17, udp);
  auto pseudo = pseudoHeaderSum(ip("10.244.1.1"), ip("10.244.2.1"), 17, 13);
  put16(pkt, 26, pseudo);
  VnetHeader vh{kVnetNeedsCsum, kVnetGsoNone, 0, 0, 20, 6};
  auto plan = planOutbound(vh, pkt);
  ASSERT_TRUE(plan.ok);
  EXPECT_FALSE(plan.gso);
  EXPECT_EQ(referenceL4Sum(pkt), 0xffff) << "UDP checksum does not verify";

  // Without NEEDS_CSUM the packet is left alone; a checksum field outside the packet is refused.
  auto copy = pkt;
  EXPECT_TRUE(planOutbound(VnetHeader{}, copy).ok);
  EXPECT_EQ(copy, pkt);
  vh.csumOffset = static_cast<uint16_t>(pkt.size());
  EXPECT_FALSE(planOutbound(vh, pkt).ok);
}

// Cuts a super-packet with planOutbound/buildSegmentHeader into whole packets.
std::vector<std::vector<uint8_t>> segment(std::vector<uint8_t>& super, uint16_t mss) {
  VnetHeader vh{kVnetNeedsCsum, kVnetGsoTcpv4, 52, mss, 20, 16};
  auto plan = planOutbound(vh, super);
  EXPECT_TRUE(plan.ok && plan.gso);
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i < plan.segments; ++i) {
    std::array<uint8_t, kMaxSegmentHeaders> hdr{};
    size_t n = buildSegmentHeader(super, plan, i, hdr);
    std::vector<uint8_t> pkt(hdr.begin(), hdr.begin() + static_cast<std::ptrdiff_t>(n));
    auto payload = segmentPayload(super, plan, i);
    pkt.insert(pkt.end(), payload.begin(), payload.end());
    out.push_back(std::move(pkt));
  }
  return out;
}

TEST(Outbound, SuperPacketIsCutIntoValidSegments) {
  TcpSpec t;
  t.flags = 0x80 | 0x10 | 0x08 | 0x01; // CWR ACK PSH FIN
  auto payload = randomBytes(4000, 7);
  auto super = tcpPacket(t, payload);
  // The device leaves the TCP checksum partial (pseudo-header sum); segmentation ignores it.
  put16(super, 36, 0x1234);
  auto segs = segment(super, 1448);
  ASSERT_EQ(segs.size(), 3u);
  std::vector<uint8_t> joined;
  for (size_t i = 0; i < segs.size(); ++i) {
    const auto& s = segs[i];
    size_t len = i < 2 ? 1448 : 4000 - 2 * 1448;
    ASSERT_EQ(s.size(), 20 + 32 + len);
    EXPECT_EQ(get16(s, 2), s.size()) << "IP total length of segment " << i;
    EXPECT_EQ(get16(s, 4), 100 + i) << "IP ID";
    EXPECT_EQ(s[6], 0x40) << "DF kept";
    EXPECT_EQ(ipv4HeaderChecksum(std::span<const uint8_t>(s).first(20)), 0);
    EXPECT_EQ(get32(s, 24), 1000 + i * 1448) << "sequence number";
    EXPECT_EQ(get32(s, 28), 7777u);
    uint8_t want = 0x10 | (i == 0 ? 0x80 : 0) | (i == 2 ? 0x09 : 0);
    EXPECT_EQ(s[33], want) << "flags of segment " << i;
    EXPECT_TRUE(std::equal(s.begin() + 40, s.begin() + 52, super.begin() + 40)) << "options";
    EXPECT_EQ(referenceL4Sum(s), 0xffff) << "TCP checksum of segment " << i;
    joined.insert(joined.end(), s.begin() + 52, s.end());
  }
  EXPECT_EQ(joined, payload);
}

TEST(Outbound, UnsupportedOffloadsAreRefused) {
  auto super = tcpPacket({}, randomBytes(3000, 3));
  EXPECT_FALSE(planOutbound(VnetHeader{0, 3 /* UDP */, 0, 1448, 0, 0}, super).ok);
  EXPECT_FALSE(planOutbound(VnetHeader{0, 4 /* TCPV6 */, 0, 1448, 0, 0}, super).ok);
  EXPECT_FALSE(planOutbound(VnetHeader{0, kVnetGsoTcpv4, 0, 0, 0, 0}, super).ok);
  EXPECT_FALSE(planOutbound(VnetHeader{0, kVnetGsoTcpv4, 0, 2, 0, 0}, super).ok)
      << "more than kMaxSegments segments";
  auto udp = buildIpv4Packet(ip("10.244.1.1"), ip("10.244.2.1"), 17, randomBytes(3000, 4));
  EXPECT_FALSE(planOutbound(VnetHeader{0, kVnetGsoTcpv4, 0, 1448, 0, 0}, udp).ok);
  auto ecn = planOutbound(VnetHeader{0, kVnetGsoTcpv4 | kVnetGsoEcn, 0, 1448, 0, 0}, super);
  EXPECT_TRUE(ecn.ok && ecn.gso && ecn.segments == 3);
}

// The bytes one coalescer write hands to the device, without the virtio-net header.
std::vector<uint8_t> bytesOf(const InboundCoalescer::Write& w) {
  std::vector<uint8_t> out(w.header.begin(),
                           w.header.begin() + static_cast<std::ptrdiff_t>(w.headerLen));
  for (auto p : w.payloads) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

TEST(Inbound, SegmentsOfAFlowAreMergedIntoOneGsoWrite) {
  TcpSpec t;
  t.flags = 0x18; // ACK PSH on the super-packet: only the last segment carries PSH
  auto payload = randomBytes(4000, 9);
  auto super = tcpPacket(t, payload);
  auto segs = segment(super, 1448);
  InboundCoalescer c;
  for (const auto& s : segs) {
    c.add(s);
  }
  auto writes = c.writes();
  ASSERT_EQ(writes.size(), 1u);
  const auto& w = writes[0];
  EXPECT_EQ(w.segments, 3u);
  EXPECT_EQ(w.innerBytes, segs[0].size() + segs[1].size() + segs[2].size());
  EXPECT_EQ(w.vnet, (VnetHeader{kVnetNeedsCsum, kVnetGsoTcpv4, 52, 1448, 20, 16}));
  auto merged = bytesOf(w);
  ASSERT_EQ(merged.size(), super.size());
  EXPECT_EQ(get16(merged, 2), super.size());
  EXPECT_EQ(ipv4HeaderChecksum(std::span<const uint8_t>(merged).first(20)), 0);
  EXPECT_EQ(merged[33], 0x18) << "PSH of the last segment";
  EXPECT_EQ(get16(merged, 36),
            pseudoHeaderSum(t.src, t.dst, 6, static_cast<uint16_t>(super.size() - 20)))
      << "partial checksum: the pseudo-header sum";
  EXPECT_TRUE(std::equal(merged.begin() + 52, merged.end(), payload.begin()));
  // Everything but the checksum fields and IP ID equals the original super-packet.
  auto a = merged, b = super;
  for (size_t off : {4, 10, 36}) {
    put16(a, off, 0);
    put16(b, off, 0);
  }
  EXPECT_EQ(a, b);
}

TEST(Inbound, UnmergeablePacketsGoAloneInArrivalOrder) {
  TcpSpec t;
  auto mk = [&](uint32_t seq, size_t len, unsigned seed) {
    TcpSpec s = t;
    s.seq = seq;
    return tcpPacket(s, randomBytes(len, seed));
  };
  auto s1 = mk(1000, 1000, 1), s2 = mk(2000, 1000, 2), s3 = mk(3000, 1000, 3);
  auto bad = s2;
  bad[100] ^= 0xff; // payload corrupted: the TCP checksum no longer verifies
  auto udp = buildIpv4Packet(t.src, t.dst, 17, randomBytes(20, 4));

  InboundCoalescer c;
  for (const auto* p : {&s1, &bad, &s3, &udp}) {
    c.add(*p);
  }
  auto writes = c.writes();
  ASSERT_EQ(writes.size(), 4u);
  const std::vector<uint8_t>* want[] = {&s1, &bad, &s3, &udp};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(writes[i].segments, 1u);
    EXPECT_EQ(writes[i].vnet, VnetHeader{}) << "the kernel checks a lone packet itself";
    EXPECT_EQ(bytesOf(writes[i]), *want[i]) << i;
  }

  // Out of order: s1 s3 s2 are three writes in that order; a gap never merges.
  c.clear();
  for (const auto* p : {&s1, &s3, &s2}) {
    c.add(*p);
  }
  writes = c.writes();
  ASSERT_EQ(writes.size(), 3u);
  EXPECT_EQ(bytesOf(writes[0]), s1);
  EXPECT_EQ(bytesOf(writes[1]), s3);
  EXPECT_EQ(bytesOf(writes[2]), s2);

  // A pure ACK of the flow ends the open group and follows it.
  c.clear();
  TcpSpec ackOnly = t;
  ackOnly.seq = 3000;
  auto pureAck = tcpPacket(ackOnly, {});
  for (const auto* p : {&s1, &s2, &pureAck, &s3}) {
    c.add(*p);
  }
  writes = c.writes();
  ASSERT_EQ(writes.size(), 3u);
  EXPECT_EQ(writes[0].segments, 2u);
  EXPECT_EQ(bytesOf(writes[1]), pureAck);
  EXPECT_EQ(bytesOf(writes[2]), s3);
}

TEST(Inbound, FlowsAreMergedSeparatelyAndHeadersMustMatch) {
  TcpSpec a, b;
  b.sport = 40001;
  auto mk = [](TcpSpec s, uint32_t seq, unsigned seed) {
    s.seq = seq;
    return tcpPacket(s, randomBytes(500, seed));
  };
  auto a1 = mk(a, 0, 1), b1 = mk(b, 0, 2), a2 = mk(a, 500, 3), b2 = mk(b, 500, 4);
  InboundCoalescer c;
  for (const auto* p : {&a1, &b1, &a2, &b2}) {
    c.add(*p);
  }
  auto writes = c.writes();
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].segments, 2u);
  EXPECT_EQ(get16(bytesOf(writes[0]), 20), 40000);
  EXPECT_EQ(writes[1].segments, 2u);
  EXPECT_EQ(get16(bytesOf(writes[1]), 20), 40001);

  // A different ack number, window, timestamp, TTL, a SYN/FIN/URG or a longer segment after a
  // shorter one: never merged.
  auto variants = std::vector<std::function<void(TcpSpec&, std::vector<uint8_t>&)>>{
      [](TcpSpec& s, std::vector<uint8_t>&) { s.ack += 1; },
      [](TcpSpec& s, std::vector<uint8_t>&) { s.window += 1; },
      [](TcpSpec& s, std::vector<uint8_t>&) { s.flags = 0x11; },
      [](TcpSpec& s, std::vector<uint8_t>&) { s.flags = 0x30; },
      [](TcpSpec&, std::vector<uint8_t>& p) { p.resize(600); },
  };
  for (size_t v = 0; v < variants.size(); ++v) {
    TcpSpec s = a;
    s.seq = 500;
    std::vector<uint8_t> payload = randomBytes(500, 5);
    variants[v](s, payload);
    auto second = tcpPacket(s, payload);
    c.clear();
    c.add(a1);
    c.add(second);
    EXPECT_EQ(c.writes().size(), 2u) << "variant " << v;
  }
  TcpSpec s = a;
  s.seq = 500;
  auto ttl = tcpPacket(s, randomBytes(500, 6));
  ttl[8] = 63;
  put16(ttl, 10, 0);
  put16(ttl, 10, ipv4HeaderChecksum(std::span<const uint8_t>(ttl).first(20)));
  c.clear();
  c.add(a1);
  c.add(ttl);
  EXPECT_EQ(c.writes().size(), 2u) << "TTL differs";
}

} // namespace
} // namespace caracal::ipip
