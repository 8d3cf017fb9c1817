# Storage engines: the in-memory store core, its journals (null, SQLite) and their tests.
add_library(caracal_datastore STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/journal.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/store_engine.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/sqlite_journal.cpp)
target_link_libraries(caracal_datastore PUBLIC caracal_common Threads::Threads PRIVATE SQLite::SQLite3)

# The engine conformance suite (TEST_Ps over an engine factory). An object library so that its tests
# are linked into every binary that instantiates it (e.g. a future etcd engine's test).
add_library(caracal_datastore_conformance OBJECT
  ${CMAKE_CURRENT_SOURCE_DIR}/conformance_suite.cpp)
target_link_libraries(caracal_datastore_conformance PUBLIC caracal_datastore GTest::gtest)

caracal_add_test(NAME datastore_test
  SOURCES
    ${CMAKE_CURRENT_SOURCE_DIR}/conformance_engines_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/store_engine_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/sqlite_journal_test.cpp
  LIBS caracal_datastore caracal_datastore_conformance SQLite::SQLite3
  LABELS datastore)
