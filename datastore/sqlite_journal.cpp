#include "datastore/sqlite_journal.h"

#include <sqlite3.h>
#include <string_view>

namespace caracal::datastore {
namespace {

constexpr int64_t kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS kv (
  key BLOB PRIMARY KEY,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(name, value) VALUES ('schema_version', 1);
INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0);
INSERT OR IGNORE INTO meta(name, value) VALUES ('compacted_revision', 0);
)sql";

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

std::string columnBytes(sqlite3_stmt* stmt, int column) {
  const void* data = sqlite3_column_blob(stmt, column);
  int size = sqlite3_column_bytes(stmt, column);
  if (!data || size <= 0) {
    return "";
  }
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

void bindBytes(sqlite3_stmt* stmt, int index, const std::string& bytes) {
  // Lengths are capped well below INT_MAX by StoreOptions::maxEntryBytes.
  sqlite3_bind_blob(stmt, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
}

class SqliteJournal : public Journal {
public:
  SqliteJournal(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  Status init(SqliteOptions options) {
    sqlite3_extended_result_codes(db_.get(), 1);
    // One owner per file: the lock is taken by the first transaction below and kept until close.
    RETURN_IF_ERROR(exec("PRAGMA locking_mode=EXCLUSIVE"));
    {
      ASSIGN_OR_RETURN(Stmt mode, prepare("PRAGMA journal_mode=WAL"));
      int rc = sqlite3_step(mode.get());
      if (rc != SQLITE_ROW) {
        return failure(rc, "enabling WAL");
      }
      std::string actual = columnBytes(mode.get(), 0);
      if (actual != "wal") {
        return Status(Code::Internal,
                      "sqlite " + path_ + ": journal_mode is " + actual + ", WAL is required");
      }
    }
    RETURN_IF_ERROR(exec(options.sync == SqliteSync::Full ? "PRAGMA synchronous=FULL"
                                                          : "PRAGMA synchronous=NORMAL"));
    RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
    if (Status created = exec(kSchema); !created.isOk()) {
      (void)exec("ROLLBACK");
      return created;
    }
    RETURN_IF_ERROR(exec("COMMIT"));

    ASSIGN_OR_RETURN(begin_, prepare("BEGIN IMMEDIATE"));
    ASSIGN_OR_RETURN(commit_, prepare("COMMIT"));
    ASSIGN_OR_RETURN(rollback_, prepare("ROLLBACK"));
    ASSIGN_OR_RETURN(put_, prepare("INSERT OR REPLACE INTO kv(key, value, create_revision, "
                                   "mod_revision, version) VALUES (?1, ?2, ?3, ?4, ?5)"));
    ASSIGN_OR_RETURN(erase_, prepare("DELETE FROM kv WHERE key = ?1"));
    ASSIGN_OR_RETURN(setMeta_, prepare("INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)"));
    return Status::ok();
  }

  // Journal
  Result<JournalState> load() override {
    JournalState state;
    {
      ASSIGN_OR_RETURN(Stmt meta, prepare("SELECT name, value FROM meta"));
      int rc;
      while ((rc = sqlite3_step(meta.get())) == SQLITE_ROW) {
        std::string name = columnBytes(meta.get(), 0);
        int64_t value = sqlite3_column_int64(meta.get(), 1);
        if (name == "schema_version" && value > kSchemaVersion) {
          return Status(Code::Unavailable, "sqlite " + path_ + ": schema version " +
                                               std::to_string(value) + " is newer than " +
                                               std::to_string(kSchemaVersion));
        }
        if (name == "revision") {
          state.revision = value;
        } else if (name == "compacted_revision") {
          state.compactedRevision = value;
        }
      }
      if (rc != SQLITE_DONE) {
        return failure(rc, "reading meta");
      }
    }
    ASSIGN_OR_RETURN(Stmt kvs,
                     prepare("SELECT key, value, create_revision, mod_revision, version FROM kv"));
    int rc;
    while ((rc = sqlite3_step(kvs.get())) == SQLITE_ROW) {
      KeyValue kv;
      kv.key = columnBytes(kvs.get(), 0);
      kv.value = columnBytes(kvs.get(), 1);
      kv.createRevision = sqlite3_column_int64(kvs.get(), 2);
      kv.modRevision = sqlite3_column_int64(kvs.get(), 3);
      kv.version = sqlite3_column_int64(kvs.get(), 4);
      state.kvs.push_back(std::move(kv));
    }
    if (rc != SQLITE_DONE) {
      return failure(rc, "reading keys");
    }
    return state;
  }

  Status append(const JournalBatch& batch) override {
    if (broken_) {
      return Status(Code::Unavailable, "sqlite " + path_ +
                                           ": journal disabled after a commit with unknown "
                                           "outcome; reopen the store to recover");
    }
    RETURN_IF_ERROR(run(begin_.get(), "begin"));
    if (Status written = writeBatch(batch); !written.isOk()) {
      rollback();
      return written;
    }
    if (Status committed = run(commit_.get(), "commit"); !committed.isOk()) {
      // The commit may or may not have reached the file: stop here rather than let memory and
      // disk drift apart.
      broken_ = true;
      if (!sqlite3_get_autocommit(db_.get())) {
        (void)run(rollback_.get(), "rollback");
      }
      return committed;
    }
    return Status::ok();
  }

private:
  Status writeBatch(const JournalBatch& batch) {
    for (const EventPtr& event : batch.events) {
      const KeyValue& kv = event->kv;
      if (event->type == Event::Type::Delete) {
        bindBytes(erase_.get(), 1, kv.key);
        RETURN_IF_ERROR(run(erase_.get(), "delete"));
        continue;
      }
      bindBytes(put_.get(), 1, kv.key);
      bindBytes(put_.get(), 2, kv.value);
      sqlite3_bind_int64(put_.get(), 3, kv.createRevision);
      sqlite3_bind_int64(put_.get(), 4, kv.modRevision);
      sqlite3_bind_int64(put_.get(), 5, kv.version);
      RETURN_IF_ERROR(run(put_.get(), "put"));
    }
    RETURN_IF_ERROR(setMeta("revision", batch.revision));
    if (batch.compactedRevision) {
      RETURN_IF_ERROR(setMeta("compacted_revision", *batch.compactedRevision));
    }
    return Status::ok();
  }

  Status setMeta(const char* name, int64_t value) {
    sqlite3_bind_text(setMeta_.get(), 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(setMeta_.get(), 2, value);
    return run(setMeta_.get(), "meta");
  }

  void rollback() {
    if (!run(rollback_.get(), "rollback").isOk()) {
      broken_ = true;
    }
  }

  // Steps a statement that returns no rows, then resets it for reuse.
  Status run(sqlite3_stmt* stmt, const char* what) {
    int rc = sqlite3_step(stmt);
    Status status = rc == SQLITE_DONE ? Status::ok() : failure(rc, what);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return status;
  }

  Status exec(const char* sql) {
    int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::ok() : failure(rc, sql);
  }

  Result<Stmt> prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return failure(rc, sql);
    }
    return Stmt(stmt);
  }

  Status failure(int rc, std::string_view what) {
    int primary = rc & 0xff;
    std::string message =
        "sqlite " + path_ + ": " + std::string(what) + ": " + sqlite3_errmsg(db_.get());
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
      return Status(Code::Unavailable, message + " (is another engine using this database?)");
    }
    if (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_FULL) {
      return Status(Code::Unavailable, message);
    }
    return Status(Code::Internal, message);
  }

  DbHandle db_; // declared first: closed after the statements are finalized
  std::string path_;
  Stmt begin_, commit_, rollback_, put_, erase_, setMeta_;
  bool broken_ = false;
};

} // namespace

Result<JournalPtr> openSqliteJournal(const std::string& path, SqliteOptions options) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Status(Code::Unavailable, "sqlite " + path + ": opening: " + message);
  }
  auto journal = std::make_unique<SqliteJournal>(db, path);
  RETURN_IF_ERROR(journal->init(options));
  return JournalPtr(std::move(journal));
}

Result<EnginePtr> makeSqliteEngine(const std::string& path, StoreOptions options,
                                   SqliteOptions sqlite) {
  ASSIGN_OR_RETURN(JournalPtr journal, openSqliteJournal(path, sqlite));
  ASSIGN_OR_RETURN(StoreEnginePtr engine, openStoreEngine(std::move(journal), options));
  return EnginePtr(std::move(engine));
}

Result<EnginePtr> makeSqliteEngine(const std::string& path) {
  return makeSqliteEngine(path, StoreOptions{}, SqliteOptions{});
}

} // namespace caracal::datastore
