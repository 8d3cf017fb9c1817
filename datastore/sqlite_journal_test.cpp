// The SQLite engine: persistence across reopen, single ownership, and durability across kill -9.

#include "datastore/conformance_suite.h"
#include "datastore/sqlite_journal.h"

#include <atomic>
#include <cstring>
#include <gtest/gtest.h>
#include <map>
#include <mutex>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace caracal::datastore {
namespace {

using conformance::EventCollector;
using conformance::ScratchDir;

EnginePtr mustOpen(const std::string& path, SqliteSync sync = SqliteSync::Normal) {
  SqliteOptions sqlite;
  sqlite.sync = sync;
  auto engine = makeSqliteEngine(path, StoreOptions{}, sqlite);
  EXPECT_TRUE(engine.hasValue()) << engine.status().str();
  return engine.hasValue() ? std::move(engine).value() : nullptr;
}

TEST(SqliteEngineTest, DataAndRevisionsSurviveReopen) {
  ScratchDir dir;
  std::string path = dir.path() + "/store.db";
  KeyValue a;
  int64_t revision = 0;
  {
    EnginePtr engine = mustOpen(path);
    ASSERT_TRUE(engine);
    auto created = engine->create("/registry/ippools/a", R"({"cidr":"10.0.0.0/16"})");
    ASSERT_TRUE(created.hasValue());
    auto updated =
        engine->update("/registry/ippools/a", R"({"cidr":"10.1.0.0/16"})", created->modRevision);
    ASSERT_TRUE(updated.hasValue());
    a = *updated;
    ASSERT_TRUE(engine->create("/registry/ippools/b", "{}").hasValue());
    ASSERT_TRUE(engine->compact(a.modRevision).isOk());
    // The last write is a delete: the store revision must still be persisted.
    auto removed = engine->remove("/registry/ippools/b", 0);
    ASSERT_TRUE(removed.hasValue());
    revision = engine->currentRevision();
    EXPECT_EQ(revision, removed->modRevision);
  }
  EnginePtr engine = mustOpen(path);
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->currentRevision(), revision);
  EXPECT_EQ(engine->compactedRevision(), a.modRevision);
  auto got = engine->get("/registry/ippools/a");
  ASSERT_TRUE(got.hasValue() && got->has_value());
  EXPECT_EQ((*got)->value, a.value);
  EXPECT_EQ((*got)->createRevision, a.createRevision);
  EXPECT_EQ((*got)->modRevision, a.modRevision);
  EXPECT_EQ((*got)->version, 2);
  auto b = engine->get("/registry/ippools/b");
  ASSERT_TRUE(b.hasValue());
  EXPECT_FALSE(b->has_value());

  auto next = engine->create("/registry/ippools/c", "{}");
  ASSERT_TRUE(next.hasValue());
  EXPECT_EQ(next->modRevision, revision + 1);
}

TEST(SqliteEngineTest, WatchesResumeOnlyFromTheLoadedRevision) {
  ScratchDir dir;
  std::string path = dir.path() + "/store.db";
  {
    EnginePtr engine = mustOpen(path);
    ASSERT_TRUE(engine);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(engine->create("/k/" + std::to_string(i), "v").hasValue());
    }
  }
  EnginePtr engine = mustOpen(path);
  ASSERT_TRUE(engine);
  ASSERT_EQ(engine->currentRevision(), 3);
  EventCollector collector;
  // History is memory-only: the events before the restart cannot be replayed.
  EXPECT_EQ(engine->watch("/k/", 2, collector.callbacks()).code(), Code::Gone);
  auto watch = engine->watch("/k/", 3, collector.callbacks());
  ASSERT_TRUE(watch.hasValue()) << watch.status().str();
  ASSERT_TRUE(engine->create("/k/3", "v").hasValue());
  ASSERT_TRUE(collector.waitForEvents(1));
  EXPECT_EQ(collector.events()[0]->kv.modRevision, 4);
}

TEST(SqliteEngineTest, SecondOpenOfTheSameFileIsRefused) {
  ScratchDir dir;
  std::string path = dir.path() + "/store.db";
  EnginePtr first = mustOpen(path);
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->create("/a", "v").hasValue());
  auto second = makeSqliteEngine(path);
  ASSERT_FALSE(second.hasValue());
  EXPECT_EQ(second.code(), Code::Unavailable) << second.status().str();
  // The first engine is unaffected.
  EXPECT_TRUE(first->create("/b", "v").hasValue());
  first.reset();
  auto reopened = makeSqliteEngine(path);
  ASSERT_TRUE(reopened.hasValue()) << reopened.status().str();
  EXPECT_EQ((*reopened)->currentRevision(), 2);
}

TEST(SqliteEngineTest, UnopenablePathIsAnError) {
  ScratchDir dir;
  auto engine = makeSqliteEngine(dir.path() + "/missing-dir/store.db");
  ASSERT_FALSE(engine.hasValue());
  EXPECT_EQ(engine.code(), Code::Unavailable) << engine.status().str();
}

TEST(SqliteEngineTest, DatabaseIsInWalModeWithTheDocumentedSchema) {
  ScratchDir dir;
  std::string path = dir.path() + "/store.db";
  {
    EnginePtr engine = mustOpen(path);
    ASSERT_TRUE(engine);
    ASSERT_TRUE(engine->create("/a", "v").hasValue());
    ASSERT_TRUE(engine->remove("/a", 0).hasValue());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto queryInt = [&](const char* sql) -> int64_t {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sql;
    int64_t value = -1;
    if (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return value;
  };
  EXPECT_EQ(queryInt("SELECT value FROM meta WHERE name = 'schema_version'"), 1);
  EXPECT_EQ(queryInt("SELECT value FROM meta WHERE name = 'revision'"), 2);
  EXPECT_EQ(queryInt("SELECT count(*) FROM kv"), 0);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// --- kill -9 -------------------------------------------------------------------------------------

// Runs in the forked child: writes from several threads and reports each acknowledged write as
// "<key> <revision>\n" on `fd`, until killed. Never returns.
[[noreturn]] void writeUntilKilled(const std::string& path, SqliteSync sync, int fd) {
  SqliteOptions sqlite;
  sqlite.sync = sync;
  auto engine = makeSqliteEngine(path, StoreOptions{}, sqlite);
  if (!engine.hasValue()) {
    std::string line = "ERROR " + engine.status().str() + "\n";
    (void)!write(fd, line.data(), line.size());
    _exit(2);
  }
  std::mutex writeMu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        std::string key = "/kill/t" + std::to_string(t) + "/" + std::to_string(i);
        auto created = (*engine)->create(key, std::string(200, 'v'));
        if (!created.hasValue()) {
          std::string line = "ERROR " + created.status().str() + "\n";
          (void)!write(fd, line.data(), line.size());
          _exit(3);
        }
        std::string line = key + " " + std::to_string(created->modRevision) + "\n";
        std::lock_guard<std::mutex> lock(writeMu);
        if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
          _exit(4);
        }
      }
    });
  }
  for (;;) {
    pause();
  }
}

void killMidStreamAndCheck(SqliteSync sync) {
  ScratchDir dir;
  std::string path = dir.path() + "/store.db";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    writeUntilKilled(path, sync, fds[1]);
  }
  close(fds[1]);

  constexpr size_t kKillAfter = 1500;
  std::map<std::string, int64_t> acked;
  std::string buffer;
  std::string error;
  bool killed = false;
  char chunk[4096];
  for (;;) {
    pollfd pfd{fds[0], POLLIN, 0};
    int ready = poll(&pfd, 1, 30000);
    if (ready <= 0) {
      error = "timed out waiting for the child";
      break;
    }
    ssize_t n = read(fds[0], chunk, sizeof(chunk));
    if (n <= 0) {
      break; // EOF: the child is gone
    }
    buffer.append(chunk, static_cast<size_t>(n));
    size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      if (line.rfind("ERROR", 0) == 0) {
        error = line;
        continue;
      }
      std::istringstream in(line);
      std::string key;
      int64_t revision = 0;
      in >> key >> revision;
      acked[key] = revision;
    }
    if (!killed && acked.size() >= kKillAfter) {
      kill(child, SIGKILL);
      killed = true;
    }
  }
  if (!killed) {
    kill(child, SIGKILL);
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_TRUE(killed);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  // A partial last line (cut by the kill) was never counted as acknowledged.

  int64_t lastAcked = 0;
  for (const auto& [key, revision] : acked) {
    lastAcked = std::max(lastAcked, revision);
  }
  EnginePtr engine = mustOpen(path, sync);
  ASSERT_TRUE(engine);
  EXPECT_GE(engine->currentRevision(), lastAcked);
  size_t missing = 0;
  for (const auto& [key, revision] : acked) {
    auto got = engine->get(key);
    ASSERT_TRUE(got.hasValue());
    if (!got->has_value() || (*got)->modRevision != revision) {
      if (++missing <= 5) {
        ADD_FAILURE() << "acknowledged " << key << " at " << revision << " is missing";
      }
    }
  }
  EXPECT_EQ(missing, 0u);
  auto all = engine->range("/kill/");
  ASSERT_TRUE(all.hasValue());
  // Writes committed after the last line reached us may exist too, but nothing beyond the revision.
  EXPECT_GE(all->kvs.size(), acked.size());
  EXPECT_EQ(static_cast<int64_t>(all->kvs.size()), engine->currentRevision());
  std::printf("[kill -9, %s] %zu acknowledged writes (last revision %lld), %zu keys after "
              "reopen at revision %lld\n",
              sync == SqliteSync::Full ? "synchronous=FULL" : "synchronous=NORMAL", acked.size(),
              static_cast<long long>(lastAcked), all->kvs.size(),
              static_cast<long long>(engine->currentRevision()));
  // The store keeps working after recovery.
  auto next = engine->create("/after-crash", "v");
  ASSERT_TRUE(next.hasValue()) << next.status().str();
  EXPECT_EQ(next->modRevision, static_cast<int64_t>(all->kvs.size()) + 1);
}

TEST(SqliteEngineTest, AcknowledgedWritesSurviveKillNineWithSynchronousFull) {
  killMidStreamAndCheck(SqliteSync::Full);
}

TEST(SqliteEngineTest, AcknowledgedWritesSurviveKillNineWithSynchronousNormal) {
  killMidStreamAndCheck(SqliteSync::Normal);
}

} // namespace
} // namespace caracal::datastore
