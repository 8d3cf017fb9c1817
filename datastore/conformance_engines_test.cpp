// The Engine conformance suite, run against the embedded engines.

#include "datastore/conformance_suite.h"
#include "datastore/sqlite_journal.h"
#include "datastore/store_engine.h"

namespace caracal::datastore {
namespace {

conformance::EngineFactory memoryFactory() {
  return {"Memory", [](const std::string&) -> Result<EnginePtr> { return makeMemoryEngine(); }};
}

conformance::EngineFactory sqliteFactory(std::string name, SqliteSync sync) {
  return {std::move(name), [sync](const std::string& dir) -> Result<EnginePtr> {
            SqliteOptions sqlite;
            sqlite.sync = sync;
            return makeSqliteEngine(dir + "/store.db", StoreOptions{}, sqlite);
          }};
}

CARACAL_ENGINE_CONFORMANCE_SUITE(Embedded, memoryFactory(),
                                 sqliteFactory("SqliteFull", SqliteSync::Full),
                                 sqliteFactory("SqliteNormal", SqliteSync::Normal));

} // namespace
} // namespace caracal::datastore
