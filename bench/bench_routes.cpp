// Route programming: felix's RouteTable (one netlink batch per apply) against `ip -batch` of the
// same routes, and the no-op reconcile (kernel read-back + diff) of 100k routes.
//
// The program moves itself into a fresh network namespace first (unshare(CLONE_NEWNET) while it
// is still single-threaded), so every route, device and `ip` child lives and dies there; the
// host's namespace is never touched. Needs root.
//
//   bench_routes [--sizes 10000,100000] [--repeats 5]
//
// Routes look like VXLAN block routes: <10.x.y.z/26> via 10.99.0.2 dev veth0 onlink proto 80.
// For each size and repeat: flush, RouteTable::apply() of all routes from an empty table (timed,
// including its initial read-back), flush, `ip -batch` of the same routes as "route add" lines
// (timed, one process), in alternating order. Then, with the largest size installed: no-op
// resync (dump + diff, no writes), and one added route through a full apply() of the whole set.
// Medians of the repeats are printed, with ratios.

#include "felix/route_table.h"
#include "netlink/netlink.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sched.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using caracal::Status;
using caracal::api::IpNet;
using caracal::felix::RouteTable;
using caracal::netlink::Route;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) {
    return 0;
  }
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string blockText(int i) {
  uint32_t base = (10u << 24) | (64u << 16); // 10.64.0.0
  uint32_t a = base + static_cast<uint32_t>(i) * 64u;
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
         std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff) + "/26";
}

std::vector<Route> makeRoutes(int n, int oif) {
  std::vector<Route> out;
  out.reserve(static_cast<size_t>(n));
  auto gw = caracal::api::parseIp("10.99.0.2");
  for (int i = 0; i < n; ++i) {
    Route r;
    r.dst = *caracal::api::parseCidr(blockText(i));
    r.gateway = gw;
    r.oif = oif;
    r.onlink = true;
    out.push_back(r);
  }
  return out;
}

bool run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::fprintf(stderr, "command failed (%d): %s\n", rc, cmd.c_str());
    return false;
  }
  return true;
}

bool flush() { return run("ip route flush proto 80 >/dev/null 2>&1 || true"); }

int countOurs() {
  FILE* p = ::popen("ip -4 route show proto 80 | wc -l", "r");
  if (!p) {
    return -1;
  }
  int n = -1;
  if (std::fscanf(p, "%d", &n) != 1) {
    n = -1;
  }
  ::pclose(p);
  return n;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {10000, 100000};
  int repeats = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--repeats" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::string s = argv[++i];
      size_t pos = 0;
      while (pos < s.size()) {
        size_t comma = s.find(',', pos);
        sizes.push_back(std::atoi(s.substr(pos, comma - pos).c_str()));
        pos = comma == std::string::npos ? s.size() : comma + 1;
      }
    } else {
      std::fprintf(stderr, "usage: bench_routes [--sizes N,M] [--repeats R]\n");
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "bench_routes needs root (it works in a private network namespace)\n");
    return 2;
  }
  // Before any thread exists: from here on this process and its children are in a new, empty
  // namespace.
  if (::unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET)");
    return 1;
  }
  if (!run("ip link set lo up") || !run("ip link add veth0 type veth peer name veth1") ||
      !run("ip addr add 10.99.0.1/24 dev veth0") || !run("ip link set veth0 up") ||
      !run("ip link set veth1 up")) {
    return 1;
  }
  auto sock = caracal::netlink::Socket::open("");
  if (!sock) {
    std::fprintf(stderr, "netlink: %s\n", sock.error().message().c_str());
    return 1;
  }
  int oif = (*sock)->link("veth0")->index;
  std::string batchFile = "/tmp/felix-bench-routes-" + std::to_string(::getpid()) + ".txt";
  struct Cleanup {
    std::string path;
    ~Cleanup() { std::remove(path.c_str()); }
  } cleanup{batchFile};

  std::printf("bench_routes: kernel route programming in a private netns (%d repeats)\n", repeats);
  int failures = 0;
  for (int n : sizes) {
    std::vector<Route> routes = makeRoutes(n, oif);
    {
      std::ofstream out(batchFile, std::ios::trunc);
      for (int i = 0; i < n; ++i) {
        out << "route add " << blockText(i) << " via 10.99.0.2 dev veth0 onlink proto 80\n";
      }
    }
    std::vector<double> ours, ipBatch;
    for (int r = 0; r < repeats; ++r) {
      for (int order = 0; order < 2; ++order) {
        bool oursFirst = (r % 2 == 0) == (order == 0);
        flush();
        if (oursFirst) {
          RouteTable table(caracal::felix::makeNetlinkRouteDataplane(**sock));
          auto t0 = Clock::now();
          Status st = table.apply(routes);
          double s = secondsSince(t0);
          if (!st) {
            std::fprintf(stderr, "apply: %s\n", st.message().c_str());
            ++failures;
          }
          ours.push_back(s);
        } else {
          auto t0 = Clock::now();
          bool ok = run("ip -batch " + batchFile);
          double s = secondsSince(t0);
          if (!ok) {
            ++failures;
          }
          ipBatch.push_back(s);
        }
        int have = countOurs();
        if (have != n) {
          std::fprintf(stderr, "expected %d routes, found %d\n", n, have);
          ++failures;
        }
      }
    }
    double mo = median(ours), mi = median(ipBatch);
    std::printf("  %6d routes  RouteTable.apply: %8.1f ms  %9.0f routes/s   |   ip -batch: "
                "%8.1f ms  %9.0f routes/s   |   ratio %.2fx\n",
                n, mo * 1e3, n / mo, mi * 1e3, n / mi, mi / mo);
  }

  // No-op reconcile and one incremental add at the largest size.
  int n = *std::max_element(sizes.begin(), sizes.end());
  std::vector<Route> routes = makeRoutes(n, oif);
  flush();
  RouteTable table(caracal::felix::makeNetlinkRouteDataplane(**sock));
  if (Status st = table.apply(routes); !st) {
    std::fprintf(stderr, "apply: %s\n", st.message().c_str());
    return 1;
  }
  std::vector<double> noop, plusOne, dumpOnly;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = Clock::now();
    Status st = table.resync();
    noop.push_back(secondsSince(t0));
    if (!st) {
      ++failures;
    }
    t0 = Clock::now();
    auto dumped = (*sock)->routes(AF_INET, 254, caracal::netlink::kRouteProtocol);
    dumpOnly.push_back(secondsSince(t0));
    if (!dumped || static_cast<int>(dumped->size()) != n) {
      ++failures;
    }
    std::vector<Route> more = routes;
    Route extra = routes[0];
    extra.dst = *caracal::api::parseCidr(blockText(n + r));
    more.push_back(extra);
    t0 = Clock::now();
    st = table.apply(std::move(more));
    plusOne.push_back(secondsSince(t0));
    // Back to the n routes, so that the next round's no-op resync and dump see exactly n.
    if (Status back = table.apply(routes); !back) {
      ++failures;
    }
    if (!st) {
      ++failures;
    }
  }
  uint64_t writesDuringNoop = table.stats().repaired;
  std::printf("  no-op resync of %d routes (dump + diff, %llu writes): median %.1f ms "
              "(dump alone %.1f ms)  goal < 250 ms\n",
              n, static_cast<unsigned long long>(writesDuringNoop), median(noop) * 1e3,
              median(dumpOnly) * 1e3);
  std::printf("  +1 route through a full apply() of %d routes: median %.2f ms\n", n,
              median(plusOne) * 1e3);
  flush();
  return failures == 0 ? 0 : 1;
}
