#pragma once
// nftables over nfnetlink (libmnl + libnftnl): the plumbing shared by the writers of caracal's
// nftables tables (felix's natOutgoing, policy's NftPolicyTable).
//
// NftSocket is a NETLINK_NETFILTER socket bound in one network namespace. It runs single
// requests (gets and dumps) and sends NftBatch transactions: BATCH_BEGIN, the requests,
// BATCH_END. Every request carries a description ("add set ip caracal-nat masq-pools") so that a
// refused request is reported by name, with the kernel's extended ack text when it gives one.
//
// The object helpers build the libnftnl objects that name a table, chain, set or rule, and the
// element, userdata and base-chain encodings that nft itself uses, so `nft list` shows what was
// written as if nft had written it.

#include "common/result.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netlink.h>
#include <memory>
#include <string>
#include <vector>

struct mnl_socket;

namespace caracal::netlink {

// ---- owners of libnftnl objects ----------------------------------------------------------------

struct NftFreeTable {
  void operator()(nftnl_table* p) const { nftnl_table_free(p); }
};
struct NftFreeChain {
  void operator()(nftnl_chain* p) const { nftnl_chain_free(p); }
};
struct NftFreeSet {
  void operator()(nftnl_set* p) const { nftnl_set_free(p); }
};
struct NftFreeRule {
  void operator()(nftnl_rule* p) const { nftnl_rule_free(p); }
};
struct NftFreeUdata {
  void operator()(nftnl_udata_buf* p) const { nftnl_udata_buf_free(p); }
};
struct NftFreeExprIter {
  void operator()(nftnl_expr_iter* p) const { nftnl_expr_iter_destroy(p); }
};
struct NftFreeElemIter {
  void operator()(nftnl_set_elems_iter* p) const { nftnl_set_elems_iter_destroy(p); }
};
using NftTablePtr = std::unique_ptr<nftnl_table, NftFreeTable>;
using NftChainPtr = std::unique_ptr<nftnl_chain, NftFreeChain>;
using NftSetPtr = std::unique_ptr<nftnl_set, NftFreeSet>;
using NftRulePtr = std::unique_ptr<nftnl_rule, NftFreeRule>;
using NftUdataPtr = std::unique_ptr<nftnl_udata_buf, NftFreeUdata>;
using NftExprIterPtr = std::unique_ptr<nftnl_expr_iter, NftFreeExprIter>;
using NftElemIterPtr = std::unique_ptr<nftnl_set_elems_iter, NftFreeElemIter>;

// ---- the batch ---------------------------------------------------------------------------------

// Which requests of a batch ask for an ack. The kernel processes the whole batch before it
// answers and reports every failing request either way; EachRequest also confirms each success,
// LastRequest confirms only the end of the batch (fewer messages to read for large batches).
enum class NftAckMode { EachRequest, LastRequest };

// BATCH_BEGIN, the requests, BATCH_END in one buffer. add() returns the header of a new request;
// the caller builds its payload in place (at most `maxLen` bytes) before the next add().
class NftBatch {
public:
  // Sequence numbers `firstSeq` .. firstSeq + requests + 1 are used (NftSocket::nextSeq()).
  NftBatch(uint32_t firstSeq, NftAckMode ackMode);

  // `what` names the request in errors ("delete chain fw-eth0").
  nlmsghdr* add(uint16_t type, uint16_t family, uint16_t flags, std::string what,
                size_t maxLen = 4096);
  // Appends BATCH_END; the buffer is then ready to send.
  void finish();

  size_t requests() const { return offsets_.size(); }
  const char* data() const { return buf_.data(); }
  size_t size() const { return used_; }
  uint32_t firstRequestSeq() const { return firstSeq_ + 1; }
  uint32_t lastRequestSeq() const { return firstSeq_ + static_cast<uint32_t>(offsets_.size()); }
  // The description of the request with sequence number `seq` ("batch" for begin/end).
  std::string what(uint32_t seq) const;

private:
  char* at() { return buf_.data() + used_; }
  void commit();
  void commitPending();
  void reserve(size_t maxLen);

  std::vector<char> buf_;
  size_t used_ = 0;
  bool pending_ = false;
  uint32_t firstSeq_;
  uint32_t nextSeq_;
  NftAckMode ackMode_;
  std::vector<size_t> offsets_;
  std::vector<std::string> what_;
};

// ---- the socket --------------------------------------------------------------------------------

// Not thread-safe; one owner.
class NftSocket {
public:
  NftSocket() = default;
  ~NftSocket();
  NftSocket(const NftSocket&) = delete;
  NftSocket& operator=(const NftSocket&) = delete;

  // Opens the socket in the namespace at `netnsPath` ("" = the calling thread's); it stays bound
  // to that namespace whatever thread uses it later.
  Status open(const std::string& netnsPath = "");

  // Reserves `count` sequence numbers and returns the first.
  uint32_t nextSeq(uint32_t count = 1);

  // One request (a get, or a dump with NLM_F_DUMP); `build` fills the payload after the header,
  // `onMsg` sees every answer. Returns 0 or the errno (ENOENT: no such object).
  int request(uint16_t type, uint16_t family, uint16_t flags,
              const std::function<void(nlmsghdr*)>& build,
              const std::function<void(const nlmsghdr*)>& onMsg);

  // Sends the finished batch and reads the acks up to the last one asked for. The first error
  // names its request: "nftables: add chain fw-eth0: No such file or directory (<extack>)".
  Status send(const NftBatch& batch);

private:
  Status openHere();

  mnl_socket* sock_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
};

// ---- objects and encodings ---------------------------------------------------------------------

// "ip", "ip6", "inet", ... for an NFPROTO_* value.
const char* nftFamilyName(uint16_t family);
// "ip caracal-nat"
std::string nftTableDesc(uint16_t family, const std::string& table);

// Objects naming a table, a chain or set in `table`, and the rules of `chain` ("" = every chain).
NftTablePtr nftTableObject(uint16_t family, const std::string& table);
NftChainPtr nftChainObject(uint16_t family, const std::string& table, const std::string& chain);
NftSetPtr nftSetObject(uint16_t family, const std::string& table, const std::string& set);
NftRulePtr nftRuleObject(uint16_t family, const std::string& table, const std::string& chain);

// A table request: `verb` "add" (NFT_MSG_NEWTABLE) or "delete" (NFT_MSG_DELTABLE) for the error
// text.
void nftTableMsg(NftBatch& b, uint16_t family, const std::string& table, uint16_t type,
                 uint16_t flags, const char* verb);
// Deletes the table whether it exists or not: it is added first, so the delete cannot fail with
// ENOENT, and both commit with the rest of the batch.
void nftDeleteTableMsgs(NftBatch& b, uint16_t family, const std::string& table);

// Reads the table: 0 when it exists (`use` = the kernel's count of its chains, sets, objects
// and flowtables), ENOENT when absent, or another errno.
int nftGetTable(NftSocket& sock, uint16_t family, const std::string& table,
                uint32_t* use = nullptr);

// Base chain attributes (type "filter"/"nat", hook NF_INET_*, priority, policy NF_*).
struct NftBaseChain {
  std::string type;
  uint32_t hook = 0;
  int32_t priority = 0;
  uint32_t policy = 0;
  bool operator==(const NftBaseChain&) const = default;
};
void nftSetBaseChain(nftnl_chain* c, const NftBaseChain& base);
// Whether `c` is a base chain with exactly these attributes.
bool nftIsBaseChain(nftnl_chain* c, const NftBaseChain& base);

// Userdata of nft's `comment "<text>"` (NFTNL_UDATA_RULE_COMMENT / NFTNL_UDATA_CHAIN_COMMENT).
std::string nftCommentUdata(uint8_t udataType, const std::string& text);
// A set's userdata as nft writes it: key byte order (0 = none; 1 host, 2 big endian) and the
// auto-merge flag. Nothing is set when both are absent.
void nftSetSetUdata(nftnl_set* s, uint32_t keyByteorder, bool autoMerge);

// Elements. Interval sets hold a range as its start followed by the end element (last + 1)
// flagged NFT_SET_ELEM_INTERVAL_END; a range reaching the family's last address has no end, and
// nft marks its start as an open interval (markOpen) so that listings show the range.
nftnl_set_elem* nftAddElem(nftnl_set* s, const void* key, size_t len);
void nftAddIntervalEnd(nftnl_set* s, const void* key, size_t len);
void nftMarkIntervalOpen(nftnl_set_elem* e);

// One element as the kernel lists it.
struct NftElem {
  std::string key; // raw key bytes
  bool intervalEnd = false;
  bool hasVerdict = false;
  int32_t verdict = 0; // maps: NFT_JUMP, NFT_GOTO, NF_ACCEPT, ...
  std::string chain;   // jump/goto target
};
// Dumps the elements of set `set`, appending to `out`. 0 or the errno.
int nftDumpElems(NftSocket& sock, uint16_t family, const std::string& table, const std::string& set,
                 std::vector<NftElem>& out);

} // namespace caracal::netlink
