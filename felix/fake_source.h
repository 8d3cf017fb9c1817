#pragma once
// An in-memory ListWatchSource for tests: objects per kind with a global revision counter, an
// event history (so a watch from an old revision replays what it missed), compaction (old
// revisions answer Gone), injected list failures, and changes made behind the watchers' backs.
// Events are delivered synchronously on the thread that makes the change. Thread-safe.

#include "felix/syncer.h"
#include "ipam/ipam.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace caracal::felix {

class FakeListWatchSource : public ListWatchSource {
public:
  FakeListWatchSource();
  ~FakeListWatchSource() override;

  // Creates or replaces the object (stamps metadata.resourceVersion) and notifies watchers.
  void apply(const api::KindInfo& kind, Value obj);
  // Deletes by key ("name" or "ns/name") and notifies watchers; no-op when absent.
  void remove(const api::KindInfo& kind, const std::string& key);
  // The same without any event (the change happens while "disconnected"; only a relist sees it).
  void applySilently(const api::KindInfo& kind, Value obj);
  void removeSilently(const api::KindInfo& kind, const std::string& key);
  // Ends every open watch with `status` (ok: a normal end of stream).
  void closeWatches(const Status& status = {});
  // Forgets the history: a watch from any revision before now answers Gone.
  void compact();
  // The next `n` list calls fail with Code::Unavailable.
  void failLists(int n);
  // The next `n` watch calls fail with Code::Unavailable.
  void failWatches(int n);

  // Compare-and-swap access to the same objects, as ipam::Store does it (normalized and validated
  // like the API server; every write notifies watchers). See makeFakeStore().
  Result<Value> getObject(const api::KindInfo& kind, const std::string& key);
  std::vector<Value> objects(const api::KindInfo& kind, const std::string& ns = "");
  Result<Value> createObject(const api::KindInfo& kind, const Value& obj);
  Result<Value> updateObject(const api::KindInfo& kind, const Value& obj);
  Status removeObject(const api::KindInfo& kind, const std::string& key,
                      const std::string& resourceVersion);

  int listCalls() const;
  int watchCalls() const;
  int openWatches() const;

  // ListWatchSource
  Result<datastore::ObjectList> list(const api::KindInfo& kind) override;
  Result<std::unique_ptr<WatchStream>>
  watch(const api::KindInfo& kind, const std::string& resourceVersion,
        std::function<void(const datastore::WatchEvent&)> onEvent,
        std::function<void(const Status&)> onClose) override;

private:
  struct State;
  std::shared_ptr<State> st_;
};

// An ipam::Store over the fake's objects: what an agent writes (its Node, IPAM blocks) comes back
// through the fake's watches, as with a real API server. The source must outlive the store.
std::unique_ptr<ipam::Store> makeFakeStore(FakeListWatchSource& source);

} // namespace caracal::felix
