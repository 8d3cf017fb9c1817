#pragma once
// StoreEngine: the Engine used by the embedded store, in memory over a pluggable Journal.
//
// Role and invariants:
// - Memory holds the whole current state (an ordered key -> KeyValue map), the store revision, the
//   last `historyLimit` events (for watch replay) and the watchers. Reads (get/range) are served
//   from memory under a shared lock and never touch the journal.
// - Writes are linearised by one committer thread doing group commit: it takes every queued request
//   (create/update/remove/compact), validates each in order against memory plus the earlier
//   requests of the same batch, assigns consecutive revisions, persists the whole batch with ONE
//   Journal::append(), then applies it to memory, completes the callers and fans the events out
//   to watchers (both under the fan-out lock, so no watch registers in between). A failed append
//   fails every request of its batch and changes nothing.
// - Watch callbacks (onEvents, including the replay of history) run on the committer thread while
//   it holds the fan-out lock; all of one commit batch's matching events arrive in one onEvents
//   call. onClose runs on the thread destroying the engine. Watch::cancel() takes the fan-out lock,
//   so once it returns no callback of that watch is running or will run; calling cancel() (or
//   destroying the WatchPtr) from inside one of that engine's callbacks is allowed.
// - watch() fails with Code::Gone when afterRevision < compactedRevision() and also when the
//   retained history (bounded by historyLimit, and empty after a restart) no longer reaches back to
//   afterRevision + 1.
// - Destruction: requests still queued fail with Code::Unavailable, the batch in flight finishes,
//   the committer joins, and every open watch gets onClose(Unavailable). Watch handles may outlive
//   the engine.

#include "datastore/engine.h"
#include "datastore/journal.h"

#include <cstddef>

namespace caracal::datastore {

struct StoreOptions {
  // Events kept for watch replay; older ones are dropped (watching from before them is Gone).
  size_t historyLimit = 100000;
  // Most requests one commit batch takes from the queue.
  size_t maxBatch = 1024;
  // Largest key + value accepted by a write (Code::TooLarge above it), so one oversized request
  // cannot fail the journal transaction of the requests batched with it.
  size_t maxEntryBytes = 16 << 20;
};

class StoreEngine;
using StoreEnginePtr = std::unique_ptr<StoreEngine>;

// Loads `journal` and starts the committer. Fails when the journal cannot be loaded.
Result<StoreEnginePtr> openStoreEngine(JournalPtr journal, StoreOptions options = {});

// The pure in-memory engine (nothing persisted), with options.
EnginePtr makeMemoryEngine(StoreOptions options);

class StoreEngine : public Engine {
public:
  ~StoreEngine() override = default;

  // Requests queued and not yet taken by the committer.
  virtual size_t queuedForTest() = 0;
};

} // namespace caracal::datastore
