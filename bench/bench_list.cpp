// bench_list: LIST of a large collection through caracal-apiserver's HTTPS API, in one response
// (no limit) and paged with limit=500 as kubectl does.
//
// Population: one object is created through the API and read back, which gives the exact stored
// form (key order apiVersion, kind, metadata; uid, creationTimestamp and generation set by the
// server). The server is stopped, the remaining objects are written with that form straight into
// its store.db through the storage engine (same key layout), and the server is started again on
// the same data directory, so that the list is served from a store the server loaded itself.

#include "apiserver/handler.h"
#include "bench/bench_http.h"
#include "bench/bench_support.h"
#include "common/value.h"
#include "datastore/sqlite_journal.h"
#include "datastore/store_engine.h"

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <random>
#include <sys/resource.h>
#include <thread>

namespace caracal::bench {
namespace {

constexpr const char* kCollection = "/apis/projectcalico.org/v3/globalnetworksets";
constexpr const char* kKeyPrefix = "/registry/projectcalico.org/globalnetworksets/";

std::string objectName(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "list-%07zu", i);
  return buf;
}

std::string objectBody(size_t i) {
  auto octet = [](size_t v) { return std::to_string(v & 255); };
  std::string nets;
  for (size_t k = 0; k < 4; ++k) {
    if (k) {
      nets += ",";
    }
    nets += "\"" + std::to_string(10 + k) + "." + octet(i >> 8) + "." + octet(i) + ".0/24\"";
  }
  return "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"GlobalNetworkSet\",\"metadata\":{"
         "\"name\":\"" +
         objectName(i) + "\",\"labels\":{\"bench\":\"list\",\"tier\":\"frontend\",\"idx\":\"" +
         std::to_string(i) + "\"}},\"spec\":{\"nets\":[" + nets + "]}}";
}

std::string uidFor(size_t i, uint64_t salt) {
  char buf[48];
  uint64_t a = salt ^ (i * 0x9e3779b97f4a7c15ULL);
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>((a >> 12) & 0xfff),
                static_cast<unsigned long long>(i + (salt & 0xffffffffULL)));
  return buf;
}

long minorFaults() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

std::string percentEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

size_t countItems(const std::string& body) {
  static const std::string kNeedle = "\"kind\":\"GlobalNetworkSet\"";
  size_t n = 0;
  for (size_t at = body.find(kNeedle); at != std::string::npos;
       at = body.find(kNeedle, at + kNeedle.size())) {
    ++n;
  }
  return n;
}

std::string continueToken(const std::string& body) {
  static const std::string kKey = "\"continue\":\"";
  size_t meta = body.find("\"items\":[");
  size_t at = body.find(kKey);
  if (at == std::string::npos || (meta != std::string::npos && at > meta)) {
    return "";
  }
  at += kKey.size();
  size_t end = body.find('"', at);
  return end == std::string::npos ? "" : body.substr(at, end - at);
}

// Creates object 0 through the API and returns its stored form (the wire form less the
// resourceVersion the server inserts).
Result<Value> templateFromServer(const Endpoint& ep) {
  ASSIGN_OR_RETURN(auto conn, HttpsConnection::open(ep));
  ASSIGN_OR_RETURN(HttpResult created, conn->request("POST", kCollection, objectBody(0)));
  if (created.status != 201) {
    return Status(Code::Internal, "creating the template object: HTTP " +
                                      std::to_string(created.status) + " " + created.body);
  }
  ASSIGN_OR_RETURN(HttpResult got,
                   conn->request("GET", std::string(kCollection) + "/" + objectName(0)));
  if (got.status != 200) {
    return Status(Code::Internal,
                  "reading the template object: HTTP " + std::to_string(got.status));
  }
  ASSIGN_OR_RETURN(Value v, parseJson(got.body));
  v["metadata"].erase("resourceVersion");
  return v;
}

Status populate(const std::string& dbPath, const Value& tmpl, size_t total, int threads,
                double& seconds) {
  ASSIGN_OR_RETURN(auto engine, datastore::makeSqliteEngine(dbPath, datastore::StoreOptions{},
                                                            datastore::SqliteOptions{}));
  std::atomic<size_t> next{1};
  std::atomic<size_t> failures{0};
  std::string firstError;
  std::mutex mu;
  uint64_t salt = std::random_device{}();
  salt = (salt << 32) ^ std::random_device{}();
  auto start = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      Value obj = tmpl;
      while (true) {
        size_t i = next.fetch_add(1);
        if (i >= total) {
          return;
        }
        std::string name = objectName(i);
        obj["metadata"]["name"] = name;
        obj["metadata"]["labels"]["idx"] = std::to_string(i);
        obj["metadata"]["uid"] = uidFor(i, salt);
        Value nets = Value::array();
        for (size_t k = 0; k < 4; ++k) {
          nets.push(std::to_string(10 + k) + "." + std::to_string((i >> 8) & 255) + "." +
                    std::to_string(i & 255) + ".0/24");
        }
        obj["spec"]["nets"] = std::move(nets);
        auto r = engine->create(kKeyPrefix + name, toJson(obj));
        if (!r) {
          failures.fetch_add(1);
          std::lock_guard<std::mutex> lk(mu);
          if (firstError.empty()) {
            firstError = r.error().message();
          }
          return;
        }
      }
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  seconds = secondsSince(start);
  if (failures.load() > 0) {
    return Status(Code::Internal, "populating the store: " + firstError);
  }
  return Status::ok();
}

int run(int argc, char** argv) {
  std::string binary = defaultApiserverBinary();
  size_t objects = 100000;
  int repeats = 5;
  int pagedRepeats = 3;
  int pageSize = 500;
  int populateThreads = 32;
  CLI::App app{"bench_list: LIST of a large collection through caracal-apiserver"};
  app.add_option("--apiserver", binary, "caracal-apiserver binary");
  app.add_option("--objects", objects, "objects in the collection");
  app.add_option("--repeats", repeats, "timed full lists");
  app.add_option("--paged-repeats", pagedRepeats, "timed paged lists");
  app.add_option("--page-size", pageSize, "limit of the paged list");
  app.add_option("--populate-threads", populateThreads, "engine threads writing the objects");
  CLI11_PARSE(app, argc, argv);
  if (objects < 1 || repeats < 1 || pagedRepeats < 1 || pageSize < 1) {
    std::cerr << "error: counts must be positive\n";
    return 2;
  }

  installCleanupHandlers();
  std::cout << "bench_list\n" << machineDescription();
  auto tmp = TempDir::make("caracal-bench-list");
  if (!tmp) {
    std::cerr << "error: " << tmp.error().message() << "\n";
    return 1;
  }
  std::string dir = (*tmp)->path();
  ApiServerOptions so;
  so.binary = binary;
  so.dataDir = dir + "/data";
  so.logPath = dir + "/apiserver.log";

  // 1. The stored form of one object, from the server itself.
  Value tmpl;
  {
    auto server = ApiServer::start(so);
    if (!server) {
      std::cerr << "error: " << server.error().message() << "\n";
      return 1;
    }
    auto t = templateFromServer((*server)->endpoint());
    Status st = (*server)->stop();
    if (!t || !st) {
      std::cerr << "error: " << (!t ? t.error().message() : st.message()) << "\n"
                << fileTail(so.logPath);
      return 1;
    }
    tmpl = std::move(t).value();
  }
  std::cout << "stored form of one object (" << toJson(tmpl).size() << " bytes): " << toJson(tmpl)
            << "\n";

  // 2. The rest straight into the server's store.
  if (objects > 1) {
    double secs = 0;
    Status st = populate(so.dataDir + "/store.db", tmpl, objects, populateThreads, secs);
    if (!st) {
      std::cerr << "error: " << st.message() << "\n";
      return 1;
    }
    std::cout << "populated " << objects - 1 << " objects through the engine in " << fmt(secs, 2)
              << " s (" << fmt(static_cast<double>(objects - 1) / secs, 0) << " creates/s, "
              << populateThreads << " threads)\n";
  }

  // 3. Serve and list.
  auto startAt = Clock::now();
  auto server = ApiServer::start(so);
  if (!server) {
    std::cerr << "error: " << server.error().message() << "\n";
    return 1;
  }
  std::cout << "caracal-apiserver pid " << (*server)->pid()
            << " on https://127.0.0.1:" << (*server)->endpoint().port
            << ", started (store loaded) in " << fmt(secondsSince(startAt), 2) << " s, RSS "
            << (*server)->rssKib() / 1024 << " MiB\n";
  auto conn = HttpsConnection::open((*server)->endpoint());
  if (!conn) {
    std::cerr << "error: " << conn.error().message() << "\n";
    return 1;
  }
  bool failed = false;
  std::vector<double> fullTimes, fullHeader;
  size_t fullBytes = 0;
  for (int r = 0; r < repeats && !failed; ++r) {
    double cpu0 = (*server)->cpuSeconds();
    auto res = (*conn)->request("GET", kCollection);
    if (!res || res->status != 200) {
      std::cerr << "error: list: "
                << (!res ? res.error().message() : "HTTP " + std::to_string(res->status)) << "\n";
      failed = true;
      break;
    }
    size_t items = countItems(res->body);
    if (items != objects) {
      std::cerr << "error: the list has " << items << " items, expected " << objects << "\n";
      failed = true;
    }
    fullTimes.push_back(res->totalSeconds);
    fullHeader.push_back(res->headerSeconds);
    fullBytes = res->body.size();
    std::cout << "  full list #" << r + 1 << ": " << items << " items, "
              << fmtBytes(static_cast<double>(res->body.size())) << " in "
              << fmt(res->totalSeconds, 3) << " s (first byte after " << fmt(res->headerSeconds, 3)
              << " s; server CPU " << fmt((*server)->cpuSeconds() - cpu0, 2) << " s)\n";
  }

  std::vector<double> pagedTimes;
  size_t pages = 0;
  for (int r = 0; r < pagedRepeats && !failed; ++r) {
    auto start = Clock::now();
    std::string token;
    size_t items = 0;
    pages = 0;
    double slowest = 0;
    while (true) {
      std::string target = std::string(kCollection) + "?limit=" + std::to_string(pageSize);
      if (!token.empty()) {
        target += "&continue=" + percentEncode(token);
      }
      auto res = (*conn)->request("GET", target);
      if (!res || res->status != 200) {
        std::cerr << "error: paged list: "
                  << (!res ? res.error().message()
                           : "HTTP " + std::to_string(res->status) + " " + res->body.substr(0, 300))
                  << "\n";
        failed = true;
        break;
      }
      ++pages;
      items += countItems(res->body);
      slowest = std::max(slowest, res->totalSeconds);
      token = continueToken(res->body);
      if (token.empty() || pages > objects) {
        break;
      }
    }
    if (failed) {
      break;
    }
    double secs = secondsSince(start);
    if (items != objects) {
      std::cerr << "error: the paged list gave " << items << " items, expected " << objects << "\n";
      failed = true;
    }
    pagedTimes.push_back(secs);
    std::cout << "  paged list #" << r + 1 << " (limit=" << pageSize << "): " << items
              << " items in " << pages << " pages, " << fmt(secs, 3) << " s (slowest page "
              << fmt(slowest * 1000, 1) << " ms)\n";
  }
  uint64_t rss = (*server)->rssKib();
  conn->reset();
  Status st = (*server)->stop();
  if (!st) {
    std::cerr << "error: " << st.message() << "\n" << fileTail(so.logPath);
    failed = true;
  }

  // 4. The same list in-process, to split the time between the store, the REST handler and the
  // transport: engine range() alone, then Handler::handle() (range + encoding), no HTTP/TLS.
  std::vector<double> rangeTimes, handlerTimes, encodeTimes, handlerFaults;
  if (!failed) {
    auto engine = datastore::makeSqliteEngine(so.dataDir + "/store.db", datastore::StoreOptions{},
                                              datastore::SqliteOptions{});
    if (!engine) {
      std::cerr << "error: " << engine.error().message() << "\n";
      failed = true;
    } else {
      apiserver::Handler handler(**engine, apiserver::HandlerOptions{});
      for (int r = 0; r < repeats; ++r) {
        auto t0 = Clock::now();
        auto kvs = (*engine)->range(kKeyPrefix);
        rangeTimes.push_back(secondsSince(t0));
        if (!kvs || kvs->kvs.size() != objects) {
          std::cerr << "error: engine range gave the wrong count\n";
          failed = true;
        }
        // The handler's list encoding (withResourceVersion per item into one buffer), alone.
        if (kvs) {
          t0 = Clock::now();
          std::string out;
          size_t total = 0;
          for (const auto& kv : kvs->kvs) {
            total += kv.value.size() + 40;
          }
          out.reserve(total + 256);
          for (const auto& kv : kvs->kvs) {
            out += apiserver::withResourceVersion(kv.value, kv.modRevision);
            out.push_back(',');
          }
          encodeTimes.push_back(secondsSince(t0));
        }
        apiserver::Request req;
        req.method = "GET";
        req.path = kCollection;
        long faults0 = minorFaults();
        t0 = Clock::now();
        apiserver::Reply rep = handler.handle(req);
        handlerTimes.push_back(secondsSince(t0));
        handlerFaults.push_back(static_cast<double>(minorFaults() - faults0));
        if (rep.response.status != 200 || rep.response.body.size() != fullBytes) {
          std::cerr << "error: in-process list: HTTP " << rep.response.status << ", "
                    << rep.response.body.size() << " bytes\n";
          failed = true;
        }
      }
      handler.shutdown();
      std::cout << "  in-process (same store): engine range() median " << fmt(median(rangeTimes), 3)
                << " s; encoding the items alone " << fmt(median(encodeTimes), 3)
                << " s; Handler::handle(list) median " << fmt(median(handlerTimes), 3) << " s ("
                << fmt(median(handlerFaults), 0) << " minor page faults per call)\n";
    }
  }

  std::cout << "\nsummary (server RSS after the lists: " << rss / 1024 << " MiB)\n";
  if (!fullTimes.empty()) {
    std::vector<double> sorted = fullTimes;
    Summary s = summarize(sorted);
    std::cout << "list " << objects << " objects (https, no limit): " << fmt(median(fullTimes), 3)
              << " s median of " << fullTimes.size() << " (min " << fmt(s.min, 3) << ", max "
              << fmt(s.max, 3) << "; " << fmtBytes(static_cast<double>(fullBytes))
              << ", first byte " << fmt(median(fullHeader), 3) << " s)\n";
  }
  if (!pagedTimes.empty()) {
    std::cout << "list " << objects << " objects (https, limit=" << pageSize << ", " << pages
              << " pages): " << fmt(median(pagedTimes), 3) << " s median of " << pagedTimes.size()
              << "\n";
  }
  if (!handlerTimes.empty()) {
    std::cout << "list " << objects
              << " objects (in-process Handler, no HTTP/TLS): " << fmt(median(handlerTimes), 3)
              << " s median; engine range() alone " << fmt(median(rangeTimes), 3) << " s\n";
  }
  if (failed) {
    std::cout << "bench_list: FAILED (see errors above)\n";
  }
  return failed ? 1 : 0;
}

} // namespace
} // namespace caracal::bench

int main(int argc, char** argv) { return caracal::bench::run(argc, argv); }
