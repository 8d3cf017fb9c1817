#include "netlink/netlink.h"

#include "netlink/codec.h"
#include "netlink/fd.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <unordered_map>

namespace caracal::netlink {

namespace {

// Requested socket buffer sizes. The receive side must hold every acknowledgement of one sent
// chunk (the kernel processes a whole sendmsg() before we read), the send side one chunk.
constexpr int kSocketBuffer = 4 << 20;
// Upper bound for the kernel's accounting of one queued acknowledgement (skb truesize); chunks are
// sized so that their acks fit the receive buffer with this much per message.
constexpr size_t kAckTruesize = 2048;
constexpr size_t kMaxChunkBytes = 1 << 20;
// recvmmsg() slots: the kernel never queues a dump message larger than 32 KiB unless one object
// needs more, which MSG_TRUNC reports.
constexpr size_t kSlotSize = 32 << 10;
constexpr unsigned kSlots = 64;
constexpr int kReceiveTimeoutSeconds = 60;
constexpr int kDumpAttempts = 5;

std::string errnoName(int err) {
  const char* n = strerrorname_np(err);
  return n != nullptr ? n : "errno " + std::to_string(err);
}

Code codeForErrno(int err) {
  switch (err) {
  case ENODEV:
  case ENOENT:
  case ESRCH:
  case ENXIO:
  case EADDRNOTAVAIL:
    return Code::NotFound;
  case EEXIST:
  case ENOTEMPTY:
    return Code::AlreadyExists;
  case EINVAL:
  case ERANGE:
  case EOPNOTSUPP:
  case EAFNOSUPPORT:
  case ENETUNREACH:
  case EMSGSIZE:
    return Code::Invalid;
  case EPERM:
  case EACCES:
    return Code::Forbidden;
  case EBUSY:
    return Code::Conflict;
  case ENOBUFS:
  case ENOMEM:
  case EAGAIN:
    return Code::Unavailable;
  default:
    return Code::Internal;
  }
}

// "<what>: No such device (ENODEV)[: <kernel's extended ack message>]"
Status errnoStatus(int err, const std::string& what, const std::string& extack = "") {
  std::string msg = what + ": " + std::strerror(err) + " (" + errnoName(err) + ")";
  if (!extack.empty()) {
    msg += ": " + extack;
  }
  return Status(codeForErrno(err), std::move(msg));
}

Status checkName(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos) {
    return Status(Code::Invalid, "invalid interface name \"" + std::string(name) + "\"");
  }
  return Status::ok();
}

// A 4-byte aligned scratch area for one request.
struct RequestBuf {
  alignas(8) char data[codec::kMaxRequest];
};

// Enters the namespace at `path` on the calling thread; the destructor returns to the one the
// thread was in. Failing to return would leave the thread in a foreign namespace for whatever it
// does next, so that aborts.
class NetnsSwitch {
public:
  Status enter(const std::string& path) {
    orig_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig_ < 0) {
      return errnoStatus(errno, "opening /proc/thread-self/ns/net");
    }
    int target = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      return errnoStatus(errno, "opening network namespace " + path);
    }
    int rc = ::setns(target, CLONE_NEWNET);
    int err = errno;
    ::close(target);
    if (rc != 0) {
      return errnoStatus(err, "entering network namespace " + path);
    }
    entered_ = true;
    return Status::ok();
  }
  ~NetnsSwitch() {
    if (entered_ && ::setns(orig_, CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "caracal netlink: cannot return to the original network namespace: %s\n",
                   std::strerror(errno));
      std::abort();
    }
    if (orig_ >= 0) {
      ::close(orig_);
    }
  }

private:
  int orig_ = -1;
  bool entered_ = false;
};

} // namespace

// ------------------------------------------------------------------------------------ transport

// The socket and the exchange of requests and acknowledgements.
struct Socket::Raw {
  struct Ack {
    int err = -1; // -1: not acknowledged (yet); 0: done; >0: the kernel's errno
    std::string extack;
  };
  using MessageFn = void (*)(void* ctx, const nlmsghdr* nlh);

  mnl_socket* nl = nullptr;
  int fd = -1;
  uint32_t portid = 0;
  uint32_t seq = 0;
  size_t rcvbuf = 0;
  size_t sndbuf = 0;
  // Sizes the vector of the next route dump with the same filter (growing a vector of 100k
  // routes by doubling costs more than the dump).
  std::string lastRouteFilter;
  size_t lastRouteCount = 0;
  std::unique_ptr<char[]> slots;
  std::vector<mmsghdr> mm;
  std::vector<iovec> iov;

  ~Raw() {
    if (nl != nullptr) {
      mnl_socket_close(nl);
    }
  }

  uint32_t nextSeq(uint32_t count = 1) {
    uint32_t s = seq;
    seq += count;
    return s;
  }

  size_t maxChunkMessages() const { return std::max<size_t>(16, rcvbuf / kAckTruesize); }
  size_t maxChunkBytes() const { return std::min(kMaxChunkBytes, sndbuf / 2); }

  void setBuffer(int forceOpt, int opt, int value) {
    if (setsockopt(fd, SOL_SOCKET, forceOpt, &value, sizeof(value)) != 0) {
      setsockopt(fd, SOL_SOCKET, opt, &value, sizeof(value));
    }
  }

  size_t getBuffer(int opt) const {
    int v = 0;
    socklen_t len = sizeof(v);
    getsockopt(fd, SOL_SOCKET, opt, &v, &len);
    return static_cast<size_t>(v);
  }

  Status init() {
    nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (nl == nullptr) {
      return errnoStatus(errno, "opening rtnetlink socket");
    }
    fd = mnl_socket_get_fd(nl);
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
      return errnoStatus(errno, "binding rtnetlink socket");
    }
    portid = mnl_socket_get_portid(nl);
    int one = 1;
    // Best effort: extended acks give the kernel's reason, capped acks do not echo the request,
    // strict checking lets dumps be filtered in the kernel.
    mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
    mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
    mnl_socket_setsockopt(nl, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
    setBuffer(SO_SNDBUFFORCE, SO_SNDBUF, kSocketBuffer);
    setBuffer(SO_RCVBUFFORCE, SO_RCVBUF, kSocketBuffer);
    sndbuf = getBuffer(SO_SNDBUF);
    rcvbuf = getBuffer(SO_RCVBUF);
    timeval tv{kReceiveTimeoutSeconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    seq = static_cast<uint32_t>(std::time(nullptr));
    return Status::ok();
  }

  // Receives up to kSlots datagrams (blocking for the first). Returns the count or -errno.
  int receive() {
    if (!slots) {
      slots.reset(new char[kSlotSize * kSlots]);
      mm.resize(kSlots);
      iov.resize(kSlots);
    }
    for (unsigned i = 0; i < kSlots; ++i) {
      iov[i] = iovec{slots.get() + i * kSlotSize, kSlotSize};
      mm[i] = mmsghdr{};
      mm[i].msg_hdr.msg_iov = &iov[i];
      mm[i].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
      int n = recvmmsg(fd, mm.data(), kSlots, MSG_WAITFORONE, nullptr);
      if (n >= 0) {
        return n;
      }
      if (errno != EINTR) {
        return -errno;
      }
    }
  }

  Status receiveError(int err, const std::string& what) {
    if (err == EAGAIN || err == EWOULDBLOCK) {
      return Status(Code::Timeout, what + ": no answer from the kernel within " +
                                       std::to_string(kReceiveTimeoutSeconds) + "s");
    }
    if (err == ENOBUFS) {
      return Status(Code::Unavailable,
                    what + ": netlink receive buffer overrun, acknowledgements lost (ENOBUFS)");
    }
    return errnoStatus(err, what);
  }

  // Calls fn(datagram's messages) for every message received in one receive() round.
  template <typename F> Status forEachReceived(int n, F&& fn) {
    for (int i = 0; i < n; ++i) {
      if (mm[i].msg_hdr.msg_flags & MSG_TRUNC) {
        return Status(Code::Internal, "netlink message larger than the receive slot");
      }
      const char* p = slots.get() + static_cast<size_t>(i) * kSlotSize;
      int len = static_cast<int>(mm[i].msg_len);
      const auto* nlh = reinterpret_cast<const nlmsghdr*>(p);
      while (mnl_nlmsg_ok(nlh, len)) {
        fn(nlh);
        nlh = mnl_nlmsg_next(nlh, &len);
      }
    }
    return Status::ok();
  }

  static void parseAck(const nlmsghdr* nlh, Ack* ack) {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) {
      ack->err = EBADMSG;
      return;
    }
    const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    ack->err = e->error < 0 ? -e->error : e->error;
    if (ack->err == 0 || !(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) {
      return;
    }
    size_t off =
        (nlh->nlmsg_flags & NLM_F_CAPPED) ? sizeof(nlmsgerr) : sizeof(int) + e->msg.nlmsg_len;
    parseExtack(nlh, off, ack);
  }

  // The extended-ack attributes that follow the first `off` bytes of the payload.
  static void parseExtack(const nlmsghdr* nlh, size_t off, Ack* ack) {
    size_t payload = mnl_nlmsg_get_payload_len(nlh);
    if (off > payload) {
      return;
    }
    const char* start = static_cast<const char*>(mnl_nlmsg_get_payload(nlh)) + MNL_ALIGN(off);
    int len = static_cast<int>(payload) - static_cast<int>(MNL_ALIGN(off));
    const auto* attr = reinterpret_cast<const nlattr*>(start);
    while (len > 0 && mnl_attr_ok(attr, len)) {
      if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG) {
        const char* s = static_cast<const char*>(mnl_attr_get_payload(attr));
        ack->extack.assign(s, strnlen(s, mnl_attr_get_payload_len(attr)));
      }
      len -= static_cast<int>(MNL_ALIGN(attr->nla_len));
      attr = mnl_attr_next(attr);
    }
  }

  // Sends `count` requests (numbered seq0, seq0+1, ...) held in `buf` in one sendmsg() and waits
  // for each one's acknowledgement: errs[i] becomes 0 or the errno (callers set -1 beforehand);
  // extended-ack texts of failures are appended to `extacks` as (i, text). Other messages
  // carrying those numbers go to `onReply`. A non-ok Status means the exchange itself failed;
  // `errs` then tells which requests were answered before that.
  Status exchange(const char* buf, size_t len, uint32_t seq0, size_t count, int* errs,
                  std::vector<std::pair<size_t, std::string>>* extacks, MessageFn onReply = nullptr,
                  void* ctx = nullptr) {
    if (mnl_socket_sendto(nl, buf, len) < 0) {
      return errnoStatus(errno, "sending netlink request");
    }
    size_t pending = count;
    while (pending > 0) {
      int n = receive();
      if (n < 0) {
        return receiveError(-n, "waiting for netlink acknowledgement");
      }
      RETURN_IF_ERROR(forEachReceived(n, [&](const nlmsghdr* nlh) {
        uint32_t i = nlh->nlmsg_seq - seq0;
        if (i >= count || nlh->nlmsg_pid != portid) {
          return; // a late answer to an earlier, abandoned exchange
        }
        if (nlh->nlmsg_type == NLMSG_ERROR) {
          if (errs[i] == -1) {
            Ack ack;
            parseAck(nlh, &ack);
            errs[i] = ack.err;
            if (!ack.extack.empty() && extacks != nullptr) {
              extacks->emplace_back(i, std::move(ack.extack));
            }
            --pending;
          }
        } else if (onReply != nullptr && nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
          onReply(ctx, nlh);
        }
      }));
    }
    return Status::ok();
  }

  // One dump: every message of the answer goes to fn. `interrupted` reports NLM_F_DUMP_INTR (the
  // table changed while it was read; the caller starts over).
  template <typename F> Status dumpOnce(nlmsghdr* req, bool* interrupted, F&& fn) {
    uint32_t s = nextSeq();
    req->nlmsg_seq = s;
    req->nlmsg_pid = 0;
    *interrupted = false;
    if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) {
      return errnoStatus(errno, "sending netlink dump request");
    }
    bool done = false;
    Ack failure;
    while (!done) {
      int n = receive();
      if (n < 0) {
        return receiveError(-n, "reading netlink dump");
      }
      RETURN_IF_ERROR(forEachReceived(n, [&](const nlmsghdr* nlh) {
        if (done || nlh->nlmsg_seq != s || nlh->nlmsg_pid != portid) {
          return;
        }
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) {
          *interrupted = true;
        }
        if (nlh->nlmsg_type == NLMSG_DONE) {
          done = true;
          if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
            int err = *static_cast<const int*>(mnl_nlmsg_get_payload(nlh));
            if (err < 0) {
              failure.err = -err;
              if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
                parseExtack(nlh, sizeof(int), &failure);
              }
            }
          }
        } else if (nlh->nlmsg_type == NLMSG_ERROR) {
          done = true;
          parseAck(nlh, &failure);
        } else if (nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
          fn(nlh);
        }
      }));
    }
    if (failure.err > 0) {
      return errnoStatus(failure.err, "netlink dump", failure.extack);
    }
    return Status::ok();
  }

  // Dumps with restarts on NLM_F_DUMP_INTR; `reset` discards a partial result.
  template <typename Build, typename Reset, typename F>
  Status dump(Build&& build, Reset&& reset, F&& fn) {
    for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
      RequestBuf rb;
      nlmsghdr* req = build(rb.data);
      bool interrupted = false;
      RETURN_IF_ERROR(dumpOnce(req, &interrupted, fn));
      if (!interrupted) {
        return Status::ok();
      }
      reset();
    }
    return Status(Code::Unavailable, "netlink dump kept being interrupted by concurrent changes");
  }

  // Interface names by index, read once per call site for error messages.
  std::function<std::string(int)> namer() {
    auto names = std::make_shared<std::unordered_map<int, std::string>>();
    auto loaded = std::make_shared<bool>(false);
    return [this, names, loaded](int index) -> std::string {
      if (!*loaded) {
        *loaded = true;
        Status st = dump([](void* mem) { return codec::linkDump(mem); }, [&] { names->clear(); },
                         [&](const nlmsghdr* nlh) {
                           if (auto l = codec::parseLink(nlh)) {
                             (*names)[l->index] = l->name;
                           }
                         });
        (void)st; // without names the message shows the index
      }
      auto it = names->find(index);
      return it == names->end() ? std::string() : it->second;
    };
  }

  // One request; ok when acknowledged with 0 or with `okErrno`. `what` names the object in the
  // error (default: described from the request).
  Status request(nlmsghdr* nlh, int okErrno = 0, const std::string& what = "",
                 MessageFn onReply = nullptr, void* ctx = nullptr) {
    uint32_t s = nextSeq();
    nlh->nlmsg_seq = s;
    int err = -1;
    std::vector<std::pair<size_t, std::string>> extack;
    Status st = exchange(reinterpret_cast<const char*>(nlh), nlh->nlmsg_len, s, 1, &err, &extack,
                         onReply, ctx);
    if (st.isOk() && (err == 0 || err == okErrno)) {
      return Status::ok();
    }
    std::string name = what.empty() ? codec::describe(nlh, namer()) : what;
    if (!st.isOk()) {
      return st.withContext(name);
    }
    return errnoStatus(err, name, extack.empty() ? "" : extack[0].second);
  }
};

// ---------------------------------------------------------------------------------------- Socket

Socket::Socket() : raw_(std::make_unique<Raw>()) {}
Socket::~Socket() = default;

Socket::Raw& Socket::raw() { return *raw_; }

Result<std::unique_ptr<Socket>> Socket::open(const std::string& netnsPath) {
  std::unique_ptr<Socket> sock(new Socket());
  if (netnsPath.empty()) {
    RETURN_IF_ERROR(sock->raw_->init());
    return sock;
  }
  {
    NetnsSwitch sw;
    RETURN_IF_ERROR(sw.enter(netnsPath));
    // Only socket() needs to happen inside: the socket stays bound to the namespace it was
    // created in.
    RETURN_IF_ERROR(sock->raw_->init());
  }
  return sock;
}

namespace {

struct LinkReply {
  std::optional<Link> link;
  static void collect(void* ctx, const nlmsghdr* nlh) {
    auto* self = static_cast<LinkReply*>(ctx);
    if (auto l = codec::parseLink(nlh)) {
      self->link = std::move(l);
    }
  }
};

} // namespace

Result<std::vector<Link>> Socket::links() {
  std::vector<Link> out;
  RETURN_IF_ERROR(raw_->dump([](void* mem) { return codec::linkDump(mem); }, [&] { out.clear(); },
                             [&](const nlmsghdr* nlh) {
                               if (auto l = codec::parseLink(nlh)) {
                                 out.push_back(std::move(*l));
                               }
                             })
                      .withContext("listing links"));
  return out;
}

Result<Link> Socket::link(std::string_view name) {
  RETURN_IF_ERROR(checkName(name));
  RequestBuf rb;
  nlmsghdr* nlh = codec::linkRequest(rb.data, RTM_GETLINK, 0, name);
  mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  LinkReply reply;
  RETURN_IF_ERROR(raw_->request(nlh, 0, "link " + std::string(name), &LinkReply::collect, &reply));
  if (!reply.link) {
    return Status(Code::NotFound, "link " + std::string(name) + ": no answer");
  }
  return std::move(*reply.link);
}

Result<Link> Socket::link(int index) {
  if (index <= 0) {
    return Status(Code::Invalid, "invalid interface index " + std::to_string(index));
  }
  RequestBuf rb;
  nlmsghdr* nlh = codec::linkRequest(rb.data, RTM_GETLINK, 0, "", index);
  mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  LinkReply reply;
  RETURN_IF_ERROR(
      raw_->request(nlh, 0, "link index " + std::to_string(index), &LinkReply::collect, &reply));
  if (!reply.link) {
    return Status(Code::NotFound, "link index " + std::to_string(index) + ": no answer");
  }
  return std::move(*reply.link);
}

Status Socket::createVeth(const VethSpec& spec) {
  RETURN_IF_ERROR(checkName(spec.name));
  RETURN_IF_ERROR(checkName(spec.peerName));
  RequestBuf rb;
  return raw_->request(codec::newVeth(rb.data, spec), 0,
                       "veth " + spec.name + " (peer " + spec.peerName + ")");
}

Status Socket::createVxlan(const VxlanSpec& spec) {
  RETURN_IF_ERROR(checkName(spec.name));
  RequestBuf rb;
  return raw_->request(codec::newVxlan(rb.data, spec), 0,
                       "vxlan " + spec.name + " (vni " + std::to_string(spec.vni) + ")");
}

Status Socket::createLink(std::string_view name, std::string_view kind) {
  RETURN_IF_ERROR(checkName(name));
  RequestBuf rb;
  return raw_->request(codec::newLink(rb.data, name, kind), 0,
                       std::string(kind) + " link " + std::string(name));
}

Status Socket::deleteLink(std::string_view name) {
  RETURN_IF_ERROR(checkName(name));
  RequestBuf rb;
  return raw_->request(codec::linkRequest(rb.data, RTM_DELLINK, 0, name), ENODEV);
}

Status Socket::setUp(std::string_view name, bool up) {
  RETURN_IF_ERROR(checkName(name));
  RequestBuf rb;
  return raw_->request(codec::setLinkFlags(rb.data, name, up), 0,
                       "link " + std::string(name) + (up ? " up" : " down"));
}

Status Socket::setMtu(std::string_view name, uint32_t mtu) {
  RETURN_IF_ERROR(checkName(name));
  RequestBuf rb;
  return raw_->request(codec::setLinkMtu(rb.data, name, mtu), 0,
                       "link " + std::string(name) + " mtu " + std::to_string(mtu));
}

Status Socket::setMac(std::string_view name, const Mac& mac) {
  RETURN_IF_ERROR(checkName(name));
  RequestBuf rb;
  return raw_->request(codec::setLinkMac(rb.data, name, mac), 0,
                       "link " + std::string(name) + " address " + macStr(mac));
}

Status Socket::rename(std::string_view name, std::string_view newName) {
  RETURN_IF_ERROR(checkName(name));
  RETURN_IF_ERROR(checkName(newName));
  ASSIGN_OR_RETURN(Link l, link(name));
  RequestBuf rb;
  return raw_->request(codec::renameLink(rb.data, l.index, newName), 0,
                       "link " + std::string(name) + " rename to " + std::string(newName));
}

Status Socket::moveToNetns(std::string_view name, int netnsFd) {
  RETURN_IF_ERROR(checkName(name));
  RequestBuf rb;
  return raw_->request(codec::setLinkNetns(rb.data, name, netnsFd), 0,
                       "link " + std::string(name) + " to namespace fd " + std::to_string(netnsFd));
}

Result<std::vector<Address>> Socket::addresses(int family, int ifindex) {
  int af = codec::toAf(family);
  if (af < 0) {
    return Status(Code::Invalid, "unknown address family " + std::to_string(family));
  }
  std::vector<Address> out;
  RETURN_IF_ERROR(raw_->dump([&](void* mem) { return codec::addressDump(mem, af, ifindex); },
                             [&] { out.clear(); },
                             [&](const nlmsghdr* nlh) {
                               auto a = codec::parseAddress(nlh);
                               if (!a || (ifindex != 0 && a->ifindex != ifindex) ||
                                   (af != 0 && codec::afOf(a->net.addr) != af)) {
                                 return;
                               }
                               out.push_back(*a);
                             })
                      .withContext("listing addresses"));
  return out;
}

Status Socket::addAddress(const Address& a) {
  RequestBuf rb;
  return raw_->request(codec::addressRequest(rb.data, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, a),
                       EEXIST);
}

Status Socket::deleteAddress(const Address& a) {
  RequestBuf rb;
  return raw_->request(codec::addressRequest(rb.data, RTM_DELADDR, 0, a), EADDRNOTAVAIL);
}

Result<std::vector<Route>> Socket::routes(int family, std::optional<uint32_t> table,
                                          std::optional<uint8_t> protocol) {
  int af = codec::toAf(family);
  if (af < 0) {
    return Status(Code::Invalid, "unknown address family " + std::to_string(family));
  }
  std::string filter = std::to_string(af) + "/" + (table ? std::to_string(*table) : "-") + "/" +
                       (protocol ? std::to_string(*protocol) : "-");
  std::vector<Route> out;
  if (filter == raw_->lastRouteFilter) {
    out.reserve(raw_->lastRouteCount);
  }
  Status st = raw_->dump(
      [&](void* mem) { return codec::routeDump(mem, af, table, protocol); }, [&] { out.clear(); },
      [&](const nlmsghdr* nlh) {
        auto r = codec::parseRoute(nlh);
        if (!r || (table && r->table != *table) || (protocol && r->protocol != *protocol)) {
          return;
        }
        out.push_back(std::move(*r));
      });
  if (!st.isOk()) {
    // A table that was never created has no routes (IPv4 reports ENOENT for it).
    if (table && st.code() == Code::NotFound) {
      return std::vector<Route>{};
    }
    return st.withContext("listing routes");
  }
  raw_->lastRouteFilter = std::move(filter);
  raw_->lastRouteCount = out.size();
  return out;
}

Status Socket::replaceRoute(const Route& r) {
  RequestBuf rb;
  return raw_->request(codec::routeRequest(rb.data, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r));
}

Status Socket::deleteRoute(const Route& r) {
  RequestBuf rb;
  return raw_->request(codec::routeRequest(rb.data, RTM_DELROUTE, 0, r), ESRCH);
}

Result<std::vector<Neighbor>> Socket::neighbors(int family, int ifindex) {
  int af = codec::toAf(family);
  if (af < 0) {
    return Status(Code::Invalid, "unknown address family " + std::to_string(family));
  }
  std::vector<Neighbor> out;
  RETURN_IF_ERROR(raw_->dump([&](void* mem) { return codec::neighborDump(mem, af, ifindex); },
                             [&] { out.clear(); },
                             [&](const nlmsghdr* nlh) {
                               auto n = codec::parseNeighbor(nlh);
                               if (!n || (ifindex != 0 && n->ifindex != ifindex) ||
                                   (af != 0 && codec::afOf(n->ip) != af)) {
                                 return;
                               }
                               out.push_back(*n);
                             })
                      .withContext("listing neighbours"));
  return out;
}

Result<std::vector<FdbEntry>> Socket::fdb(int ifindex) {
  std::vector<FdbEntry> out;
  RETURN_IF_ERROR(raw_->dump([](void* mem) { return codec::fdbDump(mem); }, [&] { out.clear(); },
                             [&](const nlmsghdr* nlh) {
                               auto f = codec::parseFdb(nlh);
                               if (!f || (ifindex != 0 && f->ifindex != ifindex)) {
                                 return;
                               }
                               out.push_back(*f);
                             })
                      .withContext("listing fdb entries"));
  return out;
}

Status Socket::replaceNeighbor(const Neighbor& n) {
  RequestBuf rb;
  return raw_->request(
      codec::neighborRequest(rb.data, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, n));
}

Status Socket::deleteNeighbor(const Neighbor& n) {
  RequestBuf rb;
  return raw_->request(codec::neighborRequest(rb.data, RTM_DELNEIGH, 0, n), ENOENT);
}

Status Socket::appendFdb(const FdbEntry& f) {
  RequestBuf rb;
  return raw_->request(codec::fdbRequest(rb.data, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, f));
}

Status Socket::replaceFdb(const FdbEntry& f) {
  RequestBuf rb;
  return raw_->request(codec::fdbRequest(rb.data, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, f));
}

Status Socket::deleteFdb(const FdbEntry& f) {
  RequestBuf rb;
  return raw_->request(codec::fdbRequest(rb.data, RTM_DELNEIGH, 0, f), ENOENT);
}

// ----------------------------------------------------------------------------------------- Batch

namespace {

// The errno that means "already done" for a request, from its type: deletes of something absent,
// adding an address that is there.
int okErrnoFor(uint16_t type) {
  switch (type) {
  case RTM_DELROUTE:
    return ESRCH;
  case RTM_DELNEIGH:
    return ENOENT;
  case RTM_NEWADDR:
    return EEXIST;
  case RTM_DELADDR:
    return EADDRNOTAVAIL;
  default:
    return 0;
  }
}

} // namespace

// Requests are stored in blocks, each sent with one sendmsg(): a block closes when the next
// request might not fit its bytes or its acknowledgements might not fit the receive buffer.
// Blocks are kept across send() calls, so a batch that is reused does not allocate again.
struct Batch::Impl {
  struct Block {
    std::unique_ptr<char[]> data; // not zeroed: untouched pages cost nothing
    size_t used = 0;
    size_t count = 0;
  };

  explicit Impl(Socket& s)
      : sock(s), blockBytes(s.raw().maxChunkBytes()), blockMessages(s.raw().maxChunkMessages()) {}

  Socket& sock;
  const size_t blockBytes;
  const size_t blockMessages;
  std::vector<Block> blocks;
  size_t active = 0; // blocks[0, active) hold requests
  size_t total = 0;

  Block& current() {
    if (active > 0) {
      Block& b = blocks[active - 1];
      if (b.used + codec::kMaxRequest <= blockBytes && b.count < blockMessages) {
        return b;
      }
    }
    if (active == blocks.size()) {
      blocks.push_back(Block{std::unique_ptr<char[]>(new char[blockBytes]), 0, 0});
    }
    Block& b = blocks[active++];
    b.used = 0;
    b.count = 0;
    return b;
  }

  template <typename Build> void add(Build&& build) {
    Block& b = current();
    nlmsghdr* nlh = build(b.data.get() + b.used);
    b.used += MNL_ALIGN(nlh->nlmsg_len);
    ++b.count;
    ++total;
  }

  void clear() {
    active = 0;
    total = 0;
  }
};

Batch::Batch(Socket& sock) : impl_(std::make_unique<Impl>(sock)) {}
Batch::~Batch() = default;

size_t Batch::size() const { return impl_->total; }

void Batch::replaceRoute(const Route& r) {
  impl_->add([&](void* mem) {
    return codec::routeRequest(mem, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r);
  });
}

void Batch::deleteRoute(const Route& r) {
  impl_->add([&](void* mem) { return codec::routeRequest(mem, RTM_DELROUTE, 0, r); });
}

void Batch::replaceNeighbor(const Neighbor& n) {
  impl_->add([&](void* mem) {
    return codec::neighborRequest(mem, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, n);
  });
}

void Batch::deleteNeighbor(const Neighbor& n) {
  impl_->add([&](void* mem) { return codec::neighborRequest(mem, RTM_DELNEIGH, 0, n); });
}

void Batch::appendFdb(const FdbEntry& f) {
  impl_->add([&](void* mem) {
    return codec::fdbRequest(mem, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, f);
  });
}

void Batch::replaceFdb(const FdbEntry& f) {
  impl_->add([&](void* mem) {
    return codec::fdbRequest(mem, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, f);
  });
}

void Batch::deleteFdb(const FdbEntry& f) {
  impl_->add([&](void* mem) { return codec::fdbRequest(mem, RTM_DELNEIGH, 0, f); });
}

void Batch::addAddress(const Address& a) {
  impl_->add([&](void* mem) {
    return codec::addressRequest(mem, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, a);
  });
}

void Batch::deleteAddress(const Address& a) {
  impl_->add([&](void* mem) { return codec::addressRequest(mem, RTM_DELADDR, 0, a); });
}

std::vector<Status> Batch::send() {
  Impl& b = *impl_;
  Socket::Raw& raw = b.sock.raw();
  std::vector<Status> out(b.total);
  std::vector<int> errs(b.total, -1);
  std::vector<std::pair<size_t, std::string>> extacks;
  std::function<std::string(int)> names; // loaded on the first failure
  size_t base = 0;
  for (size_t bi = 0; bi < b.active; ++bi) {
    Impl::Block& blk = b.blocks[bi];
    uint32_t seq0 = raw.nextSeq(static_cast<uint32_t>(blk.count));
    char* p = blk.data.get();
    for (size_t i = 0; i < blk.count; ++i) {
      auto* nlh = reinterpret_cast<nlmsghdr*>(p);
      nlh->nlmsg_seq = seq0 + static_cast<uint32_t>(i);
      p += MNL_ALIGN(nlh->nlmsg_len);
    }
    extacks.clear();
    Status st = raw.exchange(blk.data.get(), blk.used, seq0, blk.count, &errs[base], &extacks);
    size_t nextExtack = 0;
    std::sort(extacks.begin(), extacks.end());
    p = blk.data.get();
    for (size_t i = 0; i < blk.count; ++i) {
      const auto* nlh = reinterpret_cast<const nlmsghdr*>(p);
      p += MNL_ALIGN(nlh->nlmsg_len);
      int err = errs[base + i];
      if (err == 0 || (err > 0 && err == okErrnoFor(nlh->nlmsg_type))) {
        continue;
      }
      if (!names) {
        names = raw.namer();
      }
      std::string what = codec::describe(nlh, names);
      if (err > 0) {
        while (nextExtack < extacks.size() && extacks[nextExtack].first < i) {
          ++nextExtack;
        }
        bool has = nextExtack < extacks.size() && extacks[nextExtack].first == i;
        out[base + i] = errnoStatus(err, what, has ? extacks[nextExtack].second : "");
      } else if (!st.isOk()) {
        out[base + i] = st.withContext(what);
      } else {
        out[base + i] = Status(Code::Internal, what + ": not acknowledged by the kernel");
      }
    }
    base += blk.count;
  }
  b.clear();
  return out;
}

// ---------------------------------------------------------------------------- values and sysctl

std::string macStr(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

std::optional<Mac> parseMac(std::string_view text) {
  if (text.size() != 17) {
    return std::nullopt;
  }
  Mac m{};
  for (size_t i = 0; i < 6; ++i) {
    uint8_t v = 0;
    for (size_t j = 0; j < 2; ++j) {
      char c = text[i * 3 + j];
      uint8_t d;
      if (c >= '0' && c <= '9') {
        d = static_cast<uint8_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<uint8_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<uint8_t>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
      v = static_cast<uint8_t>(v * 16 + d);
    }
    if (i < 5 && text[i * 3 + 2] != ':') {
      return std::nullopt;
    }
    m[i] = v;
  }
  return m;
}

std::string Route::key() const {
  return dst.masked().str() + " table " + std::to_string(table) + " metric " +
         std::to_string(priority);
}

Status inNetns(const std::string& netnsPath, const std::function<Status()>& fn) {
  if (netnsPath.empty()) {
    return fn();
  }
  NetnsSwitch sw;
  RETURN_IF_ERROR(sw.enter(netnsPath));
  return fn();
}

Status setSysctl(const std::string& path, std::string_view value) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return errnoStatus(errno, "sysctl " + path);
  }
  ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n < 0) {
    return errnoStatus(errno, "sysctl " + path + " = " + std::string(value));
  }
  if (static_cast<size_t>(n) != value.size()) {
    return Status(Code::Internal, "sysctl " + path + ": short write");
  }
  return Status::ok();
}

Result<std::string> getSysctl(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return errnoStatus(errno, "sysctl " + path);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errnoStatus(errno, "sysctl " + path);
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
    out.pop_back();
  }
  return out;
}

std::string confPath(int family, std::string_view ifname, std::string_view name) {
  std::string fam = codec::toAf(family) == AF_INET6 ? "ipv6" : "ipv4";
  return "/proc/sys/net/" + fam + "/conf/" + std::string(ifname) + "/" + std::string(name);
}

Status configureWorkloadSysctls(std::string_view ifname, bool ipv4, bool ipv6) {
  if (ipv4) {
    for (const char* name : {"proxy_arp", "forwarding", "route_localnet"}) {
      RETURN_IF_ERROR(setSysctl(confPath(4, ifname, name), "1"));
    }
    // Answer the pod's ARP for 169.254.1.1 at once: the kernel's default delays proxy replies by
    // up to 0.8 s, which a pod's first connection would pay.
    RETURN_IF_ERROR(
        setSysctl("/proc/sys/net/ipv4/neigh/" + std::string(ifname) + "/proxy_delay", "0"));
  }
  if (ipv6) {
    for (auto [name, value] :
         {std::pair{"proxy_ndp", "1"}, std::pair{"accept_ra", "0"}, std::pair{"forwarding", "1"}}) {
      RETURN_IF_ERROR(setSysctl(confPath(6, ifname, name), value));
    }
  }
  return {};
}

} // namespace caracal::netlink
