// bench_fanout: an in-process timing profile of the watch fan-out path of caracal-apiserver,
// without network or TLS. The real Handler runs over the real SQLite engine; N watch streams are
// opened through Handler::handle() exactly as the transport does, but their StreamSink only counts
// (or, with --sink queue, queues and wakes a drain thread the way the transport's connection
// does). Creates then go through Handler::handle() one at a time, so each create's latency is
// validation + commit + the committer's synchronous fan-out to N streams. The growth of that
// latency with N is the per-watcher cost paid on the store's commit thread for every event.

#include "apiserver/handler.h"
#include "bench/bench_support.h"
#include "datastore/sqlite_journal.h"
#include "datastore/store_engine.h"

#include <CLI/CLI.hpp>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <mutex>
#include <thread>

namespace caracal::bench {
namespace {

constexpr const char* kCollection = "/apis/projectcalico.org/v3/globalnetworksets";

std::atomic<uint64_t> gChunks{0};

// Counts what it is given.
class CountingSink : public apiserver::StreamSink {
public:
  bool send(std::shared_ptr<const std::string> chunk) override {
    (void)chunk;
    gChunks.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  void close(std::string) override {}
};

// Queues chunks and wakes one shared drain thread per newly non-empty queue: the shape of the
// transport's enqueue (lock, push, post to the connection's strand once per batch).
class Drainer {
public:
  Drainer() : thread_([this] { run(); }) {}
  ~Drainer() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void wake(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      work_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

private:
  void run() {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      cv_.wait(lk, [this] { return stop_ || !work_.empty(); });
      if (work_.empty() && stop_) {
        return;
      }
      auto fn = std::move(work_.front());
      work_.pop_front();
      lk.unlock();
      fn();
      lk.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> work_;
  bool stop_ = false;
  std::thread thread_;
};

class QueueSink : public apiserver::StreamSink, public std::enable_shared_from_this<QueueSink> {
public:
  explicit QueueSink(Drainer& d) : drainer_(d) {}
  bool send(std::shared_ptr<const std::string> chunk) override {
    std::lock_guard<std::mutex> lk(mu_);
    queue_.push_back(std::move(chunk));
    if (!scheduled_) {
      scheduled_ = true;
      std::weak_ptr<QueueSink> weak = shared_from_this();
      drainer_.wake([weak] {
        if (auto s = weak.lock()) {
          s->drain();
        }
      });
    }
    return true;
  }
  void close(std::string) override {}

private:
  void drain() {
    std::lock_guard<std::mutex> lk(mu_);
    gChunks.fetch_add(queue_.size(), std::memory_order_relaxed);
    queue_.clear();
    scheduled_ = false;
  }
  Drainer& drainer_;
  std::mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool scheduled_ = false;
};

std::string body(size_t i) {
  return "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"GlobalNetworkSet\",\"metadata\":{"
         "\"name\":\"fan-" +
         std::to_string(i) +
         "\",\"labels\":{\"bench\":\"fanout\"},\"annotations\":{\"bench.caracal.io/sent\":\"" +
         std::to_string(i) + ":" + std::to_string(nowNs()) +
         "\"}},\"spec\":{\"nets\":[\"10.0.0.0/24\",\"11.0.0.0/24\",\"12.0.0.0/24\","
         "\"13.0.0.0/24\"]}}";
}

int run(int argc, char** argv) {
  std::vector<int> watcherCounts = {0, 100, 1000};
  size_t creates = 2000;
  std::string sinkKind = "count";
  CLI::App app{"bench_fanout: in-process timing of the apiserver's watch fan-out"};
  app.add_option("--watchers", watcherCounts, "watch stream counts to measure");
  app.add_option("--creates", creates, "sequential creates per watcher count");
  app.add_option("--sink", sinkKind, "count | queue")->check(CLI::IsMember({"count", "queue"}));
  CLI11_PARSE(app, argc, argv);

  installCleanupHandlers();
  std::cout << "bench_fanout (in-process: Handler + SQLite engine, sink=" << sinkKind << ")\n"
            << machineDescription();
  auto tmp = TempDir::make("caracal-bench-fanout");
  if (!tmp) {
    std::cerr << "error: " << tmp.error().message() << "\n";
    return 1;
  }
  std::vector<std::string> lines;
  double base = 0;
  size_t round = 0;
  for (int n : watcherCounts) {
    auto engine =
        datastore::makeSqliteEngine((*tmp)->path() + "/store-" + std::to_string(round) + ".db",
                                    datastore::StoreOptions{}, datastore::SqliteOptions{});
    if (!engine) {
      std::cerr << "error: " << engine.error().message() << "\n";
      return 1;
    }
    auto drainer = std::make_unique<Drainer>();
    {
      apiserver::HandlerOptions ho;
      apiserver::Handler handler(**engine, ho);
      std::vector<std::shared_ptr<apiserver::Stream>> streams;
      std::vector<std::shared_ptr<apiserver::StreamSink>> sinks;
      int64_t rv = (*engine)->currentRevision();
      for (int w = 0; w < n; ++w) {
        apiserver::Request req;
        req.method = "GET";
        req.path = kCollection;
        req.query["watch"] = "true";
        req.query["resourceVersion"] = std::to_string(rv);
        apiserver::Reply reply = handler.handle(req);
        if (!reply.stream) {
          std::cerr << "error: watch did not start: " << reply.response.body << "\n";
          return 1;
        }
        std::shared_ptr<apiserver::StreamSink> sink;
        if (sinkKind == "queue") {
          sink = std::make_shared<QueueSink>(*drainer);
        } else {
          sink = std::make_shared<CountingSink>();
        }
        reply.stream->start(sink);
        streams.push_back(reply.stream);
        sinks.push_back(sink);
      }
      gChunks.store(0);
      std::vector<double> lat;
      lat.reserve(creates);
      auto start = Clock::now();
      for (size_t i = 0; i < creates; ++i) {
        apiserver::Request req;
        req.method = "POST";
        req.path = kCollection;
        req.headers["content-type"] = "application/json";
        req.body = body(i);
        auto t0 = Clock::now();
        apiserver::Reply r = handler.handle(req);
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        if (r.response.status != 201) {
          std::cerr << "error: create: HTTP " << r.response.status << " " << r.response.body
                    << "\n";
          return 1;
        }
      }
      double secs = secondsSince(start);
      // Let queued chunks drain before counting.
      auto until = Clock::now() + std::chrono::seconds(5);
      while (gChunks.load() < static_cast<uint64_t>(n) * creates && Clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      Summary s = summarize(lat);
      if (n == watcherCounts.front()) {
        base = s.p50;
      }
      std::string line = "create via Handler with " + std::to_string(n) + " watch streams: mean " +
                         fmt(s.mean, 0) + " us, p50 " + fmt(s.p50, 0) + " us, p99 " +
                         fmt(s.p99, 0) + " us (" + fmt(static_cast<double>(creates) / secs, 0) +
                         " creates/s; chunks " + std::to_string(gChunks.load()) + ")";
      if (n > watcherCounts.front() && n > 0) {
        line += "; fan-out cost (p50 growth) " + fmt((s.p50 - base) / n * 1000, 0) +
                " ns per watcher per event on the commit path";
      }
      std::cout << "  " << line << std::endl;
      lines.push_back(line);
      for (auto& st : streams) {
        st->stop();
      }
      handler.shutdown();
    }
    drainer.reset();
    ++round;
  }
  std::cout << "\nsummary\n";
  for (const auto& l : lines) {
    std::cout << l << "\n";
  }
  return 0;
}

} // namespace
} // namespace caracal::bench

int main(int argc, char** argv) { return caracal::bench::run(argc, argv); }
