#include "ipam/block.h"

#include <algorithm>

namespace caracal::ipam::detail {

U128 toU128(const IpAddr& ip) {
  U128 v = 0;
  int n = ip.family == 4 ? 4 : 16;
  for (int i = 0; i < n; ++i) {
    v = (v << 8) | ip.bytes[i];
  }
  return v;
}

IpAddr fromU128(int family, U128 v) {
  IpAddr ip;
  ip.family = family;
  int n = family == 4 ? 4 : 16;
  for (int i = n - 1; i >= 0; --i) {
    ip.bytes[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return ip;
}

U128 netSize(const IpNet& net) {
  int hostBits = net.addr.bits() - net.prefix;
  if (hostBits >= 128) {
    return ~U128(0);
  }
  return U128(1) << hostBits;
}

IpNet hostNet(const IpAddr& ip) { return IpNet{ip, ip.bits()}; }

IpNet blockOf(const IpAddr& ip, int prefix) { return IpNet{ip, prefix}.masked(); }

std::string u128String(U128 v) {
  if (v == 0) {
    return "0";
  }
  std::string s;
  while (v > 0) {
    s.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  std::reverse(s.begin(), s.end());
  return s;
}

uint64_t clampU64(U128 v) { return v > U128(UINT64_MAX) ? UINT64_MAX : static_cast<uint64_t>(v); }

bool addrLess(const IpAddr& a, const IpAddr& b) {
  if (a.family != b.family) {
    return a.family < b.family;
  }
  return toU128(a) < toU128(b);
}

bool netLess(const IpNet& a, const IpNet& b) {
  if (a.addr == b.addr) {
    return a.prefix < b.prefix;
  }
  return addrLess(a.addr, b.addr);
}

Block Block::fresh(const IpNet& cidr, std::string affinity) {
  Block b;
  b.cidr_ = cidr.masked();
  b.affinity_ = std::move(affinity);
  size_t n = static_cast<size_t>(netSize(b.cidr_));
  b.allocations_.assign(n, -1);
  b.unallocated_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    b.unallocated_.push_back(i);
  }
  return b;
}

Result<Block> Block::fromObject(const Value& obj) {
  Block b;
  std::string name = obj.getString("metadata.name");
  auto bad = [&](const std::string& why) {
    return Status(Code::Invalid, "IPAMBlock " + name + ": " + why);
  };
  if (const Value* m = obj.find("metadata")) {
    b.metadata_ = *m;
  }
  const Value* spec = obj.find("spec");
  if (!spec) {
    return bad("no spec");
  }
  auto cidr = api::parseCidr(spec->getString("cidr"));
  if (!cidr || !cidr->isMasked()) {
    return bad("invalid cidr \"" + spec->getString("cidr") + "\"");
  }
  // A block is at most a /20 (IPv4) or /116 (IPv6): 4096 addresses.
  if (cidr->addr.bits() - cidr->prefix > 12) {
    return bad("block " + cidr->str() + " is larger than 4096 addresses");
  }
  b.cidr_ = *cidr;
  b.affinity_ = spec->getString("affinity");
  size_t n = static_cast<size_t>(netSize(b.cidr_));
  const Value* attrs = spec->find("attributes");
  if (attrs && attrs->isArray()) {
    for (const auto& a : attrs->asArray()) {
      Attribute at;
      at.handle = a.getString("handle_id");
      if (const Value* sec = a.find("secondary"); sec && sec->isObject()) {
        for (const auto& [k, v] : sec->asObject()) {
          at.secondary[k] = v.asString();
        }
      }
      b.attributes_.push_back(std::move(at));
    }
  }
  b.allocations_.assign(n, -1);
  const Value* allocs = spec->find("allocations");
  if (allocs && allocs->isArray()) {
    if (allocs->size() != n) {
      return bad("allocations has " + std::to_string(allocs->size()) + " entries, want " +
                 std::to_string(n));
    }
    for (size_t i = 0; i < n; ++i) {
      const Value& a = allocs->asArray()[i];
      if (a.isNull()) {
        continue;
      }
      if (!a.isInt() || a.asInt() < 0 || size_t(a.asInt()) >= b.attributes_.size()) {
        return bad("allocations[" + std::to_string(i) + "] refers to no attribute");
      }
      b.allocations_[i] = static_cast<int>(a.asInt());
    }
  }
  std::vector<bool> listed(n, false);
  const Value* unalloc = spec->find("unallocated");
  if (unalloc && unalloc->isArray()) {
    for (const auto& u : unalloc->asArray()) {
      if (!u.isInt() || u.asInt() < 0 || size_t(u.asInt()) >= n) {
        return bad("unallocated holds an ordinal out of range");
      }
      size_t ord = static_cast<size_t>(u.asInt());
      // Keep only ordinals that are really free, once each.
      if (b.allocations_[ord] < 0 && !listed[ord]) {
        listed[ord] = true;
        b.unallocated_.push_back(ord);
      }
    }
  }
  // A free ordinal missing from `unallocated` (a hand-edited block) still gets handed out, last.
  for (size_t i = 0; i < n; ++i) {
    if (b.allocations_[i] < 0 && !listed[i]) {
      b.unallocated_.push_back(i);
    }
  }
  if (const Value* s = spec->find("sequenceNumber"); s && s->isInt()) {
    b.sequenceNumber_ = s->asInt();
  }
  if (const Value* d = spec->find("deleted"); d && d->isBool()) {
    b.deleted_ = d->asBool();
  }
  return b;
}

Value Block::toObject() const {
  Value obj = Value::object();
  obj.set("apiVersion", "projectcalico.org/v3");
  obj.set("kind", "IPAMBlock");
  obj.set("metadata", metadata_);
  Value spec = Value::object();
  spec.set("cidr", cidr_.str());
  if (!affinity_.empty()) {
    spec.set("affinity", affinity_);
  }
  Value allocs = Value::array();
  for (size_t i = 0; i < allocations_.size(); ++i) {
    allocs.push(allocations_[i] < 0 ? Value() : Value(allocations_[i]));
  }
  spec.set("allocations", std::move(allocs));
  Value unalloc = Value::array();
  for (size_t u : unallocated_) {
    unalloc.push(Value(int64_t(u)));
  }
  spec.set("unallocated", std::move(unalloc));
  Value attrs = Value::array();
  for (const auto& a : attributes_) {
    Value av = Value::object();
    av.set("handle_id", a.handle);
    Value sec = Value::object();
    for (const auto& [k, v] : a.secondary) {
      sec.set(k, v);
    }
    av.set("secondary", std::move(sec));
    attrs.push(std::move(av));
  }
  spec.set("attributes", std::move(attrs));
  spec.set("sequenceNumber", Value(sequenceNumber_));
  spec.set("deleted", deleted_);
  obj.set("spec", std::move(spec));
  return obj;
}

const std::string& Block::resourceVersion() const {
  static const std::string kEmpty;
  const Value* rv = metadata_.find("resourceVersion");
  return rv && rv->isString() ? rv->asString() : kEmpty;
}

size_t Block::inUse() const {
  return static_cast<size_t>(
      std::count_if(allocations_.begin(), allocations_.end(), [](int a) { return a >= 0; }));
}

IpAddr Block::addressAt(size_t ordinal) const {
  return fromU128(cidr_.addr.family, toU128(cidr_.addr) + ordinal);
}

std::optional<size_t> Block::ordinalOf(const IpAddr& ip) const {
  if (!cidr_.contains(ip)) {
    return std::nullopt;
  }
  return static_cast<size_t>(toU128(ip) - toU128(cidr_.addr));
}

const Attribute* Block::allocationAt(size_t ordinal) const {
  if (ordinal >= allocations_.size() || allocations_[ordinal] < 0) {
    return nullptr;
  }
  return &attributes_[allocations_[ordinal]];
}

std::vector<size_t> Block::allocatedOrdinals() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < allocations_.size(); ++i) {
    if (allocations_[i] >= 0) {
      out.push_back(i);
    }
  }
  return out;
}

size_t Block::countForHandle(const std::string& handle) const {
  size_t n = 0;
  for (int a : allocations_) {
    if (a >= 0 && attributes_[a].handle == handle) {
      ++n;
    }
  }
  return n;
}

std::vector<size_t> Block::pickFree(size_t n, const std::function<bool(size_t)>& skip) const {
  std::vector<size_t> out;
  for (size_t ord : unallocated_) {
    if (out.size() >= n) {
      break;
    }
    if (allocations_[ord] < 0 && !(skip && skip(ord))) {
      out.push_back(ord);
    }
  }
  return out;
}

int Block::findOrAddAttribute(const Attribute& attr) {
  for (size_t i = 0; i < attributes_.size(); ++i) {
    if (attributes_[i] == attr) {
      return static_cast<int>(i);
    }
  }
  attributes_.push_back(attr);
  return static_cast<int>(attributes_.size() - 1);
}

bool Block::allocate(size_t ordinal, const Attribute& attr) {
  if (ordinal >= allocations_.size() || allocations_[ordinal] >= 0) {
    return false;
  }
  allocations_[ordinal] = findOrAddAttribute(attr);
  unallocated_.erase(std::remove(unallocated_.begin(), unallocated_.end(), ordinal),
                     unallocated_.end());
  ++sequenceNumber_;
  return true;
}

std::optional<Attribute> Block::release(size_t ordinal) {
  if (ordinal >= allocations_.size() || allocations_[ordinal] < 0) {
    return std::nullopt;
  }
  Attribute a = attributes_[allocations_[ordinal]];
  allocations_[ordinal] = -1;
  unallocated_.push_back(ordinal);
  ++sequenceNumber_;
  compactAttributes();
  return a;
}

size_t Block::releaseHandle(const std::string& handle) {
  size_t n = 0;
  for (size_t i = 0; i < allocations_.size(); ++i) {
    if (allocations_[i] >= 0 && attributes_[allocations_[i]].handle == handle) {
      allocations_[i] = -1;
      unallocated_.push_back(i);
      ++n;
    }
  }
  if (n > 0) {
    ++sequenceNumber_;
    compactAttributes();
  }
  return n;
}

void Block::compactAttributes() {
  std::vector<int> remap(attributes_.size(), -1);
  std::vector<Attribute> kept;
  for (int& a : allocations_) {
    if (a < 0) {
      continue;
    }
    if (remap[a] < 0) {
      remap[a] = static_cast<int>(kept.size());
      kept.push_back(attributes_[a]);
    }
    a = remap[a];
  }
  attributes_ = std::move(kept);
}

} // namespace caracal::ipam::detail
