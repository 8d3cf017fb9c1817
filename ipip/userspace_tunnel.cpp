#include "ipip/userspace_tunnel.h"

#include "ipip/tunnel_packet.h"
#include "netlink/fd.h"
#include "netlink/netlink.h"

#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <memory>
#include <mutex>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace caracal::ipip {

namespace {

// Datagrams taken from the raw socket per recvmmsg(), and the slot of each: large enough for any
// IPv4 datagram (the raw socket hands over reassembled ones). Only received bytes are touched.
constexpr int kRecvBatch = 64;
constexpr size_t kRecvSlot = 65536;
// Reads from the device per wake-up, before the stop event and the peer table are looked at again.
constexpr int kReadBudget = 64;
// Device reads kept before one sendmmsg(): each is a virtio-net header plus up to 64 KiB.
constexpr int kReadSlots = 8;
constexpr size_t kReadSlot = kVnetHeaderSize + 65536;
// Messages queued for one flush; a super-packet always fits after a flush.
constexpr size_t kMaxMessages = 2 * kMaxSegments;
constexpr int kSocketBuffer = 4 << 20;

Status errnoStatus(const std::string& what, int err) {
  return Status(Code::Internal, what + ": " + std::strerror(err));
}

using netlink::Fd;

ifreq namedIfreq(const std::string& name) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  return ifr;
}

void setBuffer(int fd, int forceOpt, int opt, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, forceOpt, &bytes, sizeof(bytes)) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
  }
}

struct Counters {
  std::atomic<uint64_t> txPackets{0}, txBytes{0}, rxPackets{0}, rxBytes{0};
  std::atomic<uint64_t> dropNoPeer{0}, dropUnknownSrc{0}, dropMalformed{0}, dropNotIpv4{0};
  std::atomic<uint64_t> txErrors{0}, rxErrors{0}, txGsoPackets{0}, rxGsoWrites{0};
};

void bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

// Makes `want` the only IPv4 address of the device: adds it first, then deletes every other one,
// so the device is never without it. (SIOCSIFADDR would briefly install a classful prefix route
// when the address changes on an up device.)
Status syncIpv4Address(netlink::Socket& nl, int ifindex, const api::IpNet& want) {
  if (want.addr.family != 4 || want.prefix < 0 || want.prefix > 32) {
    return Status(Code::Invalid, "tunnel address must be IPv4: " + want.str());
  }
  RETURN_IF_ERROR(nl.addAddress(netlink::Address{ifindex, want, 0}));
  ASSIGN_OR_RETURN(auto existing, nl.addresses(4, ifindex));
  for (const auto& a : existing) {
    if (a.net.addr == want.addr && a.net.prefix == want.prefix) {
      continue;
    }
    RETURN_IF_ERROR(nl.deleteAddress(a).withContext("deleting stale tunnel address"));
  }
  return {};
}

// Buffers of the device-to-socket direction: device reads, and the messages built from them.
struct OutboundBuffers {
  // Uninitialised on purpose: only the bytes of read packets are ever touched.
  std::unique_ptr<uint8_t[]> slots{new uint8_t[kReadSlots * kReadSlot]};
  int slotsUsed = 0;
  std::vector<mmsghdr> msgs = std::vector<mmsghdr>(kMaxMessages);
  std::vector<iovec> iovs = std::vector<iovec>(2 * kMaxMessages);
  std::vector<std::array<uint8_t, kMaxSegmentHeaders>> headers =
      std::vector<std::array<uint8_t, kMaxSegmentHeaders>>(kMaxMessages);
  std::vector<size_t> lengths = std::vector<size_t>(kMaxMessages);
  std::vector<sockaddr_in> dsts = std::vector<sockaddr_in>(kReadSlots);
  size_t queued = 0;
};

// Buffers of the socket-to-device direction.
struct InboundBuffers {
  std::unique_ptr<uint8_t[]> slots{new uint8_t[kRecvBatch * kRecvSlot]};
  mmsghdr msgs[kRecvBatch];
  iovec iovs[kRecvBatch];
  InboundCoalescer coalescer;
  std::vector<iovec> writeIov = std::vector<iovec>(InboundCoalescer::kMaxGroup + 2);
};

} // namespace

struct UserspaceTunnel::Impl {
  TunnelOptions opts;
  Fd tun, raw, stopEvent;
  int ifindex = 0;
  std::thread outboundWorker, inboundWorker;
  std::mutex stopMu;
  bool stopped = false;

  std::mutex peersMu;
  std::shared_ptr<const PeerTable> peers = std::make_shared<PeerTable>();
  std::atomic<uint64_t> peersGen{0};

  Counters counters;

  Status setUpDevice();
  Status openRawSocket();
  // The loop of one direction's thread: device -> socket (outbound) or socket -> device.
  void run(bool outbound);
  void forwardOutbound(OutboundBuffers& b, const PeerTable& table);
  void queueOutbound(OutboundBuffers& b, uint8_t* slot, size_t n, const PeerTable& table);
  void flushOutbound(OutboundBuffers& b);
  void forwardInbound(InboundBuffers& b, const PeerTable& table);
  void writeToDevice(InboundBuffers& b, const InboundCoalescer::Write& w);
};

Status UserspaceTunnel::Impl::setUpDevice() {
  const std::string& name = opts.ifname;
  tun = Fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (tun.get() < 0) {
    return errnoStatus("opening /dev/net/tun", errno);
  }
  ifreq ifr = namedIfreq(name);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(tun.get(), TUNSETIFF, &ifr) != 0) {
    int err = errno;
    std::string hint;
    if (err == EBUSY) {
      hint = " (the device is attached to another process)";
    } else if (err == EINVAL || err == EPERM) {
      hint = " (a device with this name exists and is not a TUN device: kernel ipip?)";
    }
    return errnoStatus("attaching TUN device " + name + hint, err);
  }
  if (ioctl(tun.get(), TUNSETPERSIST, 1) != 0) {
    return errnoStatus("making " + name + " persistent", errno);
  }
  // A reused device may carry another header size or other offloads from a previous owner.
  int hdrSize = static_cast<int>(kVnetHeaderSize);
  if (ioctl(tun.get(), TUNSETVNETHDRSZ, &hdrSize) != 0) {
    return errnoStatus("setting the virtio-net header size of " + name, errno);
  }
  unsigned long offloads = opts.offloads ? TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN : 0;
  if (ioctl(tun.get(), TUNSETOFFLOAD, offloads) != 0) {
    return errnoStatus("setting offloads on " + name, errno);
  }

  ASSIGN_OR_RETURN(auto nl, netlink::Socket::open());
  ASSIGN_OR_RETURN(auto link, nl->link(name));
  ifindex = link.index;

  // IPIP carries IPv4 only; without IPv6 on the device the kernel sends it no router solicitations
  // or MLD reports to discard. Best effort: the path is per namespace and may be read-only.
  (void)netlink::setSysctl(netlink::confPath(6, name, "disable_ipv6"), "1");

  RETURN_IF_ERROR(nl->setMtu(name, opts.mtu));
  if (opts.txQueueLen != 0) {
    // No rtnetlink call for it in netlink/netlink.h; the ioctl is equivalent.
    Fd ctl(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (ctl.get() < 0) {
      return errnoStatus("opening control socket", errno);
    }
    ifr = namedIfreq(name);
    ifr.ifr_qlen = static_cast<int>(opts.txQueueLen);
    if (ioctl(ctl.get(), SIOCSIFTXQLEN, &ifr) != 0) {
      return errnoStatus("setting txqueuelen on " + name, errno);
    }
  }
  if (opts.tunnelAddr) {
    RETURN_IF_ERROR(
        syncIpv4Address(*nl, ifindex, *opts.tunnelAddr).withContext("setting address on " + name));
  }
  if (!link.up) {
    RETURN_IF_ERROR(nl->setUp(name));
  }
  return {};
}

Status UserspaceTunnel::Impl::openRawSocket() {
  raw = Fd(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IPIP));
  if (raw.get() < 0) {
    return errnoStatus("opening raw IPPROTO_IPIP socket", errno);
  }
  sockaddr_in local{};
  local.sin_family = AF_INET;
  std::memcpy(&local.sin_addr, opts.local.bytes.data(), 4);
  if (::bind(raw.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    return errnoStatus("binding raw socket to " + opts.local.str(), errno);
  }
  setBuffer(raw.get(), SO_RCVBUFFORCE, SO_RCVBUF, kSocketBuffer);
  setBuffer(raw.get(), SO_SNDBUFFORCE, SO_SNDBUF, kSocketBuffer);
  return {};
}

void UserspaceTunnel::Impl::forwardOutbound(OutboundBuffers& b, const PeerTable& table) {
  for (int i = 0; i < kReadBudget; ++i) {
    if (b.slotsUsed == kReadSlots || b.queued + kMaxSegments > kMaxMessages) {
      flushOutbound(b);
    }
    uint8_t* slot = b.slots.get() + static_cast<size_t>(b.slotsUsed) * kReadSlot;
    ssize_t n = ::read(tun.get(), slot, kReadSlot);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      break; // EAGAIN: drained (other errors: the device went away; poll reports it)
    }
    queueOutbound(b, slot, static_cast<size_t>(n), table);
  }
  flushOutbound(b);
}

// Classifies one read from the device and queues the inner packet(s) it yields. The slot stays in
// use until the next flush when anything was queued from it.
void UserspaceTunnel::Impl::queueOutbound(OutboundBuffers& b, uint8_t* slot, size_t n,
                                          const PeerTable& table) {
  if (n < kVnetHeaderSize || n >= kReadSlot) {
    bump(counters.dropMalformed);
    return;
  }
  VnetHeader vh = parseVnetHeader(std::span<const uint8_t, kVnetHeaderSize>(slot, kVnetHeaderSize));
  std::span<uint8_t> pkt(slot + kVnetHeaderSize, n - kVnetHeaderSize);
  auto cls = classifyOutbound(pkt);
  if (cls.verdict == OutboundVerdict::NotIpv4) {
    bump(counters.dropNotIpv4);
    return;
  }
  if (cls.verdict != OutboundVerdict::Send) {
    bump(counters.dropMalformed);
    return;
  }
  auto node = table.lookup(cls.innerDst);
  if (!node) {
    bump(counters.dropNoPeer);
    return;
  }
  OutboundPlan plan = planOutbound(vh, pkt);
  if (!plan.ok) {
    bump(counters.dropMalformed);
    return;
  }
  sockaddr_in& dst = b.dsts[static_cast<size_t>(b.slotsUsed)];
  dst = sockaddr_in{};
  dst.sin_family = AF_INET;
  dst.sin_addr.s_addr = htonl(*node);
  ++b.slotsUsed;

  auto queue = [&](size_t iovCount, size_t bytes) {
    mmsghdr& m = b.msgs[b.queued];
    m = mmsghdr{};
    m.msg_hdr.msg_name = &dst;
    m.msg_hdr.msg_namelen = sizeof(dst);
    m.msg_hdr.msg_iov = &b.iovs[2 * b.queued];
    m.msg_hdr.msg_iovlen = iovCount;
    b.lengths[b.queued] = bytes;
    ++b.queued;
  };
  if (!plan.gso) {
    b.iovs[2 * b.queued] = iovec{pkt.data(), pkt.size()};
    queue(1, pkt.size());
    return;
  }
  bump(counters.txGsoPackets);
  for (size_t i = 0; i < plan.segments; ++i) {
    auto& hdr = b.headers[b.queued];
    size_t hdrLen = buildSegmentHeader(pkt, plan, i, hdr);
    auto payload = segmentPayload(pkt, plan, i);
    b.iovs[2 * b.queued] = iovec{hdr.data(), hdrLen};
    b.iovs[2 * b.queued + 1] = iovec{const_cast<uint8_t*>(payload.data()), payload.size()};
    queue(2, hdrLen + payload.size());
  }
}

void UserspaceTunnel::Impl::flushOutbound(OutboundBuffers& b) {
  size_t off = 0;
  while (off < b.queued) {
    int sent = ::sendmmsg(raw.get(), b.msgs.data() + off, static_cast<unsigned>(b.queued - off), 0);
    if (sent < 0) {
      if (errno == EINTR) {
        continue;
      }
      // The first remaining message failed (e.g. no route to that node): skip just that one.
      bump(counters.txErrors);
      ++off;
      continue;
    }
    uint64_t bytes = 0;
    for (size_t i = off; i < off + static_cast<size_t>(sent); ++i) {
      bytes += b.lengths[i];
    }
    bump(counters.txPackets, static_cast<uint64_t>(sent));
    bump(counters.txBytes, bytes);
    off += static_cast<size_t>(sent);
  }
  b.queued = 0;
  b.slotsUsed = 0;
}

void UserspaceTunnel::Impl::forwardInbound(InboundBuffers& b, const PeerTable& table) {
  for (int i = 0; i < kRecvBatch; ++i) {
    b.iovs[i] = iovec{b.slots.get() + static_cast<size_t>(i) * kRecvSlot, kRecvSlot};
    b.msgs[i] = mmsghdr{};
    b.msgs[i].msg_hdr.msg_iov = &b.iovs[i];
    b.msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int got = ::recvmmsg(raw.get(), b.msgs, kRecvBatch, MSG_DONTWAIT, nullptr);
  b.coalescer.clear();
  for (int i = 0; i < got; ++i) {
    if ((b.msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
      bump(counters.dropMalformed);
      continue;
    }
    auto pkt =
        classifyInbound({static_cast<uint8_t*>(b.iovs[i].iov_base), b.msgs[i].msg_len}, table);
    if (pkt.verdict == InboundVerdict::UnknownSource) {
      bump(counters.dropUnknownSrc);
      continue;
    }
    if (pkt.verdict != InboundVerdict::Deliver) {
      bump(counters.dropMalformed);
      continue;
    }
    if (opts.offloads) {
      b.coalescer.add(pkt.inner);
    } else {
      InboundCoalescer::Write single;
      single.payloads.push_back(pkt.inner);
      single.innerBytes = pkt.inner.size();
      writeToDevice(b, single);
    }
  }
  if (opts.offloads) {
    for (const auto& w : b.coalescer.writes()) {
      writeToDevice(b, w);
    }
  }
}

void UserspaceTunnel::Impl::writeToDevice(InboundBuffers& b, const InboundCoalescer::Write& w) {
  uint8_t vnet[kVnetHeaderSize];
  writeVnetHeader(w.vnet, vnet);
  size_t n = 0;
  b.writeIov[n++] = iovec{vnet, sizeof(vnet)};
  if (w.headerLen != 0) {
    b.writeIov[n++] = iovec{const_cast<uint8_t*>(w.header.data()), w.headerLen};
  }
  for (const auto& p : w.payloads) {
    b.writeIov[n++] = iovec{const_cast<uint8_t*>(p.data()), p.size()};
  }
  if (::writev(tun.get(), b.writeIov.data(), static_cast<int>(n)) < 0) {
    bump(counters.rxErrors, w.segments);
    return;
  }
  if (w.segments > 1) {
    bump(counters.rxGsoWrites);
  }
  bump(counters.rxPackets, w.segments);
  bump(counters.rxBytes, w.innerBytes);
}

void UserspaceTunnel::Impl::run(bool outbound) {
  std::string threadName = (std::string(outbound ? "ipip-tx-" : "ipip-rx-") + opts.ifname);
  pthread_setname_np(pthread_self(), threadName.substr(0, 15).c_str());

  std::unique_ptr<OutboundBuffers> out;
  std::unique_ptr<InboundBuffers> in;
  if (outbound) {
    out = std::make_unique<OutboundBuffers>();
  } else {
    in = std::make_unique<InboundBuffers>();
  }
  std::shared_ptr<const PeerTable> table;
  uint64_t seenGen = ~uint64_t{0};
  pollfd fds[2] = {{outbound ? tun.get() : raw.get(), POLLIN, 0}, {stopEvent.get(), POLLIN, 0}};
  for (;;) {
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    if ((fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
      return; // the device was deleted under us
    }
    uint64_t gen = peersGen.load(std::memory_order_acquire);
    if (gen != seenGen) {
      std::lock_guard<std::mutex> lock(peersMu);
      table = peers;
      seenGen = gen;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      if (outbound) {
        forwardOutbound(*out, *table);
      } else {
        forwardInbound(*in, *table);
      }
    }
  }
}

Result<std::unique_ptr<UserspaceTunnel>> UserspaceTunnel::start(const TunnelOptions& opts) {
  if (opts.ifname.empty() || opts.ifname.size() >= IFNAMSIZ) {
    return Status(Code::Invalid, "tunnel device name must have 1.." + std::to_string(IFNAMSIZ - 1) +
                                     " characters");
  }
  if (opts.local.family != 4) {
    return Status(Code::Invalid, "tunnel needs the local IPv4 underlay address");
  }
  if (opts.mtu < 68 || opts.mtu > 65515) {
    return Status(Code::Invalid, "tunnel MTU out of range: " + std::to_string(opts.mtu));
  }
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  RETURN_IF_ERROR(impl->setUpDevice());
  RETURN_IF_ERROR(impl->openRawSocket());
  impl->stopEvent = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (impl->stopEvent.get() < 0) {
    return errnoStatus("creating eventfd", errno);
  }
  Impl* raw = impl.get();
  impl->outboundWorker = std::thread([raw] { raw->run(true); });
  impl->inboundWorker = std::thread([raw] { raw->run(false); });
  std::unique_ptr<UserspaceTunnel> t(new UserspaceTunnel());
  t->impl_ = std::move(impl);
  return t;
}

UserspaceTunnel::~UserspaceTunnel() {
  if (impl_) {
    stop(false);
  }
}

void UserspaceTunnel::setPeers(std::vector<std::pair<api::IpNet, api::IpAddr>> peers) {
  auto table = std::make_shared<const PeerTable>(peers);
  std::lock_guard<std::mutex> lock(impl_->peersMu);
  impl_->peers = std::move(table);
  impl_->peersGen.fetch_add(1, std::memory_order_release);
}

TunnelStats UserspaceTunnel::stats() const {
  const Counters& c = impl_->counters;
  auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  TunnelStats s;
  s.txPackets = get(c.txPackets);
  s.txBytes = get(c.txBytes);
  s.rxPackets = get(c.rxPackets);
  s.rxBytes = get(c.rxBytes);
  s.dropNoPeer = get(c.dropNoPeer);
  s.dropUnknownSrc = get(c.dropUnknownSrc);
  s.dropMalformed = get(c.dropMalformed);
  s.dropNotIpv4 = get(c.dropNotIpv4);
  s.txErrors = get(c.txErrors);
  s.rxErrors = get(c.rxErrors);
  s.txGsoPackets = get(c.txGsoPackets);
  s.rxGsoWrites = get(c.rxGsoWrites);
  return s;
}

int UserspaceTunnel::ifindex() const { return impl_->ifindex; }

void UserspaceTunnel::stop(bool removeDevice) {
  std::lock_guard<std::mutex> lock(impl_->stopMu);
  if (impl_->stopped) {
    return;
  }
  impl_->stopped = true;
  uint64_t one = 1;
  if (::write(impl_->stopEvent.get(), &one, sizeof(one)) < 0) {
    // An eventfd write only fails on counter overflow; the worker is woken either way.
  }
  for (auto* t : {&impl_->outboundWorker, &impl_->inboundWorker}) {
    if (t->joinable()) {
      t->join();
    }
  }
  if (removeDevice) {
    // Without the persist flag the device disappears with its last file descriptor.
    (void)ioctl(impl_->tun.get(), TUNSETPERSIST, 0);
  } else {
    // The device stays: leave it without offloads, so that a later owner reading plain packets
    // (no virtio-net header) is not handed super-packets with partial checksums.
    (void)ioctl(impl_->tun.get(), TUNSETOFFLOAD, 0ul);
  }
  impl_->tun.reset();
  impl_->raw.reset();
  impl_->stopEvent.reset();
}

bool kernelIpipAvailable() {
  // Only a module that is already there (loaded, or built in: both show in /sys/module). Creating
  // an ipip link would otherwise make the kernel load it, and loading it creates the fallback
  // device tunl0 in every namespace, the host's own included.
  if (::access("/sys/module/ipip", F_OK) != 0) {
    return false;
  }
  auto nl = netlink::Socket::open();
  if (!nl.hasValue()) {
    return false;
  }
  static std::atomic<unsigned> counter{0};
  // A name taken by a concurrent probe (AlreadyExists) is retried under another one.
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::string probe =
        "caracalip" +
        std::to_string((static_cast<unsigned>(::getpid()) * 16 + counter.fetch_add(1)) % 1000000);
    Status st = (*nl)->createLink(probe, "ipip");
    if (st.isOk()) {
      (void)(*nl)->deleteLink(probe);
      return true;
    }
    if (st.code() != Code::AlreadyExists) {
      return false; // Invalid (EOPNOTSUPP: no ipip module), Forbidden, ...
    }
  }
  return false;
}

} // namespace caracal::ipip
