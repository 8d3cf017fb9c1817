#include "felix/fake_source.h"

namespace caracal::felix {

using datastore::WatchEvent;

struct FakeListWatchSource::State {
  struct Watcher {
    uint64_t id = 0;
    const api::KindInfo* kind = nullptr;
    std::function<void(const WatchEvent&)> onEvent;
    std::function<void(const Status&)> onClose;
  };
  struct HistoryEntry {
    const api::KindInfo* kind;
    uint64_t rv;
    WatchEvent ev;
  };

  // Recursive: a watcher callback may stop its own stream.
  std::recursive_mutex mu;
  uint64_t rv = 1;
  uint64_t compactedBelow = 0;
  std::map<const api::KindInfo*, std::map<std::string, Value>> objects;
  std::vector<HistoryEntry> history;
  std::map<uint64_t, Watcher> watchers;
  uint64_t nextWatcher = 1;
  int failListsLeft = 0;
  int failWatchesLeft = 0;
  int listCalls = 0;
  int watchCalls = 0;

  void emit(const api::KindInfo* kind, WatchEvent::Type type, const Value& obj) {
    WatchEvent ev;
    ev.type = type;
    ev.object = obj;
    history.push_back(HistoryEntry{kind, rv, ev});
    std::vector<std::function<void(const WatchEvent&)>> targets;
    for (auto& [id, w] : watchers) {
      if (w.kind == kind) {
        targets.push_back(w.onEvent);
      }
    }
    for (auto& t : targets) {
      t(ev);
    }
  }

  void stopWatcher(uint64_t id) {
    std::lock_guard<std::recursive_mutex> lock(mu);
    watchers.erase(id);
  }
};

namespace {

class FakeStream : public WatchStream {
public:
  // `stopFn` unregisters the watcher (it holds only a weak reference to the source's state).
  explicit FakeStream(std::function<void()> stopFn) : stopFn_(std::move(stopFn)) {}
  ~FakeStream() override { stop(); }
  void stop() override {
    if (stopFn_) {
      stopFn_();
    }
    stopFn_ = nullptr;
  }

private:
  std::function<void()> stopFn_;
};

} // namespace

FakeListWatchSource::FakeListWatchSource() : st_(std::make_shared<State>()) {}
FakeListWatchSource::~FakeListWatchSource() = default;

void FakeListWatchSource::apply(const api::KindInfo& kind, Value obj) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  ++st_->rv;
  obj["metadata"]["resourceVersion"] = std::to_string(st_->rv);
  obj.set("apiVersion", kind.apiVersion());
  obj.set("kind", kind.kind);
  std::string key = objectKey(kind, obj);
  auto& objs = st_->objects[&kind];
  bool existed = objs.count(key) > 0;
  objs[key] = obj;
  st_->emit(&kind, existed ? WatchEvent::Type::Modified : WatchEvent::Type::Added, obj);
}

void FakeListWatchSource::remove(const api::KindInfo& kind, const std::string& key) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  auto& objs = st_->objects[&kind];
  auto it = objs.find(key);
  if (it == objs.end()) {
    return;
  }
  Value obj = it->second;
  objs.erase(it);
  ++st_->rv;
  obj["metadata"]["resourceVersion"] = std::to_string(st_->rv);
  st_->emit(&kind, WatchEvent::Type::Deleted, obj);
}

void FakeListWatchSource::applySilently(const api::KindInfo& kind, Value obj) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  ++st_->rv;
  obj["metadata"]["resourceVersion"] = std::to_string(st_->rv);
  obj.set("apiVersion", kind.apiVersion());
  obj.set("kind", kind.kind);
  st_->objects[&kind][objectKey(kind, obj)] = obj;
  st_->compactedBelow = st_->rv; // the missed change cannot be replayed
}

void FakeListWatchSource::removeSilently(const api::KindInfo& kind, const std::string& key) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  if (st_->objects[&kind].erase(key)) {
    ++st_->rv;
    st_->compactedBelow = st_->rv;
  }
}

void FakeListWatchSource::closeWatches(const Status& status) {
  std::map<uint64_t, State::Watcher> ws;
  {
    std::lock_guard<std::recursive_mutex> lock(st_->mu);
    ws.swap(st_->watchers);
  }
  for (auto& [id, w] : ws) {
    if (w.onClose) {
      w.onClose(status);
    }
  }
}

void FakeListWatchSource::compact() {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  st_->compactedBelow = st_->rv;
  st_->history.clear();
}

void FakeListWatchSource::failLists(int n) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  st_->failListsLeft = n;
}

void FakeListWatchSource::failWatches(int n) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  st_->failWatchesLeft = n;
}

int FakeListWatchSource::listCalls() const {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  return st_->listCalls;
}

int FakeListWatchSource::watchCalls() const {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  return st_->watchCalls;
}

int FakeListWatchSource::openWatches() const {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  return static_cast<int>(st_->watchers.size());
}

Result<datastore::ObjectList> FakeListWatchSource::list(const api::KindInfo& kind) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  ++st_->listCalls;
  if (st_->failListsLeft > 0) {
    --st_->failListsLeft;
    return Status(Code::Unavailable, "injected list failure");
  }
  datastore::ObjectList l;
  l.apiVersion = kind.apiVersion();
  l.kind = kind.kind + "List";
  l.resourceVersion = std::to_string(st_->rv);
  for (const auto& [key, obj] : st_->objects[&kind]) {
    Value item = obj;
    item.erase("apiVersion"); // as a real list may
    item.erase("kind");
    l.items.push_back(std::move(item));
  }
  return l;
}

Result<std::unique_ptr<WatchStream>>
FakeListWatchSource::watch(const api::KindInfo& kind, const std::string& resourceVersion,
                           std::function<void(const WatchEvent&)> onEvent,
                           std::function<void(const Status&)> onClose) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  ++st_->watchCalls;
  if (st_->failWatchesLeft > 0) {
    --st_->failWatchesLeft;
    return Status(Code::Unavailable, "injected watch failure");
  }
  uint64_t from = resourceVersion.empty() ? st_->rv : std::stoull(resourceVersion);
  if (from < st_->compactedBelow) {
    // As the API server does: the stream opens, then an ERROR event (410) ends it.
    onClose(Status(Code::Gone, "too old resource version: " + resourceVersion));
    return std::unique_ptr<WatchStream>(std::make_unique<FakeStream>(nullptr));
  }
  for (const State::HistoryEntry& h : st_->history) {
    if (h.kind == &kind && h.rv > from) {
      onEvent(h.ev);
    }
  }
  uint64_t id = st_->nextWatcher++;
  st_->watchers[id] = State::Watcher{id, &kind, std::move(onEvent), std::move(onClose)};
  std::weak_ptr<State> weak = st_;
  return std::unique_ptr<WatchStream>(std::make_unique<FakeStream>([weak, id] {
    if (auto s = weak.lock()) {
      s->stopWatcher(id);
    }
  }));
}

Result<Value> FakeListWatchSource::getObject(const api::KindInfo& kind, const std::string& key) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  auto& objs = st_->objects[&kind];
  auto it = objs.find(key);
  if (it == objs.end()) {
    return Status(Code::NotFound, kind.plural + " \"" + key + "\" not found");
  }
  return it->second;
}

std::vector<Value> FakeListWatchSource::objects(const api::KindInfo& kind, const std::string& ns) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  std::vector<Value> out;
  for (const auto& [key, obj] : st_->objects[&kind]) {
    if (ns.empty() || obj.getString("metadata.namespace") == ns) {
      out.push_back(obj);
    }
  }
  return out;
}

namespace {

// `obj` with its apiVersion and kind, normalized as the apiserver would.
Result<Value> typed(const api::KindInfo& kind, const Value& obj) {
  Value v = obj;
  v.set("apiVersion", kind.apiVersion());
  v.set("kind", kind.kind);
  RETURN_IF_ERROR(api::normalize(kind, v));
  return v;
}

// Ok when `key` is in `objs` and, if `resourceVersion` is set, has that resourceVersion.
Status checkStored(const api::KindInfo& kind, const std::map<std::string, Value>& objs,
                   const std::string& key, const std::string& resourceVersion) {
  auto it = objs.find(key);
  if (it == objs.end()) {
    return Status(Code::NotFound, kind.plural + " \"" + key + "\" not found");
  }
  if (!resourceVersion.empty() &&
      resourceVersion != it->second.getString("metadata.resourceVersion")) {
    return Status(Code::Conflict, kind.plural + " \"" + key + "\": the object has been modified");
  }
  return {};
}

} // namespace

Result<Value> FakeListWatchSource::createObject(const api::KindInfo& kind, const Value& obj) {
  ASSIGN_OR_RETURN(Value v, typed(kind, obj));
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  std::string key = objectKey(kind, v);
  if (st_->objects[&kind].count(key)) {
    return Status(Code::AlreadyExists, kind.plural + " \"" + key + "\" already exists");
  }
  apply(kind, v);
  return st_->objects[&kind][key];
}

Result<Value> FakeListWatchSource::updateObject(const api::KindInfo& kind, const Value& obj) {
  ASSIGN_OR_RETURN(Value v, typed(kind, obj));
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  std::string key = objectKey(kind, v);
  RETURN_IF_ERROR(
      checkStored(kind, st_->objects[&kind], key, v.getString("metadata.resourceVersion")));
  apply(kind, v);
  return st_->objects[&kind][key];
}

Status FakeListWatchSource::removeObject(const api::KindInfo& kind, const std::string& key,
                                         const std::string& resourceVersion) {
  std::lock_guard<std::recursive_mutex> lock(st_->mu);
  RETURN_IF_ERROR(checkStored(kind, st_->objects[&kind], key, resourceVersion));
  remove(kind, key);
  return {};
}

namespace {

class FakeStore : public ipam::Store {
public:
  explicit FakeStore(FakeListWatchSource& s) : s_(s) {}
  Result<Value> get(const api::KindInfo& kind, std::string_view ns,
                    std::string_view name) override {
    return s_.getObject(kind, key(kind, ns, name));
  }
  Result<std::vector<Value>> list(const api::KindInfo& kind, std::string_view ns) override {
    return s_.objects(kind, std::string(ns));
  }
  Result<Value> create(const api::KindInfo& kind, const Value& obj) override {
    return s_.createObject(kind, obj);
  }
  Result<Value> update(const api::KindInfo& kind, const Value& obj) override {
    return s_.updateObject(kind, obj);
  }
  Status remove(const api::KindInfo& kind, std::string_view ns, std::string_view name,
                std::string_view resourceVersion) override {
    return s_.removeObject(kind, key(kind, ns, name), std::string(resourceVersion));
  }

private:
  static std::string key(const api::KindInfo& kind, std::string_view ns, std::string_view name) {
    return kind.namespaced ? std::string(ns) + "/" + std::string(name) : std::string(name);
  }
  FakeListWatchSource& s_;
};

} // namespace

std::unique_ptr<ipam::Store> makeFakeStore(FakeListWatchSource& source) {
  return std::make_unique<FakeStore>(source);
}

} // namespace caracal::felix
