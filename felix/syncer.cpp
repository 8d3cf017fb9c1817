#include "felix/syncer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace caracal::felix {

using datastore::WatchEvent;
using Clock = std::chrono::steady_clock;

std::string objectKey(const api::KindInfo& kind, const Value& obj) {
  std::string name = obj.getString("metadata.name");
  if (kind.namespaced) {
    return obj.getString("metadata.namespace") + "/" + name;
  }
  return name;
}

namespace {

class RestStream : public WatchStream {
public:
  explicit RestStream(datastore::WatchHandlePtr h) : h_(std::move(h)) {}
  void stop() override { h_->stop(); }

private:
  datastore::WatchHandlePtr h_;
};

class RestSource : public ListWatchSource {
public:
  explicit RestSource(datastore::RestClient& c) : client_(c) {}

  Result<datastore::ObjectList> list(const api::KindInfo& kind) override {
    datastore::ListOptions lo;
    lo.limit = 500;
    return client_.list(kind, "", lo);
  }

  Result<std::unique_ptr<WatchStream>> watch(const api::KindInfo& kind, const std::string& rv,
                                             std::function<void(const WatchEvent&)> onEvent,
                                             std::function<void(const Status&)> onClose) override {
    datastore::WatchOptions wo;
    wo.resourceVersion = rv;
    wo.allowBookmarks = true;
    ASSIGN_OR_RETURN(auto h, client_.watch(kind, "", wo, std::move(onEvent), std::move(onClose)));
    return std::unique_ptr<WatchStream>(std::make_unique<RestStream>(std::move(h)));
  }

private:
  datastore::RestClient& client_;
};

} // namespace

std::unique_ptr<ListWatchSource> makeRestListWatchSource(datastore::RestClient& client) {
  return std::make_unique<RestSource>(client);
}

struct Syncer::Impl {
  enum class Need { List, Watch, None };

  struct KindState {
    const api::KindInfo* kind = nullptr;
    std::map<std::string, std::shared_ptr<const Value>> cache;
    std::string rv;
    std::unique_ptr<WatchStream> watch;
    uint64_t generation = 0;
    Need need = Need::List;
    bool listedOnce = false;
    Clock::time_point retryAt{};
    std::chrono::milliseconds backoff{0};
    int resumeFailures = 0;
    uint64_t eventsThisWatch = 0;
  };

  struct Queued {
    size_t kind = 0;
    uint64_t generation = 0;
    bool close = false;
    WatchEvent event;
    Status status;
  };

  struct Subscriber {
    SyncerCallbacks* cb = nullptr;
    std::vector<bool> wants; // per kind index
    bool all = true;
  };

  Impl(ListWatchSource& s, std::vector<const api::KindInfo*> ks, SyncerOptions o)
      : src(s), opts(o) {
    for (const api::KindInfo* k : ks) {
      KindState st;
      st.kind = k;
      st.backoff = opts.initialBackoff;
      kinds.push_back(std::move(st));
    }
  }

  ListWatchSource& src;
  SyncerOptions opts;
  std::vector<KindState> kinds;
  std::vector<Subscriber> subs;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Queued> queue;
  bool stopping = false;
  bool started = false;
  std::thread thread;
  std::atomic<bool> inSync{false};

  mutable std::mutex statsMu;
  SyncerStats stats;

  void enqueue(Queued q) {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) {
      return;
    }
    queue.push_back(std::move(q));
    cv.notify_one();
  }

  void failed(KindState& k) {
    k.retryAt = Clock::now() + k.backoff;
    k.backoff = std::min(opts.maxBackoff, k.backoff * 2);
  }

  void succeeded(KindState& k) { k.backoff = opts.initialBackoff; }

  void doList(size_t idx, std::vector<Update>& out) {
    KindState& k = kinds[idx];
    auto r = src.list(*k.kind);
    {
      std::lock_guard<std::mutex> lock(statsMu);
      ++stats.lists;
      if (k.listedOnce) {
        ++stats.relists;
      }
    }
    if (!r) {
      failed(k);
      return;
    }
    std::map<std::string, std::shared_ptr<const Value>> fresh;
    for (Value& item : r->items) {
      // List items may omit apiVersion/kind; watch events carry them. Keep one form.
      if (!item.has("apiVersion")) {
        item.set("apiVersion", k.kind->apiVersion());
      }
      if (!item.has("kind")) {
        item.set("kind", k.kind->kind);
      }
      std::string key = objectKey(*k.kind, item);
      fresh[key] = std::make_shared<const Value>(std::move(item));
    }
    for (const auto& [key, obj] : fresh) {
      auto it = k.cache.find(key);
      if (it == k.cache.end() || *it->second != *obj) {
        out.push_back(Update{k.kind, key, obj});
      }
    }
    for (const auto& [key, obj] : k.cache) {
      if (!fresh.count(key)) {
        out.push_back(Update{k.kind, key, nullptr});
      }
    }
    k.cache = std::move(fresh);
    k.rv = r->resourceVersion;
    k.listedOnce = true;
    k.resumeFailures = 0;
    succeeded(k);
    startWatch(idx);
  }

  void startWatch(size_t idx) {
    KindState& k = kinds[idx];
    if (k.watch) {
      k.watch->stop();
      k.watch.reset();
    }
    uint64_t gen = ++k.generation;
    k.eventsThisWatch = 0;
    auto r = src.watch(
        *k.kind, k.rv,
        [this, idx, gen](const WatchEvent& ev) {
          Queued q;
          q.kind = idx;
          q.generation = gen;
          q.event = ev;
          enqueue(std::move(q));
        },
        [this, idx, gen](const Status& st) {
          Queued q;
          q.kind = idx;
          q.generation = gen;
          q.close = true;
          q.status = st;
          enqueue(std::move(q));
        });
    if (!r) {
      if (r.code() == Code::Gone) {
        k.need = Need::List;
        k.retryAt = Clock::now();
        return;
      }
      k.need = ++k.resumeFailures >= opts.resumeAttemptsBeforeRelist ? Need::List : Need::Watch;
      failed(k);
      return;
    }
    k.watch = std::move(*r);
    k.need = Need::None;
    std::lock_guard<std::mutex> lock(statsMu);
    ++stats.watchesStarted;
  }

  void handleClose(size_t idx, const Status& st) {
    KindState& k = kinds[idx];
    if (k.watch) {
      k.watch->stop();
      k.watch.reset();
    }
    ++k.generation; // nothing more from that stream
    if (st.code() == Code::Gone) {
      k.need = Need::List;
      k.retryAt = Clock::now();
      return;
    }
    if (st.isOk() && k.eventsThisWatch > 0) {
      k.resumeFailures = 0;
      succeeded(k);
      k.need = Need::Watch;
      k.retryAt = Clock::now();
      return;
    }
    // An error, or a stream that ended without delivering anything: back off, and relist when
    // resuming keeps failing (the server may have lost the history without saying Gone).
    k.need = ++k.resumeFailures >= opts.resumeAttemptsBeforeRelist ? Need::List : Need::Watch;
    failed(k);
  }

  void handleEvent(size_t idx, const WatchEvent& ev, std::vector<Update>& out) {
    KindState& k = kinds[idx];
    ++k.eventsThisWatch;
    {
      std::lock_guard<std::mutex> lock(statsMu);
      ++stats.events;
    }
    std::string rv = ev.object.getString("metadata.resourceVersion");
    switch (ev.type) {
    case WatchEvent::Type::Added:
    case WatchEvent::Type::Modified: {
      std::string key = objectKey(*k.kind, ev.object);
      auto it = k.cache.find(key);
      if (it == k.cache.end() || *it->second != ev.object) {
        auto obj = std::make_shared<const Value>(ev.object);
        k.cache[key] = obj;
        out.push_back(Update{k.kind, key, obj});
      }
      break;
    }
    case WatchEvent::Type::Deleted: {
      std::string key = objectKey(*k.kind, ev.object);
      if (k.cache.erase(key)) {
        out.push_back(Update{k.kind, key, nullptr});
      }
      break;
    }
    case WatchEvent::Type::Bookmark:
      break;
    case WatchEvent::Type::Error:
      return; // the close that follows says what to do
    }
    if (!rv.empty()) {
      k.rv = rv;
    }
  }

  void deliver(const std::vector<Update>& out) {
    if (out.empty()) {
      return;
    }
    {
      std::lock_guard<std::mutex> lock(statsMu);
      stats.updatesDelivered += out.size();
    }
    for (Subscriber& s : subs) {
      if (s.all) {
        s.cb->onUpdates(out);
        continue;
      }
      std::vector<Update> mine;
      for (const Update& u : out) {
        for (size_t i = 0; i < kinds.size(); ++i) {
          if (kinds[i].kind == u.kind && s.wants[i]) {
            mine.push_back(u);
            break;
          }
        }
      }
      if (!mine.empty()) {
        s.cb->onUpdates(mine);
      }
    }
  }

  bool isStopping() {
    std::lock_guard<std::mutex> lock(mu);
    return stopping;
  }

  void run() {
    std::vector<Update> out;
    while (true) {
      Clock::time_point now = Clock::now();
      for (size_t i = 0; i < kinds.size(); ++i) {
        if (isStopping()) {
          return;
        }
        KindState& k = kinds[i];
        if (k.need == Need::None || k.retryAt > now) {
          continue;
        }
        if (k.need == Need::List) {
          doList(i, out);
        } else {
          startWatch(i);
        }
      }
      deliver(out);
      out.clear();
      if (!inSync.load() && std::all_of(kinds.begin(), kinds.end(),
                                        [](const KindState& k) { return k.listedOnce; })) {
        inSync.store(true);
        for (Subscriber& s : subs) {
          s.cb->onInSync();
        }
      }

      std::deque<Queued> batch;
      {
        std::unique_lock<std::mutex> lock(mu);
        std::optional<Clock::time_point> deadline;
        for (const KindState& k : kinds) {
          if (k.need != Need::None && (!deadline || k.retryAt < *deadline)) {
            deadline = k.retryAt;
          }
        }
        auto ready = [&] { return stopping || !queue.empty(); };
        if (deadline) {
          cv.wait_until(lock, *deadline, ready);
        } else {
          cv.wait(lock, ready);
        }
        if (stopping) {
          return;
        }
        batch.swap(queue);
      }
      for (Queued& q : batch) {
        if (q.generation != kinds[q.kind].generation) {
          continue; // from a stream we already left
        }
        if (q.close) {
          handleClose(q.kind, q.status);
        } else {
          handleEvent(q.kind, q.event, out);
        }
      }
      deliver(out);
      out.clear();
    }
  }
};

Syncer::Syncer(ListWatchSource& source, std::vector<const api::KindInfo*> kinds, SyncerOptions opts)
    : impl_(std::make_unique<Impl>(source, std::move(kinds), opts)) {}

Syncer::~Syncer() { stop(); }

void Syncer::subscribe(SyncerCallbacks* cb, std::vector<const api::KindInfo*> kinds) {
  Impl::Subscriber s;
  s.cb = cb;
  s.all = kinds.empty();
  s.wants.assign(impl_->kinds.size(), s.all);
  for (const api::KindInfo* k : kinds) {
    for (size_t i = 0; i < impl_->kinds.size(); ++i) {
      if (impl_->kinds[i].kind == k) {
        s.wants[i] = true;
      }
    }
  }
  impl_->subs.push_back(std::move(s));
}

void Syncer::start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->started) {
    return;
  }
  impl_->started = true;
  impl_->thread = std::thread([this] { impl_->run(); });
}

void Syncer::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
  for (Impl::KindState& k : impl_->kinds) {
    if (k.watch) {
      k.watch->stop();
      k.watch.reset();
    }
  }
}

bool Syncer::inSync() const { return impl_->inSync.load(); }

SyncerStats Syncer::stats() const {
  std::lock_guard<std::mutex> lock(impl_->statsMu);
  return impl_->stats;
}

const std::map<std::string, std::shared_ptr<const Value>>*
Syncer::objects(const api::KindInfo& kind) const {
  for (const Impl::KindState& k : impl_->kinds) {
    if (k.kind == &kind) {
      return &k.cache;
    }
  }
  return nullptr;
}

} // namespace caracal::felix
