#include "felix/agent.h"

#include "common/strings.h"
#include "felix/ipip_manager.h"
#include "felix/node_setup.h"
#include "felix/route_table.h"
#include "felix/vxlan_manager.h"
#include "netlink/netlink.h"

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <thread>

namespace caracal::felix {

namespace {

using Clock = std::chrono::steady_clock;

bool isOurDevice(const std::string& name) {
  return startsWith(name, "cali") || name == kVxlanDevice || name == kIpipDevice ||
         startsWith(name, "caracal");
}

struct Underlay {
  std::string interface;
  api::IpNet address;
  uint32_t mtu = 1500;
};

// --interface / --ip, else the default route's device, else the first non-loopback device that is
// up; the address is the first global IPv4 address of that device.
Result<Underlay> detectUnderlay(netlink::Socket& sock, const AgentOptions& opts) {
  ASSIGN_OR_RETURN(std::vector<netlink::Link> links, sock.links());
  auto byIndex = [&](int idx) -> const netlink::Link* {
    for (const netlink::Link& l : links) {
      if (l.index == idx) {
        return &l;
      }
    }
    return nullptr;
  };
  Underlay u;
  const netlink::Link* dev = nullptr;
  if (!opts.interface.empty()) {
    for (const netlink::Link& l : links) {
      if (l.name == opts.interface) {
        dev = &l;
      }
    }
    if (!dev) {
      return Status(Code::NotFound, "interface " + opts.interface + " not found");
    }
  } else if (opts.ip) {
    ASSIGN_OR_RETURN(auto addrs, sock.addresses(AF_INET));
    for (const netlink::Address& a : addrs) {
      if (a.net.addr == opts.ip->addr) {
        dev = byIndex(a.ifindex);
      }
    }
  }
  if (!dev) {
    ASSIGN_OR_RETURN(auto routes, sock.routes(AF_INET, 254));
    for (const netlink::Route& r : routes) {
      if (r.dst.prefix == 0 && r.oif != 0) {
        dev = byIndex(r.oif);
        break;
      }
    }
  }
  if (!dev) {
    for (const netlink::Link& l : links) {
      if (l.name != "lo" && l.up && !isOurDevice(l.name)) {
        dev = &l;
        break;
      }
    }
  }
  if (!dev) {
    return Status(Code::NotFound, "no underlay interface (no default route, no device up); "
                                  "give --interface");
  }
  u.interface = dev->name;
  u.mtu = dev->mtu ? dev->mtu : 1500;
  if (opts.ip) {
    u.address = *opts.ip;
    return u;
  }
  ASSIGN_OR_RETURN(auto addrs, sock.addresses(AF_INET, dev->index));
  for (const netlink::Address& a : addrs) {
    if (a.scope == 0) {
      u.address = a.net;
      return u;
    }
  }
  return Status(Code::NotFound,
                "interface " + dev->name + " has no global IPv4 address; give --ip");
}

bool inAny(const api::IpAddr& ip, const std::vector<api::IpNet>& nets) {
  for (const api::IpNet& n : nets) {
    if (n.contains(ip)) {
      return true;
    }
  }
  return false;
}

} // namespace

std::vector<const api::KindInfo*> agentKinds() { return routeCalcKinds(); }

struct Agent::Impl {
  Impl(AgentOptions o, Syncer& s, ipam::Store& st, std::unique_ptr<NatOutgoing> n)
      : opts(std::move(o)), syncer(s), store(st), nat(std::move(n)),
        calc(CalcConfig{opts.nodeName, "", 1500, opts.bgpProgramsUnencapsulated}), ipam(st) {}

  AgentOptions opts;
  Syncer& syncer;
  ipam::Store& store;
  std::unique_ptr<NatOutgoing> nat;

  // Shared with the syncer thread.
  mutable std::mutex mu;
  std::condition_variable cv;
  RouteCalc calc;
  std::map<std::string, Value> pools; // IPPools by name, for tunnel address needs
  bool inSync = false;
  bool dirty = false;
  bool kicked = false;
  bool stopping = false;
  std::optional<Clock::time_point> firstPending;
  Clock::time_point lastUpdate{};
  AgentStats stats;
  bool ready = false;

  // Loop thread only.
  ipam::Ipam ipam;
  Underlay underlay;
  std::unique_ptr<netlink::Socket> sock;
  std::unique_ptr<RouteTable> routes;
  std::unique_ptr<VxlanManager> vxlan;
  std::unique_ptr<IpipManager> ipip;
  std::optional<uint32_t> mtuWritten;
  std::optional<std::pair<std::vector<api::IpNet>, std::vector<api::IpNet>>> natApplied;
  std::map<std::string, int> sysctlsDone; // interface -> ifindex configured
  Clock::time_point nextTunnelAttempt{};
  std::vector<std::string> rejectedLogged; // rejected WorkloadEndpoints last warned about
  std::thread thread;

  Status setup();
  void loop();
  Status program(const CalcOutput& out, bool resync, size_t& skipped);
  Status ensureTunnels(const CalcOutput& out);
  Status configureInterfaces(const CalcOutput& out, const std::map<std::string, int>& ifindex,
                             bool resync);
  void writeReady();
};

Agent::Agent(AgentOptions opts, Syncer& syncer, ipam::Store& store,
             std::unique_ptr<NatOutgoing> nat)
    : impl_(std::make_unique<Impl>(std::move(opts), syncer, store, std::move(nat))) {
  syncer.subscribe(this, agentKinds());
}

Agent::~Agent() { stop(); }

void Agent::onUpdates(const std::vector<Update>& updates) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const Update& u : updates) {
    impl_->calc.onUpdate(*u.kind, u.key, u.object.get());
    if (u.kind == &ipPoolKind()) {
      if (u.object) {
        impl_->pools[u.key] = *u.object;
      } else {
        impl_->pools.erase(u.key);
      }
    }
  }
  Clock::time_point now = Clock::now();
  impl_->dirty = true;
  impl_->lastUpdate = now;
  if (!impl_->firstPending) {
    impl_->firstPending = now;
  }
  impl_->cv.notify_all();
}

void Agent::onInSync() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->inSync = true;
  impl_->dirty = true;
  impl_->firstPending = Clock::now() - impl_->opts.maxDelay; // apply at once
  impl_->cv.notify_all();
}

void Agent::kick() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->kicked = true;
  impl_->cv.notify_all();
}

bool Agent::ready() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->ready;
}

AgentStats Agent::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

Status Agent::start() {
  RETURN_IF_ERROR(impl_->setup());
  impl_->thread = std::thread([this] { impl_->loop(); });
  return {};
}

void Agent::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
}

Status Agent::Impl::setup() {
  if (!opts.stateDir.empty()) {
    std::error_code ec;
    std::filesystem::remove(opts.stateDir + "/ready", ec); // readiness is per run
  }
  ASSIGN_OR_RETURN(sock, netlink::Socket::open(""));
  ASSIGN_OR_RETURN(underlay, detectUnderlay(*sock, opts));
  spdlog::info("node {}: underlay {} on {} (mtu {})", opts.nodeName, underlay.address.str(),
               underlay.interface, underlay.mtu);
  {
    std::lock_guard<std::mutex> lock(mu);
    calc.setUnderlay(underlay.interface, underlay.mtu);
    stats.underlayInterface = underlay.interface;
    stats.underlayAddress = underlay.address;
  }
  if (opts.setGlobalForwarding) {
    RETURN_IF_ERROR(netlink::setSysctl("/proc/sys/net/ipv4/ip_forward", "1"));
  }

  // The API server may still be starting: retry the registration for a while.
  Clock::time_point giveUp = Clock::now() + opts.registrationTimeout;
  while (true) {
    auto node = registerNode(store, opts.nodeName, underlay.address);
    if (node) {
      break;
    }
    if (Clock::now() >= giveUp) {
      return node.error().withContext("registering Node " + opts.nodeName);
    }
    spdlog::warn("registering Node {}: {} (retrying)", opts.nodeName, node.error().message());
    std::unique_lock<std::mutex> lock(mu);
    if (cv.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; })) {
      return Status(Code::Unavailable, "stopped");
    }
  }
  spdlog::info("registered Node {} ({})", opts.nodeName, underlay.address.str());

  // Tunnel addresses and a first MTU file from the pools as they are now; the loop keeps both
  // up to date afterwards.
  auto pools = store.list(ipPoolKind());
  if (!pools) {
    spdlog::warn("listing IPPools: {}", pools.error().message());
  } else {
    TunnelNeeds needs = tunnelNeedsFromPools(*pools);
    auto updated = ensureTunnelAddresses(store, ipam, opts.nodeName, needs);
    if (!updated) {
      spdlog::warn("tunnel addresses: {} (retrying later)", updated.error().message());
    } else {
      spdlog::info("tunnel addresses: vxlan {} ipip {}",
                   updated->getString("spec.ipv4VXLANTunnelAddr", "-"),
                   updated->getString("spec.bgp.ipv4IPIPTunnelAddr", "-"));
    }
    uint32_t overhead = 0;
    for (const Value& p : *pools) {
      if (parseEncapMode(p.getString("spec.vxlanMode")) != EncapMode::Never) {
        overhead = std::max(overhead, kVxlanOverhead);
      }
      if (parseEncapMode(p.getString("spec.ipipMode")) != EncapMode::Never) {
        overhead = std::max(overhead, kIpipOverhead);
      }
    }
    if (!opts.mtuFile.empty()) {
      uint32_t mtu = underlay.mtu - overhead;
      RETURN_IF_ERROR(writeMtuFile(opts.mtuFile, mtu));
      mtuWritten = mtu;
    }
  }

  routes = std::make_unique<RouteTable>(makeNetlinkRouteDataplane(*sock));
  // The CNI plugin writes `<ip>/32 dev caliX proto 80` before the WorkloadEndpoint reaches us:
  // such device host routes found unknown by a read-back are spared until the next one.
  routes->setStaleGrace([](const netlink::Route& r) {
    return r.type == netlink::RouteType::Unicast && r.oif != 0 && !r.gateway &&
           r.dst.prefix == r.dst.addr.bits();
  });
  vxlan = std::make_unique<VxlanManager>(*sock);
  return {};
}

Status Agent::Impl::ensureTunnels(const CalcOutput& out) {
  TunnelNeeds needs;
  {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<Value> ps;
    for (const auto& [name, p] : pools) {
      ps.push_back(p);
    }
    needs = tunnelNeedsFromPools(ps);
  }
  auto mismatch = [](bool need, const std::optional<api::IpAddr>& have,
                     const std::vector<api::IpNet>& cidrs) {
    return need != have.has_value() || (need && !inAny(*have, cidrs));
  };
  bool work = !out.localNodeKnown || mismatch(needs.vxlan, out.localVxlanAddr, needs.vxlanCidrs) ||
              mismatch(needs.ipip, out.localIpipAddr, needs.ipipCidrs);
  if (!work || Clock::now() < nextTunnelAttempt) {
    return {};
  }
  // The Node update comes back through the watch; give it time before looking again.
  nextTunnelAttempt = Clock::now() + std::chrono::seconds(2);
  if (!out.localNodeKnown) {
    spdlog::warn("Node {} is missing from the datastore: registering it again", opts.nodeName);
    RETURN_IF_ERROR(registerNode(store, opts.nodeName, underlay.address).status());
  }
  ASSIGN_OR_RETURN(Value node, ensureTunnelAddresses(store, ipam, opts.nodeName, needs));
  spdlog::info("tunnel addresses: vxlan {} ipip {}",
               node.getString("spec.ipv4VXLANTunnelAddr", "-"),
               node.getString("spec.bgp.ipv4IPIPTunnelAddr", "-"));
  return {};
}

Status Agent::Impl::configureInterfaces(const CalcOutput& out,
                                        const std::map<std::string, int>& ifindex, bool resync) {
  Status first;
  std::map<std::string, int> done;
  for (const LocalInterface& li : out.workloadInterfaces) {
    if (!startsWith(li.name, kWorkloadInterfacePrefix)) {
      continue; // never the uplink or lo (RouteCalc filters these already)
    }
    auto it = ifindex.find(li.name);
    if (it == ifindex.end()) {
      continue; // not created yet (or already gone)
    }
    auto prev = sysctlsDone.find(li.name);
    if (!resync && prev != sysctlsDone.end() && prev->second == it->second) {
      done[li.name] = it->second;
      continue;
    }
    Status st = netlink::configureWorkloadSysctls(li.name, li.ipv4, li.ipv6);
    if (st.isOk()) {
      done[li.name] = it->second;
    } else if (first.isOk()) {
      first = st;
    }
  }
  sysctlsDone = std::move(done);
  return first;
}

Status Agent::Impl::program(const CalcOutput& out, bool resync, size_t& skipped) {
  Status first;
  auto note = [&](const Status& st, const char* what) {
    if (!st.isOk()) {
      spdlog::warn("{}: {}", what, st.message());
      if (first.isOk()) {
        first = st.withContext(what);
      }
    }
  };

  note(ensureTunnels(out), "tunnel addresses");
  if (!opts.mtuFile.empty() && mtuWritten != out.podMtu) {
    Status st = writeMtuFile(opts.mtuFile, out.podMtu);
    note(st, "MTU file");
    if (st) {
      mtuWritten = out.podMtu;
    }
  }

  // Devices and peers before the routes that use them.
  auto vx = vxlan->ensure(out.vxlan, out.vxlanPeers);
  note(vx.status(), "vxlan.calico");
  if (vx && vx->recreated) {
    routes->queueResync();
  }
  if (out.ipip && !ipip) {
    IpipManager::Mode mode = IpipManager::detectMode();
    spdlog::info("IPIP: {} tunl0", mode == IpipManager::Mode::Kernel ? "kernel" : "user-space");
    auto m = IpipManager::create(mode);
    note(m.status(), "tunl0");
    if (m) {
      ipip = std::move(*m);
    }
  }
  if (ipip) {
    note(ipip->ensure(out.ipip, out.ipipPeers, out.ipipSources).status(), "tunl0");
  }

  std::map<std::string, int> ifindex;
  auto links = sock->links();
  note(links.status(), "listing links");
  if (links) {
    for (const netlink::Link& l : *links) {
      ifindex[l.name] = l.index;
    }
  }
  std::vector<netlink::Route> want;
  want.reserve(out.routes.size());
  skipped = 0;
  for (const DesiredRoute& d : out.routes) {
    netlink::Route r = d.route;
    if (!d.ifname.empty()) {
      auto it = ifindex.find(d.ifname);
      if (it == ifindex.end()) {
        ++skipped;
        continue;
      }
      r.oif = it->second;
    }
    want.push_back(std::move(r));
  }
  if (links) {
    if (resync) {
      routes->queueResync();
    }
    note(routes->apply(std::move(want)), "routes");
  }
  note(vxlan->prune(out.vxlan, out.vxlanPeers).status(), "vxlan.calico peers");

  if (nat) {
    auto lists = std::make_pair(out.natMasqPools, out.natAllPools);
    if (resync || natApplied != lists) {
      Status st = nat->apply(out.natMasqPools, out.natAllPools);
      note(st, "natOutgoing");
      if (st) {
        natApplied = lists;
      }
    }
  }
  note(configureInterfaces(out, ifindex, resync), "workload interface sysctls");
  return first;
}

void Agent::Impl::writeReady() {
  if (opts.stateDir.empty()) {
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(opts.stateDir, ec);
  std::string path = opts.stateDir + "/ready";
  std::ofstream out(path, std::ios::trunc);
  out << "ready\n";
  if (!out) {
    spdlog::warn("cannot write {}", path);
  }
}

void Agent::Impl::loop() {
  Clock::time_point nextResync = Clock::now() + opts.resyncInterval;
  Clock::time_point retryAt = Clock::time_point::max(); // max: nothing to retry
  while (true) {
    CalcOutput out;
    bool resync = false;
    {
      std::unique_lock<std::mutex> lock(mu);
      while (true) {
        if (stopping) {
          return;
        }
        Clock::time_point now = Clock::now();
        std::optional<Clock::time_point> wake;
        auto consider = [&](Clock::time_point t) {
          if (!wake || t < *wake) {
            wake = t;
          }
        };
        if (inSync) {
          if (kicked || now >= nextResync || now >= retryAt) {
            break;
          }
          if (dirty && firstPending) {
            Clock::time_point due =
                std::min(lastUpdate + opts.quietPeriod, *firstPending + opts.maxDelay);
            if (now >= due) {
              break;
            }
            consider(due);
          }
          consider(nextResync);
          if (retryAt != Clock::time_point::max()) {
            consider(retryAt);
          }
        }
        if (wake) {
          cv.wait_until(lock, *wake);
        } else {
          cv.wait(lock);
        }
      }
      Clock::time_point now = Clock::now();
      resync = now >= nextResync;
      out = calc.compute();
      dirty = false;
      kicked = false;
      firstPending.reset();
    }
    if (resync) {
      nextResync = Clock::now() + opts.resyncInterval;
    }

    if (out.rejectedWorkloads != rejectedLogged) {
      for (const std::string& key : out.rejectedWorkloads) {
        spdlog::warn("ignoring WorkloadEndpoint {}: interfaceName does not start with \"{}\"", key,
                     kWorkloadInterfacePrefix);
      }
      rejectedLogged = out.rejectedWorkloads;
    }
    Clock::time_point t0 = Clock::now();
    size_t skipped = 0;
    Status st = program(out, resync, skipped);
    auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
    bool becameReady = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.passes;
      stats.resyncs += resync ? 1 : 0;
      stats.routes = out.routes.size() - skipped;
      stats.skippedRoutes = skipped;
      stats.rejectedWorkloads = out.rejectedWorkloads.size();
      stats.lastPassDuration = took;
      if (routes) {
        stats.routeWrites = routes->stats().replaced + routes->stats().deleted;
        stats.routeRepairs = routes->stats().repaired;
      }
      if (!st) {
        ++stats.failedPasses;
        stats.lastError = st.message();
      } else if (!ready) {
        ready = true;
        becameReady = true;
      }
    }
    // Failures and routes waiting for their device are retried soon.
    retryAt = Clock::time_point::max();
    if (!st || skipped > 0) {
      retryAt = Clock::now() + opts.retryInterval;
    }
    if (becameReady) {
      writeReady();
      spdlog::info("dataplane programmed ({} routes, {} µs): ready", out.routes.size() - skipped,
                   took.count());
    } else {
      spdlog::debug("pass: {} routes, {} skipped, resync {}, {} µs", out.routes.size() - skipped,
                    skipped, resync, took.count());
    }
  }
}

} // namespace caracal::felix
