// bench_creates: durable creates per second through caracal-apiserver's HTTPS API, sequential (one
// keep-alive client) and concurrent (N clients, each its own keep-alive connection), next to the
// same workload in-process at two lower layers: the REST Handler over the SQLite engine (JSON
// decoding, validation, defaulting, encoding; no HTTP/TLS) and the SQLite storage engine alone.
// The three tiers show what the transport and what the REST semantics add on top of the store.

#include "apiserver/handler.h"
#include "bench/bench_http.h"
#include "bench/bench_support.h"
#include "datastore/sqlite_journal.h"
#include "datastore/store_engine.h"

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

namespace caracal::bench {
namespace {

constexpr const char* kCollection = "/apis/projectcalico.org/v3/globalnetworksets";
constexpr const char* kKeyPrefix = "/registry/projectcalico.org/globalnetworksets/";

struct Phase {
  std::string label;
  size_t ok = 0;
  size_t failed = 0;
  double seconds = 0;
  std::vector<double> latencyMs;
  std::string firstError;
};

std::string hex16(size_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%zx", v & 0xffff);
  return buf;
}

std::string objectBody(const std::string& name, size_t idx) {
  return "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"GlobalNetworkSet\",\"metadata\":{"
         "\"name\":\"" +
         name + "\",\"labels\":{\"bench\":\"creates\",\"idx\":\"" + std::to_string(idx) +
         "\"}},\"spec\":{\"nets\":[\"10." + std::to_string((idx >> 8) & 255) + "." +
         std::to_string(idx & 255) + ".0/24\",\"fd00:" + hex16(idx) + "::/64\"]}}";
}

// What the server stores for the same object (the engine baseline writes this text).
std::string storedText(const std::string& name, size_t idx) {
  return "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"GlobalNetworkSet\",\"metadata\":{"
         "\"name\":\"" +
         name + "\",\"labels\":{\"bench\":\"creates\",\"idx\":\"" + std::to_string(idx) +
         "\"},\"uid\":\"6f1c2d3e-0000-4000-8000-" + std::to_string(100000000000 + idx) +
         "\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\",\"generation\":1},\"spec\":{"
         "\"nets\":[\"10." +
         std::to_string((idx >> 8) & 255) + "." + std::to_string(idx & 255) +
         ".0/24\",\"fd00:" + hex16(idx) + "::/64\"]}}";
}

// Runs `workers` threads; worker w does its creates with `op(w, i)` until `perWorker` are done or
// the deadline passes. op returns an error text ("" = ok).
template <class Setup, class Op>
Phase runPhase(const std::string& label, int workers, size_t perWorker, double maxSeconds,
               Setup setup, Op op) {
  Phase ph;
  ph.label = label;
  std::mutex mu;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  std::vector<std::vector<double>> lat(static_cast<size_t>(workers));
  std::vector<size_t> okCount(static_cast<size_t>(workers), 0);
  std::vector<size_t> failCount(static_cast<size_t>(workers), 0);
  Clock::time_point start;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      auto ctx = setup(w);
      auto& myLat = lat[static_cast<size_t>(w)];
      myLat.reserve(perWorker);
      ready.fetch_add(1);
      while (!go.load()) {
        std::this_thread::yield();
      }
      auto deadline = start + std::chrono::duration<double>(maxSeconds);
      for (size_t i = 0; i < perWorker && Clock::now() < deadline; ++i) {
        auto t0 = Clock::now();
        std::string err = op(ctx, w, i);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (err.empty()) {
          myLat.push_back(ms);
          ++okCount[static_cast<size_t>(w)];
        } else {
          ++failCount[static_cast<size_t>(w)];
          std::lock_guard<std::mutex> lk(mu);
          if (ph.firstError.empty()) {
            ph.firstError = err;
          }
          if (failCount[static_cast<size_t>(w)] > 10) {
            break;
          }
        }
      }
    });
  }
  while (ready.load() < workers) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  start = Clock::now();
  go.store(true);
  for (auto& t : threads) {
    t.join();
  }
  ph.seconds = secondsSince(start);
  for (int w = 0; w < workers; ++w) {
    ph.ok += okCount[static_cast<size_t>(w)];
    ph.failed += failCount[static_cast<size_t>(w)];
    ph.latencyMs.insert(ph.latencyMs.end(), lat[static_cast<size_t>(w)].begin(),
                        lat[static_cast<size_t>(w)].end());
  }
  return ph;
}

std::string figureLine(Phase& ph) {
  Summary s = summarize(ph.latencyMs);
  double rate = ph.seconds > 0 ? static_cast<double>(ph.ok) / ph.seconds : 0;
  return "creates/s (" + ph.label + "): " + fmt(rate, 0) + " (p50 " + fmt(s.p50, 2) + " ms, p99 " +
         fmt(s.p99, 2) + " ms)";
}

void printPhase(Phase& ph) {
  std::vector<double> copy = ph.latencyMs;
  Summary s = summarize(copy);
  std::cout << "  " << ph.label << ": " << ph.ok << " created in " << fmt(ph.seconds, 2)
            << " s = " << fmt(ph.seconds > 0 ? static_cast<double>(ph.ok) / ph.seconds : 0, 0)
            << " creates/s; latency ms min " << fmt(s.min, 2) << " p50 " << fmt(s.p50, 2) << " p90 "
            << fmt(s.p90, 2) << " p99 " << fmt(s.p99, 2) << " max " << fmt(s.max, 2);
  if (ph.failed) {
    std::cout << "; FAILED " << ph.failed << " (first: " << ph.firstError << ")";
  }
  std::cout << std::endl;
}

int run(int argc, char** argv) {
  std::string binary = defaultApiserverBinary();
  size_t sequential = 3000;
  size_t perClient = 1000;
  std::vector<int> clients = {8};
  double maxSeconds = 120;
  CLI::App app{"bench_creates: durable creates/s through caracal-apiserver and the engine"};
  app.add_option("--apiserver", binary, "caracal-apiserver binary");
  app.add_option("--sequential", sequential, "creates of the one-client run");
  app.add_option("--per-client", perClient, "creates per client of the concurrent runs");
  app.add_option("--clients", clients, "client counts of the concurrent runs (e.g. 8 32)");
  app.add_option("--max-seconds", maxSeconds, "time bound of each run");
  std::string sync = "full";
  app.add_option("--sqlite-sync", sync,
                 "normal (WAL append, survives kill -9) or full (fsync per commit batch); applied "
                 "to the server and to the in-process baselines")
      ->check(CLI::IsMember({"normal", "full"}));
  CLI11_PARSE(app, argc, argv);

  installCleanupHandlers();
  std::cout << "bench_creates (--sqlite-sync " << sync << ")\n" << machineDescription();
  datastore::SqliteOptions sqlite;
  sqlite.sync = sync == "full" ? datastore::SqliteSync::Full : datastore::SqliteSync::Normal;

  auto tmp = TempDir::make("caracal-bench-creates");
  if (!tmp) {
    std::cerr << "error: " << tmp.error().message() << "\n";
    return 1;
  }
  std::string dir = (*tmp)->path();
  bool failed = false;
  std::vector<Phase> phases;

  // --- over HTTPS ---
  {
    ApiServerOptions so;
    so.binary = binary;
    so.dataDir = dir + "/data";
    so.logPath = dir + "/apiserver.log";
    so.extraArgs = {"--sqlite-sync", sync};
    auto server = ApiServer::start(so);
    if (!server) {
      std::cerr << "error: " << server.error().message() << "\n";
      return 1;
    }
    Endpoint ep = (*server)->endpoint();
    std::cout << "caracal-apiserver pid " << (*server)->pid() << " on https://127.0.0.1:" << ep.port
              << " (data dir " << so.dataDir << ")\n";

    auto setup = [&ep](int) { return HttpsConnection::open(ep); };
    auto create = [](const std::string& prefix) {
      return
          [prefix](Result<std::unique_ptr<HttpsConnection>>& conn, int w, size_t i) -> std::string {
            if (!conn) {
              return conn.error().message();
            }
            std::string name = prefix + std::to_string(w) + "-" + std::to_string(i);
            auto r = (*conn)->request("POST", kCollection,
                                      objectBody(name, static_cast<size_t>(w) * 1000000 + i));
            if (!r) {
              return r.error().message();
            }
            if (r->status != 201) {
              return "HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 300);
            }
            return "";
          };
    };
    double cpu0 = (*server)->cpuSeconds();
    phases.push_back(runPhase("1 client, https", 1, sequential, maxSeconds, setup, create("seq-")));
    printPhase(phases.back());
    for (int n : clients) {
      phases.push_back(runPhase(std::to_string(n) + " clients, https", n, perClient, maxSeconds,
                                setup, create("c" + std::to_string(n) + "-")));
      printPhase(phases.back());
    }
    double cpu = (*server)->cpuSeconds() - cpu0;
    size_t total = 0;
    for (const auto& p : phases) {
      total += p.ok;
    }
    std::cout << "  server CPU: " << fmt(cpu, 2) << " s for " << total
              << " creates = " << fmt(total ? cpu * 1e6 / static_cast<double>(total) : 0, 0)
              << " us/create; RSS " << (*server)->rssKib() / 1024 << " MiB\n";
    // Spot check: the objects are there.
    if (auto conn = HttpsConnection::open(ep)) {
      auto r = (*conn)->request("GET", std::string(kCollection) + "?limit=1");
      if (!r || r->status != 200) {
        std::cerr << "error: listing after the creates failed\n";
        failed = true;
      }
    }
    Status st = (*server)->stop();
    if (!st) {
      std::cerr << "error: " << st.message() << "\n" << fileTail(so.logPath);
      failed = true;
    }
  }

  // --- the REST handler in-process over the same engine kind (no HTTP, no TLS) ---
  size_t handlerBase = phases.size();
  {
    auto engine =
        datastore::makeSqliteEngine(dir + "/handler.db", datastore::StoreOptions{}, sqlite);
    if (!engine) {
      std::cerr << "error: " << engine.error().message() << "\n";
      return 1;
    }
    apiserver::Handler handler(**engine, apiserver::HandlerOptions{});
    auto setup = [](int) { return 0; };
    auto create = [&handler](const std::string& prefix) {
      return [&handler, prefix](int, int w, size_t i) -> std::string {
        apiserver::Request req;
        req.method = "POST";
        req.path = kCollection;
        req.headers["content-type"] = "application/json";
        req.body = objectBody(prefix + std::to_string(w) + "-" + std::to_string(i),
                              static_cast<size_t>(w) * 1000000 + i);
        apiserver::Reply r = handler.handle(req);
        return r.response.status == 201 ? ""
                                        : "HTTP " + std::to_string(r.response.status) + ": " +
                                              r.response.body.substr(0, 300);
      };
    };
    phases.push_back(runPhase("1 thread, handler", 1, sequential, maxSeconds, setup, create("h-")));
    printPhase(phases.back());
    for (int n : clients) {
      phases.push_back(runPhase(std::to_string(n) + " threads, handler", n, perClient, maxSeconds,
                                setup, create("h" + std::to_string(n) + "-")));
      printPhase(phases.back());
    }
    handler.shutdown();
  }

  // --- the storage engine in-process (the same durability: SQLite WAL, one batch per commit) ---
  size_t engineBase = phases.size();
  {
    auto engine =
        datastore::makeSqliteEngine(dir + "/engine.db", datastore::StoreOptions{}, sqlite);
    if (!engine) {
      std::cerr << "error: " << engine.error().message() << "\n";
      return 1;
    }
    datastore::Engine& e = **engine;
    auto setup = [](int) { return 0; };
    auto create = [&e](const std::string& prefix) {
      return [&e, prefix](int, int w, size_t i) -> std::string {
        std::string name = prefix + std::to_string(w) + "-" + std::to_string(i);
        auto r =
            e.create(kKeyPrefix + name, storedText(name, static_cast<size_t>(w) * 1000000 + i));
        return r ? "" : r.error().message();
      };
    };
    phases.push_back(runPhase("1 thread, engine", 1, sequential, maxSeconds, setup, create("s-")));
    printPhase(phases.back());
    for (int n : clients) {
      phases.push_back(runPhase(std::to_string(n) + " threads, engine", n, perClient, maxSeconds,
                                setup, create("t" + std::to_string(n) + "-")));
      printPhase(phases.back());
    }
  }

  for (const auto& p : phases) {
    if (p.failed > 0) {
      failed = true;
    }
  }
  std::cout << "\nsummary\n";
  for (size_t i = 0; i < phases.size(); ++i) {
    if (i == handlerBase) {
      std::cout << "(REST handler in-process over the engine: JSON + validation, no HTTP/TLS)\n";
    }
    if (i == engineBase) {
      std::cout << "(engine in-process, same key layout and stored text, no HTTP/TLS/JSON)\n";
    }
    std::cout << figureLine(phases[i]) << "\n";
  }
  if (failed) {
    std::cout << "bench_creates: FAILED (see errors above)\n";
  }
  return failed ? 1 : 0;
}

} // namespace
} // namespace caracal::bench

int main(int argc, char** argv) { return caracal::bench::run(argc, argv); }
