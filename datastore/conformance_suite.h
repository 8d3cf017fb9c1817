#pragma once
// The Engine conformance suite: one set of tests, written against datastore/engine.h only, that
// every engine must pass. An engine's test binary links the `caracal_datastore_conformance` object
// library and instantiates the suite with a factory:
//
//   CARACAL_ENGINE_CONFORMANCE_SUITE(Memory, caracal::datastore::conformance::EngineFactory{
//       "Memory", [](const std::string&) -> caracal::Result<caracal::datastore::EnginePtr> {
//         return caracal::datastore::makeMemoryEngine(); }});
//
// Each test gets a fresh, empty engine from the factory and a private scratch directory (removed
// after the engine is destroyed) for engines that keep files.

#include "datastore/engine.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <gtest/gtest.h>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace caracal::datastore::conformance {

// A unique directory under /tmp, removed with its contents on destruction.
class ScratchDir {
public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

struct EngineFactory {
  std::string name; // test-name suffix: letters, digits and underscores
  // Opens a fresh, empty engine; files, if any, go under `scratchDir`.
  std::function<Result<EnginePtr>(const std::string& scratchDir)> open;
};

std::string engineFactoryName(const ::testing::TestParamInfo<EngineFactory>& info);
// Lets gtest print a factory as its name.
void PrintTo(const EngineFactory& factory, std::ostream* out);

// Collects what one watch delivers; thread-safe. Must outlive the watch it serves.
class EventCollector {
public:
  WatchCallbacks callbacks();
  // Waits until at least `count` events arrived (false on timeout).
  bool waitForEvents(size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  bool waitForClose(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  std::vector<EventPtr> events();
  std::vector<size_t> batchSizes();
  std::optional<Status> closeStatus();

private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<EventPtr> events_;
  std::vector<size_t> batchSizes_;
  std::optional<Status> closed_;
};

class EngineConformanceTest : public ::testing::TestWithParam<EngineFactory> {
protected:
  void SetUp() override;
  void TearDown() override;

  std::unique_ptr<ScratchDir> dir_;
  EnginePtr engine_;
};

} // namespace caracal::datastore::conformance

// Instantiates the suite as `instance/EngineConformanceTest.<test>/<factory name>`. Use it at
// namespace scope (gtest needs the suite's unqualified name, hence the using-declaration).
#define CARACAL_ENGINE_CONFORMANCE_SUITE(instance, ...)                                            \
  using ::caracal::datastore::conformance::EngineConformanceTest;                                  \
  INSTANTIATE_TEST_SUITE_P(instance, EngineConformanceTest, ::testing::Values(__VA_ARGS__),        \
                           ::caracal::datastore::conformance::engineFactoryName)
