// Block IPAM. The order of writes is what keeps the datastore consistent when a process dies
// between two of them:
//   assign:  handle += n, then the block (so an allocated address always has a handle record; a
//            crash in between leaves a handle that over-counts, which release and check handle)
//   release: the block, then handle -= n
//   claim:   affinity (pending), then the block (affinity host:<node>), then affinity confirmed
//   unclaim: affinity pendingDeletion, then delete the (empty) block, then delete the affinity
// Each write is a compare-and-swap on one object; a Conflict re-reads that object and retries.
#include "ipam/ipam.h"

#include "api/selector.h"
#include "common/clock.h"
#include "common/strings.h"
#include "ipam/block.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace caracal::ipam {

using detail::Attribute;
using detail::Block;
using detail::U128;

struct detail::IpamShared {
  std::mutex mu;
  // The block each node last allocated from, per family ("node/4"); tried first next time.
  std::map<std::string, std::string> lastBlock;
};

namespace {

const api::KindInfo& kindOf(const char* apiVersion, const char* kind) {
  const api::KindInfo* k = api::findByKind(apiVersion, kind);
  if (!k) {
    std::abort(); // the registry always has these kinds
  }
  return *k;
}
// The projectcalico.org/v3 kinds IPAM keeps its state in.
struct IpamKinds {
  const api::KindInfo& block = calicoKind("IPAMBlock");
  const api::KindInfo& affinity = calicoKind("BlockAffinity");
  const api::KindInfo& handle = calicoKind("IPAMHandle");
  const api::KindInfo& pool = calicoKind("IPPool");
  const api::KindInfo& reservation = calicoKind("IPReservation");
  const api::KindInfo& config = calicoKind("IPAMConfiguration");

  static const api::KindInfo& calicoKind(const char* kind) {
    return kindOf("projectcalico.org/v3", kind);
  }
};
const IpamKinds& kinds() {
  static const IpamKinds k;
  return k;
}

constexpr int kDefaultMaxBlocksPerHost = 20;
// Candidate blocks examined per pool when looking for one to claim.
constexpr U128 kMaxClaimScan = 1 << 20;

std::string hostAffinity(std::string_view node) { return "host:" + std::string(node); }

// A host BlockAffinity `name` of `node` for the block `cidr`, in `state` (pending, confirmed).
Value affinityObject(const std::string& name, const std::string& node, const IpNet& cidr,
                     const char* state) {
  Value aff = Value::object();
  aff.set("apiVersion", "projectcalico.org/v3");
  aff.set("kind", "BlockAffinity");
  Value meta = Value::object();
  meta.set("name", name);
  aff.set("metadata", std::move(meta));
  Value spec = Value::object();
  spec.set("state", state);
  spec.set("node", node);
  spec.set("cidr", cidr.str());
  spec.set("type", "host");
  spec.set("deleted", false);
  aff.set("spec", std::move(spec));
  return aff;
}

// After a lost compare-and-swap: retry at once a couple of times, then back off a little, with
// jitter, so that writers racing on one block spread out.
void backoff(int attempt) {
  if (attempt < 2) {
    return;
  }
  thread_local std::mt19937 rng{std::random_device{}()};
  int capMs = std::min(50, attempt * 2);
  std::uniform_int_distribution<int> d(0, capMs * 1000);
  std::this_thread::sleep_for(std::chrono::microseconds(d(rng)));
}

Status exhaustedRetries(const std::string& what, int n) {
  return Status(Code::Conflict,
                what + ": still conflicting after " + std::to_string(n) + " attempts");
}

struct Pool {
  std::string name;
  IpNet cidr;
  int blockSize = 0;
  bool disabled = false;
  std::vector<std::string> allowedUses;
  std::string nodeSelector;
  std::string namespaceSelector;
  bool manual = false;

  bool allows(const std::string& use) const {
    return std::find(allowedUses.begin(), allowedUses.end(), use) != allowedUses.end();
  }
};

struct Config {
  bool strictAffinity = false;
  int maxBlocksPerHost = kDefaultMaxBlocksPerHost;
  bool autoAllocateBlocks = true;
};

struct Affinity {
  std::string name;
  std::string node;
  IpNet cidr;
  std::string state;
  Value obj;
};

Result<std::vector<Pool>> loadPools(Store& store) {
  ASSIGN_OR_RETURN(std::vector<Value> items, store.list(kinds().pool));
  std::vector<Pool> out;
  for (const auto& o : items) {
    Pool p;
    p.name = o.getString("metadata.name");
    auto cidr = api::parseCidr(o.getString("spec.cidr"));
    if (!cidr) {
      continue;
    }
    p.cidr = cidr->masked();
    int family = p.cidr.addr.family;
    p.blockSize = family == 4 ? 26 : 122;
    if (const Value* bs = o.path("spec.blockSize"); bs && bs->isInt() && bs->asInt() > 0) {
      p.blockSize = static_cast<int>(bs->asInt());
    }
    if (p.blockSize < p.cidr.prefix || p.blockSize > p.cidr.addr.bits()) {
      continue; // a pool smaller than one block cannot be carved
    }
    const Value* d = o.path("spec.disabled");
    p.disabled = d && d->isBool() && d->asBool();
    const Value* uses = o.path("spec.allowedUses");
    if (uses && uses->isArray() && uses->size() > 0) {
      for (const auto& u : uses->asArray()) {
        p.allowedUses.push_back(u.asString());
      }
    } else {
      p.allowedUses = {"Workload", "Tunnel"};
    }
    p.nodeSelector = o.getString("spec.nodeSelector");
    p.namespaceSelector = o.getString("spec.namespaceSelector");
    p.manual = o.getString("spec.assignmentMode") == "Manual";
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const Pool& a, const Pool& b) { return a.name < b.name; });
  return out;
}

Result<Config> loadConfig(Store& store) {
  Config c;
  auto got = store.get(kinds().config, "", "default");
  if (!got) {
    if (got.code() == Code::NotFound) {
      return c;
    }
    return got.error();
  }
  if (const Value* v = got->path("spec.strictAffinity"); v && v->isBool()) {
    c.strictAffinity = v->asBool();
  }
  if (const Value* v = got->path("spec.maxBlocksPerHost"); v && v->isInt() && v->asInt() > 0) {
    c.maxBlocksPerHost = static_cast<int>(std::min<int64_t>(v->asInt(), INT32_MAX));
  }
  if (const Value* v = got->path("spec.autoAllocateBlocks"); v && v->isBool()) {
    c.autoAllocateBlocks = v->asBool();
  }
  return c;
}

Result<std::vector<IpNet>> loadReservations(Store& store) {
  ASSIGN_OR_RETURN(std::vector<Value> items, store.list(kinds().reservation));
  std::vector<IpNet> out;
  for (const auto& o : items) {
    const Value* cidrs = o.path("spec.reservedCIDRs");
    if (!cidrs || !cidrs->isArray()) {
      continue;
    }
    for (const auto& c : cidrs->asArray()) {
      if (auto n = api::parseCidrOrIp(c.asString())) {
        out.push_back(n->masked());
      }
    }
  }
  return out;
}

bool isReserved(const IpAddr& ip, const std::vector<IpNet>& reservations) {
  for (const auto& r : reservations) {
    if (r.contains(ip)) {
      return true;
    }
  }
  return false;
}

Result<std::vector<Affinity>> loadAffinities(Store& store) {
  ASSIGN_OR_RETURN(std::vector<Value> items, store.list(kinds().affinity));
  std::vector<Affinity> out;
  for (auto& o : items) {
    auto cidr = api::parseCidr(o.getString("spec.cidr"));
    if (!cidr) {
      continue;
    }
    Affinity a;
    a.name = o.getString("metadata.name");
    a.node = o.getString("spec.node");
    a.cidr = cidr->masked();
    a.state = o.getString("spec.state");
    a.obj = std::move(o);
    out.push_back(std::move(a));
  }
  return out;
}

Result<bool> selectorMatches(const std::string& text, const std::map<std::string, std::string>& l,
                             const std::string& what) {
  if (trim(text).empty()) {
    return true;
  }
  auto sel = api::Selector::parse(text);
  if (!sel) {
    return sel.error().withContext(what);
  }
  api::Labels labels(l.begin(), l.end());
  return sel->matches(labels);
}

// Deletes an object, treating "already gone" as done.
Status removeIfPresent(Store& store, const api::KindInfo& kind, std::string_view name,
                       std::string_view rv) {
  Status st = store.remove(kind, "", name, rv);
  if (!st.isOk() && st.code() == Code::NotFound) {
    return Status::ok();
  }
  return st;
}

// One allocation request in progress: the inputs of an assignment and what it has loaded.
class Assigner {
public:
  Assigner(Store& store, const Options& opts, detail::IpamShared& shared, const AssignArgs& args)
      : store_(store), opts_(opts), shared_(shared), args_(args) {
    attr_.handle = args.handle;
    attr_.secondary = args.attrs;
    if (!attr_.secondary.count("node")) {
      attr_.secondary["node"] = args.node;
    }
    if (!attr_.secondary.count("timestamp")) {
      attr_.secondary["timestamp"] = nowRfc3339();
    }
  }

  Status load() {
    ASSIGN_OR_RETURN(pools_, loadPools(store_));
    ASSIGN_OR_RETURN(config_, loadConfig(store_));
    ASSIGN_OR_RETURN(reservations_, loadReservations(store_));
    return Status::ok();
  }

  const std::vector<Pool>& pools() const { return pools_; }

  // The pools to allocate `family` addresses from, in the order they are tried.
  Result<std::vector<Pool>> choosePools(int family, const std::vector<std::string>& requested) {
    std::vector<Pool> out;
    if (!requested.empty()) {
      for (const auto& r : requested) {
        auto net = api::parseCidr(r);
        const Pool* found = nullptr;
        for (const auto& p : pools_) {
          if (p.name == r || (net && net->masked() == p.cidr)) {
            found = &p;
            break;
          }
        }
        if (!found || found->disabled) {
          return Status(Code::Invalid,
                        "the given pool (" + r + ") does not exist, or is not enabled");
        }
        if (found->cidr.addr.family != family) {
          continue;
        }
        if (!found->allows(args_.use)) {
          return Status(Code::Invalid,
                        "the given pool (" + r + ") does not allow use " + args_.use);
        }
        if (std::none_of(out.begin(), out.end(),
                         [&](const Pool& p) { return p.name == found->name; })) {
          out.push_back(*found);
        }
      }
      return out;
    }
    for (const auto& p : pools_) {
      if (p.cidr.addr.family != family || p.disabled || p.manual || !p.allows(args_.use)) {
        continue;
      }
      ASSIGN_OR_RETURN(bool nodeOk, selectorMatches(p.nodeSelector, nodeLabels(p.nodeSelector),
                                                    "IPPool " + p.name + " nodeSelector"));
      if (!nodeOk) {
        continue;
      }
      if (args_.use != "Tunnel") {
        ASSIGN_OR_RETURN(bool nsOk,
                         selectorMatches(p.namespaceSelector, namespaceLabels(p.namespaceSelector),
                                         "IPPool " + p.name + " namespaceSelector"));
        if (!nsOk) {
          continue;
        }
      }
      out.push_back(p);
    }
    return out;
  }

  // Allocates `n` addresses of `family` from `pools`: the node's blocks, then newly claimed
  // blocks, then (without strict affinity) any block of the pools.
  Result<std::vector<IpAddr>> assignFamily(int family, size_t n, const std::vector<Pool>& pools) {
    std::vector<IpAddr> got;
    auto inPools = [&](const IpNet& cidr) {
      return std::any_of(pools.begin(), pools.end(),
                         [&](const Pool& p) { return p.cidr.contains(cidr); });
    };
    auto take = [&](const IpNet& cidr, bool affine, const std::optional<Value>& cached) -> Status {
      ASSIGN_OR_RETURN(std::vector<IpAddr> ips,
                       assignFromBlock(cidr, n - got.size(), affine, cached));
      if (!ips.empty()) {
        got.insert(got.end(), ips.begin(), ips.end());
        if (affine) {
          rememberBlock(family, cidr);
        }
      }
      return Status::ok();
    };
    auto fail = [&](Status st) -> Status {
      releaseQuietly(got);
      return st;
    };

    // 1. The node's own blocks.
    auto affs = loadAffinities(store_);
    if (!affs) {
      return affs.error();
    }
    std::vector<IpNet> mine;
    size_t owned = 0;
    for (const auto& a : *affs) {
      if (a.node != args_.node || a.cidr.addr.family != family) {
        continue;
      }
      if (a.state == "pending") {
        // A claim of this node that created the block but failed to confirm the affinity: the
        // block is the node's, so finish the claim rather than strand the block.
        auto adopted = adoptPendingBlock(a);
        if (!adopted) {
          return adopted.error();
        }
        if (!*adopted) {
          continue;
        }
      } else if (a.state != "confirmed") {
        continue;
      }
      ++owned;
      if (inPools(a.cidr)) {
        mine.push_back(a.cidr);
      }
    }
    std::sort(mine.begin(), mine.end(), detail::netLess);
    rotateToLastBlock(family, mine);
    for (const auto& cidr : mine) {
      if (got.size() >= n) {
        break;
      }
      if (Status st = take(cidr, true, std::nullopt); !st.isOk()) {
        return fail(st);
      }
    }

    // 2. New blocks, while under the per-node limit.
    while (got.size() < n && config_.autoAllocateBlocks &&
           owned < size_t(config_.maxBlocksPerHost)) {
      auto claimed = claimNewBlock(pools);
      if (!claimed) {
        return fail(claimed.error());
      }
      if (!*claimed) {
        break; // every block of the pools is taken
      }
      ++owned;
      auto& [cidr, obj] = **claimed;
      if (Status st = take(cidr, true, obj); !st.isOk()) {
        return fail(st);
      }
    }

    // 3. Borrow from any block of the pools.
    if (got.size() < n && !config_.strictAffinity) {
      auto blocks = store_.list(kinds().block);
      if (!blocks) {
        return fail(blocks.error());
      }
      std::vector<std::pair<IpNet, Value>> candidates;
      for (auto& o : *blocks) {
        auto cidr = api::parseCidr(o.getString("spec.cidr"));
        if (cidr && cidr->addr.family == family && inPools(*cidr)) {
          candidates.emplace_back(*cidr, std::move(o));
        }
      }
      std::sort(candidates.begin(), candidates.end(),
                [](const auto& a, const auto& b) { return detail::netLess(a.first, b.first); });
      for (auto& [cidr, obj] : candidates) {
        if (got.size() >= n) {
          break;
        }
        if (Status st = take(cidr, false, obj); !st.isOk()) {
          return fail(st);
        }
      }
    }

    if (got.size() < n) {
      std::vector<std::string> names;
      for (const auto& p : pools) {
        names.push_back(p.name);
      }
      return fail(Status(Code::Unavailable,
                         "no free IPv" + std::to_string(family) + " address for node " +
                             args_.node + " in pools [" + join(names, ", ") + "] (" +
                             std::to_string(got.size()) + " of " + std::to_string(n) + " found" +
                             (config_.strictAffinity ? "; strictAffinity forbids borrowing" : "") +
                             ")"));
    }
    return got;
  }

  // Allocates exactly `ip`; claims its block for the node when the block does not exist yet.
  Status assignSpecific(const IpAddr& ip) {
    const Pool* pool = nullptr;
    for (const auto& p : pools_) {
      if (!p.disabled && p.cidr.contains(ip)) {
        pool = &p;
        break;
      }
    }
    if (!pool) {
      return Status(Code::Invalid, "IP " + ip.str() + " is not in any enabled IP pool");
    }
    IpNet cidr = detail::blockOf(ip, pool->blockSize);
    std::optional<Value> cached;
    int64_t handleCount = 0;
    auto undo = [&](Status st) {
      if (handleCount > 0) {
        (void)adjustHandle(cidr, -handleCount, false);
      }
      return st;
    };
    for (int attempt = 0; attempt < opts_.maxRetries; ++attempt) {
      if (!cached) {
        auto got = store_.get(kinds().block, "", blockName(cidr));
        if (!got && got.code() != Code::NotFound) {
          return undo(got.error());
        }
        if (!got) {
          auto claimed = claimBlock(cidr);
          if (!claimed) {
            return undo(claimed.error());
          }
          if (*claimed) {
            cached = std::move(**claimed);
          }
          continue; // re-read when another node won the claim
        }
        cached = std::move(got).value();
      }
      auto blk = Block::fromObject(*cached);
      cached.reset();
      if (!blk) {
        return undo(blk.error());
      }
      auto ordinal = blk->ordinalOf(ip);
      if (!ordinal) {
        return undo(Status(Code::Internal, "IPAMBlock " + blockName(cidr) + " holds " +
                                               blk->cidr().str() + ", not " + ip.str()));
      }
      size_t ord = *ordinal;
      if (const Attribute* a = blk->allocationAt(ord)) {
        return undo(Status(Code::AlreadyExists, "IP " + ip.str() +
                                                    " is already allocated in block " + cidr.str() +
                                                    " (handle " + a->handle + ")"));
      }
      if (handleCount == 0) {
        RETURN_IF_ERROR(adjustHandle(cidr, 1, false));
        handleCount = 1;
      }
      blk->allocate(ord, attr_);
      auto r = store_.update(kinds().block, blk->toObject());
      if (r) {
        return Status::ok();
      }
      if (r.code() != Code::Conflict && r.code() != Code::NotFound) {
        return undo(r.error());
      }
      backoff(attempt);
    }
    return undo(exhaustedRetries("assigning " + ip.str(), opts_.maxRetries));
  }

  // Adds `delta` to the handle's count for `cidr` (dropping the entry with `drop`), creating the
  // handle on first use and deleting it when it records nothing.
  Status adjustHandle(const IpNet& cidr, int64_t delta, bool drop) {
    return adjustHandleOf(store_, opts_, args_.handle, cidr, delta, drop);
  }

  static Status adjustHandleOf(Store& store, const Options& opts, const std::string& handle,
                               const IpNet& cidr, int64_t delta, bool drop) {
    std::string name = handleName(handle);
    std::string key = cidr.str();
    for (int attempt = 0; attempt < opts.maxRetries; ++attempt) {
      auto got = store.get(kinds().handle, "", name);
      if (!got) {
        if (got.code() != Code::NotFound) {
          return got.error();
        }
        if (delta <= 0 || drop) {
          return Status::ok();
        }
        Value obj = Value::object();
        obj.set("apiVersion", "projectcalico.org/v3");
        obj.set("kind", "IPAMHandle");
        Value meta = Value::object();
        meta.set("name", name);
        obj.set("metadata", std::move(meta));
        Value spec = Value::object();
        spec.set("handleID", handle);
        Value blocks = Value::object();
        blocks.set(key, Value(delta));
        spec.set("block", std::move(blocks));
        obj.set("spec", std::move(spec));
        auto c = store.create(kinds().handle, obj);
        if (c) {
          return Status::ok();
        }
        if (c.code() != Code::AlreadyExists) {
          return c.error();
        }
        continue;
      }
      Value obj = std::move(got).value();
      if (obj.getString("spec.handleID") != handle) {
        return Status(Code::Internal, "IPAMHandle " + name + " belongs to handle " +
                                          obj.getString("spec.handleID") + ", not " + handle);
      }
      Value& blocks = obj["spec"]["block"];
      int64_t count = delta;
      if (const Value* cur = blocks.find(key); cur && cur->isInt()) {
        count += cur->asInt();
      }
      if (drop || count <= 0) {
        if (!blocks.find(key)) {
          return Status::ok();
        }
        blocks.erase(key);
      } else {
        blocks.set(key, Value(count));
      }
      Status st;
      if (blocks.asObject().empty()) {
        st = store.remove(kinds().handle, "", name, obj.getString("metadata.resourceVersion"));
      } else {
        st = store.update(kinds().handle, obj).status();
      }
      if (st.isOk()) {
        return st;
      }
      if (st.code() != Code::Conflict && st.code() != Code::NotFound) {
        return st;
      }
      backoff(attempt);
    }
    return exhaustedRetries("updating handle " + handle, opts.maxRetries);
  }

  // Claims `cidr` for the node: pending affinity, block, confirmed affinity. Returns the block
  // object when the block is the node's, nullopt when another node holds it.
  Result<std::optional<Value>> claimBlock(const IpNet& cidr) {
    std::string affName = affinityName(args_.node, cidr);
    Value aff = affinityObject(affName, args_.node, cidr, "pending");
    auto c = store_.create(kinds().affinity, aff);
    if (!c) {
      if (c.code() != Code::AlreadyExists) {
        return c.error();
      }
      // Ours already (a racing claim from this node, or a leftover): fine unless being deleted.
      auto existing = store_.get(kinds().affinity, "", affName);
      if (existing && existing->getString("spec.state") == "pendingDeletion") {
        return std::optional<Value>();
      }
    }

    Block fresh = Block::fresh(cidr, hostAffinity(args_.node));
    Value obj = fresh.toObject();
    obj["metadata"].set("name", blockName(cidr));
    Value blockObj;
    auto b = store_.create(kinds().block, obj);
    if (b) {
      blockObj = std::move(b).value();
    } else if (b.code() == Code::AlreadyExists) {
      auto existing = store_.get(kinds().block, "", blockName(cidr));
      if (!existing || existing->getString("spec.affinity") != hostAffinity(args_.node)) {
        dropPendingAffinity(affName);
        if (!existing && existing.code() != Code::NotFound) {
          return existing.error();
        }
        return std::optional<Value>();
      }
      blockObj = std::move(existing).value();
    } else {
      dropPendingAffinity(affName);
      return b.error();
    }

    RETURN_IF_ERROR(confirmAffinity(affName, cidr));
    return std::optional<Value>(std::move(blockObj));
  }

  // Finds a block of `pools` that no block overlaps yet and claims it; nullopt when none is left.
  Result<std::optional<std::pair<IpNet, Value>>> claimNewBlock(const std::vector<Pool>& pools) {
    ASSIGN_OR_RETURN(std::vector<Value> blocks, store_.list(kinds().block));
    // Existing blocks as [first, last] address intervals, per family.
    std::map<std::pair<int, U128>, U128> taken;
    auto markTaken = [&](const IpNet& n) {
      U128 first = detail::toU128(n.addr);
      taken[{n.addr.family, first}] = first + (detail::netSize(n) - 1);
    };
    for (const auto& o : blocks) {
      if (auto n = api::parseCidr(o.getString("spec.cidr"))) {
        markTaken(n->masked());
      }
    }
    auto overlapsTaken = [&](int family, U128 first, U128 last) {
      auto it = taken.upper_bound({family, last});
      if (it == taken.begin()) {
        return false;
      }
      --it;
      return it->first.first == family && it->second >= first;
    };
    for (const auto& pool : pools) {
      int family = pool.cidr.addr.family;
      IpNet sample = detail::blockOf(pool.cidr.addr, pool.blockSize);
      U128 step = detail::netSize(sample);
      int blockBits = pool.blockSize - pool.cidr.prefix;
      U128 count = blockBits >= 128 ? ~U128(0) : U128(1) << blockBits;
      U128 base = detail::toU128(pool.cidr.addr);
      U128 scanned = 0;
      for (U128 i = 0; i < count && scanned < kMaxClaimScan; ++i, ++scanned) {
        U128 first = base + i * step;
        U128 last = first + (step - 1);
        if (overlapsTaken(family, first, last)) {
          continue;
        }
        IpNet cand{detail::fromU128(family, first), pool.blockSize};
        if (std::any_of(reservations_.begin(), reservations_.end(),
                        [&](const IpNet& r) { return r.contains(cand); })) {
          continue;
        }
        ASSIGN_OR_RETURN(std::optional<Value> claimed, claimBlock(cand));
        if (claimed) {
          return std::optional<std::pair<IpNet, Value>>(std::make_pair(cand, std::move(*claimed)));
        }
        markTaken(cand); // another node won it
      }
    }
    return std::optional<std::pair<IpNet, Value>>();
  }

private:
  std::map<std::string, std::string> nodeLabels(const std::string& selector) {
    if (!args_.nodeLabels.empty() || trim(selector).empty() || trim(selector) == "all()") {
      return args_.nodeLabels;
    }
    if (!nodeLabelsLoaded_) {
      nodeLabelsLoaded_ = true;
      // Calico's Node carries the labels in standalone mode; the Kubernetes Node otherwise.
      for (const auto& [apiVersion, kind] :
           {std::pair{"projectcalico.org/v3", "Node"}, std::pair{"v1", "Node"}}) {
        auto got = store_.get(kindOf(apiVersion, kind), "", args_.node);
        if (got) {
          loadedNodeLabels_ = labelsOf(*got);
          break;
        }
      }
    }
    return loadedNodeLabels_;
  }

  std::map<std::string, std::string> namespaceLabels(const std::string& selector) {
    if (!args_.namespaceLabels.empty() || trim(selector).empty()) {
      return args_.namespaceLabels;
    }
    if (!nsLabelsLoaded_) {
      nsLabelsLoaded_ = true;
      auto ns = args_.attrs.find("namespace");
      if (ns != args_.attrs.end()) {
        auto got = store_.get(kindOf("v1", "Namespace"), "", ns->second);
        if (got) {
          loadedNsLabels_ = labelsOf(*got);
        }
      }
    }
    return loadedNsLabels_;
  }

  // Allocates up to `want` addresses in one block; fewer (maybe none) when it is full, gone or,
  // with `affine`, no longer the node's.
  Result<std::vector<IpAddr>> assignFromBlock(const IpNet& cidr, size_t want, bool affine,
                                              std::optional<Value> cached) {
    int64_t handleCount = 0;
    auto undo = [&]() {
      if (handleCount > 0) {
        (void)adjustHandle(cidr, -handleCount, false);
      }
    };
    for (int attempt = 0; attempt < opts_.maxRetries; ++attempt) {
      if (!cached) {
        auto got = store_.get(kinds().block, "", blockName(cidr));
        if (!got) {
          undo();
          if (got.code() == Code::NotFound) {
            return std::vector<IpAddr>();
          }
          return got.error();
        }
        cached = std::move(got).value();
      }
      auto blk = Block::fromObject(*cached);
      cached.reset();
      if (!blk || (affine && blk->affinity() != hostAffinity(args_.node))) {
        undo(); // an unreadable block, or one that changed hands: use others
        return std::vector<IpAddr>();
      }
      std::vector<size_t> ords = blk->pickFree(
          want, [&](size_t ord) { return isReserved(blk->addressAt(ord), reservations_); });
      if (ords.empty()) {
        undo();
        return std::vector<IpAddr>();
      }
      int64_t n = static_cast<int64_t>(ords.size());
      if (n != handleCount) {
        Status st = adjustHandle(cidr, n - handleCount, false);
        if (!st.isOk()) {
          undo();
          return st;
        }
        handleCount = n;
      }
      std::vector<IpAddr> ips;
      for (size_t ord : ords) {
        blk->allocate(ord, attr_);
        ips.push_back(blk->addressAt(ord));
      }
      auto r = store_.update(kinds().block, blk->toObject());
      if (r) {
        return ips;
      }
      if (r.code() == Code::NotFound) {
        undo();
        return std::vector<IpAddr>();
      }
      if (r.code() != Code::Conflict) {
        undo();
        return r.error();
      }
      backoff(attempt);
    }
    undo();
    return exhaustedRetries("allocating from block " + cidr.str(), opts_.maxRetries);
  }

  // True when the node's pending affinity `a` names a block that exists and is affine to the
  // node; the affinity is then confirmed. False (nothing done) for a claim still in its first steps
  // or one lost to another node.
  Result<bool> adoptPendingBlock(const Affinity& a) {
    auto b = store_.get(kinds().block, "", blockName(a.cidr));
    if (!b) {
      if (b.code() == Code::NotFound) {
        return false;
      }
      return b.error();
    }
    if (b->getString("spec.affinity") != hostAffinity(args_.node)) {
      return false;
    }
    // pending -> confirmed only: an affinity being released (pendingDeletion) is left alone.
    Value obj = a.obj;
    for (int attempt = 0; attempt < opts_.maxRetries; ++attempt) {
      std::string state = obj.getString("spec.state");
      if (state == "confirmed") {
        return true;
      }
      if (state != "pending") {
        return false;
      }
      obj["spec"].set("state", "confirmed");
      auto u = store_.update(kinds().affinity, obj);
      if (u) {
        return true;
      }
      if (u.code() == Code::NotFound) {
        return false;
      }
      if (u.code() != Code::Conflict) {
        return u.error();
      }
      auto again = store_.get(kinds().affinity, "", a.name);
      if (!again) {
        if (again.code() == Code::NotFound) {
          return false;
        }
        return again.error();
      }
      obj = std::move(again).value();
      backoff(attempt);
    }
    return exhaustedRetries("confirming affinity " + a.name, opts_.maxRetries);
  }

  void dropPendingAffinity(const std::string& affName) {
    auto got = store_.get(kinds().affinity, "", affName);
    if (got && got->getString("spec.state") == "pending") {
      (void)store_.remove(kinds().affinity, "", affName,
                          got->getString("metadata.resourceVersion"));
    }
  }

  Status confirmAffinity(const std::string& affName, const IpNet& cidr) {
    for (int attempt = 0; attempt < opts_.maxRetries; ++attempt) {
      auto got = store_.get(kinds().affinity, "", affName);
      if (!got) {
        if (got.code() != Code::NotFound) {
          return got.error();
        }
        Value aff = affinityObject(affName, args_.node, cidr, "confirmed");
        auto c = store_.create(kinds().affinity, aff);
        if (c || c.code() == Code::AlreadyExists) {
          continue;
        }
        return c.error();
      }
      if (got->getString("spec.state") == "confirmed") {
        return Status::ok();
      }
      Value obj = std::move(got).value();
      obj["spec"].set("state", "confirmed");
      auto u = store_.update(kinds().affinity, obj);
      if (u) {
        return Status::ok();
      }
      if (u.code() != Code::Conflict && u.code() != Code::NotFound) {
        return u.error();
      }
      backoff(attempt);
    }
    return exhaustedRetries("confirming affinity " + affName, opts_.maxRetries);
  }

  std::string hintKey(int family) const { return args_.node + "/" + std::to_string(family); }

  void rememberBlock(int family, const IpNet& cidr) {
    std::lock_guard<std::mutex> lock(shared_.mu);
    shared_.lastBlock[hintKey(family)] = cidr.str();
  }

  // Starts the scan at the block last allocated from: the lower ones are most likely full.
  void rotateToLastBlock(int family, std::vector<IpNet>& blocks) {
    std::string last;
    {
      std::lock_guard<std::mutex> lock(shared_.mu);
      auto it = shared_.lastBlock.find(hintKey(family));
      if (it == shared_.lastBlock.end()) {
        return;
      }
      last = it->second;
    }
    auto it =
        std::find_if(blocks.begin(), blocks.end(), [&](const IpNet& b) { return b.str() == last; });
    if (it != blocks.end()) {
      std::rotate(blocks.begin(), it, blocks.end());
    }
  }

  void releaseQuietly(const std::vector<IpAddr>& ips);

  Store& store_;
  const Options& opts_;
  detail::IpamShared& shared_;
  const AssignArgs& args_;
  Attribute attr_;
  std::vector<Pool> pools_;
  Config config_;
  std::vector<IpNet> reservations_;
  bool nodeLabelsLoaded_ = false;
  std::map<std::string, std::string> loadedNodeLabels_;
  bool nsLabelsLoaded_ = false;
  std::map<std::string, std::string> loadedNsLabels_;
};

// Finds the block holding an address: through the pools (one read), else by listing blocks.
class BlockFinder {
public:
  explicit BlockFinder(Store& store) : store_(store) {}

  // The block's CIDR and its stored object; nullopt when no block holds the address.
  Result<std::optional<std::pair<IpNet, Value>>> find(const IpAddr& ip) {
    if (!pools_) {
      ASSIGN_OR_RETURN(pools_, loadPools(store_));
    }
    for (const auto& p : *pools_) {
      if (!p.cidr.contains(ip)) {
        continue;
      }
      IpNet cidr = detail::blockOf(ip, p.blockSize);
      auto got = store_.get(kinds().block, "", blockName(cidr));
      if (got) {
        return std::optional<std::pair<IpNet, Value>>(std::make_pair(cidr, std::move(*got)));
      }
      if (got.code() != Code::NotFound) {
        return got.error();
      }
    }
    if (!blocks_) {
      ASSIGN_OR_RETURN(blocks_, store_.list(kinds().block));
    }
    for (const auto& o : *blocks_) {
      auto cidr = api::parseCidr(o.getString("spec.cidr"));
      if (cidr && cidr->contains(ip)) {
        return std::optional<std::pair<IpNet, Value>>(std::make_pair(cidr->masked(), o));
      }
    }
    return std::optional<std::pair<IpNet, Value>>();
  }

private:
  Store& store_;
  std::optional<std::vector<Pool>> pools_;
  std::optional<std::vector<Value>> blocks_;
};

// Writes a block after releases: deleted when empty and affine to nobody, else updated.
Status writeReleasedBlock(Store& store, const Block& blk) {
  if (blk.empty() && blk.affinity().empty()) {
    return store.remove(kinds().block, "", blockName(blk.cidr()), blk.resourceVersion());
  }
  return store.update(kinds().block, blk.toObject()).status();
}

// Frees the addresses; one whose expected handle (non-empty) differs from the handle the block
// records for it is left allocated and reported in handleMismatch.
Result<ReleaseResult> releaseAddresses(Store& store, const Options& opts,
                                       const std::vector<ReleaseOptions>& ips) {
  BlockFinder finder(store);
  std::vector<IpAddr> notAllocated;
  std::vector<std::pair<IpAddr, std::string>> mismatched;
  struct Group {
    IpNet cidr;
    std::optional<Value> cached;
    std::vector<ReleaseOptions> ips;
  };
  std::map<std::string, Group> groups;
  std::set<std::string> seen;
  for (const auto& want : ips) {
    const IpAddr& ip = want.address;
    if (!seen.insert(ip.str()).second) {
      continue;
    }
    ASSIGN_OR_RETURN(auto found, finder.find(ip));
    if (!found) {
      notAllocated.push_back(ip);
      continue;
    }
    Group& g = groups[found->first.str()];
    if (g.ips.empty()) {
      g.cidr = found->first;
      g.cached = std::move(found->second);
    }
    g.ips.push_back(want);
  }
  for (auto& [key, g] : groups) {
    std::map<std::string, int64_t> freed; // handle -> count
    bool done = false;
    for (int attempt = 0; attempt < opts.maxRetries && !done; ++attempt) {
      if (!g.cached) {
        auto got = store.get(kinds().block, "", blockName(g.cidr));
        if (!got) {
          if (got.code() != Code::NotFound) {
            return got.error();
          }
          g.cached = Value(); // gone: nothing of it is allocated
        } else {
          g.cached = std::move(got).value();
        }
      }
      freed.clear();
      std::vector<IpAddr> missing;
      std::vector<std::pair<IpAddr, std::string>> others;
      std::optional<Block> blk;
      if (!g.cached->isNull()) {
        ASSIGN_OR_RETURN(Block b, Block::fromObject(*g.cached));
        blk = std::move(b);
      }
      g.cached.reset();
      for (const auto& want : g.ips) {
        std::optional<Attribute> a;
        if (blk) {
          if (auto ord = blk->ordinalOf(want.address)) {
            // Checked against this very version of the block: the write below only succeeds
            // when nothing changed since, so the address cannot have changed hands meanwhile.
            const Attribute* cur = blk->allocationAt(*ord);
            if (cur && !want.handle.empty() && cur->handle != want.handle) {
              others.emplace_back(want.address, cur->handle);
              continue;
            }
            a = blk->release(*ord);
          }
        }
        if (a) {
          ++freed[a->handle];
        } else {
          missing.push_back(want.address);
        }
      }
      auto settle = [&] {
        notAllocated.insert(notAllocated.end(), missing.begin(), missing.end());
        mismatched.insert(mismatched.end(), others.begin(), others.end());
        done = true;
      };
      if (freed.empty()) {
        settle();
        break;
      }
      Status st = writeReleasedBlock(store, *blk);
      if (st.isOk()) {
        settle();
        break;
      }
      if (st.code() != Code::Conflict && st.code() != Code::NotFound) {
        return st;
      }
      backoff(attempt);
    }
    if (!done) {
      return exhaustedRetries("releasing from block " + g.cidr.str(), opts.maxRetries);
    }
    for (const auto& [handle, n] : freed) {
      if (!handle.empty()) {
        RETURN_IF_ERROR(Assigner::adjustHandleOf(store, opts, handle, g.cidr, -n, false));
      }
    }
  }
  std::sort(notAllocated.begin(), notAllocated.end(), detail::addrLess);
  std::sort(mismatched.begin(), mismatched.end(),
            [](const auto& a, const auto& b) { return detail::addrLess(a.first, b.first); });
  ReleaseResult out;
  out.notAllocated = std::move(notAllocated);
  out.handleMismatch = std::move(mismatched);
  return out;
}

std::vector<ReleaseOptions> anyHandle(const std::vector<IpAddr>& ips) {
  std::vector<ReleaseOptions> out;
  out.reserve(ips.size());
  for (const auto& ip : ips) {
    out.push_back({ip, ""});
  }
  return out;
}

void Assigner::releaseQuietly(const std::vector<IpAddr>& ips) {
  if (!ips.empty()) {
    (void)releaseAddresses(store_, opts_, anyHandle(ips));
  }
}

Status validateArgs(const AssignArgs& args) {
  if (args.handle.empty()) {
    return Status::invalidField("handle", "required");
  }
  if (args.node.empty()) {
    return Status::invalidField("node", "required");
  }
  if (args.num4 < 0 || args.num6 < 0) {
    return Status(Code::Invalid, "the number of addresses must not be negative");
  }
  return Status::ok();
}

std::string cidrName(const IpNet& net) {
  std::string s = net.masked().addr.str() + "-" + std::to_string(net.prefix);
  for (char& c : s) {
    if (c == '.' || c == ':') {
      c = '-';
    }
  }
  return s;
}

} // namespace

std::string podHandle(std::string_view containerId) {
  return "k8s-pod-network." + std::string(containerId);
}
std::string vxlanTunnelHandle(std::string_view node) {
  return "vxlan-tunnel-addr-" + std::string(node);
}
std::string ipipTunnelHandle(std::string_view node) {
  return "ipip-tunnel-addr-" + std::string(node);
}
std::string blockName(const IpNet& block) { return cidrName(block); }
std::string affinityName(std::string_view node, const IpNet& block) {
  return std::string(node) + "-" + cidrName(block);
}
std::string handleName(std::string_view handleId) { return toLower(handleId); }

std::map<std::string, std::string> labelsOf(const Value& obj) {
  std::map<std::string, std::string> out;
  if (const Value* l = obj.path("metadata.labels"); l && l->isObject()) {
    for (const auto& [k, v] : l->asObject()) {
      out[k] = v.asString();
    }
  }
  return out;
}

const char* problemKindName(Problem::Kind k) {
  switch (k) {
  case Problem::Kind::LeakedAddress:
    return "LeakedAddress";
  case Problem::Kind::DoubleAssigned:
    return "DoubleAssigned";
  case Problem::Kind::HandleMismatch:
    return "HandleMismatch";
  case Problem::Kind::OrphanAffinity:
    return "OrphanAffinity";
  }
  return "Unknown";
}

Ipam::Ipam(Store& store, Options opts)
    : store_(store), opts_(opts), shared_(std::make_shared<detail::IpamShared>()) {
  if (opts_.maxRetries < 1) {
    opts_.maxRetries = 1;
  }
}

Result<std::vector<IpNet>> Ipam::autoAssign(const AssignArgs& args) {
  RETURN_IF_ERROR(validateArgs(args));
  Assigner a(store_, opts_, *shared_, args);
  RETURN_IF_ERROR(a.load());
  std::vector<IpAddr> all;
  for (int family : {4, 6}) {
    int n = family == 4 ? args.num4 : args.num6;
    if (n == 0) {
      continue;
    }
    auto pools = a.choosePools(family, family == 4 ? args.pools4 : args.pools6);
    Status st = pools.status();
    if (st.isOk() && pools->empty()) {
      st = Status(Code::Unavailable, "no IPv" + std::to_string(family) +
                                         " pool is usable for node " + args.node + " (use " +
                                         args.use + ")");
    }
    if (st.isOk()) {
      auto got = a.assignFamily(family, static_cast<size_t>(n), *pools);
      if (got) {
        all.insert(all.end(), got->begin(), got->end());
        continue;
      }
      st = got.error();
    }
    if (!all.empty()) {
      (void)releaseAddresses(store_, opts_, anyHandle(all));
    }
    return st;
  }
  std::vector<IpNet> out;
  for (const auto& ip : all) {
    out.push_back(detail::hostNet(ip));
  }
  return out;
}

Status Ipam::assignIp(const IpAddr& ip, const AssignArgs& args) {
  RETURN_IF_ERROR(validateArgs(args));
  Assigner a(store_, opts_, *shared_, args);
  RETURN_IF_ERROR(a.load());
  return a.assignSpecific(ip);
}

Status Ipam::releaseByHandle(std::string_view handle) {
  std::string id(handle);
  auto got = store_.get(kinds().handle, "", handleName(id));
  if (!got) {
    return got.code() == Code::NotFound ? Status::ok() : got.error();
  }
  std::vector<IpNet> cidrs;
  if (const Value* blocks = got->path("spec.block"); blocks && blocks->isObject()) {
    for (const auto& [k, v] : blocks->asObject()) {
      if (auto n = api::parseCidr(k)) {
        cidrs.push_back(*n);
      }
    }
  }
  for (const auto& cidr : cidrs) {
    bool done = false;
    for (int attempt = 0; attempt < opts_.maxRetries && !done; ++attempt) {
      auto b = store_.get(kinds().block, "", blockName(cidr));
      if (!b) {
        if (b.code() != Code::NotFound) {
          return b.error();
        }
        done = true;
        break;
      }
      ASSIGN_OR_RETURN(Block blk, Block::fromObject(*b));
      if (blk.releaseHandle(id) == 0) {
        done = true;
        break;
      }
      Status st = writeReleasedBlock(store_, blk);
      if (st.isOk()) {
        done = true;
        break;
      }
      if (st.code() != Code::Conflict && st.code() != Code::NotFound) {
        return st;
      }
      backoff(attempt);
    }
    if (!done) {
      return exhaustedRetries("releasing handle " + id, opts_.maxRetries);
    }
    RETURN_IF_ERROR(Assigner::adjustHandleOf(store_, opts_, id, cidr, 0, true));
  }
  return Status::ok();
}

Result<std::vector<IpAddr>> Ipam::releaseIps(const std::vector<IpAddr>& ips) {
  ASSIGN_OR_RETURN(ReleaseResult r, releaseAddresses(store_, opts_, anyHandle(ips)));
  return std::move(r.notAllocated);
}

Result<ReleaseResult> Ipam::releaseIpsChecked(const std::vector<ReleaseOptions>& ips) {
  return releaseAddresses(store_, opts_, ips);
}

Result<std::vector<IpAddr>> Ipam::ipsByHandle(std::string_view handle) {
  std::string id(handle);
  ASSIGN_OR_RETURN(Value h, store_.get(kinds().handle, "", handleName(id)));
  std::vector<IpAddr> out;
  if (const Value* blocks = h.path("spec.block"); blocks && blocks->isObject()) {
    for (const auto& [k, v] : blocks->asObject()) {
      auto cidr = api::parseCidr(k);
      if (!cidr) {
        continue;
      }
      auto b = store_.get(kinds().block, "", blockName(*cidr));
      if (!b) {
        if (b.code() == Code::NotFound) {
          continue;
        }
        return b.error();
      }
      ASSIGN_OR_RETURN(Block blk, Block::fromObject(*b));
      for (size_t ord : blk.allocatedOrdinals()) {
        if (blk.allocationAt(ord)->handle == id) {
          out.push_back(blk.addressAt(ord));
        }
      }
    }
  }
  std::sort(out.begin(), out.end(), detail::addrLess);
  return out;
}

Result<Allocation> Ipam::lookup(const IpAddr& ip) {
  BlockFinder finder(store_);
  ASSIGN_OR_RETURN(auto found, finder.find(ip));
  if (found) {
    ASSIGN_OR_RETURN(Block blk, Block::fromObject(found->second));
    if (auto ord = blk.ordinalOf(ip)) {
      if (const Attribute* a = blk.allocationAt(*ord)) {
        Allocation out;
        out.ip = ip;
        out.block = blk.cidr();
        out.handle = a->handle;
        out.attrs = a->secondary;
        out.blockAffinity = blk.affinity();
        return out;
      }
    }
  }
  return Status(Code::NotFound, "IP " + ip.str() + " is not assigned");
}

Status Ipam::releaseNodeAffinities(std::string_view node) {
  ASSIGN_OR_RETURN(std::vector<Affinity> affs, loadAffinities(store_));
  for (auto& a : affs) {
    if (a.node != node) {
      continue;
    }
    auto b = store_.get(kinds().block, "", blockName(a.cidr));
    if (!b) {
      if (b.code() != Code::NotFound) {
        return b.error();
      }
      RETURN_IF_ERROR(removeIfPresent(store_, kinds().affinity, a.name,
                                      a.obj.getString("metadata.resourceVersion")));
      continue;
    }
    ASSIGN_OR_RETURN(Block blk, Block::fromObject(*b));
    if (blk.affinity() != hostAffinity(node)) {
      // The block belongs to another node (a claim this node lost): the affinity is stale.
      RETURN_IF_ERROR(removeIfPresent(store_, kinds().affinity, a.name,
                                      a.obj.getString("metadata.resourceVersion")));
      continue;
    }
    if (!blk.empty()) {
      continue;
    }
    // Mark the affinity first so that a crash leaves a visible pendingDeletion, then delete the
    // block only if it is still empty (its resourceVersion unchanged), then the affinity.
    Value marked = a.obj;
    marked["spec"].set("state", "pendingDeletion");
    auto u = store_.update(kinds().affinity, marked);
    if (!u) {
      if (u.code() == Code::Conflict || u.code() == Code::NotFound) {
        continue; // changed under us; a later pass deals with it
      }
      return u.error();
    }
    Status st = store_.remove(kinds().block, "", blockName(a.cidr), blk.resourceVersion());
    if (!st.isOk() && st.code() == Code::Conflict) {
      // Someone allocated from it meanwhile: keep the block, confirm the affinity again.
      Value back = *u;
      back["spec"].set("state", "confirmed");
      (void)store_.update(kinds().affinity, back);
      continue;
    }
    if (!st.isOk() && st.code() != Code::NotFound) {
      return st;
    }
    RETURN_IF_ERROR(removeIfPresent(store_, kinds().affinity, a.name,
                                    u->getString("metadata.resourceVersion")));
  }
  return Status::ok();
}

Result<Usage> Ipam::usage() {
  ASSIGN_OR_RETURN(std::vector<Pool> pools, loadPools(store_));
  ASSIGN_OR_RETURN(std::vector<Value> blockObjs, store_.list(kinds().block));
  ASSIGN_OR_RETURN(std::vector<IpNet> reservations, loadReservations(store_));
  // Reservations that lie inside others add nothing; CIDRs either nest or are disjoint.
  std::sort(reservations.begin(), reservations.end(),
            [](const IpNet& a, const IpNet& b) { return a.prefix < b.prefix; });
  std::vector<IpNet> disjoint;
  for (const auto& r : reservations) {
    if (std::none_of(disjoint.begin(), disjoint.end(),
                     [&](const IpNet& d) { return d.contains(r); })) {
      disjoint.push_back(r);
    }
  }
  Usage u;
  for (const auto& p : pools) {
    PoolUsage pu;
    pu.name = p.name;
    pu.cidr = p.cidr;
    pu.total = detail::clampU64(detail::netSize(p.cidr));
    U128 reserved = 0;
    for (const auto& r : disjoint) {
      if (p.cidr.contains(r)) {
        reserved += detail::netSize(r);
      } else if (r.contains(p.cidr)) {
        reserved += detail::netSize(p.cidr);
      }
    }
    pu.reserved = detail::clampU64(reserved);
    u.pools.push_back(std::move(pu));
  }
  for (const auto& o : blockObjs) {
    auto blk = Block::fromObject(o);
    if (!blk) {
      continue;
    }
    BlockUsage bu;
    bu.cidr = blk->cidr();
    bu.affinity = blk->affinity();
    bu.total = blk->size();
    bu.inUse = blk->inUse();
    for (size_t i = 0; i < pools.size(); ++i) {
      if (pools[i].cidr.contains(bu.cidr)) {
        bu.pool = pools[i].name;
        u.pools[i].inUse += bu.inUse;
        break;
      }
    }
    u.blocks.push_back(std::move(bu));
  }
  std::sort(u.blocks.begin(), u.blocks.end(), [](const BlockUsage& a, const BlockUsage& b) {
    return detail::netLess(a.cidr, b.cidr);
  });
  return u;
}

Result<CheckReport> Ipam::check(const std::vector<std::string>* livePods,
                                const std::vector<std::string>* liveNodes) {
  ASSIGN_OR_RETURN(std::vector<Value> blockObjs, store_.list(kinds().block));
  ASSIGN_OR_RETURN(std::vector<Value> handleObjs, store_.list(kinds().handle));
  ASSIGN_OR_RETURN(std::vector<Affinity> affs, loadAffinities(store_));
  std::set<std::string> pods, nodes;
  if (livePods) {
    pods.insert(livePods->begin(), livePods->end());
  }
  if (liveNodes) {
    nodes.insert(liveNodes->begin(), liveNodes->end());
  }

  CheckReport report;
  auto problem = [&](Problem::Kind kind, std::string detail, std::optional<IpAddr> ip = {},
                     std::string handle = "") {
    report.problems.push_back(Problem{kind, std::move(detail), ip, std::move(handle)});
  };

  // handle ID -> (block CIDR -> count)
  std::map<std::string, std::map<std::string, int64_t>> handles;
  for (const auto& h : handleObjs) {
    auto& m = handles[h.getString("spec.handleID")];
    if (const Value* b = h.path("spec.block"); b && b->isObject()) {
      for (const auto& [k, v] : b->asObject()) {
        auto n = api::parseCidr(k);
        m[n ? n->masked().str() : k] = v.asInt();
      }
    }
  }
  report.handles = handles.size();

  std::map<std::string, std::vector<std::string>> owners; // ip -> blocks holding it
  std::map<std::string, IpAddr> addrs;
  std::map<std::pair<std::string, std::string>, int64_t> counts; // (handle, block) -> n
  std::map<std::string, std::string> blockAffinity;              // block -> affinity
  for (const auto& o : blockObjs) {
    auto blk = Block::fromObject(o);
    if (!blk) {
      problem(Problem::Kind::LeakedAddress,
              "block " + o.getString("spec.cidr") + " cannot be read: " + blk.error().message());
      continue;
    }
    ++report.blocks;
    std::string cidr = blk->cidr().str();
    blockAffinity[cidr] = blk->affinity();
    for (size_t ord : blk->allocatedOrdinals()) {
      const Attribute* a = blk->allocationAt(ord);
      IpAddr ip = blk->addressAt(ord);
      std::string ipText = ip.str();
      ++report.allocations;
      owners[ipText].push_back(cidr);
      addrs[ipText] = ip;
      ++counts[{a->handle, cidr}];
      std::string where = "IP " + ipText + " (block " + cidr + ")";
      auto attr = [&](const char* k) {
        auto it = a->secondary.find(k);
        return it == a->secondary.end() ? std::string() : it->second;
      };
      if (a->handle.empty()) {
        problem(Problem::Kind::LeakedAddress, where + " is allocated without a handle", ip);
      } else if (!handles.count(a->handle)) {
        problem(Problem::Kind::LeakedAddress,
                where + " is allocated to handle " + a->handle + ", which does not exist", ip,
                a->handle);
      } else if (livePods && !attr("pod").empty() && !attr("namespace").empty() &&
                 !pods.count(attr("namespace") + "/" + attr("pod"))) {
        problem(Problem::Kind::LeakedAddress,
                where + " is allocated to pod " + attr("namespace") + "/" + attr("pod") +
                    ", which no longer exists (handle " + a->handle + ")",
                ip, a->handle);
      } else if (liveNodes && !attr("node").empty() && !nodes.count(attr("node"))) {
        problem(Problem::Kind::LeakedAddress,
                where + " is allocated on node " + attr("node") +
                    ", which no longer exists (handle " + a->handle + ")",
                ip, a->handle);
      }
    }
  }
  for (const auto& [ipText, blocks] : owners) {
    if (blocks.size() > 1) {
      problem(Problem::Kind::DoubleAssigned,
              "IP " + ipText + " is allocated in " + std::to_string(blocks.size()) +
                  " blocks: " + join(blocks, ", "),
              addrs[ipText]);
    }
  }
  for (const auto& [handle, blocks] : handles) {
    for (const auto& [cidr, n] : blocks) {
      auto it = counts.find({handle, cidr});
      int64_t actual = it == counts.end() ? 0 : it->second;
      if (actual != n) {
        problem(Problem::Kind::HandleMismatch,
                "handle " + handle + " records " + std::to_string(n) + " address(es) in block " +
                    cidr + ", the block holds " + std::to_string(actual),
                std::nullopt, handle);
      }
    }
  }
  for (const auto& [key, n] : counts) {
    const auto& [handle, cidr] = key;
    auto h = handles.find(handle);
    if (h != handles.end() && !h->second.count(cidr)) {
      problem(Problem::Kind::HandleMismatch,
              "handle " + handle + " does not record block " + cidr + ", which holds " +
                  std::to_string(n) + " of its address(es)",
              std::nullopt, handle);
    }
  }
  std::set<std::string> affinityNames;
  for (const auto& a : affs) {
    affinityNames.insert(a.name);
    if (a.state != "confirmed") {
      continue; // pending and pendingDeletion are the in-flight states of claims and releases
    }
    auto it = blockAffinity.find(a.cidr.str());
    if (it == blockAffinity.end()) {
      problem(Problem::Kind::OrphanAffinity, "affinity " + a.name + " of node " + a.node +
                                                 ": block " + a.cidr.str() + " does not exist");
    } else if (it->second != hostAffinity(a.node)) {
      problem(Problem::Kind::OrphanAffinity, "affinity " + a.name + " of node " + a.node +
                                                 ": block " + a.cidr.str() + " is affine to " +
                                                 (it->second.empty() ? "no node" : it->second));
    }
  }
  for (const auto& [cidr, aff] : blockAffinity) {
    if (!startsWith(aff, "host:")) {
      continue;
    }
    std::string node = aff.substr(5);
    std::string name = affinityName(node, *api::parseCidr(cidr));
    if (!affinityNames.count(name)) {
      problem(Problem::Kind::OrphanAffinity, "block " + cidr + " is affine to " + aff +
                                                 " but BlockAffinity " + name + " does not exist");
    }
  }
  return report;
}

} // namespace caracal::ipam
