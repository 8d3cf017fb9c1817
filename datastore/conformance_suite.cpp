#include "datastore/conformance_suite.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

namespace caracal::datastore::conformance {

// ---------------------------------------------------------------------------------------------
// Support

ScratchDir::ScratchDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "caracal-datastore-XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (!mkdtemp(buffer.data())) {
    ADD_FAILURE() << "mkdtemp failed for " << pattern;
    return;
  }
  path_ = buffer.data();
}

ScratchDir::~ScratchDir() {
  if (!path_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
}

std::string engineFactoryName(const ::testing::TestParamInfo<EngineFactory>& info) {
  return info.param.name;
}

void PrintTo(const EngineFactory& factory, std::ostream* out) { *out << factory.name; }

WatchCallbacks EventCollector::callbacks() {
  WatchCallbacks callbacks;
  callbacks.onEvents = [this](const std::vector<EventPtr>& events) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.insert(events_.end(), events.begin(), events.end());
    batchSizes_.push_back(events.size());
    cv_.notify_all();
  };
  callbacks.onClose = [this](const Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = status;
    cv_.notify_all();
  };
  return callbacks;
}

bool EventCollector::waitForEvents(size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return events_.size() >= count; });
}

bool EventCollector::waitForClose(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return closed_.has_value(); });
}

std::vector<EventPtr> EventCollector::events() {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

std::vector<size_t> EventCollector::batchSizes() {
  std::lock_guard<std::mutex> lock(mu_);
  return batchSizes_;
}

std::optional<Status> EventCollector::closeStatus() {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

void EngineConformanceTest::SetUp() {
  dir_ = std::make_unique<ScratchDir>();
  ASSERT_FALSE(dir_->path().empty());
  auto engine = GetParam().open(dir_->path());
  ASSERT_TRUE(engine.hasValue()) << engine.status().str();
  engine_ = std::move(engine).value();
}

void EngineConformanceTest::TearDown() {
  engine_.reset();
  dir_.reset();
}

namespace {

using std::chrono::milliseconds;

KeyValue mustCreate(Engine& engine, const std::string& key, const std::string& value) {
  auto created = engine.create(key, value);
  EXPECT_TRUE(created.hasValue()) << key << ": " << created.status().str();
  return created.hasValue() ? created.value() : KeyValue{};
}

KeyValue mustUpdate(Engine& engine, const std::string& key, const std::string& value,
                    int64_t expected) {
  auto updated = engine.update(key, value, expected);
  EXPECT_TRUE(updated.hasValue()) << key << ": " << updated.status().str();
  return updated.hasValue() ? updated.value() : KeyValue{};
}

std::vector<std::string> keysOf(const std::vector<KeyValue>& kvs) {
  std::vector<std::string> keys;
  for (const KeyValue& kv : kvs) {
    keys.push_back(kv.key);
  }
  return keys;
}

void expectSameKv(const KeyValue& actual, const KeyValue& expected) {
  EXPECT_EQ(actual.key, expected.key);
  EXPECT_EQ(actual.value, expected.value);
  EXPECT_EQ(actual.createRevision, expected.createRevision);
  EXPECT_EQ(actual.modRevision, expected.modRevision);
  EXPECT_EQ(actual.version, expected.version);
}

// Checks that `events` carry exactly the revisions first..last, each once, in order.
void expectContiguous(const std::vector<EventPtr>& events, int64_t first, int64_t last) {
  ASSERT_EQ(static_cast<int64_t>(events.size()), last - first + 1);
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i]->kv.modRevision, first + static_cast<int64_t>(i)) << "at event " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// Point operations

TEST_P(EngineConformanceTest, GetMissingKeyIsEmpty) {
  auto got = engine_->get("/registry/none");
  ASSERT_TRUE(got.hasValue()) << got.status().str();
  EXPECT_FALSE(got->has_value());
}

TEST_P(EngineConformanceTest, CreateStampsRevisionAndVersion) {
  int64_t before = engine_->currentRevision();
  KeyValue kv = mustCreate(*engine_, "/registry/ippools/default", R"({"cidr":"10.0.0.0/16"})");
  EXPECT_EQ(kv.key, "/registry/ippools/default");
  EXPECT_EQ(kv.value, R"({"cidr":"10.0.0.0/16"})");
  EXPECT_EQ(kv.createRevision, before + 1);
  EXPECT_EQ(kv.modRevision, before + 1);
  EXPECT_EQ(kv.version, 1);
  EXPECT_EQ(engine_->currentRevision(), before + 1);

  auto got = engine_->get("/registry/ippools/default");
  ASSERT_TRUE(got.hasValue() && got->has_value());
  expectSameKv(**got, kv);
}

TEST_P(EngineConformanceTest, CreateExistingKeyIsAlreadyExists) {
  KeyValue kv = mustCreate(*engine_, "/a", "1");
  int64_t revision = engine_->currentRevision();
  auto again = engine_->create("/a", "2");
  ASSERT_FALSE(again.hasValue());
  EXPECT_EQ(again.code(), Code::AlreadyExists);
  EXPECT_EQ(engine_->currentRevision(), revision);
  auto got = engine_->get("/a");
  ASSERT_TRUE(got.hasValue() && got->has_value());
  expectSameKv(**got, kv);
}

TEST_P(EngineConformanceTest, UpdateChecksExistenceAndRevision) {
  auto missing = engine_->update("/a", "x", 0);
  EXPECT_EQ(missing.code(), Code::NotFound);

  KeyValue created = mustCreate(*engine_, "/a", "1");
  int64_t revision = engine_->currentRevision();
  auto stale = engine_->update("/a", "2", created.modRevision + 100);
  EXPECT_EQ(stale.code(), Code::Conflict);
  EXPECT_EQ(engine_->currentRevision(), revision);

  KeyValue updated = mustUpdate(*engine_, "/a", "2", created.modRevision);
  EXPECT_EQ(updated.value, "2");
  EXPECT_EQ(updated.createRevision, created.createRevision);
  EXPECT_EQ(updated.modRevision, revision + 1);
  EXPECT_EQ(updated.version, 2);

  // The old revision is stale now.
  EXPECT_EQ(engine_->update("/a", "3", created.modRevision).code(), Code::Conflict);
  // 0 means unconditional.
  KeyValue forced = mustUpdate(*engine_, "/a", "3", 0);
  EXPECT_EQ(forced.version, 3);
  EXPECT_EQ(forced.modRevision, revision + 2);
  auto got = engine_->get("/a");
  ASSERT_TRUE(got.hasValue() && got->has_value());
  expectSameKv(**got, forced);
}

TEST_P(EngineConformanceTest, RemoveReturnsDeletedValueAtDeleteRevision) {
  EXPECT_EQ(engine_->remove("/a", 0).code(), Code::NotFound);
  KeyValue created = mustCreate(*engine_, "/a", "1");
  KeyValue updated = mustUpdate(*engine_, "/a", "2", 0);

  EXPECT_EQ(engine_->remove("/a", created.modRevision).code(), Code::Conflict);
  auto still = engine_->get("/a");
  ASSERT_TRUE(still.hasValue() && still->has_value());

  int64_t revision = engine_->currentRevision();
  auto removed = engine_->remove("/a", updated.modRevision);
  ASSERT_TRUE(removed.hasValue()) << removed.status().str();
  EXPECT_EQ(removed->key, "/a");
  EXPECT_EQ(removed->value, "2");
  EXPECT_EQ(removed->createRevision, created.createRevision);
  EXPECT_EQ(removed->modRevision, revision + 1);
  EXPECT_EQ(engine_->currentRevision(), revision + 1);

  auto gone = engine_->get("/a");
  ASSERT_TRUE(gone.hasValue());
  EXPECT_FALSE(gone->has_value());
  EXPECT_EQ(engine_->remove("/a", 0).code(), Code::NotFound);

  // A re-created key starts a new life.
  KeyValue again = mustCreate(*engine_, "/a", "3");
  EXPECT_EQ(again.version, 1);
  EXPECT_EQ(again.createRevision, revision + 2);
}

TEST_P(EngineConformanceTest, RevisionsAdvanceByOnePerSuccessfulWrite) {
  int64_t revision = engine_->currentRevision();
  auto expectAt = [&](int64_t expected) { EXPECT_EQ(engine_->currentRevision(), expected); };
  EXPECT_EQ(mustCreate(*engine_, "/r/1", "a").modRevision, ++revision);
  EXPECT_EQ(mustCreate(*engine_, "/r/2", "b").modRevision, ++revision);
  EXPECT_FALSE(engine_->create("/r/1", "c").hasValue());
  expectAt(revision);
  EXPECT_EQ(mustUpdate(*engine_, "/r/1", "c", 0).modRevision, ++revision);
  EXPECT_FALSE(engine_->update("/r/none", "c", 0).hasValue());
  EXPECT_FALSE(engine_->remove("/r/none", 0).hasValue());
  expectAt(revision);
  auto removed = engine_->remove("/r/2", 0);
  ASSERT_TRUE(removed.hasValue());
  EXPECT_EQ(removed->modRevision, ++revision);
  expectAt(revision);
}

TEST_P(EngineConformanceTest, VersionCountsWritesSinceCreation) {
  KeyValue kv = mustCreate(*engine_, "/v", "0");
  for (int i = 1; i <= 5; ++i) {
    kv = mustUpdate(*engine_, "/v", std::to_string(i), kv.modRevision);
    EXPECT_EQ(kv.version, i + 1);
  }
  ASSERT_TRUE(engine_->remove("/v", 0).hasValue());
  EXPECT_EQ(mustCreate(*engine_, "/v", "new").version, 1);
}

TEST_P(EngineConformanceTest, InvalidArgumentsAreRejected) {
  EXPECT_EQ(engine_->create("", "x").code(), Code::Invalid);
  EXPECT_EQ(engine_->update("", "x", 0).code(), Code::Invalid);
  EXPECT_EQ(engine_->remove("", 0).code(), Code::Invalid);
  EXPECT_EQ(engine_->range("/", -1).code(), Code::Invalid);
  EventCollector collector;
  EXPECT_EQ(engine_->watch("/", -1, collector.callbacks()).code(), Code::Invalid);
  EXPECT_EQ(engine_->compact(-1).code(), Code::Invalid);
}

TEST_P(EngineConformanceTest, ValuesAreOpaqueBytes) {
  std::string json = R"({"metadata":{"name":"pool-ü"},"spec":{"cidr":"fd00::/48"}})";
  std::string withNul("a\0b\0c", 5);
  std::string large(1 << 20, 'x');
  for (size_t i = 0; i < large.size(); i += 4096) {
    large[i] = static_cast<char>('a' + (i / 4096) % 26);
  }
  mustCreate(*engine_, "/o/json", json);
  mustCreate(*engine_, "/o/nul", withNul);
  mustCreate(*engine_, "/o/large", large);
  mustCreate(*engine_, "/o/empty", "");
  auto range = engine_->range("/o/");
  ASSERT_TRUE(range.hasValue());
  std::map<std::string, std::string> values;
  for (const KeyValue& kv : range->kvs) {
    values[kv.key] = kv.value;
  }
  EXPECT_EQ(values["/o/json"], json);
  EXPECT_EQ(values["/o/nul"], withNul);
  EXPECT_EQ(values["/o/large"], large);
  EXPECT_EQ(values.count("/o/empty"), 1u);
  EXPECT_EQ(values["/o/empty"], "");
}

// ---------------------------------------------------------------------------------------------
// Range

TEST_P(EngineConformanceTest, RangeHonoursPrefixLimitAndStartAfter) {
  std::vector<std::string> expected;
  for (int i = 24; i >= 0; --i) { // created out of order on purpose
    char name[32];
    std::snprintf(name, sizeof(name), "/registry/pods/p%02d", i);
    mustCreate(*engine_, name, std::to_string(i));
    expected.push_back(name);
  }
  std::sort(expected.begin(), expected.end());
  // Neighbours that share a string prefix but are outside "/registry/pods/".
  mustCreate(*engine_, "/registry/pods", "not-under-prefix");
  mustCreate(*engine_, "/registry/podsx/a", "not-under-prefix");
  mustCreate(*engine_, "/registry/pod/a", "not-under-prefix");
  mustCreate(*engine_, "/a/first", "before");

  auto all = engine_->range("/registry/pods/");
  ASSERT_TRUE(all.hasValue());
  EXPECT_EQ(keysOf(all->kvs), expected);
  EXPECT_FALSE(all->more);
  EXPECT_EQ(all->revision, engine_->currentRevision());

  // Paginate in pages of 10.
  std::vector<std::string> paged;
  std::string startAfter;
  std::vector<size_t> pageSizes;
  for (;;) {
    auto page = engine_->range("/registry/pods/", 10, startAfter);
    ASSERT_TRUE(page.hasValue());
    for (const KeyValue& kv : page->kvs) {
      paged.push_back(kv.key);
    }
    pageSizes.push_back(page->kvs.size());
    if (!page->more) {
      break;
    }
    ASSERT_FALSE(page->kvs.empty());
    startAfter = page->kvs.back().key;
  }
  EXPECT_EQ(paged, expected);
  EXPECT_EQ(pageSizes, (std::vector<size_t>{10, 10, 5}));

  // A limit equal to the number of matches is not "more".
  auto exact = engine_->range("/registry/pods/", 25);
  ASSERT_TRUE(exact.hasValue());
  EXPECT_EQ(exact->kvs.size(), 25u);
  EXPECT_FALSE(exact->more);

  // startAfter before the prefix starts at the prefix; after every match gives nothing.
  auto early = engine_->range("/registry/pods/", 0, "/a");
  ASSERT_TRUE(early.hasValue());
  EXPECT_EQ(keysOf(early->kvs), expected);
  auto late = engine_->range("/registry/pods/", 0, "/registry/pods/p99");
  ASSERT_TRUE(late.hasValue());
  EXPECT_TRUE(late->kvs.empty());
  EXPECT_FALSE(late->more);

  // An empty prefix lists everything, sorted.
  auto everything = engine_->range("");
  ASSERT_TRUE(everything.hasValue());
  EXPECT_EQ(everything->kvs.size(), expected.size() + 4);
  EXPECT_TRUE(std::is_sorted(everything->kvs.begin(), everything->kvs.end(),
                             [](const KeyValue& a, const KeyValue& b) { return a.key < b.key; }));
  EXPECT_EQ(everything->kvs.front().key, "/a/first");
}

TEST_P(EngineConformanceTest, RangeReturnsStoredMetadata) {
  KeyValue a = mustCreate(*engine_, "/m/a", "1");
  a = mustUpdate(*engine_, "/m/a", "2", a.modRevision);
  KeyValue b = mustCreate(*engine_, "/m/b", "3");
  auto range = engine_->range("/m/");
  ASSERT_TRUE(range.hasValue());
  ASSERT_EQ(range->kvs.size(), 2u);
  expectSameKv(range->kvs[0], a);
  expectSameKv(range->kvs[1], b);
  EXPECT_EQ(range->revision, b.modRevision);
}

// ---------------------------------------------------------------------------------------------
// Concurrency

TEST_P(EngineConformanceTest, CompareAndSwapHasOneWinner) {
  KeyValue kv = mustCreate(*engine_, "/cas", "0");
  auto first = engine_->update("/cas", "first", kv.modRevision);
  auto second = engine_->update("/cas", "second", kv.modRevision);
  EXPECT_TRUE(first.hasValue());
  EXPECT_EQ(second.code(), Code::Conflict);
  auto removeStale = engine_->remove("/cas", kv.modRevision);
  EXPECT_EQ(removeStale.code(), Code::Conflict);
}

TEST_P(EngineConformanceTest, ConcurrentCompareAndSwapLosesNoUpdate) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 200;
  mustCreate(*engine_, "/counter", "0");
  std::atomic<int> conflicts{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        for (;;) {
          auto got = engine_->get("/counter");
          if (!got.hasValue() || !got->has_value()) {
            failures++;
            return;
          }
          int next = std::stoi((*got)->value) + 1;
          auto updated = engine_->update("/counter", std::to_string(next), (*got)->modRevision);
          if (updated.hasValue()) {
            break;
          }
          if (updated.code() != Code::Conflict) {
            failures++;
            return;
          }
          conflicts++;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  ASSERT_EQ(failures.load(), 0);
  auto got = engine_->get("/counter");
  ASSERT_TRUE(got.hasValue() && got->has_value());
  EXPECT_EQ((*got)->value, std::to_string(kThreads * kIncrements));
  EXPECT_EQ((*got)->version, kThreads * kIncrements + 1);
  std::printf("[%s] counter reached %d with %d CAS conflicts retried\n", GetParam().name.c_str(),
              kThreads * kIncrements, conflicts.load());
}

TEST_P(EngineConformanceTest, ConcurrentCreatesAreAllDurableAndDistinct) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 400;
  int64_t before = engine_->currentRevision();
  std::vector<std::vector<int64_t>> revisions(kThreads);
  std::atomic<int> failures{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = "/bench/t" + std::to_string(t) + "/k" + std::to_string(i);
        auto created = engine_->create(key, R"({"spec":{"n":)" + std::to_string(i) + "}}");
        if (!created.hasValue()) {
          failures++;
          continue;
        }
        revisions[t].push_back(created->modRevision);
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  constexpr int kTotal = kThreads * kPerThread;
  std::printf("[%s] %d creates from %d threads in %.3f s: %.0f creates/s\n",
              GetParam().name.c_str(), kTotal, kThreads, seconds, kTotal / seconds);

  EXPECT_EQ(failures.load(), 0);
  std::set<int64_t> all;
  for (const auto& perThread : revisions) {
    EXPECT_TRUE(std::is_sorted(perThread.begin(), perThread.end()));
    all.insert(perThread.begin(), perThread.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kTotal));
  EXPECT_EQ(*all.begin(), before + 1);
  EXPECT_EQ(*all.rbegin(), before + kTotal);
  EXPECT_EQ(engine_->currentRevision(), before + kTotal);
  auto range = engine_->range("/bench/");
  ASSERT_TRUE(range.hasValue());
  EXPECT_EQ(range->kvs.size(), static_cast<size_t>(kTotal));
}

// ---------------------------------------------------------------------------------------------
// Watch

TEST_P(EngineConformanceTest, WatchReplaysHistoryUnderPrefixThenStreams) {
  KeyValue a = mustCreate(*engine_, "/r/a", "1");
  KeyValue b = mustCreate(*engine_, "/r/b", "1");
  mustCreate(*engine_, "/other/x", "1");
  KeyValue a2 = mustUpdate(*engine_, "/r/a", "2", a.modRevision);
  ASSERT_TRUE(engine_->remove("/r/b", 0).hasValue());

  EventCollector collector;
  auto watch = engine_->watch("/r/", a.modRevision, collector.callbacks());
  ASSERT_TRUE(watch.hasValue()) << watch.status().str();
  ASSERT_TRUE(collector.waitForEvents(3));
  KeyValue c = mustCreate(*engine_, "/r/c", "1");
  mustCreate(*engine_, "/other/y", "1");
  ASSERT_TRUE(collector.waitForEvents(4));

  auto events = collector.events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0]->kv.key, "/r/b");
  EXPECT_TRUE(events[0]->isCreate());
  EXPECT_EQ(events[0]->kv.modRevision, b.modRevision);
  EXPECT_EQ(events[1]->kv.key, "/r/a");
  EXPECT_EQ(events[1]->type, Event::Type::Put);
  expectSameKv(events[1]->kv, a2);
  EXPECT_EQ(events[2]->kv.key, "/r/b");
  EXPECT_EQ(events[2]->type, Event::Type::Delete);
  EXPECT_EQ(events[3]->kv.key, "/r/c");
  expectSameKv(events[3]->kv, c);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_LT(events[i - 1]->kv.modRevision, events[i]->kv.modRevision);
  }
}

TEST_P(EngineConformanceTest, WatchReplaysEveryRetainedEvent) {
  int64_t before = engine_->currentRevision();
  for (int i = 0; i < 10; ++i) {
    mustCreate(*engine_, "/z/" + std::to_string(i), "v");
  }
  EventCollector collector;
  auto watch = engine_->watch("/z/", before, collector.callbacks());
  ASSERT_TRUE(watch.hasValue()) << watch.status().str();
  ASSERT_TRUE(collector.waitForEvents(10));
  expectContiguous(collector.events(), before + 1, before + 10);

  // A fresh, never compacted engine keeps everything: watching from 0 replays it all.
  ASSERT_EQ(engine_->compactedRevision(), 0);
  EventCollector fromZero;
  auto zeroWatch = engine_->watch("/z/", 0, fromZero.callbacks());
  ASSERT_TRUE(zeroWatch.hasValue()) << zeroWatch.status().str();
  ASSERT_TRUE(fromZero.waitForEvents(10));
  EXPECT_EQ(fromZero.events().size(), 10u);
}

TEST_P(EngineConformanceTest, WatchFromCurrentRevisionSeesOnlyNewEvents) {
  mustCreate(*engine_, "/n/old", "v");
  EventCollector collector;
  auto watch = engine_->watch("/n/", engine_->currentRevision(), collector.callbacks());
  ASSERT_TRUE(watch.hasValue()) << watch.status().str();
  KeyValue fresh = mustCreate(*engine_, "/n/new", "v");
  ASSERT_TRUE(collector.waitForEvents(1));
  auto events = collector.events();
  ASSERT_EQ(events.size(), 1u);
  expectSameKv(events[0]->kv, fresh);
}

TEST_P(EngineConformanceTest, EventsCarryPreviousValues) {
  EventCollector collector;
  auto watch = engine_->watch("/e/", engine_->currentRevision(), collector.callbacks());
  ASSERT_TRUE(watch.hasValue()) << watch.status().str();
  KeyValue created = mustCreate(*engine_, "/e/k", "v1");
  KeyValue updated = mustUpdate(*engine_, "/e/k", "v2", created.modRevision);
  auto removed = engine_->remove("/e/k", updated.modRevision);
  ASSERT_TRUE(removed.hasValue());
  ASSERT_TRUE(collector.waitForEvents(3));
  auto events = collector.events();
  ASSERT_EQ(events.size(), 3u);

  EXPECT_TRUE(events[0]->isCreate());
  EXPECT_FALSE(events[0]->prev.has_value());
  expectSameKv(events[0]->kv, created);

  EXPECT_EQ(events[1]->type, Event::Type::Put);
  EXPECT_FALSE(events[1]->isCreate());
  ASSERT_TRUE(events[1]->prev.has_value());
  expectSameKv(*events[1]->prev, created);
  expectSameKv(events[1]->kv, updated);

  EXPECT_EQ(events[2]->type, Event::Type::Delete);
  EXPECT_FALSE(events[2]->isCreate());
  ASSERT_TRUE(events[2]->prev.has_value());
  expectSameKv(*events[2]->prev, updated);
  EXPECT_EQ(events[2]->kv.key, "/e/k");
  EXPECT_EQ(events[2]->kv.value, "v2");
  EXPECT_EQ(events[2]->kv.modRevision, removed->modRevision);
}

TEST_P(EngineConformanceTest, WatchUnderConcurrentWritesHasNoGapsOrDuplicates) {
  constexpr int kThreads = 4;
  constexpr int kKeys = 100;
  int64_t start = engine_->currentRevision();
  EventCollector everything;
  EventCollector oneThread;
  auto watchAll = engine_->watch("", start, everything.callbacks());
  auto watchOne = engine_->watch("/w/t1/", start, oneThread.callbacks());
  ASSERT_TRUE(watchAll.hasValue() && watchOne.hasValue());

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string base = "/w/t" + std::to_string(t) + "/k";
      for (int i = 0; i < kKeys; ++i) {
        mustCreate(*engine_, base + std::to_string(i), "v");
      }
      for (int i = 0; i < kKeys; i += 2) {
        EXPECT_TRUE(engine_->remove(base + std::to_string(i), 0).hasValue());
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  constexpr int kPerThread = kKeys + kKeys / 2;
  constexpr int kTotal = kThreads * kPerThread;
  ASSERT_EQ(engine_->currentRevision(), start + kTotal);
  ASSERT_TRUE(everything.waitForEvents(kTotal));
  ASSERT_TRUE(oneThread.waitForEvents(kPerThread));
  expectContiguous(everything.events(), start + 1, start + kTotal);

  auto mine = oneThread.events();
  ASSERT_EQ(mine.size(), static_cast<size_t>(kPerThread));
  std::set<std::string> created;
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_EQ(mine[i]->kv.key.rfind("/w/t1/", 0), 0u);
    if (i > 0) {
      EXPECT_LT(mine[i - 1]->kv.modRevision, mine[i]->kv.modRevision);
    }
    if (mine[i]->type == Event::Type::Put) {
      EXPECT_TRUE(created.insert(mine[i]->kv.key).second) << "duplicate create";
    } else {
      EXPECT_EQ(created.count(mine[i]->kv.key), 1u) << "delete before create";
    }
  }
  EXPECT_EQ(created.size(), static_cast<size_t>(kKeys));
}

TEST_P(EngineConformanceTest, ListThenWatchMidStreamReconstructsState) {
  constexpr int kThreads = 4;
  constexpr int kOps = 150;
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string key = "/lw/t" + std::to_string(t) + "/";
      for (int i = 0; i < kOps; ++i) {
        std::string k = key + std::to_string(i % 10);
        switch (i % 3) {
        case 0:
          (void)engine_->create(k, std::to_string(i));
          break;
        case 1:
          (void)engine_->update(k, std::to_string(i), 0);
          break;
        default:
          (void)engine_->remove(k, 0);
          break;
        }
        started++;
      }
    });
  }
  // List and watch from the list's revision while the writers run.
  while (started.load() < kThreads * kOps / 3) {
    std::this_thread::yield();
  }
  auto listed = engine_->range("/lw/");
  ASSERT_TRUE(listed.hasValue());
  EventCollector collector;
  auto watch = engine_->watch("/lw/", listed->revision, collector.callbacks());
  ASSERT_TRUE(watch.hasValue()) << watch.status().str();
  for (std::thread& thread : threads) {
    thread.join();
  }
  int64_t last = engine_->currentRevision();
  ASSERT_TRUE(collector.waitForEvents(static_cast<size_t>(last - listed->revision)));
  auto events = collector.events();
  // Every write is under /lw/, so the events are exactly the revisions after the list.
  expectContiguous(events, listed->revision + 1, last);

  std::map<std::string, KeyValue> state;
  for (const KeyValue& kv : listed->kvs) {
    state[kv.key] = kv;
  }
  for (const EventPtr& event : events) {
    if (event->type == Event::Type::Delete) {
      EXPECT_EQ(state.erase(event->kv.key), 1u) << "delete of unknown " << event->kv.key;
    } else {
      EXPECT_EQ(state.count(event->kv.key), event->isCreate() ? 0u : 1u) << event->kv.key;
      state[event->kv.key] = event->kv;
    }
  }
  auto finalRange = engine_->range("/lw/");
  ASSERT_TRUE(finalRange.hasValue());
  ASSERT_EQ(finalRange->kvs.size(), state.size());
  for (const KeyValue& kv : finalRange->kvs) {
    ASSERT_EQ(state.count(kv.key), 1u) << kv.key;
    expectSameKv(state[kv.key], kv);
  }
}

TEST_P(EngineConformanceTest, WatchFromCompactedRevisionIsGone) {
  std::vector<KeyValue> kvs;
  for (int i = 0; i < 5; ++i) {
    kvs.push_back(mustCreate(*engine_, "/c/" + std::to_string(i), "v"));
  }
  int64_t compactAt = kvs[2].modRevision;
  ASSERT_TRUE(engine_->compact(compactAt).isOk());
  EXPECT_EQ(engine_->compactedRevision(), compactAt);

  EventCollector tooOld;
  auto gone = engine_->watch("/c/", compactAt - 1, tooOld.callbacks());
  ASSERT_FALSE(gone.hasValue());
  EXPECT_EQ(gone.code(), Code::Gone);
  EXPECT_EQ(engine_->watch("", 0, tooOld.callbacks()).code(), Code::Gone);

  EventCollector collector;
  auto watch = engine_->watch("/c/", compactAt, collector.callbacks());
  ASSERT_TRUE(watch.hasValue()) << watch.status().str();
  ASSERT_TRUE(collector.waitForEvents(2));
  expectContiguous(collector.events(), kvs[3].modRevision, kvs[4].modRevision);
  EXPECT_TRUE(tooOld.events().empty());
}

TEST_P(EngineConformanceTest, CompactBoundsAndIdempotence) {
  for (int i = 0; i < 4; ++i) {
    mustCreate(*engine_, "/cb/" + std::to_string(i), "v");
  }
  int64_t current = engine_->currentRevision();
  EXPECT_EQ(engine_->compact(current + 10).code(), Code::Invalid);
  EXPECT_EQ(engine_->compactedRevision(), 0);
  ASSERT_TRUE(engine_->compact(current - 1).isOk());
  ASSERT_TRUE(engine_->compact(current - 2).isOk()); // older: nothing to do
  EXPECT_EQ(engine_->compactedRevision(), current - 1);
  ASSERT_TRUE(engine_->compact(current).isOk());
  EXPECT_EQ(engine_->compactedRevision(), current);
  // Compaction does not change current state or the revision.
  EXPECT_EQ(engine_->currentRevision(), current);
  auto range = engine_->range("/cb/");
  ASSERT_TRUE(range.hasValue());
  EXPECT_EQ(range->kvs.size(), 4u);
}

TEST_P(EngineConformanceTest, CancelStopsDelivery) {
  EventCollector cancelled;
  EventCollector witness;
  int64_t start = engine_->currentRevision();
  auto watch = engine_->watch("/x/", start, cancelled.callbacks());
  auto witnessWatch = engine_->watch("/x/", start, witness.callbacks());
  ASSERT_TRUE(watch.hasValue() && witnessWatch.hasValue());
  mustCreate(*engine_, "/x/1", "v");
  ASSERT_TRUE(cancelled.waitForEvents(1));
  (*watch)->cancel();
  (*watch)->cancel(); // idempotent
  mustCreate(*engine_, "/x/2", "v");
  mustCreate(*engine_, "/x/3", "v");
  ASSERT_TRUE(witness.waitForEvents(3));
  EXPECT_EQ(cancelled.events().size(), 1u);
  EXPECT_FALSE(cancelled.closeStatus().has_value());

  // Destroying the handle cancels too.
  witnessWatch->reset();
  mustCreate(*engine_, "/x/4", "v");
  EventCollector replay;
  auto replayWatch = engine_->watch("/x/", start, replay.callbacks());
  ASSERT_TRUE(replayWatch.hasValue());
  ASSERT_TRUE(replay.waitForEvents(4));
  EXPECT_EQ(witness.events().size(), 3u);
}

TEST_P(EngineConformanceTest, NoCallbackRunsAfterCancelReturns) {
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      (void)engine_->create("/race/" + std::to_string(i), "v");
    }
  });
  std::atomic<int> violations{0};
  for (int round = 0; round < 20; ++round) {
    std::atomic<bool> cancelReturned{false};
    std::atomic<int> seen{0};
    WatchCallbacks callbacks;
    callbacks.onEvents = [&](const std::vector<EventPtr>& events) {
      if (cancelReturned.load()) {
        violations++;
      }
      seen += static_cast<int>(events.size());
    };
    auto watch = engine_->watch("/race/", engine_->currentRevision(), std::move(callbacks));
    ASSERT_TRUE(watch.hasValue()) << watch.status().str();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (seen.load() < 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    (*watch)->cancel();
    cancelReturned = true;
    // Let several more commits go by; none may reach the cancelled watch.
    int64_t after = engine_->currentRevision() + 5;
    while (engine_->currentRevision() < after && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    EXPECT_GE(seen.load(), 3);
  }
  stop = true;
  writer.join();
  EXPECT_EQ(violations.load(), 0);
}

TEST_P(EngineConformanceTest, DestroyingTheEngineClosesWatches) {
  EventCollector collector;
  auto watch = engine_->watch("/", engine_->currentRevision(), collector.callbacks());
  ASSERT_TRUE(watch.hasValue()) << watch.status().str();
  mustCreate(*engine_, "/d", "v");
  ASSERT_TRUE(collector.waitForEvents(1));
  engine_.reset();
  ASSERT_TRUE(collector.waitForClose());
  auto status = collector.closeStatus();
  ASSERT_TRUE(status.has_value());
  EXPECT_FALSE(status->isOk());
  EXPECT_EQ(status->code(), Code::Unavailable);
  // The handle outlives the engine; cancelling and destroying it is safe.
  (*watch)->cancel();
  watch->reset();
  EXPECT_EQ(collector.events().size(), 1u);
}

} // namespace
} // namespace caracal::datastore::conformance
