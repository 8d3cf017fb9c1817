#pragma once
// Journal: the durability seam under the in-memory store core (store_engine.h).
//
// The core owns all state in memory; a Journal only persists it. The core calls load() once, on the
// thread that opens the engine, and then append() only from its single committer thread, so an
// implementation needs no locking of its own. append() persists one commit batch atomically: after
// it returns Ok the batch must survive a kill -9 of the process; after it fails, none of the batch
// may be visible on the next load() (or the journal must refuse every later append, see below).
//
// Implementations: NullJournal (nothing persisted: the pure in-memory engine and the test fake) and
// SqliteJournal (sqlite_journal.h).

#include "common/result.h"
#include "datastore/engine.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace caracal::datastore {

// What a journal holds: the current keys and the revision counters.
struct JournalState {
  std::vector<KeyValue> kvs; // any order
  int64_t revision = 0;      // store revision; may exceed every modRevision (after deletes)
  int64_t compactedRevision = 0;
};

// One commit batch: events with consecutive revisions, ending at `revision`.
struct JournalBatch {
  std::vector<EventPtr> events;
  int64_t revision = 0;                     // the store revision after the batch
  std::optional<int64_t> compactedRevision; // set when the batch raises the compacted revision
};

class Journal {
public:
  virtual ~Journal() = default;

  // Reads the persisted state. Called once, before any append().
  virtual Result<JournalState> load() = 0;
  // Persists `batch` atomically (all or nothing). If the outcome is unknown (for example the final
  // commit reported an I/O error), the journal must fail this and every later call, so that memory
  // never runs ahead of, or behind, what a restart would load.
  virtual Status append(const JournalBatch& batch) = 0;
};

using JournalPtr = std::unique_ptr<Journal>;

// A journal that persists nothing and loads an empty store.
JournalPtr makeNullJournal();

} // namespace caracal::datastore
