#pragma once
// The node agent's shared watch cache: list + watch of a set of kinds, fanned out to subscribers.
//
// For every kind it lists (remembering the list's resourceVersion), then watches from there. When a
// watch stream ends normally (server timeout, connection closed) the watch resumes from the last
// resourceVersion seen (events and bookmarks advance it); when the server answers 410 Gone (history
// compacted) or resuming keeps failing, it relists and emits only the difference between the
// cache and the new list (updates for new or changed objects, deletions for vanished ones). Every
// failed list or watch start is retried with exponential backoff.
//
// Threading: all work happens on one thread owned by the Syncer (started by start()): lists run
// there, watch events are queued by the source's threads and drained there, and every subscriber
// callback is called there, so consumers need no locking among themselves. Subscribers receive
// batches of updates (one batch per drained burst, in event order per kind) and exactly one
// onInSync() after the initial lists of every kind have been delivered. Subscribe before start().
//
// The cache (objects()) may be read only on the syncer thread, i.e. from inside callbacks.

#include "api/registry.h"
#include "common/result.h"
#include "common/value.h"
#include "datastore/rest_client.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace caracal::felix {

struct Update {
  const api::KindInfo* kind = nullptr;
  std::string key;                     // "name", or "namespace/name" for namespaced kinds
  std::shared_ptr<const Value> object; // null: deleted
};

// "name" or "namespace/name".
std::string objectKey(const api::KindInfo& kind, const Value& obj);

class SyncerCallbacks {
public:
  virtual ~SyncerCallbacks() = default;
  virtual void onUpdates(const std::vector<Update>& updates) = 0;
  virtual void onInSync() = 0;
};

// A running watch stream; destroying it or stop() ends it, after which no callback runs.
class WatchStream {
public:
  virtual ~WatchStream() = default;
  virtual void stop() = 0;
};

// Where the syncer lists and watches. Implementations: RestListWatchSource (the API server) and
// FakeListWatchSource (tests).
class ListWatchSource {
public:
  virtual ~ListWatchSource() = default;
  virtual Result<datastore::ObjectList> list(const api::KindInfo& kind) = 0;
  // Streams events after `resourceVersion` to `onEvent` (any thread, in order), then calls
  // `onClose` exactly once with why it ended (ok: closed normally; Code::Gone: too old).
  virtual Result<std::unique_ptr<WatchStream>>
  watch(const api::KindInfo& kind, const std::string& resourceVersion,
        std::function<void(const datastore::WatchEvent&)> onEvent,
        std::function<void(const Status&)> onClose) = 0;
};

// Lists/watches through a RestClient (all namespaces for namespaced kinds). The client must
// outlive the source and its streams.
std::unique_ptr<ListWatchSource> makeRestListWatchSource(datastore::RestClient& client);

struct SyncerOptions {
  std::chrono::milliseconds initialBackoff{100};
  std::chrono::milliseconds maxBackoff{5000};
  // Consecutive failed resumptions of a watch before relisting.
  int resumeAttemptsBeforeRelist = 3;
};

struct SyncerStats {
  uint64_t lists = 0;
  uint64_t relists = 0;
  uint64_t watchesStarted = 0;
  uint64_t events = 0;
  uint64_t updatesDelivered = 0;
};

class Syncer {
public:
  Syncer(ListWatchSource& source, std::vector<const api::KindInfo*> kinds, SyncerOptions opts = {});
  ~Syncer(); // stops
  Syncer(const Syncer&) = delete;
  Syncer& operator=(const Syncer&) = delete;

  // Subscribes to the given kinds (empty: all kinds of the syncer). Before start() only.
  void subscribe(SyncerCallbacks* cb, std::vector<const api::KindInfo*> kinds = {});
  void start();
  // Stops the watches and the thread; no callback runs after it returns. Idempotent.
  void stop();

  bool inSync() const;
  SyncerStats stats() const;
  // The cached objects of one kind, by key. Syncer thread only (inside callbacks).
  const std::map<std::string, std::shared_ptr<const Value>>*
  objects(const api::KindInfo& kind) const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace caracal::felix
