#include "felix/route_table.h"

#include <algorithm>

namespace caracal::felix {

namespace {

constexpr uint32_t kIpv6DefaultMetric = 1024;
constexpr size_t kMaxErrorsNamed = 3;

} // namespace

size_t RouteKeyHash::operator()(const RouteKey& k) const {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](uint64_t v) { h = (h ^ v) * 1099511628211ULL; };
  int n = k.family == 6 ? 16 : 4;
  for (int i = 0; i < n; ++i) {
    mix(k.addr[i]);
  }
  mix(k.prefix);
  mix(k.table);
  mix(k.priority);
  mix(k.family);
  return static_cast<size_t>(h);
}

namespace {

void normalizeInPlace(netlink::Route& r) {
  r.dst = r.dst.masked();
  if (r.dst.addr.family == 6) {
    if (r.priority == 0) {
      r.priority = kIpv6DefaultMetric;
    }
    r.scope = 0;
  }
  if (r.type != netlink::RouteType::Unicast) {
    r.oif = 0;
    r.gateway.reset();
    r.onlink = false;
    r.scope = 0;
  }
}

} // namespace

netlink::Route normalizeRoute(netlink::Route r) {
  normalizeInPlace(r);
  return r;
}

RouteKey routeKey(const netlink::Route& r) {
  RouteKey k;
  k.addr = r.dst.addr.bytes;
  k.family = static_cast<uint8_t>(r.dst.addr.family);
  k.prefix = static_cast<uint8_t>(r.dst.prefix);
  k.table = r.table;
  k.priority = r.priority;
  return k;
}

RouteTable::RouteTable(std::unique_ptr<RouteDataplane> dp) : dp_(std::move(dp)) {}

Status RouteTable::apply(std::vector<netlink::Route> desired) {
  for (const netlink::Route& r : desired) {
    if (r.protocol != netlink::kRouteProtocol) {
      return Status(Code::Invalid, "route to " + r.dst.str() + " has protocol " +
                                       std::to_string(r.protocol) + ", not ours");
    }
  }
  // Mark what is wanted now, updating entries in place; only changed entries become dirty.
  const uint64_t gen = ++generation_;
  if (entries_.empty()) {
    entries_.reserve(desired.size());
  }
  size_t marked = 0;     // distinct entries wanted now
  size_t keptWanted = 0; // of which were wanted before
  for (netlink::Route& r : desired) {
    normalizeInPlace(r);
    RouteKey k = routeKey(r);
    auto [it, inserted] = entries_.try_emplace(k);
    Entry& e = it->second;
    if (e.mark != gen) {
      ++marked;
      keptWanted += (!inserted && e.wanted) ? 1 : 0;
    }
    if (inserted || !e.wanted || !(e.route == r)) {
      e.inKernel = !inserted && e.inKernel && e.route == r;
      e.route = std::move(r);
      e.wanted = true;
      e.graced = false;
      if (!e.inKernel) {
        dirty_.push_back(k);
      }
    }
    e.mark = gen;
  }
  // Sweep only when something that was wanted is not any more.
  if (keptWanted < wanted_) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& e = it->second;
      if (e.wanted && e.mark != gen) {
        e.wanted = false;
        if (!e.inKernel) {
          it = entries_.erase(it); // never made it to the kernel: nothing to remove
          continue;
        }
        dirty_.push_back(it->first);
      }
      ++it;
    }
  }
  wanted_ = marked;
  haveDesired_ = true;
  ++stats_.applies;
  return sync();
}

Status RouteTable::resync() {
  if (!haveDesired_) {
    return {};
  }
  needResync_ = true;
  return sync();
}

Status RouteTable::sync() {
  const bool readBack = needResync_;
  const bool repairing = readBack && adopted_; // the first read-back adopts, later ones repair
  std::vector<RouteOp> deletes, replaces;
  std::vector<std::pair<RouteKey, Entry*>> deleteTargets, replaceTargets;
  auto classify = [&](const RouteKey& k, Entry& e) {
    if (e.queued) {
      return;
    }
    if (!e.wanted && e.inKernel && !e.graced) {
      deletes.push_back(RouteOp{RouteOp::Kind::Delete, e.route});
      deleteTargets.emplace_back(k, &e);
      e.queued = true;
    } else if (e.wanted && !e.inKernel) {
      replaces.push_back(RouteOp{RouteOp::Kind::Replace, e.route});
      replaceTargets.emplace_back(k, &e);
      e.queued = true;
    }
  };

  if (readBack) {
    auto actual = dp_->dumpOurRoutes();
    if (!actual) {
      return actual.error().withContext("reading routes back");
    }
    ++stats_.resyncs;
    // Mark every route of ours the kernel holds, then one pass: what was not seen is not there,
    // and every entry is classified.
    const uint64_t gen = ++generation_;
    for (netlink::Route& r : *actual) {
      if (r.protocol != netlink::kRouteProtocol) {
        continue; // never ours to judge
      }
      normalizeInPlace(r);
      auto [it, inserted] = entries_.try_emplace(routeKey(r));
      Entry& e = it->second;
      if (inserted || !e.wanted) {
        // A route of ours nobody wants: delete it, unless it may be another writer's brand-new
        // route that the datastore has not told us about yet (spared once).
        e.graced = inserted && stalePred_ && stalePred_(r);
        e.route = std::move(r);
        e.wanted = false;
        e.inKernel = true;
      } else {
        e.inKernel = e.route == r;
      }
      e.mark = gen;
    }
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& e = it->second;
      if (e.mark != gen) {
        if (!e.wanted) {
          it = entries_.erase(it); // gone already
          continue;
        }
        e.inKernel = false;
      }
      classify(it->first, e);
      ++it;
    }
    needResync_ = false;
    adopted_ = true;
  } else {
    for (const RouteKey& k : dirty_) {
      auto it = entries_.find(k);
      if (it != entries_.end()) {
        classify(k, it->second);
      }
    }
  }
  dirty_.clear();

  std::vector<RouteOp> ops = std::move(deletes);
  ops.insert(ops.end(), std::make_move_iterator(replaces.begin()),
             std::make_move_iterator(replaces.end()));
  std::vector<std::pair<RouteKey, Entry*>> targets = std::move(deleteTargets);
  targets.insert(targets.end(), replaceTargets.begin(), replaceTargets.end());
  if (ops.empty()) {
    return {};
  }

  std::vector<Status> results = dp_->send(ops);
  ++stats_.batches;
  if (repairing) {
    stats_.repaired += ops.size();
  }
  size_t failed = 0;
  std::vector<std::string> named;
  Code firstCode = Code::Ok;
  for (size_t i = 0; i < ops.size(); ++i) {
    const RouteOp& op = ops[i];
    Entry& e = *targets[i].second;
    e.queued = false;
    bool ok = i < results.size() && results[i].isOk();
    if (ok) {
      if (op.kind == RouteOp::Kind::Replace) {
        e.inKernel = true;
        ++stats_.replaced;
      } else {
        e.inKernel = false; // erased below
        ++stats_.deleted;
      }
      continue;
    }
    // A failed replace stays out of the kernel, a failed delete stays in it: both are retried.
    ++failed;
    dirty_.push_back(targets[i].first);
    if (firstCode == Code::Ok) {
      firstCode = i < results.size() ? results[i].code() : Code::Internal;
    }
    if (named.size() < kMaxErrorsNamed) {
      named.push_back(i < results.size() ? results[i].message()
                                         : "no answer for route " + op.route.dst.str());
    }
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].kind == RouteOp::Kind::Delete && !targets[i].second->inKernel) {
      entries_.erase(targets[i].first);
    }
  }
  stats_.failures += failed;
  if (failed == 0) {
    return {};
  }
  std::string msg =
      std::to_string(failed) + " of " + std::to_string(ops.size()) + " route writes failed: ";
  for (size_t i = 0; i < named.size(); ++i) {
    msg += (i ? "; " : "") + named[i];
  }
  return Status(firstCode, msg);
}

// ---- FakeRouteDataplane

Result<std::vector<netlink::Route>> FakeRouteDataplane::dumpOurRoutes() {
  ++dumps;
  if (failDump_) {
    failDump_ = false;
    return Status(Code::Unavailable, "injected dump failure");
  }
  std::vector<netlink::Route> out;
  for (const auto& [k, r] : routes_) {
    if (r.protocol == netlink::kRouteProtocol && r.table == 254) {
      out.push_back(r);
    }
  }
  return out;
}

std::vector<Status> FakeRouteDataplane::send(const std::vector<RouteOp>& ops) {
  ++sends;
  opsSent += ops.size();
  std::vector<Status> out;
  out.reserve(ops.size());
  for (const RouteOp& op : ops) {
    netlink::Route r = normalizeRoute(op.route);
    if (failing_.count(r.dst.str())) {
      out.emplace_back(Code::Unavailable, "route " + r.dst.str() + ": no such device");
      continue;
    }
    RouteKey k = routeKey(r);
    if (op.kind == RouteOp::Kind::Replace) {
      routes_.insert_or_assign(k, r);
      out.emplace_back();
    } else {
      // The kernel matches the protocol given in a delete: a foreign route with the same key
      // survives (ESRCH, which counts as already gone).
      auto it = routes_.find(k);
      if (it != routes_.end() && it->second.protocol == r.protocol) {
        routes_.erase(it);
      }
      out.emplace_back();
    }
  }
  return out;
}

std::vector<netlink::Route> FakeRouteDataplane::kernelRoutes() const {
  std::vector<netlink::Route> out;
  for (const auto& [k, r] : routes_) {
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const netlink::Route& a, const netlink::Route& b) {
    if (a.dst.addr.bytes != b.dst.addr.bytes) {
      return a.dst.addr.bytes < b.dst.addr.bytes;
    }
    return a.dst.prefix < b.dst.prefix;
  });
  return out;
}

void FakeRouteDataplane::addByHand(const netlink::Route& r) {
  netlink::Route n = normalizeRoute(r);
  routes_.insert_or_assign(routeKey(n), n);
}

bool FakeRouteDataplane::deleteByHand(const api::IpNet& dst) {
  for (auto it = routes_.begin(); it != routes_.end(); ++it) {
    if (it->second.dst == dst.masked()) {
      routes_.erase(it);
      return true;
    }
  }
  return false;
}

} // namespace caracal::felix
