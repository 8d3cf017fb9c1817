#include "datastore/store_engine.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <utility>

namespace caracal::datastore {
namespace {

bool hasPrefix(const std::string& key, const std::string& prefix) {
  return key.compare(0, prefix.size(), prefix) == 0;
}

int64_t revisionOf(const EventPtr& event) { return event->kv.modRevision; }

// What the committer hands back to a waiting caller.
struct Outcome {
  Status status;
  KeyValue kv;
};

struct Request {
  enum class Op { Create, Update, Remove, Compact };
  Op op = Op::Create;
  std::string key;
  std::string value;
  int64_t revision = 0; // expected modRevision (update/remove) or target revision (compact)
  std::promise<Outcome> done;
};
using RequestPtr = std::unique_ptr<Request>;

struct Watcher {
  uint64_t id = 0;
  std::string prefix;
  int64_t lastRevision = 0; // events at or below this are never delivered (again)
  WatchCallbacks callbacks;
  std::vector<EventPtr> replay; // history snapshot still to deliver, before any live event
  bool cancelled = false;       // guarded by Hub::mu
};

// The fan-out state. Shared with the Watch handles so that they may outlive the engine.
struct Hub {
  std::mutex mu;
  // The thread currently running callbacks while holding `mu` (lets cancel() work from inside a
  // callback without self-deadlock).
  std::atomic<std::thread::id> deliveringThread{};
  std::map<uint64_t, std::shared_ptr<Watcher>> watchers;
  bool sweepNeeded = false; // a watcher was cancelled from inside a callback
  bool closed = false;
  uint64_t nextId = 1;
};

class StoreWatch : public Watch {
public:
  StoreWatch(std::shared_ptr<Hub> hub, std::shared_ptr<Watcher> watcher)
      : hub_(std::move(hub)), watcher_(std::move(watcher)) {}
  ~StoreWatch() override { cancel(); }

  void cancel() override {
    if (hub_->deliveringThread.load() == std::this_thread::get_id()) {
      // Inside a callback: `mu` is already held by this thread. Flag it; the deliverer sweeps.
      watcher_->cancelled = true;
      hub_->sweepNeeded = true;
      return;
    }
    std::lock_guard<std::mutex> lock(hub_->mu);
    if (!watcher_->cancelled) {
      watcher_->cancelled = true;
      hub_->watchers.erase(watcher_->id);
    }
  }

private:
  std::shared_ptr<Hub> hub_;
  std::shared_ptr<Watcher> watcher_;
};

// Marks the current thread as the one running callbacks for the scope, and sweeps the watchers
// cancelled from inside those callbacks at the end. Requires hub.mu to be held.
class DeliveryScope {
public:
  explicit DeliveryScope(Hub& hub) : hub_(hub) {
    hub_.deliveringThread.store(std::this_thread::get_id());
  }
  ~DeliveryScope() {
    hub_.deliveringThread.store(std::thread::id());
    if (hub_.sweepNeeded) {
      std::erase_if(hub_.watchers, [](const auto& entry) { return entry.second->cancelled; });
      hub_.sweepNeeded = false;
    }
  }
  DeliveryScope(const DeliveryScope&) = delete;
  DeliveryScope& operator=(const DeliveryScope&) = delete;

private:
  Hub& hub_;
};

class StoreEngineImpl : public StoreEngine {
public:
  StoreEngineImpl(JournalPtr journal, StoreOptions options, JournalState loaded)
      : journal_(std::move(journal)), options_(options), hub_(std::make_shared<Hub>()) {
    int64_t revision = loaded.revision;
    for (KeyValue& kv : loaded.kvs) {
      revision = std::max(revision, kv.modRevision);
      std::string key = kv.key;
      state_.insert_or_assign(std::move(key), std::move(kv));
    }
    revision_.store(revision);
    compacted_.store(std::min(loaded.compactedRevision, revision));
    // History is not persisted: replay can start only at the loaded revision.
    historyFloor_ = revision;
    committer_ = std::thread([this] { runCommitter(); });
    committerId_ = committer_.get_id();
  }

  ~StoreEngineImpl() override {
    std::deque<RequestPtr> pending;
    {
      std::lock_guard<std::mutex> lock(queueMu_);
      stopping_ = true;
      pending.swap(queue_);
    }
    queueCv_.notify_all();
    for (RequestPtr& request : pending) {
      request->done.set_value({Status(Code::Unavailable, "datastore engine is shutting down"), {}});
    }
    committer_.join();

    std::lock_guard<std::mutex> lock(hub_->mu);
    DeliveryScope scope(*hub_);
    hub_->closed = true;
    Status closing(Code::Unavailable, "datastore engine shut down");
    for (auto& [id, watcher] : hub_->watchers) {
      if (watcher->cancelled) {
        continue;
      }
      watcher->cancelled = true;
      if (watcher->callbacks.onClose) {
        watcher->callbacks.onClose(closing);
      }
    }
    hub_->watchers.clear();
  }

  // Engine
  Result<std::optional<KeyValue>> get(const std::string& key) override {
    std::shared_lock<std::shared_mutex> lock(stateMu_);
    auto it = state_.find(key);
    if (it == state_.end()) {
      return std::optional<KeyValue>();
    }
    return std::optional<KeyValue>(it->second);
  }

  Result<RangeResult> range(const std::string& prefix, int64_t limit,
                            const std::string& startAfter) override {
    if (limit < 0) {
      return Status(Code::Invalid, "range: negative limit");
    }
    RangeResult out;
    std::shared_lock<std::shared_mutex> lock(stateMu_);
    out.revision = revision_.load();
    auto it = (startAfter.empty() || startAfter < prefix) ? state_.lower_bound(prefix)
                                                          : state_.upper_bound(startAfter);
    for (; it != state_.end() && hasPrefix(it->first, prefix); ++it) {
      if (limit > 0 && static_cast<int64_t>(out.kvs.size()) == limit) {
        out.more = true;
        break;
      }
      out.kvs.push_back(it->second);
    }
    return out;
  }

  Result<KeyValue> create(const std::string& key, const std::string& value) override {
    return write(Request::Op::Create, key, value, 0);
  }

  Result<KeyValue> update(const std::string& key, const std::string& value,
                          int64_t expectedModRevision) override {
    return write(Request::Op::Update, key, value, expectedModRevision);
  }

  Result<KeyValue> remove(const std::string& key, int64_t expectedModRevision) override {
    return write(Request::Op::Remove, key, "", expectedModRevision);
  }

  Result<WatchPtr> watch(const std::string& prefix, int64_t afterRevision,
                         WatchCallbacks callbacks) override {
    if (afterRevision < 0) {
      return Status(Code::Invalid, "watch: negative revision");
    }
    if (!callbacks.onEvents) {
      return Status(Code::Invalid, "watch: onEvents callback is required");
    }
    if (hub_->deliveringThread.load() == std::this_thread::get_id()) {
      return Status(Code::Internal, "watch() called from a watch callback (would deadlock)");
    }
    auto watcher = std::make_shared<Watcher>();
    watcher->prefix = prefix;
    watcher->lastRevision = afterRevision;
    watcher->callbacks = std::move(callbacks);
    bool needsReplay = false;
    {
      std::lock_guard<std::mutex> lock(hub_->mu);
      if (hub_->closed) {
        return Status(Code::Unavailable, "datastore engine shut down");
      }
      // Under hub.mu history and delivery are in step: everything in history_ has been delivered
      // to the registered watchers, and everything committed later will be.
      int64_t floor = std::max(compacted_.load(), historyFloor_);
      if (afterRevision < floor) {
        return Status(Code::Gone, "watch from revision " + std::to_string(afterRevision) +
                                      ": history is retained only after revision " +
                                      std::to_string(floor));
      }
      auto first = std::upper_bound(
          history_.begin(), history_.end(), afterRevision,
          [](int64_t revision, const EventPtr& event) { return revision < revisionOf(event); });
      for (auto it = first; it != history_.end(); ++it) {
        if (hasPrefix((*it)->kv.key, prefix)) {
          watcher->replay.push_back(*it);
        }
      }
      watcher->id = hub_->nextId++;
      hub_->watchers.emplace(watcher->id, watcher);
      // From here on the committer owns watcher->replay.
      needsReplay = !watcher->replay.empty();
    }
    if (needsReplay) {
      // The committer delivers the replay, so that every callback runs on the engine's thread.
      std::lock_guard<std::mutex> lock(queueMu_);
      replayWanted_ = true;
      queueCv_.notify_one();
    }
    return WatchPtr(std::make_unique<StoreWatch>(hub_, std::move(watcher)));
  }

  int64_t currentRevision() override { return revision_.load(); }
  int64_t compactedRevision() override { return compacted_.load(); }

  Status compact(int64_t revision) override {
    if (revision < 0) {
      return Status(Code::Invalid, "compact: negative revision");
    }
    auto request = std::make_unique<Request>();
    request->op = Request::Op::Compact;
    request->revision = revision;
    return submit(std::move(request)).status;
  }

  // StoreEngine
  size_t queuedForTest() override {
    std::lock_guard<std::mutex> lock(queueMu_);
    return queue_.size();
  }

private:
  Result<KeyValue> write(Request::Op op, const std::string& key, const std::string& value,
                         int64_t expectedModRevision) {
    if (key.empty()) {
      return Status(Code::Invalid, "empty key");
    }
    if (expectedModRevision < 0) {
      return Status(Code::Invalid, "negative expected revision");
    }
    if (key.size() + value.size() > options_.maxEntryBytes) {
      return Status(Code::TooLarge, "key and value of " + key + " exceed " +
                                        std::to_string(options_.maxEntryBytes) + " bytes");
    }
    auto request = std::make_unique<Request>();
    request->op = op;
    request->key = key;
    request->value = value;
    request->revision = expectedModRevision;
    Outcome outcome = submit(std::move(request));
    if (!outcome.status.isOk()) {
      return outcome.status;
    }
    return std::move(outcome.kv);
  }

  // Queues `request` for the committer and waits for its outcome. Touches no member after the
  // wait, so a caller released by the destructor never reads a dying engine.
  Outcome submit(RequestPtr request) {
    if (std::this_thread::get_id() == committerId_) {
      return {Status(Code::Internal, "write called from a watch callback (would deadlock)"), {}};
    }
    std::future<Outcome> done = request->done.get_future();
    {
      // Notify under the lock: once it is released the destructor may fail this request and free
      // the engine, so nothing of the engine may be touched after it.
      std::lock_guard<std::mutex> lock(queueMu_);
      if (stopping_) {
        return {Status(Code::Unavailable, "datastore engine is shutting down"), {}};
      }
      queue_.push_back(std::move(request));
      queueCv_.notify_one();
    }
    return done.get();
  }

  void runCommitter() {
    std::vector<RequestPtr> batch;
    for (;;) {
      bool replay = false;
      {
        std::unique_lock<std::mutex> lock(queueMu_);
        queueCv_.wait(lock, [this] { return stopping_ || replayWanted_ || !queue_.empty(); });
        if (stopping_) {
          return;
        }
        size_t take = std::min(queue_.size(), std::max<size_t>(options_.maxBatch, 1));
        for (size_t i = 0; i < take; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        replay = std::exchange(replayWanted_, false);
      }
      if (!batch.empty()) {
        commit(batch);
        batch.clear();
      }
      if (replay) {
        // Usually already delivered by the commit's fan-out; this covers idle stores and batches
        // that committed nothing.
        std::lock_guard<std::mutex> lock(hub_->mu);
        deliverLocked({});
      }
    }
  }

  // Validates, persists, applies and fans out one batch, then completes its requests.
  void commit(std::vector<RequestPtr>& batch) {
    // Only this thread writes state_, so it reads it without the lock. `staged` holds the batch's
    // own earlier writes (nullopt = deleted), which later requests in the batch must see.
    std::unordered_map<std::string, std::optional<KeyValue>> staged;
    auto lookup = [&](const std::string& key) -> const KeyValue* {
      if (auto it = staged.find(key); it != staged.end()) {
        return it->second ? &*it->second : nullptr;
      }
      auto it = state_.find(key);
      return it == state_.end() ? nullptr : &it->second;
    };

    int64_t revision = revision_.load();
    int64_t compacted = compacted_.load();
    JournalBatch journalBatch;
    std::vector<Outcome> outcomes(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      Request& request = *batch[i];
      Outcome& outcome = outcomes[i];
      if (request.op == Request::Op::Compact) {
        if (request.revision > revision) {
          outcome.status = Status(Code::Invalid,
                                  "compact: revision " + std::to_string(request.revision) +
                                      " is after the current revision " + std::to_string(revision));
        } else if (request.revision > compacted) {
          compacted = request.revision;
          journalBatch.compactedRevision = compacted;
        }
        continue;
      }
      const KeyValue* current = lookup(request.key);
      if (request.op == Request::Op::Create) {
        if (current) {
          outcome.status = Status(Code::AlreadyExists, request.key + " already exists");
          continue;
        }
      } else if (!current) {
        outcome.status = Status(Code::NotFound, request.key + " not found");
        continue;
      } else if (request.revision != 0 && request.revision != current->modRevision) {
        outcome.status = Status(Code::Conflict, request.key + " is at revision " +
                                                    std::to_string(current->modRevision) +
                                                    ", not " + std::to_string(request.revision));
        continue;
      }

      auto event = std::make_shared<Event>();
      ++revision;
      if (request.op == Request::Op::Create) {
        event->kv = KeyValue{request.key, std::move(request.value), revision, revision, 1};
      } else {
        event->prev = *current;
        event->kv = *current;
        event->kv.modRevision = revision;
        if (request.op == Request::Op::Update) {
          event->kv.value = std::move(request.value);
          event->kv.version += 1;
        } else {
          event->type = Event::Type::Delete;
        }
      }
      outcome.kv = event->kv;
      if (event->type == Event::Type::Delete) {
        staged.insert_or_assign(request.key, std::nullopt);
      } else {
        staged.insert_or_assign(request.key, event->kv);
      }
      journalBatch.events.push_back(std::move(event));
    }
    journalBatch.revision = revision;

    if (!journalBatch.events.empty() || journalBatch.compactedRevision) {
      Status persisted = journal_->append(journalBatch);
      if (!persisted.isOk()) {
        // Nothing was applied; every request of the batch fails (a validation result may have
        // depended on a write of this batch that is now void).
        Status failed = persisted.withContext("commit");
        for (size_t i = 0; i < batch.size(); ++i) {
          batch[i]->done.set_value({failed, {}});
        }
        return;
      }
    }
    // Callers are completed once the batch is durable and visible to reads, before the watch
    // fan-out (which can take a while with many watchers); the fan-out lock is still held, so no
    // watch can register between the two and miss or repeat these events.
    auto complete = [&] {
      for (size_t i = 0; i < batch.size(); ++i) {
        batch[i]->done.set_value(std::move(outcomes[i]));
      }
    };
    if (!journalBatch.events.empty() || journalBatch.compactedRevision) {
      apply(journalBatch, complete);
    } else {
      complete();
    }
  }

  template <typename OnVisible> void apply(const JournalBatch& batch, OnVisible&& onVisible) {
    std::lock_guard<std::mutex> fanout(hub_->mu);
    {
      std::unique_lock<std::shared_mutex> lock(stateMu_);
      for (const EventPtr& event : batch.events) {
        if (event->type == Event::Type::Delete) {
          state_.erase(event->kv.key);
        } else {
          state_.insert_or_assign(event->kv.key, event->kv);
        }
      }
      revision_.store(batch.revision);
    }
    for (const EventPtr& event : batch.events) {
      history_.push_back(event);
    }
    while (history_.size() > options_.historyLimit) {
      historyFloor_ = revisionOf(history_.front());
      history_.pop_front();
    }
    if (batch.compactedRevision) {
      int64_t compacted = *batch.compactedRevision;
      while (!history_.empty() && revisionOf(history_.front()) <= compacted) {
        history_.pop_front();
      }
      historyFloor_ = std::max(historyFloor_, compacted);
      compacted_.store(compacted);
    }
    onVisible();
    deliverLocked(batch.events);
  }

  // Delivers pending replays, then `events`, to every watcher. Requires hub_->mu.
  void deliverLocked(const std::vector<EventPtr>& events) {
    DeliveryScope scope(*hub_);
    std::vector<EventPtr> matching;
    for (auto& [id, watcher] : hub_->watchers) {
      if (watcher->cancelled) {
        continue;
      }
      if (!watcher->replay.empty()) {
        std::vector<EventPtr> replay = std::move(watcher->replay);
        watcher->replay.clear();
        watcher->lastRevision = revisionOf(replay.back());
        watcher->callbacks.onEvents(replay);
        if (watcher->cancelled) {
          continue;
        }
      }
      matching.clear();
      for (const EventPtr& event : events) {
        if (revisionOf(event) > watcher->lastRevision &&
            hasPrefix(event->kv.key, watcher->prefix)) {
          matching.push_back(event);
        }
      }
      if (!matching.empty()) {
        watcher->lastRevision = revisionOf(matching.back());
        watcher->callbacks.onEvents(matching);
      }
    }
  }

  const JournalPtr journal_;
  const StoreOptions options_;

  // Current state: written only by the committer (under the unique lock), read by everyone.
  std::shared_mutex stateMu_;
  std::map<std::string, KeyValue> state_;
  std::atomic<int64_t> revision_{0};
  std::atomic<int64_t> compacted_{0};

  // Watch history, guarded by hub_->mu: holds every event with revision > historyFloor_.
  std::shared_ptr<Hub> hub_;
  std::deque<EventPtr> history_;
  int64_t historyFloor_ = 0;

  std::mutex queueMu_;
  std::condition_variable queueCv_;
  std::deque<RequestPtr> queue_;
  bool stopping_ = false;
  bool replayWanted_ = false;
  std::thread committer_;
  std::thread::id committerId_; // set once, before any caller can see the engine
};

} // namespace

Result<StoreEnginePtr> openStoreEngine(JournalPtr journal, StoreOptions options) {
  if (!journal) {
    return Status(Code::Internal, "openStoreEngine: no journal");
  }
  auto loaded = journal->load();
  if (!loaded) {
    return loaded.error().withContext("loading datastore");
  }
  return StoreEnginePtr(
      std::make_unique<StoreEngineImpl>(std::move(journal), options, std::move(loaded).value()));
}

EnginePtr makeMemoryEngine(StoreOptions options) {
  auto engine = openStoreEngine(makeNullJournal(), options);
  assert(engine.hasValue()); // the null journal always loads
  return std::move(engine).value();
}

EnginePtr makeMemoryEngine() { return makeMemoryEngine(StoreOptions{}); }

} // namespace caracal::datastore
