#pragma once
// SqliteJournal: the embedded store's durability, one SQLite database file in WAL mode.
//
// Schema (version 1): kv(key PRIMARY KEY, value, create_revision, mod_revision, version) holds the
// current keys; meta(name PRIMARY KEY, value) holds schema_version, revision and
// compacted_revision. A commit batch is one transaction (upserts/deletes plus the meta rows), so
// the store revision survives even when the last write was a delete. History is not persisted:
// after a restart watches can resume only from the loaded revision on.
//
// The file is opened with locking_mode=EXCLUSIVE: a second opener (another process, or another
// engine in this one) fails with Code::Unavailable instead of forking the revision sequence.
//
// Durability (see docs/design/datastore.md): in WAL mode a commit is one append to the -wal file.
// SqliteSync::Normal (the default) does not fsync on commit: the appended frames are in the
// kernel's page cache when the commit returns, so they survive kill -9 of the process (the kernel
// still writes them out, and the next open replays the WAL), which is what engine.h promises. A
// power loss or kernel crash may lose the last commits, never corrupting the file. SqliteSync::Full
// fsyncs the WAL on every commit, so acknowledged writes also survive power loss, at one fsync per
// batch.

#include "datastore/journal.h"
#include "datastore/store_engine.h"

#include <string>

namespace caracal::datastore {

enum class SqliteSync { Full, Normal };

struct SqliteOptions {
  SqliteSync sync = SqliteSync::Normal;
};

// Opens (creating if needed) the database at `path`. The journal's connection is then used by one
// thread at a time (load on the opener, append on the committer).
Result<JournalPtr> openSqliteJournal(const std::string& path, SqliteOptions options = {});

// The SQLite-backed engine (openStoreEngine over openSqliteJournal), with options.
Result<EnginePtr> makeSqliteEngine(const std::string& path, StoreOptions options,
                                   SqliteOptions sqlite);

} // namespace caracal::datastore
