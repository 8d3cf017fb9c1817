// Waits until a network namespace holds exactly N IPv4 routes of one protocol, polling with a
// netlink route dump (no process per poll, so a poll of 10,000 routes costs a few milliseconds).
//
//   bench_bgp_route_wait --netns NAME --want N [--proto 12] [--table 254] [--interval-ms 10]
//                        [--timeout 60]
//   bench_bgp_route_wait --netns NAME --count [--proto 12] [--table 254]
//
// NAME is a namespace of `ip netns` (/var/run/netns/NAME). --proto defaults to 12 (RTPROT_BIRD).
// With --want it prints "<done-us> <first-us> <polls> <dump-ms median>" when it first sees exactly
// N routes: done-us is the CLOCK_REALTIME microsecond taken right after that dump (it compares
// with bash's $EPOCHREALTIME), first-us the same for the first dump whose count differed from the
// first one (= done-us when nothing changed before). Exits 1 after --timeout seconds with the
// last count on stderr. With --count
// it prints the number of routes once. Used by bench/bgp_frr_routes.sh.

#include "netlink/netlink.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <time.h>
#include <vector>

namespace {

long long realtimeMicros() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

} // namespace

int main(int argc, char** argv) {
  std::string netns;
  long want = -1;
  bool countOnly = false;
  int proto = 12;
  long table = 254;
  int intervalMs = 10;
  double timeout = 60;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--netns") {
      netns = next();
    } else if (a == "--want") {
      want = std::atol(next().c_str());
    } else if (a == "--count") {
      countOnly = true;
    } else if (a == "--proto") {
      proto = std::atoi(next().c_str());
    } else if (a == "--table") {
      table = std::atol(next().c_str());
    } else if (a == "--interval-ms") {
      intervalMs = std::max(0, std::atoi(next().c_str()));
    } else if (a == "--timeout") {
      timeout = std::atof(next().c_str());
    } else {
      netns.clear();
      break;
    }
  }
  if (netns.empty() || (want < 0 && !countOnly) || proto < 0 || proto > 255 || table < 0) {
    std::fprintf(stderr, "usage: bench_bgp_route_wait --netns NAME (--want N | --count) "
                         "[--proto P] [--table T] [--interval-ms MS] [--timeout S]\n");
    return 2;
  }
  auto sock = caracal::netlink::Socket::open("/var/run/netns/" + netns);
  if (!sock) {
    std::fprintf(stderr, "netlink in %s: %s\n", netns.c_str(), sock.error().message().c_str());
    return 1;
  }
  auto count = [&]() -> long {
    auto routes =
        (*sock)->routes(AF_INET, static_cast<uint32_t>(table), static_cast<uint8_t>(proto));
    if (!routes) {
      std::fprintf(stderr, "route dump: %s\n", routes.error().message().c_str());
      return -1;
    }
    return static_cast<long>(routes->size());
  };
  if (countOnly) {
    long n = count();
    if (n < 0) {
      return 1;
    }
    std::printf("%ld\n", n);
    return 0;
  }
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout);
  std::vector<double> dumpMs;
  long n = -1;
  long initial = -1;
  long long firstChange = 0;
  for (;;) {
    auto t0 = Clock::now();
    n = count();
    long long seen = realtimeMicros();
    dumpMs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (n < 0) {
      return 1;
    }
    if (initial < 0) {
      initial = n;
    } else if (firstChange == 0 && n != initial) {
      firstChange = seen;
    }
    if (n == want) {
      std::sort(dumpMs.begin(), dumpMs.end());
      std::printf("%lld %lld %zu %.2f\n", seen, firstChange ? firstChange : seen, dumpMs.size(),
                  dumpMs[dumpMs.size() / 2]);
      return 0;
    }
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "timed out after %.0f s waiting for %ld routes (have %ld)\n", timeout,
                   want, n);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(intervalMs));
  }
}
