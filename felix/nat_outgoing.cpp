#include "felix/nat_outgoing.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>

namespace caracal::felix {

namespace {

constexpr const char* kTable = "caracal-nat";
constexpr const char* kChain = "postrouting";
constexpr const char* kMasqSet = "masq-pools";
constexpr const char* kAllSet = "all-pools";
constexpr const char* kRuleComment = "caracal:nat-outgoing";
constexpr int32_t kSrcNatPriority = 100;    // NF_IP_PRI_NAT_SRC, nft's "srcnat"
constexpr uint32_t kByteorderBigEndian = 2; // nft's set key byte order tag
constexpr uint32_t kMasqSetId = 1;
constexpr uint32_t kAllSetId = 2;

// What differs between the two tables.
struct Family {
  int ipVersion;
  uint16_t nfproto;
  const char* name;
  uint32_t keyType; // nft datatype id: ipv4_addr 7, ipv6_addr 8 (elements print as addresses)
  uint32_t keyLen;
  uint32_t saddrOffset;
  uint32_t daddrOffset;
};
constexpr Family kIpv4{4, NFPROTO_IPV4, "ip", 7, 4, 12, 16};
constexpr Family kIpv6{6, NFPROTO_IPV6, "ip6", 8, 16, 8, 24};

struct FreeTable {
  void operator()(nftnl_table* p) const { nftnl_table_free(p); }
};
struct FreeChain {
  void operator()(nftnl_chain* p) const { nftnl_chain_free(p); }
};
struct FreeSet {
  void operator()(nftnl_set* p) const { nftnl_set_free(p); }
};
struct FreeRule {
  void operator()(nftnl_rule* p) const { nftnl_rule_free(p); }
};
struct FreeUdata {
  void operator()(nftnl_udata_buf* p) const { nftnl_udata_buf_free(p); }
};
struct FreeExprIter {
  void operator()(nftnl_expr_iter* p) const { nftnl_expr_iter_destroy(p); }
};
struct FreeElemIter {
  void operator()(nftnl_set_elems_iter* p) const { nftnl_set_elems_iter_destroy(p); }
};
using TablePtr = std::unique_ptr<nftnl_table, FreeTable>;
using ChainPtr = std::unique_ptr<nftnl_chain, FreeChain>;
using SetPtr = std::unique_ptr<nftnl_set, FreeSet>;
using RulePtr = std::unique_ptr<nftnl_rule, FreeRule>;
using UdataPtr = std::unique_ptr<nftnl_udata_buf, FreeUdata>;

std::string tableName(const Family& f) { return std::string(f.name) + " " + kTable; }

// ---- pure encoding -----------------------------------------------------------------------------

using U128 = unsigned __int128;

U128 addrValue(const api::IpAddr& a, size_t bytes) {
  U128 v = 0;
  for (size_t i = 0; i < bytes; ++i) {
    v = (v << 8) | a.bytes[i];
  }
  return v;
}

std::vector<uint8_t> keyBytes(U128 v, size_t bytes) {
  std::vector<uint8_t> key(bytes);
  for (size_t i = bytes; i-- > 0;) {
    key[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return key;
}

// ---- message building --------------------------------------------------------------------------

// One nfnetlink batch: BATCH_BEGIN, the requests (each with NLM_F_ACK), BATCH_END. add() returns
// the header of a new message; it is accounted for when the next one is added (its length is known
// only once the caller has built its payload).
class Batch {
public:
  explicit Batch(uint32_t seq) : firstSeq_(seq), nextSeq_(seq) {
    reserve(256);
    nftnl_batch_begin(at(), nextSeq_++);
    commit();
  }

  nlmsghdr* add(uint16_t type, uint16_t family, uint16_t flags, std::string what,
                size_t maxLen = 4096) {
    commitPending();
    reserve(maxLen);
    what_.push_back(std::move(what));
    pending_ = true;
    return nftnl_nlmsg_build_hdr(at(), type, family, flags | NLM_F_ACK, nextSeq_++);
  }

  // Appends BATCH_END; the buffer is then ready to send.
  void finish() {
    commitPending();
    reserve(256);
    nftnl_batch_end(at(), nextSeq_);
    commit();
  }

  size_t requests() const { return what_.size(); }
  const char* data() const { return buf_.data(); }
  size_t size() const { return used_; }
  uint32_t firstRequestSeq() const { return firstSeq_ + 1; }
  // The description of the request with sequence number `seq` ("batch" for begin/end).
  std::string what(uint32_t seq) const {
    size_t i = seq - firstRequestSeq();
    return seq >= firstRequestSeq() && i < what_.size() ? what_[i] : "batch";
  }

private:
  char* at() { return buf_.data() + used_; }
  void commit() { used_ += NLMSG_ALIGN(reinterpret_cast<nlmsghdr*>(at())->nlmsg_len); }
  void commitPending() {
    if (pending_) {
      commit();
      pending_ = false;
    }
  }
  void reserve(size_t maxLen) {
    if (buf_.size() < used_ + maxLen) {
      buf_.resize(std::max(buf_.size() * 2, used_ + maxLen));
    }
  }

  std::vector<char> buf_;
  size_t used_ = 0;
  bool pending_ = false;
  uint32_t firstSeq_;
  uint32_t nextSeq_;
  std::vector<std::string> what_;
};

TablePtr makeTable(const Family& f) {
  TablePtr t(nftnl_table_alloc());
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kTable);
  nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, f.nfproto);
  return t;
}

void addTableMsg(Batch& b, const Family& f, uint16_t type, uint16_t flags, const char* verb) {
  TablePtr t = makeTable(f);
  nlmsghdr* nlh = b.add(type, f.nfproto, flags, std::string(verb) + " table " + tableName(f));
  nftnl_table_nlmsg_build_payload(nlh, t.get());
}

// Deletes the table if it exists: creating it first makes the delete unable to fail (ENOENT), and
// the pair commits atomically with the rest of the batch.
void addDeleteTable(Batch& b, const Family& f) {
  addTableMsg(b, f, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add");
  addTableMsg(b, f, NFT_MSG_DELTABLE, 0, "delete");
}

SetPtr makeSet(const Family& f, const char* name) {
  SetPtr s(nftnl_set_alloc());
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, kTable);
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, name);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, f.nfproto);
  return s;
}

void addElements(nftnl_set* s, const std::vector<IntervalSetElement>& elems) {
  for (size_t i = 0; i < elems.size(); ++i) {
    nftnl_set_elem* e = nftnl_set_elem_alloc();
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, elems[i].key.data(),
                       static_cast<uint32_t>(elems[i].key.size()));
    if (elems[i].intervalEnd) {
      nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
    } else if (i + 1 == elems.size()) {
      // A range reaching the last address has no end element; nft marks such a start as an open
      // interval so that its listing shows the range.
      UdataPtr u(nftnl_udata_buf_alloc(32));
      nftnl_udata_put_u32(u.get(), NFTNL_UDATA_SET_ELEM_FLAGS, NFTNL_SET_ELEM_F_INTERVAL_OPEN);
      nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(u.get()),
                         nftnl_udata_buf_len(u.get()));
    }
    nftnl_set_elem_add(s, e);
  }
}

size_t elementsMsgSize(size_t n) { return 512 + n * 96; }

void addElementsMsg(Batch& b, const Family& f, const char* set,
                    const std::vector<IntervalSetElement>& elems) {
  if (elems.empty()) {
    return; // the kernel refuses an element message without elements
  }
  SetPtr s = makeSet(f, set);
  addElements(s.get(), elems);
  nlmsghdr* nlh =
      b.add(NFT_MSG_NEWSETELEM, f.nfproto, NLM_F_CREATE,
            "add elements to " + tableName(f) + " " + set, elementsMsgSize(elems.size()));
  nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
}

// Flush + add in the same transaction: the set never appears empty to packets.
void addReplaceElements(Batch& b, const Family& f, const char* set,
                        const std::vector<IntervalSetElement>& elems) {
  SetPtr s = makeSet(f, set);
  nlmsghdr* nlh = b.add(NFT_MSG_DELSETELEM, f.nfproto, 0, "flush " + tableName(f) + " " + set);
  nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
  addElementsMsg(b, f, set, elems);
}

void addSetMsg(Batch& b, const Family& f, const char* name, uint32_t id) {
  SetPtr s = makeSet(f, name);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, f.keyType);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, f.keyLen);
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, id);
  UdataPtr u(nftnl_udata_buf_alloc(32));
  nftnl_udata_put_u32(u.get(), NFTNL_UDATA_SET_KEYBYTEORDER, kByteorderBigEndian);
  nftnl_set_set_data(s.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(u.get()),
                     nftnl_udata_buf_len(u.get()));
  nlmsghdr* nlh =
      b.add(NFT_MSG_NEWSET, f.nfproto, NLM_F_CREATE, "add set " + tableName(f) + " " + name);
  nftnl_set_nlmsg_build_payload(nlh, s.get());
}

void addChainMsg(Batch& b, const Family& f) {
  ChainPtr c(nftnl_chain_alloc());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, kTable);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, kChain);
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_FAMILY, f.nfproto);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, "nat");
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, NF_INET_POST_ROUTING);
  nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, kSrcNatPriority);
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
  nlmsghdr* nlh =
      b.add(NFT_MSG_NEWCHAIN, f.nfproto, NLM_F_CREATE, "add chain " + tableName(f) + " " + kChain);
  nftnl_chain_nlmsg_build_payload(nlh, c.get());
}

// The rule's userdata: an nft comment, which also marks the rule as ours.
std::vector<uint8_t> ruleUserdata() {
  UdataPtr u(nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 16));
  nftnl_udata_put_strz(u.get(), NFTNL_UDATA_RULE_COMMENT, kRuleComment);
  const auto* p = static_cast<const uint8_t*>(nftnl_udata_buf_data(u.get()));
  return std::vector<uint8_t>(p, p + nftnl_udata_buf_len(u.get()));
}

void addPayload(nftnl_rule* r, uint32_t offset, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  nftnl_rule_add_expr(r, e);
}

void addLookup(nftnl_rule* r, const char* set, uint32_t setId, bool invert) {
  nftnl_expr* e = nftnl_expr_alloc("lookup");
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, setId);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, invert ? NFT_LOOKUP_F_INV : 0);
  nftnl_rule_add_expr(r, e);
}

// ip saddr @masq-pools ip daddr != @all-pools masquerade comment "caracal:nat-outgoing"
void addRuleMsg(Batch& b, const Family& f) {
  RulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, kTable);
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, kChain);
  nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, f.nfproto);
  addPayload(r.get(), f.saddrOffset, f.keyLen);
  addLookup(r.get(), kMasqSet, kMasqSetId, false);
  addPayload(r.get(), f.daddrOffset, f.keyLen);
  addLookup(r.get(), kAllSet, kAllSetId, true);
  nftnl_rule_add_expr(r.get(), nftnl_expr_alloc("masq"));
  std::vector<uint8_t> udata = ruleUserdata();
  nftnl_rule_set_data(r.get(), NFTNL_RULE_USERDATA, udata.data(),
                      static_cast<uint32_t>(udata.size()));
  nlmsghdr* nlh = b.add(NFT_MSG_NEWRULE, f.nfproto, NLM_F_CREATE | NLM_F_APPEND,
                        "add rule to " + tableName(f) + " " + kChain);
  nftnl_rule_nlmsg_build_payload(nlh, r.get());
}

void addFullTable(Batch& b, const Family& f, const std::vector<IntervalSetElement>& masq,
                  const std::vector<IntervalSetElement>& all) {
  addTableMsg(b, f, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add");
  addSetMsg(b, f, kMasqSet, kMasqSetId);
  addElementsMsg(b, f, kMasqSet, masq);
  addSetMsg(b, f, kAllSet, kAllSetId);
  addElementsMsg(b, f, kAllSet, all);
  addChainMsg(b, f);
  addRuleMsg(b, f);
}

std::vector<IntervalSetElement> sorted(std::vector<IntervalSetElement> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// ---- reading back ------------------------------------------------------------------------------

// What the kernel holds for one family's table.
struct TableState {
  bool exists = false;
  bool structureOk = false;                  // exactly our chain, sets and rule
  std::vector<IntervalSetElement> masq, all; // sorted (the kernel's dump order is its own)
};

bool ruleMatches(nftnl_rule* r, const Family& f, const std::vector<uint8_t>& udata) {
  uint32_t len = 0;
  const void* d = nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)
                      ? nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len)
                      : nullptr;
  if (d == nullptr || len != udata.size() || std::memcmp(d, udata.data(), len) != 0) {
    return false;
  }
  std::unique_ptr<nftnl_expr_iter, FreeExprIter> it(nftnl_expr_iter_create(r));
  std::vector<nftnl_expr*> exprs;
  for (nftnl_expr* e = nftnl_expr_iter_next(it.get()); e != nullptr;
       e = nftnl_expr_iter_next(it.get())) {
    exprs.push_back(e);
  }
  auto name = [](nftnl_expr* e) { return std::string(nftnl_expr_get_str(e, NFTNL_EXPR_NAME)); };
  auto payloadIs = [&](nftnl_expr* e, uint32_t offset) {
    return name(e) == "payload" &&
           nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE) == NFT_PAYLOAD_NETWORK_HEADER &&
           nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET) == offset &&
           nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN) == f.keyLen;
  };
  auto lookupIs = [&](nftnl_expr* e, const char* set, bool invert) {
    if (name(e) != "lookup" || std::strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET), set)) {
      return false;
    }
    uint32_t flags = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS)
                         ? nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS)
                         : 0;
    return ((flags & NFT_LOOKUP_F_INV) != 0) == invert;
  };
  return exprs.size() == 5 && payloadIs(exprs[0], f.saddrOffset) &&
         lookupIs(exprs[1], kMasqSet, false) && payloadIs(exprs[2], f.daddrOffset) &&
         lookupIs(exprs[3], kAllSet, true) && name(exprs[4]) == "masq";
}

class NftSocket {
public:
  ~NftSocket() {
    if (sock_ != nullptr) {
      mnl_socket_close(sock_);
    }
  }

  Status open() {
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
    timeval tv{5, 0};
    (void)setsockopt(mnl_socket_get_fd(sock_), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    portid_ = mnl_socket_get_portid(sock_);
    seq_ = static_cast<uint32_t>(time(nullptr));
    return {};
  }

  uint32_t nextSeq(uint32_t count = 1) {
    uint32_t s = seq_;
    seq_ += count;
    return s;
  }

  // One request (a get or a dump); `onMsg` sees every answer. Returns 0 or the errno.
  int request(uint16_t type, uint16_t family, uint16_t flags,
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
    struct Ctx {
      const std::function<void(const nlmsghdr*)>* onMsg;
    } ctx{&onMsg};
    mnl_cb_t cb = [](const nlmsghdr* m, void* data) -> int {
      (*static_cast<Ctx*>(data)->onMsg)(m);
      return MNL_CB_OK;
    };
    for (;;) {
      ssize_t n = mnl_socket_recvfrom(sock_, in.data(), in.size());
      if (n < 0) {
        return errno;
      }
      int ret = mnl_cb_run(in.data(), static_cast<size_t>(n), seq, portid_, cb, &ctx);
      if (ret < 0) {
        return errno;
      }
      if (ret == MNL_CB_STOP) {
        return 0;
      }
    }
  }

  // Sends the batch and waits for one ack per request; the first failure names its request.
  Status send(Batch& batch) {
    int fd = mnl_socket_get_fd(sock_);
    int want = static_cast<int>(std::max<size_t>(batch.size() * 2, 1 << 20));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want));
    if (mnl_socket_sendto(sock_, batch.data(), batch.size()) < 0) {
      return errnoStatus("sending nftables batch", errno);
    }
    std::vector<char> in(kRecvBuffer);
    size_t acked = 0;
    Status first;
    while (acked < batch.requests()) {
      ssize_t n = mnl_socket_recvfrom(sock_, in.data(), in.size());
      if (n < 0) {
        return errnoStatus("waiting for nftables acks (" + std::to_string(acked) + " of " +
                               std::to_string(batch.requests()) + ")",
                           errno);
      }
      int len = static_cast<int>(n);
      for (auto* m = reinterpret_cast<nlmsghdr*>(in.data()); mnl_nlmsg_ok(m, len);
           m = mnl_nlmsg_next(m, &len)) {
        if (m->nlmsg_type != NLMSG_ERROR || m->nlmsg_pid != portid_) {
          continue;
        }
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(m));
        ++acked;
        if (err->error != 0 && first.isOk()) {
          std::string text = std::strerror(-err->error);
          std::string extack = extackMessage(m);
          if (!extack.empty()) {
            text += " (" + extack + ")";
          }
          first = Status(Code::Internal, "nftables: " + batch.what(m->nlmsg_seq) + ": " + text);
          if (m->nlmsg_seq < batch.firstRequestSeq()) {
            return first; // the batch as a whole was refused: no per-request acks follow
          }
        }
      }
    }
    return first;
  }

private:
  static constexpr size_t kRecvBuffer = 1 << 17;

  static Status errnoStatus(const std::string& what, int err) {
    return Status(Code::Internal, what + ": " + std::strerror(err));
  }

  static std::string extackMessage(const nlmsghdr* m) {
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

  mnl_socket* sock_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
};

class NftNatOutgoing : public NatOutgoing {
public:
  Status init() { return sock_.open(); }

  Status apply(const std::vector<api::IpNet>& masqPools,
               const std::vector<api::IpNet>& allPools) override {
    Batch batch(sock_.nextSeq(kSeqWindow));
    for (const Family* f : {&kIpv4, &kIpv6}) {
      auto masq = intervalSetElements(masqPools, f->ipVersion);
      auto all = intervalSetElements(allPools, f->ipVersion);
      bool wanted = f->ipVersion == 4 || !masq.empty();
      ASSIGN_OR_RETURN(TableState st, readTable(*f));
      if (!wanted) {
        if (st.exists) {
          addDeleteTable(batch, *f);
        }
        continue;
      }
      if (!st.exists || !st.structureOk) {
        if (st.exists) {
          addDeleteTable(batch, *f);
        }
        addFullTable(batch, *f, masq, all);
        continue;
      }
      if (st.masq != sorted(masq)) {
        addReplaceElements(batch, *f, kMasqSet, masq);
      }
      if (st.all != sorted(all)) {
        addReplaceElements(batch, *f, kAllSet, all);
      }
    }
    if (batch.requests() == 0) {
      return {};
    }
    batch.finish();
    return sock_.send(batch).withContext("natOutgoing apply");
  }

  Status remove() override {
    Batch batch(sock_.nextSeq(kSeqWindow));
    for (const Family* f : {&kIpv4, &kIpv6}) {
      ASSIGN_OR_RETURN(bool exists, tableExists(*f));
      if (exists) {
        addDeleteTable(batch, *f);
      }
    }
    if (batch.requests() == 0) {
      return {};
    }
    batch.finish();
    return sock_.send(batch).withContext("natOutgoing remove");
  }

private:
  // Sequence numbers reserved per batch (more than any batch here can hold).
  static constexpr uint32_t kSeqWindow = 64;

  Result<bool> tableExists(const Family& f) {
    int err = sock_.request(
        NFT_MSG_GETTABLE, f.nfproto, NLM_F_ACK,
        [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, makeTable(f).get()); },
        [](const nlmsghdr*) {});
    if (err == ENOENT) {
      return false;
    }
    if (err != 0) {
      return Status(Code::Internal, "reading " + tableName(f) + ": " + std::strerror(err));
    }
    return true;
  }

  Result<TableState> readTable(const Family& f) {
    TableState st;
    auto fail = [&](const std::string& what, int err) {
      return Status(Code::Internal,
                    "reading " + tableName(f) + " " + what + ": " + std::strerror(err));
    };

    uint32_t use = 0;
    int err = sock_.request(
        NFT_MSG_GETTABLE, f.nfproto, NLM_F_ACK,
        [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, makeTable(f).get()); },
        [&](const nlmsghdr* m) {
          TablePtr t(nftnl_table_alloc());
          if (nftnl_table_nlmsg_parse(m, t.get()) == 0) {
            use = nftnl_table_get_u32(t.get(), NFTNL_TABLE_USE);
          }
        });
    if (err == ENOENT) {
      return st;
    }
    if (err != 0) {
      return fail("table", err);
    }
    st.exists = true;
    // Our table holds exactly one chain and two sets (the kernel's use count covers chains,
    // sets, objects and flowtables).
    if (use != 3) {
      return st;
    }

    bool chainOk = false;
    err = sock_.request(
        NFT_MSG_GETCHAIN, f.nfproto, NLM_F_ACK,
        [&](nlmsghdr* nlh) {
          ChainPtr c(nftnl_chain_alloc());
          nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, kTable);
          nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, kChain);
          nftnl_chain_nlmsg_build_payload(nlh, c.get());
        },
        [&](const nlmsghdr* m) {
          ChainPtr c(nftnl_chain_alloc());
          if (nftnl_chain_nlmsg_parse(m, c.get()) != 0) {
            return;
          }
          const char* type = nftnl_chain_is_set(c.get(), NFTNL_CHAIN_TYPE)
                                 ? nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TYPE)
                                 : "";
          chainOk = nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM) &&
                    nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM) == NF_INET_POST_ROUTING &&
                    nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO) == kSrcNatPriority &&
                    std::strcmp(type, "nat") == 0 &&
                    nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY) == NF_ACCEPT;
        });
    if (err != 0 && err != ENOENT) {
      return fail("chain", err);
    }
    if (!chainOk) {
      return st;
    }

    for (const char* name : {kMasqSet, kAllSet}) {
      bool setOk = false;
      err = sock_.request(
          NFT_MSG_GETSET, f.nfproto, NLM_F_ACK,
          [&](nlmsghdr* nlh) { nftnl_set_nlmsg_build_payload(nlh, makeSet(f, name).get()); },
          [&](const nlmsghdr* m) {
            SetPtr s(nftnl_set_alloc());
            if (nftnl_set_nlmsg_parse(m, s.get()) != 0) {
              return;
            }
            setOk = nftnl_set_get_u32(s.get(), NFTNL_SET_FLAGS) == NFT_SET_INTERVAL &&
                    nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_TYPE) == f.keyType &&
                    nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_LEN) == f.keyLen;
          });
      if (err != 0 && err != ENOENT) {
        return fail(std::string("set ") + name, err);
      }
      if (!setOk) {
        return st;
      }
    }

    int rules = 0;
    bool ruleOk = false;
    std::vector<uint8_t> udata = ruleUserdata();
    err = sock_.request(
        NFT_MSG_GETRULE, f.nfproto, NLM_F_DUMP,
        [&](nlmsghdr* nlh) {
          RulePtr r(nftnl_rule_alloc());
          nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, kTable);
          nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, kChain);
          nftnl_rule_nlmsg_build_payload(nlh, r.get());
        },
        [&](const nlmsghdr* m) {
          RulePtr r(nftnl_rule_alloc());
          if (nftnl_rule_nlmsg_parse(m, r.get()) != 0 ||
              std::strcmp(nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE), kTable) != 0 ||
              std::strcmp(nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN), kChain) != 0) {
            return;
          }
          ++rules;
          ruleOk = ruleMatches(r.get(), f, udata);
        });
    if (err != 0) {
      return fail("rules", err);
    }
    if (rules != 1 || !ruleOk) {
      return st;
    }

    for (auto [name, out] : {std::pair{kMasqSet, &st.masq}, std::pair{kAllSet, &st.all}}) {
      err = sock_.request(
          NFT_MSG_GETSETELEM, f.nfproto, NLM_F_DUMP,
          [&](nlmsghdr* nlh) { nftnl_set_elems_nlmsg_build_payload(nlh, makeSet(f, name).get()); },
          [&](const nlmsghdr* m) {
            SetPtr s(nftnl_set_alloc());
            if (nftnl_set_elems_nlmsg_parse(m, s.get()) != 0) {
              return;
            }
            std::unique_ptr<nftnl_set_elems_iter, FreeElemIter> it(
                nftnl_set_elems_iter_create(s.get()));
            for (nftnl_set_elem* e = nftnl_set_elems_iter_next(it.get()); e != nullptr;
                 e = nftnl_set_elems_iter_next(it.get())) {
              uint32_t len = 0;
              const auto* key =
                  static_cast<const uint8_t*>(nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len));
              IntervalSetElement el;
              if (key != nullptr) {
                el.key.assign(key, key + len);
              }
              el.intervalEnd = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
                               (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) &
                                NFT_SET_ELEM_INTERVAL_END) != 0;
              out->push_back(std::move(el));
            }
          });
      if (err != 0) {
        return fail(std::string("elements of ") + name, err);
      }
      std::sort(out->begin(), out->end());
    }
    st.structureOk = true;
    return st;
  }

  NftSocket sock_;
};

} // namespace

std::vector<IntervalSetElement> intervalSetElements(const std::vector<api::IpNet>& nets,
                                                    int family) {
  if (family != 4 && family != 6) {
    return {};
  }
  const size_t bytes = family == 4 ? 4 : 16;
  const int bits = static_cast<int>(bytes * 8);
  const U128 maxValue = bits == 128 ? ~U128{0} : (U128{1} << bits) - 1;
  struct Range {
    U128 first, last;
  };
  std::vector<Range> ranges;
  for (const auto& n : nets) {
    if (n.addr.family != family || n.prefix < 0 || n.prefix > bits) {
      continue;
    }
    U128 hostMask = n.prefix == 0 ? maxValue : (U128{1} << (bits - n.prefix)) - 1;
    U128 first = addrValue(n.addr, bytes) & ~hostMask & maxValue;
    ranges.push_back({first, first | hostMask});
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.first < b.first || (a.first == b.first && a.last > b.last);
  });
  std::vector<Range> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().last) {
      merged.back().last = std::max(merged.back().last, r.last);
    } else {
      merged.push_back(r);
    }
  }
  std::vector<IntervalSetElement> out;
  for (const auto& r : merged) {
    out.push_back({keyBytes(r.first, bytes), false});
    if (r.last != maxValue) {
      out.push_back({keyBytes(r.last + 1, bytes), true});
    }
  }
  return out;
}

Result<std::unique_ptr<NatOutgoing>> makeNftNatOutgoing() {
  auto nat = std::make_unique<NftNatOutgoing>();
  RETURN_IF_ERROR(nat->init());
  return std::unique_ptr<NatOutgoing>(std::move(nat));
}

} // namespace caracal::felix
