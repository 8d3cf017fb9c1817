// netlink_bench: installs N routes with one Batch and the same routes with `ip -batch`, each in a
// fresh network namespace, then times route dumps. Needs root; touches only the namespaces it
// creates (nlbench-<pid>-a/b, deleted on exit).
//
//   netlink_bench [--routes N] [--dumps K]

#include "netlink/netlink.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <linux/rtnetlink.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace nl = caracal::netlink;

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// CPU time (user + system) of this process and of its waited-for children, in ms.
double cpuMs(int who) {
  rusage ru{};
  getrusage(who, &ru);
  auto ms = [](const timeval& tv) { return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

class ScratchNetns {
public:
  explicit ScratchNetns(std::string name) : name_(std::move(name)) {
    ok_ = run("ip netns add " + name_) == 0;
  }
  ~ScratchNetns() {
    if (ok_) {
      run("ip netns del " + name_);
    }
  }
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }

private:
  std::string name_;
  bool ok_ = false;
};

// bench0 (+ peer bench0p), up, 10.99.0.1/24. Returns bench0's index or 0.
int prepare(nl::Socket& s) {
  nl::VethSpec v;
  v.name = "bench0";
  v.peerName = "bench0p";
  if (!s.createVeth(v).isOk() || !s.setUp("bench0").isOk() || !s.setUp("bench0p").isOk()) {
    return 0;
  }
  auto l = s.link("bench0");
  if (!l.hasValue()) {
    return 0;
  }
  if (!s.addAddress(nl::Address{l->index, *caracal::api::parseCidr("10.99.0.1/24")}).isOk()) {
    return 0;
  }
  return l->index;
}

nl::Route routeFor(int i, int oif) {
  nl::Route r;
  r.dst.addr.family = 4;
  r.dst.addr.bytes = {10, static_cast<uint8_t>(64 + i / 65536), static_cast<uint8_t>(i / 256 % 256),
                      static_cast<uint8_t>(i % 256)};
  r.dst.prefix = 32;
  r.oif = oif;
  r.gateway = caracal::api::parseIp("10.99.0.12");
  r.onlink = true;
  return r;
}

} // namespace

int main(int argc, char** argv) {
  int count = 100000;
  int dumps = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--routes" && i + 1 < argc) {
      count = std::atoi(argv[++i]);
    } else if (a == "--dumps" && i + 1 < argc) {
      dumps = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: netlink_bench [--routes N] [--dumps K]\n");
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "netlink_bench needs root\n");
    return 2;
  }
  std::string tag = "nlbench-" + std::to_string(getpid());
  ScratchNetns a(tag + "-a");
  ScratchNetns b(tag + "-b");
  if (!a.ok() || !b.ok()) {
    std::fprintf(stderr, "cannot create namespaces\n");
    return 1;
  }
  auto sa = nl::Socket::open(a.path());
  auto sb = nl::Socket::open(b.path());
  if (!sa.hasValue() || !sb.hasValue()) {
    std::fprintf(stderr, "cannot open sockets\n");
    return 1;
  }
  int oifA = prepare(**sa);
  int oifB = prepare(**sb);
  if (oifA == 0 || oifB == 0) {
    std::fprintf(stderr, "cannot prepare interfaces\n");
    return 1;
  }

  // 1. One Batch.
  nl::Batch batch(**sa);
  auto t0 = Clock::now();
  for (int i = 0; i < count; ++i) {
    batch.replaceRoute(routeFor(i, oifA));
  }
  double queueMs = msSince(t0);
  auto t1 = Clock::now();
  double c1 = cpuMs(RUSAGE_SELF);
  std::vector<caracal::Status> res = batch.send();
  double sendMs = msSince(t1);
  double sendCpu = cpuMs(RUSAGE_SELF) - c1;
  size_t failed = std::count_if(res.begin(), res.end(), [](const auto& s) { return !s.isOk(); });

  // 2. ip -batch with the same routes.
  std::filesystem::path dir = std::filesystem::path("/tmp") / tag;
  std::filesystem::create_directories(dir);
  std::string file = (dir / "routes.txt").string();
  {
    std::ofstream out(file);
    for (int i = 0; i < count; ++i) {
      nl::Route r = routeFor(i, oifB);
      out << "route replace " << r.dst.str() << " via 10.99.0.12 dev bench0 onlink proto 80\n";
    }
  }
  auto t2 = Clock::now();
  double c2 = cpuMs(RUSAGE_CHILDREN);
  int ipRc = run("ip -n " + b.name() + " -batch " + file);
  double ipMs = msSince(t2);
  double ipCpu = cpuMs(RUSAGE_CHILDREN) - c2;
  std::filesystem::remove_all(dir);

  // 3. Dumps (kernel-filtered by table and protocol, and the whole main table).
  std::vector<double> dumpMs;
  std::vector<double> dumpCpu;
  size_t dumped = 0;
  for (int k = 0; k < dumps; ++k) {
    auto t = Clock::now();
    double c = cpuMs(RUSAGE_SELF);
    auto routes = (*sa)->routes(4, 254, nl::kRouteProtocol);
    dumpMs.push_back(msSince(t));
    dumpCpu.push_back(cpuMs(RUSAGE_SELF) - c);
    dumped = routes.hasValue() ? routes->size() : 0;
  }
  std::sort(dumpMs.begin(), dumpMs.end());
  std::sort(dumpCpu.begin(), dumpCpu.end());
  auto t3 = Clock::now();
  auto all = (*sa)->routes(AF_INET, std::nullopt, std::nullopt);
  double dumpAllMs = msSince(t3);
  auto t4 = Clock::now();
  std::string cmd = "ip -n " + b.name() + " route show proto 80 > /dev/null";
  run(cmd);
  double ipShowMs = msSince(t4);

  // 4. Batch delete.
  for (int i = 0; i < count; ++i) {
    batch.deleteRoute(routeFor(i, oifA));
  }
  auto t5 = Clock::now();
  res = batch.send();
  double deleteMs = msSince(t5);
  size_t delFailed = std::count_if(res.begin(), res.end(), [](const auto& s) { return !s.isOk(); });

  std::printf("routes: %d\n", count);
  std::printf("batch install: queue %.1f ms, send %.1f ms wall / %.1f ms cpu (%zu failed)\n",
              queueMs, sendMs, sendCpu, failed);
  std::printf("ip -batch install: %.1f ms wall / %.1f ms cpu (exit %d)\n", ipMs, ipCpu, ipRc);
  std::printf("dump table 254 proto 80: %zu routes, wall min %.1f / median %.1f / max %.1f ms, "
              "cpu min %.1f / median %.1f ms\n",
              dumped, dumpMs.front(), dumpMs[dumpMs.size() / 2], dumpMs.back(), dumpCpu.front(),
              dumpCpu[dumpCpu.size() / 2]);
  std::printf("dump all IPv4 tables: %zu routes, %.1f ms\n", all.hasValue() ? all->size() : 0,
              dumpAllMs);
  std::printf("ip route show proto 80 (same routes): %.1f ms\n", ipShowMs);
  std::printf("batch delete: %.1f ms (%zu failed)\n", deleteMs, delFailed);
  return failed == 0 && delFailed == 0 && ipRc == 0 && dumped == static_cast<size_t>(count) ? 0 : 1;
}
