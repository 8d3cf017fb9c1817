// bench_watch: watch fan-out of caracal-apiserver. Many concurrent watch connections (driven by a
// few asio threads) all watch one collection from its current resourceVersion; writers then issue
// creates and updates at a steady rate, each object stamped with its send time, and every watcher
// measures delivery latency = time the event's bytes were read − time its write was sent.

#include "bench/bench_http.h"
#include "bench/bench_support.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <sys/resource.h>
#include <thread>

namespace caracal::bench {
namespace {

constexpr const char* kCollection = "/apis/projectcalico.org/v3/globalnetworksets";
constexpr const char* kStampKey = "bench.caracal.io/sent";

std::string objectName(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "watch-%06zu", i);
  return buf;
}

// The object written by event `seq` (object `obj`), stamped "<seq>:<sentNs>".
std::string objectBody(size_t obj, size_t seq, int64_t sentNs, bool update) {
  std::string nets;
  for (size_t k = 0; k < 4; ++k) {
    if (k) {
      nets += ",";
    }
    nets += "\"" + std::to_string(10 + k) + "." + std::to_string((obj >> 8) & 255) + "." +
            std::to_string(obj & 255) + ".0/24\"";
  }
  return "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"GlobalNetworkSet\",\"metadata\":{"
         "\"name\":\"" +
         objectName(obj) + "\",\"labels\":{\"bench\":\"watch\",\"tier\":\"" +
         (update ? "updated" : "created") + "\"},\"annotations\":{\"" + kStampKey + "\":\"" +
         std::to_string(seq) + ":" + std::to_string(sentNs) + "\"}},\"spec\":{\"nets\":[" + nets +
         "]}}";
}

double processCpuSeconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct WriterStats {
  std::vector<double> latencyMs;
  double maxLagMs = 0; // how far behind schedule a send started
  size_t ok = 0;
  size_t failed = 0;
  std::string firstError;
};

int run(int argc, char** argv) {
  std::string binary = defaultApiserverBinary();
  int watchers = 1000;
  size_t events = 10000;
  double rate = 25;
  int writers = 4;
  int fleetThreads = 2;
  double drainSeconds = 60;
  std::vector<std::string> serverArgs;
  CLI::App app{"bench_watch: watch fan-out latency of caracal-apiserver"};
  app.add_option("--apiserver", binary, "caracal-apiserver binary");
  app.add_option("--watchers", watchers, "concurrent watch connections");
  app.add_option("--events", events, "events written (first half creates, then updates)");
  app.add_option("--rate", rate, "events per second the writers issue");
  app.add_option("--writers", writers, "writer connections");
  app.add_option("--fleet-threads", fleetThreads, "asio threads driving the watch connections");
  app.add_option("--drain-seconds", drainSeconds, "how long to wait for deliveries after writing");
  app.add_option("--server-arg", serverArgs, "extra caracal-apiserver argument (repeatable)");
  bool insecure = false;
  app.add_flag("--insecure-http", insecure,
               "diagnostic: serve and watch over plain HTTP to separate the cost of TLS");
  CLI11_PARSE(app, argc, argv);
  if (watchers < 1 || events < 2 || rate <= 0 || writers < 1 || fleetThreads < 1) {
    std::cerr << "error: counts and rate must be positive (events >= 2)\n";
    return 2;
  }

  installCleanupHandlers();
  // Both this process and the server (which inherits the limit) hold one socket per watcher.
  uint64_t fdLimit = raiseFdLimit(static_cast<uint64_t>(watchers) * 2 + 1024);
  std::cout << "bench_watch\n" << machineDescription() << "open files limit: " << fdLimit << "\n";
  if (fdLimit < static_cast<uint64_t>(watchers) + 256) {
    std::cerr << "error: RLIMIT_NOFILE " << fdLimit << " is too low for " << watchers
              << " watchers\n";
    return 1;
  }

  auto tmp = TempDir::make("caracal-bench-watch");
  if (!tmp) {
    std::cerr << "error: " << tmp.error().message() << "\n";
    return 1;
  }
  std::string dir = (*tmp)->path();
  ApiServerOptions so;
  so.binary = binary;
  so.dataDir = dir + "/data";
  so.logPath = dir + "/apiserver.log";
  so.extraArgs = serverArgs;
  if (insecure) {
    so.extraArgs.push_back("--insecure-http");
  }
  auto server = ApiServer::start(so);
  if (!server) {
    std::cerr << "error: " << server.error().message() << "\n";
    return 1;
  }
  Endpoint ep = (*server)->endpoint();
  const char* scheme = ep.tls ? "https" : "http";
  std::cout << "caracal-apiserver pid " << (*server)->pid() << " on " << scheme
            << "://127.0.0.1:" << ep.port;
  for (const auto& a : so.extraArgs) {
    std::cout << " " << a;
  }
  std::cout << "\n";

  auto fail = [&](const std::string& msg) {
    std::cerr << "error: " << msg << "\n";
    (void)(*server)->stop();
    return 1;
  };

  // Writer connections first (before the watchers hold the server busy).
  std::vector<std::unique_ptr<HttpsConnection>> conns;
  for (int w = 0; w < writers; ++w) {
    auto c = HttpsConnection::open(ep);
    if (!c) {
      return fail(c.error().message());
    }
    conns.push_back(std::move(c).value());
  }
  auto list = conns[0]->request("GET", kCollection);
  if (!list || list->status != 200) {
    return fail("listing the collection failed");
  }
  std::string rv;
  {
    const std::string key = "\"resourceVersion\":\"";
    size_t at = list->body.find(key);
    if (at == std::string::npos) {
      return fail("the list has no resourceVersion");
    }
    at += key.size();
    rv = list->body.substr(at, list->body.find('"', at) - at);
  }

  WatchFleetOptions fo;
  fo.endpoint = ep;
  fo.target = std::string(kCollection) + "?watch=true&resourceVersion=" + rv;
  fo.connections = watchers;
  fo.threads = fleetThreads;
  fo.stampKey = kStampKey;
  fo.expectedEvents = events;
  WatchFleet fleet(fo);
  auto openStart = Clock::now();
  Status st = fleet.start();
  if (!st) {
    fleet.stop();
    return fail(st.message() + "\nserver log:\n" + fileTail(so.logPath));
  }
  std::cout << watchers << " watches open from resourceVersion " << rv << " in "
            << fmt(secondsSince(openStart), 2) << " s (" << fleetThreads
            << " client threads); server threads " << (*server)->threadCount() << ", RSS "
            << (*server)->rssKib() / 1024 << " MiB\n";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // Writers: event i is sent at start + i/rate by writer i % writers; the first half creates
  // objects, the second half updates them in the same order.
  size_t half = events / 2;
  std::vector<WriterStats> wstats(static_cast<size_t>(writers));
  std::atomic<size_t> written{0};
  std::atomic<int> writersRunning{writers};
  double serverCpu0 = (*server)->cpuSeconds();
  double selfCpu0 = processCpuSeconds();
  auto writeStart = Clock::now() + std::chrono::milliseconds(50);
  std::vector<std::thread> wthreads;
  for (int w = 0; w < writers; ++w) {
    wthreads.emplace_back([&, w] {
      WriterStats& ws = wstats[static_cast<size_t>(w)];
      ws.latencyMs.reserve(events / static_cast<size_t>(writers) + 1);
      HttpsConnection& conn = *conns[static_cast<size_t>(w)];
      for (size_t i = static_cast<size_t>(w); i < events; i += static_cast<size_t>(writers)) {
        auto due = writeStart + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(static_cast<double>(i) / rate));
        std::this_thread::sleep_until(due);
        auto t0 = Clock::now();
        ws.maxLagMs =
            std::max(ws.maxLagMs, std::chrono::duration<double, std::milli>(t0 - due).count());
        bool update = i >= half;
        size_t obj = update ? i - half : i;
        std::string body = objectBody(obj, i, nowNs(), update);
        auto r = update
                     ? conn.request("PUT", std::string(kCollection) + "/" + objectName(obj), body)
                     : conn.request("POST", kCollection, body);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        int want = update ? 200 : 201;
        if (r && r->status == want) {
          ++ws.ok;
          ws.latencyMs.push_back(ms);
        } else {
          ++ws.failed;
          if (ws.firstError.empty()) {
            ws.firstError = !r ? r.error().message()
                               : "HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 300);
          }
          if (!r) {
            break; // the connection is gone
          }
        }
        written.fetch_add(1);
      }
      writersRunning.fetch_sub(1);
    });
  }

  uint64_t expectedTotal = static_cast<uint64_t>(events) * static_cast<uint64_t>(watchers);
  auto lastPrint = Clock::now();
  auto progress = [&](const char* phase) {
    std::cout << "  [" << phase << " " << fmt(secondsSince(writeStart), 1) << " s] written "
              << written.load() << "/" << events << ", delivered " << fleet.eventsReceived() << "/"
              << expectedTotal << ", watches ended " << fleet.endedCount() << std::endl;
  };
  // Bounded: the writers stop on their own (schedule done or connection lost).
  while (writersRunning.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (secondsSince(lastPrint) >= 2) {
      progress("writing");
      lastPrint = Clock::now();
    }
  }
  for (auto& t : wthreads) {
    t.join();
  }
  double writeSeconds = secondsSince(writeStart);
  auto drainStart = Clock::now();
  while (fleet.eventsReceived() < expectedTotal &&
         fleet.endedCount() < static_cast<size_t>(watchers) &&
         secondsSince(drainStart) < drainSeconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (secondsSince(lastPrint) >= 2) {
      progress("draining");
      lastPrint = Clock::now();
    }
  }
  double drainSecs = secondsSince(drainStart);
  double serverCpu = (*server)->cpuSeconds() - serverCpu0;
  double selfCpu = processCpuSeconds() - selfCpu0;
  double wall = secondsSince(writeStart);
  uint64_t serverRss = (*server)->rssKib();
  fleet.stop();
  conns.clear();
  Status stopSt = (*server)->stop();

  // --- analysis ---
  auto results = fleet.results();
  std::vector<uint32_t> all;
  all.reserve(expectedTotal);
  uint64_t delivered = 0, bytes = 0, reads = 0, complete = 0, dropped = 0, totalEvents = 0;
  std::map<std::string, int> reasons;
  std::vector<uint32_t> firstUs(events, kMissing), lastUs(events, 0);
  std::vector<uint32_t> perWatcherDelivered;
  for (const auto& r : results) {
    delivered += r.stamped;
    totalEvents += r.events;
    bytes += r.bytes;
    reads += r.reads;
    perWatcherDelivered.push_back(static_cast<uint32_t>(r.stamped));
    if (r.stamped == events) {
      ++complete;
    }
    if (r.ended) {
      ++dropped;
      ++reasons[r.endReason.substr(0, 200)];
    }
    for (size_t s = 0; s < events; ++s) {
      uint32_t v = r.latencyUs[s];
      if (v != kMissing) {
        all.push_back(v);
        firstUs[s] = std::min(firstUs[s], v);
        lastUs[s] = std::max(lastUs[s], v);
      }
    }
  }
  // Latency by phase of the run (tenths of the event sequence): shows a backlog building up.
  std::cout << "\nlatency by tenth of the run (ms; over all watchers):\n";
  size_t tenth = std::max<size_t>(1, events / 10);
  for (size_t b = 0; b * tenth < events; ++b) {
    std::vector<uint32_t> part;
    for (const auto& r : results) {
      for (size_t s = b * tenth; s < std::min(events, (b + 1) * tenth); ++s) {
        if (r.latencyUs[s] != kMissing) {
          part.push_back(r.latencyUs[s]);
        }
      }
    }
    Summary ps = summarizeU32(part);
    std::cout << "  events " << b * tenth << "-" << std::min(events, (b + 1) * tenth) - 1
              << ": p50 " << fmt(ps.p50 / 1000, 1) << " p99 " << fmt(ps.p99 / 1000, 1) << " max "
              << fmt(ps.max / 1000, 1) << " (" << ps.count << " deliveries)\n";
  }
  std::vector<uint32_t> spread, first;
  for (size_t s = 0; s < events; ++s) {
    if (firstUs[s] != kMissing) {
      first.push_back(firstUs[s]);
      spread.push_back(lastUs[s] - firstUs[s]);
    }
  }
  Summary lat = summarizeU32(all);
  Summary fs = summarizeU32(first);
  Summary sp = summarizeU32(spread);
  Summary pw = summarizeU32(perWatcherDelivered);
  std::vector<double> wlat;
  double maxLag = 0;
  size_t wok = 0, wfailed = 0;
  std::string wErr;
  for (auto& ws : wstats) {
    wlat.insert(wlat.end(), ws.latencyMs.begin(), ws.latencyMs.end());
    maxLag = std::max(maxLag, ws.maxLagMs);
    wok += ws.ok;
    wfailed += ws.failed;
    if (wErr.empty()) {
      wErr = ws.firstError;
    }
  }
  Summary wl = summarize(wlat);

  std::cout << "\nwriters: " << wok << " writes ok, " << wfailed << " failed"
            << (wErr.empty() ? "" : " (first: " + wErr + ")") << " in " << fmt(writeSeconds, 2)
            << " s = " << fmt(static_cast<double>(wok) / writeSeconds, 0) << " writes/s (target "
            << fmt(rate, 0) << "/s, max lag behind schedule " << fmt(maxLag, 1)
            << " ms); write latency ms p50 " << fmt(wl.p50, 2) << " p99 " << fmt(wl.p99, 2)
            << " max " << fmt(wl.max, 2) << "\n";
  std::cout << "drain after the last write: " << fmt(drainSecs, 2) << " s\n";
  std::cout << "first watcher to receive an event (write sent -> first delivery), ms: p50 "
            << fmt(fs.p50 / 1000, 2) << " p99 " << fmt(fs.p99 / 1000, 2) << " max "
            << fmt(fs.max / 1000, 2) << "\n";
  std::cout << "fan-out spread per event (last watcher - first watcher), ms: p50 "
            << fmt(sp.p50 / 1000, 2) << " p99 " << fmt(sp.p99 / 1000, 2) << " max "
            << fmt(sp.max / 1000, 2) << "\n";
  std::cout << "per watcher delivered: min " << fmt(pw.min, 0) << " p50 " << fmt(pw.p50, 0)
            << " max " << fmt(pw.max, 0) << " of " << events << " (" << totalEvents
            << " event lines in all)\n";
  std::cout << "client reads: " << reads << " with body data, "
            << fmt(reads ? static_cast<double>(totalEvents) / static_cast<double>(reads) : 0, 2)
            << " events per read; " << fmtBytes(static_cast<double>(bytes)) << " of events\n";
  std::cout << "CPU during the run (" << fmt(wall, 1) << " s): server " << fmt(serverCpu, 1)
            << " s (" << fmt(100 * serverCpu / wall, 0) << "% of one core), this client process "
            << fmt(selfCpu, 1) << " s (" << fmt(100 * selfCpu / wall, 0) << "%); server RSS "
            << serverRss / 1024 << " MiB\n";
  for (const auto& [why, n] : reasons) {
    std::cout << "watches ended early: " << n << " x " << why << "\n";
  }
  if (!stopSt) {
    std::cout << "server stop: " << stopSt.message() << "\n" << fileTail(so.logPath);
  }

  std::cout << "\nsummary\n";
  std::cout << "watch latency (" << watchers << " watchers, " << events << " events at "
            << fmt(rate, 0) << "/s, " << scheme << "): p50 " << fmt(lat.p50 / 1000, 2)
            << " ms, p99 " << fmt(lat.p99 / 1000, 2) << " ms, p99.9 " << fmt(lat.p999 / 1000, 2)
            << " ms, max " << fmt(lat.max / 1000, 2) << " ms\n";
  std::cout << "watch deliveries: " << delivered << " of " << expectedTotal << " expected ("
            << complete << "/" << watchers << " watchers got all " << events << " events, "
            << dropped << " dropped)\n";
  bool ok = wfailed == 0 && delivered == expectedTotal && dropped == 0 && stopSt;
  if (!ok) {
    std::cout << "bench_watch: FAILED (incomplete delivery, dropped watches or failed writes)\n";
  }
  return ok ? 0 : 1;
}

} // namespace
} // namespace caracal::bench

int main(int argc, char** argv) { return caracal::bench::run(argc, argv); }
