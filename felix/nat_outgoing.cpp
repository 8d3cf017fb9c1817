#include "felix/nat_outgoing.h"

#include "netlink/nft_batch.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <string>

namespace caracal::felix {

namespace {

using netlink::NftAckMode;
using netlink::NftBatch;
using netlink::NftChainPtr;
using netlink::NftElem;
using netlink::NftExprIterPtr;
using netlink::NftRulePtr;
using netlink::NftSetPtr;
using netlink::NftSocket;

constexpr const char* kTable = "caracal-nat";
constexpr const char* kChain = "postrouting";
constexpr const char* kMasqSet = "masq-pools";
constexpr const char* kAllSet = "all-pools";
constexpr const char* kRuleComment = "caracal:nat-outgoing";
constexpr uint32_t kByteorderBigEndian = 2; // nft's set key byte order tag
constexpr uint32_t kMasqSetId = 1;
constexpr uint32_t kAllSetId = 2;
// type nat hook postrouting priority srcnat (NF_IP_PRI_NAT_SRC) policy accept
const netlink::NftBaseChain kPostrouting{"nat", NF_INET_POST_ROUTING, 100, NF_ACCEPT};

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

std::string tableName(const Family& f) { return netlink::nftTableDesc(f.nfproto, kTable); }

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

NftSetPtr makeSet(const Family& f, const char* name) {
  return netlink::nftSetObject(f.nfproto, kTable, name);
}

void addElements(nftnl_set* s, const std::vector<IntervalSetElement>& elems) {
  for (size_t i = 0; i < elems.size(); ++i) {
    const auto& key = elems[i].key;
    if (elems[i].intervalEnd) {
      netlink::nftAddIntervalEnd(s, key.data(), key.size());
      continue;
    }
    nftnl_set_elem* e = netlink::nftAddElem(s, key.data(), key.size());
    if (i + 1 == elems.size()) {
      netlink::nftMarkIntervalOpen(e); // a range reaching the last address: no end element
    }
  }
}

size_t elementsMsgSize(size_t n) { return 512 + n * 96; }

void addElementsMsg(NftBatch& b, const Family& f, const char* set,
                    const std::vector<IntervalSetElement>& elems) {
  if (elems.empty()) {
    return; // the kernel refuses an element message without elements
  }
  NftSetPtr s = makeSet(f, set);
  addElements(s.get(), elems);
  nlmsghdr* nlh =
      b.add(NFT_MSG_NEWSETELEM, f.nfproto, NLM_F_CREATE,
            "add elements to " + tableName(f) + " " + set, elementsMsgSize(elems.size()));
  nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
}

// Flush + add in the same transaction: the set never appears empty to packets.
void addReplaceElements(NftBatch& b, const Family& f, const char* set,
                        const std::vector<IntervalSetElement>& elems) {
  NftSetPtr s = makeSet(f, set);
  nlmsghdr* nlh = b.add(NFT_MSG_DELSETELEM, f.nfproto, 0, "flush " + tableName(f) + " " + set);
  nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
  addElementsMsg(b, f, set, elems);
}

void addSetMsg(NftBatch& b, const Family& f, const char* name, uint32_t id) {
  NftSetPtr s = makeSet(f, name);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, f.keyType);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, f.keyLen);
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, id);
  netlink::nftSetSetUdata(s.get(), kByteorderBigEndian, false);
  nlmsghdr* nlh =
      b.add(NFT_MSG_NEWSET, f.nfproto, NLM_F_CREATE, "add set " + tableName(f) + " " + name);
  nftnl_set_nlmsg_build_payload(nlh, s.get());
}

void addChainMsg(NftBatch& b, const Family& f) {
  NftChainPtr c = netlink::nftChainObject(f.nfproto, kTable, kChain);
  netlink::nftSetBaseChain(c.get(), kPostrouting);
  nlmsghdr* nlh =
      b.add(NFT_MSG_NEWCHAIN, f.nfproto, NLM_F_CREATE, "add chain " + tableName(f) + " " + kChain);
  nftnl_chain_nlmsg_build_payload(nlh, c.get());
}

// The rule's userdata: an nft comment, which also marks the rule as ours.
std::string ruleUserdata() {
  return netlink::nftCommentUdata(NFTNL_UDATA_RULE_COMMENT, kRuleComment);
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
void addRuleMsg(NftBatch& b, const Family& f) {
  NftRulePtr r = netlink::nftRuleObject(f.nfproto, kTable, kChain);
  addPayload(r.get(), f.saddrOffset, f.keyLen);
  addLookup(r.get(), kMasqSet, kMasqSetId, false);
  addPayload(r.get(), f.daddrOffset, f.keyLen);
  addLookup(r.get(), kAllSet, kAllSetId, true);
  nftnl_rule_add_expr(r.get(), nftnl_expr_alloc("masq"));
  std::string udata = ruleUserdata();
  nftnl_rule_set_data(r.get(), NFTNL_RULE_USERDATA, udata.data(),
                      static_cast<uint32_t>(udata.size()));
  nlmsghdr* nlh = b.add(NFT_MSG_NEWRULE, f.nfproto, NLM_F_CREATE | NLM_F_APPEND,
                        "add rule to " + tableName(f) + " " + kChain);
  nftnl_rule_nlmsg_build_payload(nlh, r.get());
}

void addFullTable(NftBatch& b, const Family& f, const std::vector<IntervalSetElement>& masq,
                  const std::vector<IntervalSetElement>& all) {
  netlink::nftTableMsg(b, f.nfproto, kTable, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add");
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

bool ruleMatches(nftnl_rule* r, const Family& f, const std::string& udata) {
  uint32_t len = 0;
  const void* d = nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)
                      ? nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len)
                      : nullptr;
  if (d == nullptr || len != udata.size() || std::memcmp(d, udata.data(), len) != 0) {
    return false;
  }
  NftExprIterPtr it(nftnl_expr_iter_create(r));
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

class NftNatOutgoing : public NatOutgoing {
public:
  Status init() { return sock_.open(); }

  Status apply(const std::vector<api::IpNet>& masqPools,
               const std::vector<api::IpNet>& allPools) override {
    NftBatch batch(sock_.nextSeq(kSeqWindow), NftAckMode::EachRequest);
    for (const Family* f : {&kIpv4, &kIpv6}) {
      auto masq = intervalSetElements(masqPools, f->ipVersion);
      auto all = intervalSetElements(allPools, f->ipVersion);
      bool wanted = f->ipVersion == 4 || !masq.empty();
      ASSIGN_OR_RETURN(TableState st, readTable(*f));
      if (!wanted) {
        if (st.exists) {
          netlink::nftDeleteTableMsgs(batch, f->nfproto, kTable);
        }
        continue;
      }
      if (!st.exists || !st.structureOk) {
        if (st.exists) {
          netlink::nftDeleteTableMsgs(batch, f->nfproto, kTable);
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
    return send(batch, "natOutgoing apply");
  }

  Status remove() override {
    NftBatch batch(sock_.nextSeq(kSeqWindow), NftAckMode::EachRequest);
    for (const Family* f : {&kIpv4, &kIpv6}) {
      int err = netlink::nftGetTable(sock_, f->nfproto, kTable);
      if (err != 0 && err != ENOENT) {
        return Status(Code::Internal, "reading " + tableName(*f) + ": " + std::strerror(err));
      }
      if (err == 0) {
        netlink::nftDeleteTableMsgs(batch, f->nfproto, kTable);
      }
    }
    return send(batch, "natOutgoing remove");
  }

private:
  // Sequence numbers reserved per batch (more than any batch here can hold).
  static constexpr uint32_t kSeqWindow = 64;

  Status send(NftBatch& batch, const std::string& context) {
    if (batch.requests() == 0) {
      return {};
    }
    batch.finish();
    return sock_.send(batch).withContext(context);
  }

  Result<TableState> readTable(const Family& f) {
    TableState st;
    auto fail = [&](const std::string& what, int err) {
      return Status(Code::Internal,
                    "reading " + tableName(f) + " " + what + ": " + std::strerror(err));
    };

    uint32_t use = 0;
    int err = netlink::nftGetTable(sock_, f.nfproto, kTable, &use);
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
          nftnl_chain_nlmsg_build_payload(nlh,
                                          netlink::nftChainObject(f.nfproto, kTable, kChain).get());
        },
        [&](const nlmsghdr* m) {
          NftChainPtr c(nftnl_chain_alloc());
          chainOk = nftnl_chain_nlmsg_parse(m, c.get()) == 0 &&
                    netlink::nftIsBaseChain(c.get(), kPostrouting);
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
            NftSetPtr s(nftnl_set_alloc());
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
    std::string udata = ruleUserdata();
    err = sock_.request(
        NFT_MSG_GETRULE, f.nfproto, NLM_F_DUMP,
        [&](nlmsghdr* nlh) {
          nftnl_rule_nlmsg_build_payload(nlh,
                                         netlink::nftRuleObject(f.nfproto, kTable, kChain).get());
        },
        [&](const nlmsghdr* m) {
          NftRulePtr r(nftnl_rule_alloc());
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
      std::vector<NftElem> elems;
      err = netlink::nftDumpElems(sock_, f.nfproto, kTable, name, elems);
      if (err != 0) {
        return fail(std::string("elements of ") + name, err);
      }
      for (const auto& e : elems) {
        out->push_back({std::vector<uint8_t>(e.key.begin(), e.key.end()), e.intervalEnd});
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
