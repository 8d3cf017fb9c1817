#include "netlink/nft_batch.h"

#include "netlink/netlink.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

namespace caracal::netlink {

namespace {

constexpr size_t kRecvBuffer = 1 << 18;
constexpr time_t kRecvTimeoutSeconds = 10;
constexpr int kRecvBufferBytes = 8 << 20;

Status errnoStatus(const std::string& what, int err) {
  return Status(Code::Internal, what + ": " + std::strerror(err));
}

// The kernel's text in an error ack (NLMSGERR_ATTR_MSG), "" when it gave none.
std::string extackMessage(const nlmsghdr* m) {
  if ((m->nlmsg_flags & NLM_F_ACK_TLVS) == 0) {
    return "";
  }
  size_t offset = sizeof(nlmsgerr);
  if ((m->nlmsg_flags & NLM_F_CAPPED) == 0) {
    const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(m));
    offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  }
  std::string msg;
  mnl_attr_parse(
      m, static_cast<unsigned>(offset),
      [](const nlattr* a, void* data) -> int {
        if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG) {
          *static_cast<std::string*>(data) = mnl_attr_get_str(a);
        }
        return MNL_CB_OK;
      },
      &msg);
  return msg;
}

} // namespace

// ---- NftBatch ----------------------------------------------------------------------------------

NftBatch::NftBatch(uint32_t firstSeq, NftAckMode ackMode)
    : firstSeq_(firstSeq), nextSeq_(firstSeq), ackMode_(ackMode) {
  reserve(256);
  nftnl_batch_begin(at(), nextSeq_++);
  commit();
}

nlmsghdr* NftBatch::add(uint16_t type, uint16_t family, uint16_t flags, std::string what,
                        size_t maxLen) {
  commitPending();
  reserve(maxLen);
  offsets_.push_back(used_);
  what_.push_back(std::move(what));
  pending_ = true;
  if (ackMode_ == NftAckMode::EachRequest) {
    flags |= NLM_F_ACK;
  }
  return nftnl_nlmsg_build_hdr(at(), type, family, flags, nextSeq_++);
}

void NftBatch::finish() {
  commitPending();
  if (ackMode_ == NftAckMode::LastRequest && !offsets_.empty()) {
    reinterpret_cast<nlmsghdr*>(buf_.data() + offsets_.back())->nlmsg_flags |= NLM_F_ACK;
  }
  reserve(256);
  nftnl_batch_end(at(), nextSeq_);
  commit();
}

std::string NftBatch::what(uint32_t seq) const {
  size_t i = seq - firstRequestSeq();
  return seq >= firstRequestSeq() && i < what_.size() ? what_[i] : "batch";
}

void NftBatch::commit() { used_ += NLMSG_ALIGN(reinterpret_cast<nlmsghdr*>(at())->nlmsg_len); }

void NftBatch::commitPending() {
  if (pending_) {
    commit();
    pending_ = false;
  }
}

void NftBatch::reserve(size_t maxLen) {
  if (buf_.size() < used_ + maxLen) {
    buf_.resize(std::max(buf_.size() * 2, used_ + maxLen));
  }
}

// ---- NftSocket ---------------------------------------------------------------------------------

NftSocket::~NftSocket() {
  if (sock_ != nullptr) {
    mnl_socket_close(sock_);
  }
}

Status NftSocket::open(const std::string& netnsPath) {
  if (sock_ != nullptr) {
    return Status(Code::Internal, "nfnetlink socket already open");
  }
  return inNetns(netnsPath, [this] { return openHere(); });
}

Status NftSocket::openHere() {
  sock_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (sock_ == nullptr) {
    return errnoStatus("opening nfnetlink socket", errno);
  }
  if (mnl_socket_bind(sock_, 0, MNL_SOCKET_AUTOPID) < 0) {
    return errnoStatus("binding nfnetlink socket", errno);
  }
  int one = 1;
  // Acks without a copy of the request, but with the kernel's error text.
  (void)mnl_socket_setsockopt(sock_, NETLINK_CAP_ACK, &one, sizeof(one));
  (void)mnl_socket_setsockopt(sock_, NETLINK_EXT_ACK, &one, sizeof(one));
  int fd = mnl_socket_get_fd(sock_);
  timeval tv{kRecvTimeoutSeconds, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  // Large dumps and the errors of large batches arrive faster than they are read.
  int rcv = kRecvBufferBytes;
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
  portid_ = mnl_socket_get_portid(sock_);
  seq_ = static_cast<uint32_t>(time(nullptr));
  return {};
}

uint32_t NftSocket::nextSeq(uint32_t count) {
  uint32_t s = seq_;
  seq_ += count;
  return s;
}

int NftSocket::request(uint16_t type, uint16_t family, uint16_t flags,
                       const std::function<void(nlmsghdr*)>& build,
                       const std::function<void(const nlmsghdr*)>& onMsg) {
  std::vector<char> out(MNL_SOCKET_BUFFER_SIZE);
  uint32_t seq = nextSeq();
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(out.data(), type, family, flags, seq);
  build(nlh);
  if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) {
    return errno;
  }
  std::vector<char> in(kRecvBuffer);
  mnl_cb_t cb = [](const nlmsghdr* m, void* data) -> int {
    (*static_cast<const std::function<void(const nlmsghdr*)>*>(data))(m);
    return MNL_CB_OK;
  };
  auto* ctx = const_cast<std::function<void(const nlmsghdr*)>*>(&onMsg);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_, in.data(), in.size());
    if (n < 0) {
      return errno;
    }
    int ret = mnl_cb_run(in.data(), static_cast<size_t>(n), seq, portid_, cb, ctx);
    if (ret < 0) {
      return errno;
    }
    if (ret == MNL_CB_STOP) {
      return 0;
    }
  }
}

Status NftSocket::send(const NftBatch& batch) {
  int fd = mnl_socket_get_fd(sock_);
  int want = static_cast<int>(std::max<size_t>(batch.size() * 2, 1 << 20));
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want));
  if (mnl_socket_sendto(sock_, batch.data(), batch.size()) < 0) {
    return errnoStatus("sending nftables batch", errno);
  }
  // The kernel answers in request order, after the whole batch: error acks of failing requests
  // and acks of those that asked. An error on begin/end (outside the request range) refuses the
  // batch as a whole, and nothing follows it.
  std::vector<char> in(kRecvBuffer);
  size_t acks = 0;
  Status first;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_, in.data(), in.size());
    if (n < 0) {
      return errnoStatus("waiting for nftables acks (" + std::to_string(acks) + " read, " +
                             std::to_string(batch.requests()) + " requests)",
                         errno);
    }
    int len = static_cast<int>(n);
    for (auto* m = reinterpret_cast<nlmsghdr*>(in.data()); mnl_nlmsg_ok(m, len);
         m = mnl_nlmsg_next(m, &len)) {
      if (m->nlmsg_type != NLMSG_ERROR || m->nlmsg_pid != portid_) {
        continue;
      }
      ++acks;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(m));
      if (err->error != 0 && first.isOk()) {
        std::string text = std::strerror(-err->error);
        std::string extack = extackMessage(m);
        if (!extack.empty()) {
          text += " (" + extack + ")";
        }
        first = Status(Code::Internal, "nftables: " + batch.what(m->nlmsg_seq) + ": " + text);
      }
      if (m->nlmsg_seq < batch.firstRequestSeq() || m->nlmsg_seq >= batch.lastRequestSeq()) {
        return first;
      }
    }
  }
}

// ---- objects and encodings ---------------------------------------------------------------------

const char* nftFamilyName(uint16_t family) {
  switch (family) {
  case NFPROTO_IPV4:
    return "ip";
  case NFPROTO_IPV6:
    return "ip6";
  case NFPROTO_INET:
    return "inet";
  case NFPROTO_ARP:
    return "arp";
  case NFPROTO_BRIDGE:
    return "bridge";
  case NFPROTO_NETDEV:
    return "netdev";
  default:
    return "unknown";
  }
}

std::string nftTableDesc(uint16_t family, const std::string& table) {
  return std::string(nftFamilyName(family)) + " " + table;
}

NftTablePtr nftTableObject(uint16_t family, const std::string& table) {
  NftTablePtr t(nftnl_table_alloc());
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, table.c_str());
  nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, family);
  return t;
}

NftChainPtr nftChainObject(uint16_t family, const std::string& table, const std::string& chain) {
  NftChainPtr c(nftnl_chain_alloc());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table.c_str());
  if (!chain.empty()) {
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, chain.c_str());
  }
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_FAMILY, family);
  return c;
}

NftSetPtr nftSetObject(uint16_t family, const std::string& table, const std::string& set) {
  NftSetPtr s(nftnl_set_alloc());
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table.c_str());
  if (!set.empty()) {
    nftnl_set_set_str(s.get(), NFTNL_SET_NAME, set.c_str());
  }
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, family);
  return s;
}

NftRulePtr nftRuleObject(uint16_t family, const std::string& table, const std::string& chain) {
  NftRulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
  if (!chain.empty()) {
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
  }
  nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, family);
  return r;
}

void nftTableMsg(NftBatch& b, uint16_t family, const std::string& table, uint16_t type,
                 uint16_t flags, const char* verb) {
  NftTablePtr t = nftTableObject(family, table);
  nlmsghdr* nlh =
      b.add(type, family, flags, std::string(verb) + " table " + nftTableDesc(family, table));
  nftnl_table_nlmsg_build_payload(nlh, t.get());
}

void nftDeleteTableMsgs(NftBatch& b, uint16_t family, const std::string& table) {
  nftTableMsg(b, family, table, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add");
  nftTableMsg(b, family, table, NFT_MSG_DELTABLE, 0, "delete");
}

int nftGetTable(NftSocket& sock, uint16_t family, const std::string& table, uint32_t* use) {
  return sock.request(
      NFT_MSG_GETTABLE, family, NLM_F_ACK,
      [&](nlmsghdr* nlh) {
        nftnl_table_nlmsg_build_payload(nlh, nftTableObject(family, table).get());
      },
      [&](const nlmsghdr* m) {
        NftTablePtr t(nftnl_table_alloc());
        if (use != nullptr && nftnl_table_nlmsg_parse(m, t.get()) == 0) {
          *use = nftnl_table_get_u32(t.get(), NFTNL_TABLE_USE);
        }
      });
}

void nftSetBaseChain(nftnl_chain* c, const NftBaseChain& base) {
  nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, base.type.c_str());
  nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, base.hook);
  nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, base.priority);
  nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, base.policy);
}

bool nftIsBaseChain(nftnl_chain* c, const NftBaseChain& base) {
  if (!nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)) {
    return false;
  }
  const char* type =
      nftnl_chain_is_set(c, NFTNL_CHAIN_TYPE) ? nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE) : "";
  return nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM) == base.hook &&
         nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO) == base.priority && base.type == type &&
         nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) == base.policy;
}

std::string nftCommentUdata(uint8_t udataType, const std::string& text) {
  NftUdataPtr u(nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 16));
  nftnl_udata_put_strz(u.get(), udataType, text.c_str());
  return std::string(static_cast<const char*>(nftnl_udata_buf_data(u.get())),
                     nftnl_udata_buf_len(u.get()));
}

void nftSetSetUdata(nftnl_set* s, uint32_t keyByteorder, bool autoMerge) {
  NftUdataPtr u(nftnl_udata_buf_alloc(64));
  if (keyByteorder != 0) {
    nftnl_udata_put_u32(u.get(), NFTNL_UDATA_SET_KEYBYTEORDER, keyByteorder);
  }
  if (autoMerge) {
    nftnl_udata_put_u32(u.get(), NFTNL_UDATA_SET_MERGE_ELEMENTS, 1);
  }
  if (nftnl_udata_buf_len(u.get()) > 0) {
    nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u.get()),
                       nftnl_udata_buf_len(u.get()));
  }
}

nftnl_set_elem* nftAddElem(nftnl_set* s, const void* key, size_t len) {
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, static_cast<uint32_t>(len));
  nftnl_set_elem_add(s, e);
  return e;
}

void nftAddIntervalEnd(nftnl_set* s, const void* key, size_t len) {
  nftnl_set_elem* e = nftAddElem(s, key, len);
  nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
}

void nftMarkIntervalOpen(nftnl_set_elem* e) {
  NftUdataPtr u(nftnl_udata_buf_alloc(32));
  nftnl_udata_put_u32(u.get(), NFTNL_UDATA_SET_ELEM_FLAGS, NFTNL_SET_ELEM_F_INTERVAL_OPEN);
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(u.get()),
                     nftnl_udata_buf_len(u.get()));
}

int nftDumpElems(NftSocket& sock, uint16_t family, const std::string& table, const std::string& set,
                 std::vector<NftElem>& out) {
  return sock.request(
      NFT_MSG_GETSETELEM, family, NLM_F_DUMP,
      [&](nlmsghdr* nlh) {
        nftnl_set_elems_nlmsg_build_payload(nlh, nftSetObject(family, table, set).get());
      },
      [&](const nlmsghdr* m) {
        NftSetPtr s(nftnl_set_alloc());
        if (nftnl_set_elems_nlmsg_parse(m, s.get()) != 0) {
          return;
        }
        NftElemIterPtr it(nftnl_set_elems_iter_create(s.get()));
        for (nftnl_set_elem* e = nftnl_set_elems_iter_next(it.get()); e != nullptr;
             e = nftnl_set_elems_iter_next(it.get())) {
          NftElem el;
          uint32_t len = 0;
          const void* key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
          if (key != nullptr) {
            el.key.assign(static_cast<const char*>(key), len);
          }
          el.intervalEnd =
              nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
              (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END) != 0;
          if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
            el.hasVerdict = true;
            el.verdict = static_cast<int32_t>(nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT));
          }
          if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN)) {
            el.chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
          }
          out.push_back(std::move(el));
        }
      });
}

} // namespace caracal::netlink
