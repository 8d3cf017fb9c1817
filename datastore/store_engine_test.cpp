// StoreEngine behaviour beyond the Engine contract: group commit, journal failures, history bounds,
// loading, shutdown. Uses a scriptable fake journal that can hold a commit open or fail it.

#include "datastore/conformance_suite.h"
#include "datastore/store_engine.h"

#include <atomic>
#include <condition_variable>
#include <gtest/gtest.h>
#include <mutex>
#include <thread>

namespace caracal::datastore {
namespace {

using conformance::EventCollector;
using namespace std::chrono_literals;

// Shared between a test and the FakeJournal owned by the engine.
struct FakeJournalControl {
  std::mutex mu;
  std::condition_variable cv;
  bool gateOpen = true;
  int appendsStarted = 0;
  std::optional<Status> failNext;
  std::vector<JournalBatch> batches; // every batch appended successfully
  JournalState initial;

  void closeGate() {
    std::lock_guard<std::mutex> lock(mu);
    gateOpen = false;
  }
  void openGate() {
    std::lock_guard<std::mutex> lock(mu);
    gateOpen = true;
    cv.notify_all();
  }
  bool waitForAppends(int count) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, 20s, [&] { return appendsStarted >= count; });
  }
  std::vector<JournalBatch> appended() {
    std::lock_guard<std::mutex> lock(mu);
    return batches;
  }
};

class FakeJournal : public Journal {
public:
  explicit FakeJournal(std::shared_ptr<FakeJournalControl> control)
      : control_(std::move(control)) {}

  Result<JournalState> load() override { return control_->initial; }

  Status append(const JournalBatch& batch) override {
    std::unique_lock<std::mutex> lock(control_->mu);
    control_->appendsStarted++;
    control_->cv.notify_all();
    control_->cv.wait(lock, [&] { return control_->gateOpen; });
    if (control_->failNext) {
      Status failure = *control_->failNext;
      control_->failNext.reset();
      return failure;
    }
    control_->batches.push_back(batch);
    return Status::ok();
  }

private:
  std::shared_ptr<FakeJournalControl> control_;
};

StoreEnginePtr openFake(const std::shared_ptr<FakeJournalControl>& control,
                        StoreOptions options = {}) {
  auto engine = openStoreEngine(std::make_unique<FakeJournal>(control), options);
  EXPECT_TRUE(engine.hasValue()) << engine.status().str();
  return engine.hasValue() ? std::move(engine).value() : nullptr;
}

bool waitUntil(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Runs one write on its own thread and keeps its result.
class AsyncWrite {
public:
  explicit AsyncWrite(std::function<Result<KeyValue>()> write)
      : thread_([this, write = std::move(write)] {
          Result<KeyValue> result = write();
          std::lock_guard<std::mutex> lock(mu_);
          result_.emplace(std::move(result));
        }) {}
  ~AsyncWrite() {
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  Result<KeyValue> result() {
    if (thread_.joinable()) {
      thread_.join();
    }
    return *result_;
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return result_.has_value();
  }

private:
  std::mutex mu_;
  std::optional<Result<KeyValue>> result_;
  std::thread thread_;
};

// Holds the committer inside the journal with one write, then queues `writes` in order behind it.
std::vector<std::unique_ptr<AsyncWrite>>
queueBehindSlowCommit(StoreEngine& engine, FakeJournalControl& control,
                      std::vector<std::function<Result<KeyValue>()>> writes) {
  std::vector<std::unique_ptr<AsyncWrite>> pending;
  control.closeGate();
  pending.push_back(std::make_unique<AsyncWrite>([&engine] { return engine.create("/a", "a"); }));
  EXPECT_TRUE(control.waitForAppends(1));
  for (size_t i = 0; i < writes.size(); ++i) {
    pending.push_back(std::make_unique<AsyncWrite>(writes[i]));
    EXPECT_TRUE(waitUntil([&] { return engine.queuedForTest() == i + 1; }));
  }
  return pending;
}

TEST(StoreEngineTest, QueuedWritesCommitAsOneBatchAndOneCallback) {
  auto control = std::make_shared<FakeJournalControl>();
  StoreEnginePtr engine = openFake(control);
  ASSERT_TRUE(engine);
  EventCollector collector;
  auto watch = engine->watch("", 0, collector.callbacks());
  ASSERT_TRUE(watch.hasValue());

  std::vector<std::function<Result<KeyValue>()>> writes;
  for (int i = 0; i < 4; ++i) {
    writes.push_back([&engine, i] { return engine->create("/b/" + std::to_string(i), "b"); });
  }
  auto pending = queueBehindSlowCommit(*engine, *control, writes);
  control->openGate();
  for (auto& write : pending) {
    EXPECT_TRUE(write->result().hasValue());
  }
  ASSERT_TRUE(collector.waitForEvents(5));

  auto batches = control->appended();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].events.size(), 1u);
  EXPECT_EQ(batches[0].revision, 1);
  ASSERT_EQ(batches[1].events.size(), 4u);
  EXPECT_EQ(batches[1].revision, 5);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(batches[1].events[i]->kv.modRevision, 2 + i);
  }
  EXPECT_EQ(collector.batchSizes(), (std::vector<size_t>{1, 4}));
  // Watchers receive the very events that were journaled.
  EXPECT_EQ(collector.events()[1].get(), batches[1].events[0].get());
}

TEST(StoreEngineTest, ValidationSeesEarlierRequestsOfTheSameBatch) {
  auto control = std::make_shared<FakeJournalControl>();
  StoreEnginePtr engine = openFake(control);
  ASSERT_TRUE(engine);
  StoreEngine& e = *engine;
  auto pending = queueBehindSlowCommit(
      e, *control,
      {[&e] { return e.create("/x", "1"); },         // rev 2
       [&e] { return e.create("/x", "again"); },     // AlreadyExists: sees the create above
       [&e] { return e.update("/x", "2", 2); },      // rev 3
       [&e] { return e.update("/x", "stale", 2); },  // Conflict
       [&e] { return e.remove("/x", 3); },           // rev 4
       [&e] { return e.update("/x", "gone", 0); }}); // NotFound
  control->openGate();
  EXPECT_TRUE(pending[0]->result().hasValue());
  auto created = pending[1]->result();
  ASSERT_TRUE(created.hasValue());
  EXPECT_EQ(created->modRevision, 2);
  EXPECT_EQ(pending[2]->result().code(), Code::AlreadyExists);
  auto updated = pending[3]->result();
  ASSERT_TRUE(updated.hasValue());
  EXPECT_EQ(updated->modRevision, 3);
  EXPECT_EQ(updated->version, 2);
  EXPECT_EQ(pending[4]->result().code(), Code::Conflict);
  auto removed = pending[5]->result();
  ASSERT_TRUE(removed.hasValue());
  EXPECT_EQ(removed->modRevision, 4);
  EXPECT_EQ(removed->value, "2");
  EXPECT_EQ(pending[6]->result().code(), Code::NotFound);

  EXPECT_EQ(engine->currentRevision(), 4);
  auto batches = control->appended();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].events.size(), 3u);
  auto got = engine->get("/x");
  ASSERT_TRUE(got.hasValue());
  EXPECT_FALSE(got->has_value());
}

TEST(StoreEngineTest, ReadsAreServedWhileACommitIsInFlight) {
  auto control = std::make_shared<FakeJournalControl>();
  StoreEnginePtr engine = openFake(control);
  ASSERT_TRUE(engine);
  ASSERT_TRUE(engine->create("/before", "v").hasValue());
  auto pending = queueBehindSlowCommit(*engine, *control, {});
  // The committer is stuck in the journal; reads neither block nor see the unpersisted write.
  auto got = engine->get("/a");
  ASSERT_TRUE(got.hasValue());
  EXPECT_FALSE(got->has_value());
  auto range = engine->range("/");
  ASSERT_TRUE(range.hasValue());
  EXPECT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->revision, 1);
  EXPECT_FALSE(pending[0]->done());
  control->openGate();
  EXPECT_TRUE(pending[0]->result().hasValue());
  EXPECT_EQ(engine->currentRevision(), 2);
}

TEST(StoreEngineTest, JournalFailureFailsTheBatchAndChangesNothing) {
  auto control = std::make_shared<FakeJournalControl>();
  StoreEnginePtr engine = openFake(control);
  ASSERT_TRUE(engine);
  ASSERT_TRUE(engine->create("/a", "1").hasValue());
  EventCollector collector;
  auto watch = engine->watch("", engine->currentRevision(), collector.callbacks());
  ASSERT_TRUE(watch.hasValue());

  control->failNext = Status(Code::Internal, "disk on fire");
  auto failed = engine->create("/b", "1");
  ASSERT_FALSE(failed.hasValue());
  EXPECT_EQ(failed.code(), Code::Internal);
  EXPECT_NE(failed.status().message().find("disk on fire"), std::string::npos);
  auto got = engine->get("/b");
  ASSERT_TRUE(got.hasValue());
  EXPECT_FALSE(got->has_value());
  EXPECT_EQ(engine->currentRevision(), 1);

  auto next = engine->create("/c", "1");
  ASSERT_TRUE(next.hasValue());
  EXPECT_EQ(next->modRevision, 2);
  ASSERT_TRUE(collector.waitForEvents(1));
  auto events = collector.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]->kv.key, "/c");
}

TEST(StoreEngineTest, DestructionFailsQueuedRequestsAndFinishesTheBatchInFlight) {
  auto control = std::make_shared<FakeJournalControl>();
  StoreEnginePtr engine = openFake(control);
  ASSERT_TRUE(engine);
  StoreEngine& e = *engine;
  EventCollector collector;
  auto watch = engine->watch("", 0, collector.callbacks());
  ASSERT_TRUE(watch.hasValue());
  auto pending = queueBehindSlowCommit(
      e, *control,
      {[&e] { return e.create("/q/1", "v"); }, [&e] { return e.create("/q/2", "v"); }});
  std::thread destroyer([&engine] { engine.reset(); });
  // Queued requests fail at once, even though the batch in flight is still stuck.
  EXPECT_EQ(pending[1]->result().code(), Code::Unavailable);
  EXPECT_EQ(pending[2]->result().code(), Code::Unavailable);
  EXPECT_FALSE(pending[0]->done());
  control->openGate();
  destroyer.join();
  EXPECT_TRUE(pending[0]->result().hasValue());
  ASSERT_TRUE(collector.waitForClose());
  EXPECT_EQ(collector.closeStatus()->code(), Code::Unavailable);
  EXPECT_EQ(collector.events().size(), 1u);
  EXPECT_EQ(control->appended().size(), 1u);
}

TEST(StoreEngineTest, HistoryLimitMakesOlderWatchesGone) {
  StoreOptions options;
  options.historyLimit = 10;
  EnginePtr engine = makeMemoryEngine(options);
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(engine->create("/h/" + std::to_string(i), "v").hasValue());
  }
  EXPECT_EQ(engine->compactedRevision(), 0);
  EventCollector collector;
  EXPECT_EQ(engine->watch("/h/", 9, collector.callbacks()).code(), Code::Gone);
  EXPECT_EQ(engine->watch("/h/", 0, collector.callbacks()).code(), Code::Gone);
  auto watch = engine->watch("/h/", 10, collector.callbacks());
  ASSERT_TRUE(watch.hasValue()) << watch.status().str();
  ASSERT_TRUE(collector.waitForEvents(10));
  auto events = collector.events();
  ASSERT_EQ(events.size(), 10u);
  EXPECT_EQ(events.front()->kv.modRevision, 11);
  EXPECT_EQ(events.back()->kv.modRevision, 20);
}

TEST(StoreEngineTest, LoadsStateAndRevisionsFromTheJournal) {
  auto control = std::make_shared<FakeJournalControl>();
  control->initial.kvs = {KeyValue{"/a", "A", 2, 3, 2}, KeyValue{"/b", "B", 7, 7, 1}};
  control->initial.revision = 9; // the last writes were deletes
  control->initial.compactedRevision = 4;
  StoreEnginePtr engine = openFake(control);
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->currentRevision(), 9);
  EXPECT_EQ(engine->compactedRevision(), 4);
  auto a = engine->get("/a");
  ASSERT_TRUE(a.hasValue() && a->has_value());
  EXPECT_EQ((*a)->value, "A");
  EXPECT_EQ((*a)->createRevision, 2);
  EXPECT_EQ((*a)->modRevision, 3);
  EXPECT_EQ((*a)->version, 2);
  auto range = engine->range("/");
  ASSERT_TRUE(range.hasValue());
  EXPECT_EQ(range->kvs.size(), 2u);
  EXPECT_EQ(range->revision, 9);

  // History starts at the loaded revision.
  EventCollector collector;
  EXPECT_EQ(engine->watch("/", 8, collector.callbacks()).code(), Code::Gone);
  auto watch = engine->watch("/", 9, collector.callbacks());
  ASSERT_TRUE(watch.hasValue()) << watch.status().str();
  auto updated = engine->update("/a", "A2", 3);
  ASSERT_TRUE(updated.hasValue()) << updated.status().str();
  EXPECT_EQ(updated->modRevision, 10);
  EXPECT_EQ(updated->version, 3);
  ASSERT_TRUE(collector.waitForEvents(1));
  EXPECT_EQ(collector.events()[0]->kv.modRevision, 10);
}

TEST(StoreEngineTest, CallbacksRunOnTheEngineThread) {
  EnginePtr engine = makeMemoryEngine();
  ASSERT_TRUE(engine->create("/t/1", "v").hasValue());
  std::mutex mu;
  std::vector<std::thread::id> threads;
  WatchCallbacks callbacks;
  callbacks.onEvents = [&](const std::vector<EventPtr>&) {
    std::lock_guard<std::mutex> lock(mu);
    threads.push_back(std::this_thread::get_id());
  };
  auto watch = engine->watch("/t/", 0, std::move(callbacks)); // replay of /t/1
  ASSERT_TRUE(watch.hasValue());
  ASSERT_TRUE(engine->create("/t/2", "v").hasValue());
  ASSERT_TRUE(waitUntil([&] {
    std::lock_guard<std::mutex> lock(mu);
    return threads.size() == 2;
  }));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_NE(threads[0], std::this_thread::get_id());
  EXPECT_EQ(threads[0], threads[1]);
}

TEST(StoreEngineTest, CancelAndDestroyFromInsideACallback) {
  EnginePtr engine = makeMemoryEngine();
  int64_t start = engine->currentRevision();
  std::atomic<int> cancellerCalls{0};
  std::atomic<int> destroyerCalls{0};
  WatchPtr canceller;
  WatchPtr destroyer;
  WatchCallbacks cancelling;
  cancelling.onEvents = [&](const std::vector<EventPtr>&) {
    cancellerCalls++;
    canceller->cancel();
  };
  WatchCallbacks destroying;
  destroying.onEvents = [&](const std::vector<EventPtr>&) {
    destroyerCalls++;
    destroyer.reset();
  };
  EventCollector witness;
  auto w1 = engine->watch("/", start, std::move(cancelling));
  auto w2 = engine->watch("/", start, std::move(destroying));
  auto w3 = engine->watch("/", start, witness.callbacks());
  ASSERT_TRUE(w1.hasValue() && w2.hasValue() && w3.hasValue());
  canceller = std::move(w1).value();
  destroyer = std::move(w2).value();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(engine->create("/k" + std::to_string(i), "v").hasValue());
  }
  ASSERT_TRUE(witness.waitForEvents(5));
  EXPECT_EQ(cancellerCalls.load(), 1);
  EXPECT_EQ(destroyerCalls.load(), 1);
  EXPECT_EQ(destroyer, nullptr);
}

TEST(StoreEngineTest, CallingBackIntoTheEngineFromACallbackFailsInsteadOfDeadlocking) {
  EnginePtr engine = makeMemoryEngine();
  std::mutex mu;
  std::vector<Code> codes;
  bool read = false;
  WatchCallbacks callbacks;
  callbacks.onEvents = [&](const std::vector<EventPtr>&) {
    auto written = engine->create("/from-callback", "v");
    WatchCallbacks inner;
    inner.onEvents = [](const std::vector<EventPtr>&) {};
    auto watched = engine->watch("/", 0, std::move(inner));
    auto got = engine->get("/k"); // reads are allowed
    std::lock_guard<std::mutex> lock(mu);
    codes = {written.code(), watched.code()};
    read = got.hasValue() && got->has_value();
  };
  auto watch = engine->watch("/", 0, std::move(callbacks));
  ASSERT_TRUE(watch.hasValue());
  ASSERT_TRUE(engine->create("/k", "v").hasValue());
  ASSERT_TRUE(waitUntil([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !codes.empty();
  }));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(codes, (std::vector<Code>{Code::Internal, Code::Internal}));
  EXPECT_TRUE(read);
}

TEST(StoreEngineTest, OversizedEntriesAreRejectedBeforeQueueing) {
  StoreOptions options;
  options.maxEntryBytes = 100;
  EnginePtr engine = makeMemoryEngine(options);
  EXPECT_EQ(engine->create("/big", std::string(200, 'x')).code(), Code::TooLarge);
  EXPECT_EQ(engine->currentRevision(), 0);
  EXPECT_TRUE(engine->create("/small", std::string(50, 'x')).hasValue());
}

} // namespace
} // namespace caracal::datastore
