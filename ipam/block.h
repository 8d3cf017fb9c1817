#pragma once
// Private to caracal_ipam: address arithmetic and the in-memory form of an IPAMBlock.
//
// A block is a contiguous run of 2^(bits - prefix) addresses. Each address has an ordinal (its
// offset from the block's first address); `allocations[ordinal]` is -1 when free, else an index
// into `attributes` (handle and secondary attributes, shared by the allocations that carry the
// same ones). `unallocated` lists the free ordinals in the order they are handed out: the lowest
// first at creation, released ones appended at the end, so a released address is the last to be
// reused.

#include "api/netaddr.h"
#include "common/result.h"
#include "common/value.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace caracal::ipam::detail {

using api::IpAddr;
using api::IpNet;
using U128 = unsigned __int128;

U128 toU128(const IpAddr& ip);
IpAddr fromU128(int family, U128 v);
// 2^(bits - prefix), saturated at the largest U128 for a /0 IPv6 block.
U128 netSize(const IpNet& net);
// The /32 or /128 of an address.
IpNet hostNet(const IpAddr& ip);
// The block of `prefix` bits holding `ip`.
IpNet blockOf(const IpAddr& ip, int prefix);
// Decimal text of a U128.
std::string u128String(U128 v);
// Saturating conversion.
uint64_t clampU64(U128 v);
// Orders addresses numerically (IPv4 before IPv6).
bool addrLess(const IpAddr& a, const IpAddr& b);
bool netLess(const IpNet& a, const IpNet& b);

struct Attribute {
  std::string handle;
  std::map<std::string, std::string> secondary;
  bool operator==(const Attribute&) const = default;
};

class Block {
public:
  // A new block with every address free.
  static Block fresh(const IpNet& cidr, std::string affinity);
  // Reads a stored IPAMBlock; Code::Invalid when it is inconsistent (bad CIDR, arrays of the wrong
  // size, an attribute index out of range).
  static Result<Block> fromObject(const Value& obj);
  // The IPAMBlock object, carrying the metadata of the object it was read from (resourceVersion
  // included, for compare-and-swap).
  Value toObject() const;

  const IpNet& cidr() const { return cidr_; }
  const std::string& affinity() const { return affinity_; }
  void setAffinity(std::string a) { affinity_ = std::move(a); }
  const std::string& resourceVersion() const;
  size_t size() const { return allocations_.size(); }
  size_t inUse() const;
  bool empty() const { return inUse() == 0; }

  IpAddr addressAt(size_t ordinal) const;
  std::optional<size_t> ordinalOf(const IpAddr& ip) const;
  // The attribute of an allocated ordinal; nullptr when free.
  const Attribute* allocationAt(size_t ordinal) const;
  // Every allocated ordinal, ascending.
  std::vector<size_t> allocatedOrdinals() const;
  size_t countForHandle(const std::string& handle) const;

  // Up to `n` free ordinals, in hand-out order, skipping those `skip` refuses.
  std::vector<size_t> pickFree(size_t n, const std::function<bool(size_t)>& skip) const;
  // True when the ordinal is free and now allocated.
  bool allocate(size_t ordinal, const Attribute& attr);
  // The attribute the ordinal carried, when it was allocated.
  std::optional<Attribute> release(size_t ordinal);
  // Releases every allocation of `handle`; returns how many.
  size_t releaseHandle(const std::string& handle);

private:
  int findOrAddAttribute(const Attribute& attr);
  // Drops attributes no allocation refers to any more.
  void compactAttributes();

  Value metadata_ = Value::object();
  IpNet cidr_;
  std::string affinity_;
  std::vector<int> allocations_;
  std::vector<size_t> unallocated_;
  std::vector<Attribute> attributes_;
  int64_t sequenceNumber_ = 0;
  bool deleted_ = false;
};

} // namespace caracal::ipam::detail
