#pragma once
// RouteTable: keeps the kernel's routes of protocol netlink::kRouteProtocol (main table, IPv4 and
// IPv6) equal to a desired set, touching nothing else.
//
// Declarative, as Calico's routetable: apply(desired) is given the complete set every time. It
// computes the delta against its own record of what the kernel holds and sends it as ONE batch
// (deletes first, then replaces); only the routes that differ are written. A resync (queued by
// queueResync(), by resync(), and implied by the first apply) reads the kernel's routes of our
// protocol back instead of trusting the record, so drift is repaired: routes deleted by hand are
// re-added, stale routes of ours are removed, routes of other protocols are never read, changed
// or deleted. The first apply adopts whatever is already correct (a restarted agent rewrites
// nothing that is right: no flush). A failed write stays pending, so the next apply retries it;
// the error names the route.
//
// The kernel is reached through RouteDataplane (NetlinkRouteDataplane: a netlink::Socket and one
// netlink::Batch per apply; FakeRouteDataplane: in memory, for unit tests). Not thread-safe: one
// owner thread.

#include "common/result.h"
#include "netlink/netlink.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace caracal::felix {

struct RouteOp {
  enum class Kind { Replace, Delete };
  Kind kind = Kind::Replace;
  netlink::Route route;
};

// The kernel side of a RouteTable.
class RouteDataplane {
public:
  virtual ~RouteDataplane() = default;
  // Every route with protocol kRouteProtocol in the main table, IPv4 and IPv6.
  virtual Result<std::vector<netlink::Route>> dumpOurRoutes() = 0;
  // Sends the operations as one batch; returns one Status per operation, in order.
  virtual std::vector<Status> send(const std::vector<RouteOp>& ops) = 0;
};

// The kernel identity of a route (family, table, destination, metric; tos is always 0 here).
struct RouteKey {
  std::array<uint8_t, 16> addr{};
  uint32_t table = 0;
  uint32_t priority = 0;
  uint8_t family = 0;
  uint8_t prefix = 0;
  bool operator==(const RouteKey&) const = default;
};
struct RouteKeyHash {
  size_t operator()(const RouteKey& k) const;
};
// The route as the kernel reports it back: IPv6 metric 0 reads 1024 and IPv6 scope universe;
// blackhole/unreachable routes have no device, gateway or scope.
netlink::Route normalizeRoute(netlink::Route r);
RouteKey routeKey(const netlink::Route& normalized);

struct RouteTableStats {
  uint64_t applies = 0;
  uint64_t batches = 0;  // batches sent (applies with at least one write)
  uint64_t replaced = 0; // routes written
  uint64_t deleted = 0;  // routes removed
  uint64_t failures = 0; // failed writes
  uint64_t resyncs = 0;  // kernel read-backs
  uint64_t repaired = 0; // writes caused by drift found in later read-backs
};

class RouteTable {
public:
  explicit RouteTable(std::unique_ptr<RouteDataplane> dp);

  // Makes the kernel hold exactly `desired` among the routes of our protocol (routes of another
  // protocol in `desired` are rejected with Code::Invalid). The first call reads the kernel back.
  Status apply(std::vector<netlink::Route> desired);
  // Reads the kernel back now and repairs it against the last desired set. Before the first
  // apply() it does nothing (nothing is known to be wanted yet, so nothing may be removed).
  Status resync();
  // The next apply() reads the kernel back first (e.g. after a device was recreated).
  void queueResync() { needResync_ = true; }
  // Unknown routes of ours found by a read-back that match `pred` are deleted only when a second
  // read-back still finds them unwanted. For routes another writer creates just before telling
  // the datastore (the CNI plugin's `<ip>/32 dev caliX` comes moments before its
  // WorkloadEndpoint): a read-back in between must not cut a new pod off.
  void setStaleGrace(std::function<bool(const netlink::Route&)> pred) {
    stalePred_ = std::move(pred);
  }

  const RouteTableStats& stats() const { return stats_; }
  // Routes currently desired.
  size_t size() const { return wanted_; }

private:
  // One kernel identity: what we want there (if anything) and whether the kernel is known to hold
  // exactly that. The desired set and the record of the kernel share one table, so that neither
  // apply() nor a read-back rebuilds a map of every route.
  struct Entry {
    netlink::Route route; // wanted: the desired route; else: our stale route in the kernel
    bool wanted = false;
    bool inKernel = false; // the kernel holds exactly `route`
    bool graced = false;   // unknown, seen by one read-back, spared until the next one
    bool queued = false;   // already in the batch being built
    uint64_t mark = 0;     // generation of the last apply()/read-back that saw it
  };
  Status sync();

  std::unique_ptr<RouteDataplane> dp_;
  std::unordered_map<RouteKey, Entry, RouteKeyHash> entries_;
  // Entries that may need a write; without a read-back only these are looked at, so a pass
  // over a converged table costs one lookup per desired route and no scan.
  std::vector<RouteKey> dirty_;
  size_t wanted_ = 0;
  uint64_t generation_ = 0;
  bool haveDesired_ = false;
  bool needResync_ = true;
  bool adopted_ = false;
  std::function<bool(const netlink::Route&)> stalePred_;
  RouteTableStats stats_;
};

// ---- implementations of RouteDataplane

// netlink::Socket (which fixes the network namespace); the socket must outlive it.
std::unique_ptr<RouteDataplane> makeNetlinkRouteDataplane(netlink::Socket& sock);

// An in-memory kernel routing table (all protocols), with failure injection.
class FakeRouteDataplane : public RouteDataplane {
public:
  Result<std::vector<netlink::Route>> dumpOurRoutes() override;
  std::vector<Status> send(const std::vector<RouteOp>& ops) override;

  // ---- test controls
  // Routes as the "kernel" holds them (any protocol), by key.
  std::vector<netlink::Route> kernelRoutes() const;
  size_t kernelSize() const { return routes_.size(); }
  // `ip route add/replace` / `ip route del` done by someone else (any protocol).
  void addByHand(const netlink::Route& r);
  bool deleteByHand(const api::IpNet& dst);
  // Writes to this destination fail with Code::Unavailable ("no such device").
  void failDestination(const api::IpNet& dst) { failing_.insert(dst.str()); }
  void clearFailures() { failing_.clear(); }
  void failNextDump() { failDump_ = true; }

  int dumps = 0;
  int sends = 0;
  uint64_t opsSent = 0;

private:
  std::unordered_map<RouteKey, netlink::Route, RouteKeyHash> routes_;
  std::set<std::string> failing_;
  bool failDump_ = false;
};

} // namespace caracal::felix
