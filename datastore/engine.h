#pragma once
// Storage engines: a revisioned key-value store shaped like etcd v3.
//
// Every successful write bumps the store-wide revision by one and stamps the key with it
// (modRevision). Writes are conditional (create-if-absent, update/delete-if-modRevision), so
// concurrent writers never lose an update: the loser gets Code::Conflict and retries after a
// re-read. A watch streams every change under a prefix after a given revision, first replaying
// retained history and then live changes, in revision order, with no gaps. History older than the
// compacted revision is gone: watching from there fails with Code::Gone ("too old"), and clients
// relist.
//
// Durability: a write is acknowledged (the call returns) only once it is durable, so acknowledged
// writes survive kill -9 of the process.
//
// Threading: every method is thread-safe. Watch callbacks are invoked from an engine thread, in
// revision order, while the engine holds its fan-out lock: they must be quick and non-blocking
// (copy or enqueue, then return), and must not call back into the engine.

#include "common/result.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace caracal::datastore {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t createRevision = 0;
  int64_t modRevision = 0;
  int64_t version = 0; // number of writes since creation, 1 after create
};

struct Event {
  enum class Type { Put, Delete };
  Type type = Type::Put;
  // For Put: the new key-value. For Delete: the key with the deleted value; kv.modRevision is the
  // revision of the delete.
  KeyValue kv;
  // The value before this event (absent for a create).
  std::optional<KeyValue> prev;
  bool isCreate() const { return type == Type::Put && !prev; }
};

using EventPtr = std::shared_ptr<const Event>;

struct RangeResult {
  std::vector<KeyValue> kvs; // sorted by key
  int64_t revision = 0;      // store revision at which the range was read
  bool more = false;         // true when `limit` cut the result
};

// A live watch; destroying it (or calling cancel()) stops delivery. After cancel() returns, no
// callback for this watch is running or will run.
class Watch {
public:
  virtual ~Watch() = default;
  virtual void cancel() = 0;
};
using WatchPtr = std::unique_ptr<Watch>;

struct WatchCallbacks {
  // One batch of events, in revision order. Shared pointers let many watchers share one event.
  std::function<void(const std::vector<EventPtr>&)> onEvents;
  // The watch ended on the engine's side (engine shut down, or the watcher was dropped).
  std::function<void(const Status&)> onClose;
};

class Engine {
public:
  virtual ~Engine() = default;

  virtual Result<std::optional<KeyValue>> get(const std::string& key) = 0;
  // All keys starting with `prefix`, sorted, strictly after `startAfter` when it is not empty, at
  // most `limit` (0 = no limit).
  virtual Result<RangeResult> range(const std::string& prefix, int64_t limit = 0,
                                    const std::string& startAfter = "") = 0;

  // Creates `key`; Code::AlreadyExists if present. Returns the new KeyValue.
  virtual Result<KeyValue> create(const std::string& key, const std::string& value) = 0;
  // Replaces `key` if its modRevision equals `expectedModRevision` (0 = any). Code::NotFound if
  // absent, Code::Conflict on a revision mismatch.
  virtual Result<KeyValue> update(const std::string& key, const std::string& value,
                                  int64_t expectedModRevision) = 0;
  // Deletes `key` if its modRevision equals `expectedModRevision` (0 = any). Returns the deleted
  // KeyValue (with modRevision set to the delete's revision). NotFound / Conflict as for update.
  virtual Result<KeyValue> remove(const std::string& key, int64_t expectedModRevision) = 0;

  // Streams changes to keys under `prefix` with revision > `afterRevision`. Code::Gone if
  // afterRevision < compactedRevision().
  virtual Result<WatchPtr> watch(const std::string& prefix, int64_t afterRevision,
                                 WatchCallbacks callbacks) = 0;

  virtual int64_t currentRevision() = 0;
  virtual int64_t compactedRevision() = 0;
  // Drops history at or below `revision` (watches from there become Gone). Compacting at or below
  // compactedRevision() is a no-op; a revision above currentRevision() is Code::Invalid.
  virtual Status compact(int64_t revision) = 0;
};

using EnginePtr = std::unique_ptr<Engine>;

// The embedded engines (one in-memory core; see store_engine.h and sqlite_journal.h for options).
// The pure in-memory engine: nothing survives its destruction.
EnginePtr makeMemoryEngine();
// The SQLite-backed engine over the database file at `path` (created if missing).
Result<EnginePtr> makeSqliteEngine(const std::string& path);

} // namespace caracal::datastore
